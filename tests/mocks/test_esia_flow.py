"""Mock ЕСИА: the authorization-code flow, tokens and their claims, refresh, logout, pages."""
from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from esia_helpers import CHILD, PARENT, REDIRECT, TEACHER
from esia_helpers import BASE, ac, certificate_key, code_for, login, tokens_for
from mocks.esia.testing import auth_request_of, callback_params

REG = JWSRegistry(header_registry={"sbt": HeaderParameter("", "str"), "ver": HeaderParameter("", "int")})


def decode(http, token: str) -> tuple[dict, dict]:
    t = jwt.decode(token, certificate_key(http), algorithms=["RS256"], registry=REG)
    return t.header, t.claims


@pytest.mark.parametrize("form", ["raw", "cms"])
def test_code_flow_v2_v3_issues_tokens_with_real_claims(esia, http, form):
    esia.signer.form = form
    r = ac(http, esia.signer, "openid fullname snils", state="11111111-1111-4111-8111-111111111111")
    assert r.status_code == 200 and "Вход" in r.text and "Предоставление прав доступа" in r.text
    r = login(http, r, "112-233-445 95")
    assert r.status_code == 302
    cb = callback_params(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?")
    assert set(cb) == {"code", "state"} and cb["state"] == "11111111-1111-4111-8111-111111111111"
    te_state = "22222222-2222-4222-8222-222222222222"
    r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(cb["code"], scope="openid fullname snils",
                                                                 state=te_state))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["state"] == te_state and body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] == 3600
    assert body["refresh_token"]
    header, idc = decode(http, body["id_token"])
    assert header == {"alg": "RS256", "typ": "JWT", "sbt": "id", "ver": 1}     # no kid, as the real ЕСИА
    assert idc["iss"] == "http://esia.gosuslugi.ru/" and idc["aud"] == "EZHD01" and idc["sub"] == PARENT
    assert idc["exp"] - idc["iat"] == 3600 and idc["nbf"] <= idc["iat"]
    assert idc["amr"] == "PWD" and idc["urn:esia:amd"] == "PWD" and idc["urn:esia:sid"]
    assert isinstance(idc["auth_time"], int)
    assert idc["urn:esia:sbj"] == {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": PARENT,
                                   "urn:esia:sbj:nam": f"OID.{PARENT}", "urn:esia:sbj:is_tru": True,
                                   "urn:esia:sbj:lvl": "PR"}
    _, acc = decode(http, body["access_token"])
    assert acc["urn:esia:sbj_id"] == PARENT and acc["client_id"] == "EZHD01"
    assert acc["scope"] == f"openid fullname?oid={PARENT} snils?oid={PARENT}" and acc["iss"] == idc["iss"]
    assert {"exp", "iat", "nbf"} <= set(acc)


def test_unconfirmed_and_child_accounts_have_the_right_level(esia, http):
    body = tokens_for(http, esia.signer, "456-789-012 34")
    sbj = decode(http, body["id_token"])[1]["urn:esia:sbj"]
    assert sbj["urn:esia:sbj:lvl"] == "P" and "urn:esia:sbj:is_tru" not in sbj
    http.cookies.clear()
    body = tokens_for(http, esia.signer, str(CHILD))
    sbj = decode(http, body["id_token"])[1]["urn:esia:sbj"]
    assert sbj["urn:esia:sbj:lvl"] == "KD" and "urn:esia:sbj:is_tru" not in sbj


def test_login_by_oid_email_phone(esia, http):
    for username in (str(TEACHER), "maria@example.ru", "+7 (916) 123-45-67", "89161234567"):
        http.cookies.clear()
        cb = code_for(http, esia.signer, username)
        assert "code" in cb, (username, cb)


def test_wrong_password_rerenders_the_page(esia, http):
    r = ac(http, esia.signer)
    r2 = login(http, r, "112-233-445 95", password="nope")
    assert r2.status_code == 200 and "Неверный логин или пароль" in r2.text
    esia.core.set_password(PARENT, "s3cret")
    r3 = login(http, r2, "112-233-445 95", password="s3cret")
    assert r3.status_code == 302 and "code=" in r3.headers["location"]


def test_online_access_gives_no_refresh_token(esia, http):
    body = tokens_for(http, esia.signer, "112-233-445 95", access_type="online")
    assert "refresh_token" not in body and body["access_token"]


def test_no_id_token_without_openid(esia, http):
    body = tokens_for(http, esia.signer, "112-233-445 95", scope="fullname")
    assert "id_token" not in body and body["access_token"]


@pytest.mark.parametrize("variant", ["ilimurzin", "aisgorod"])
def test_refresh_rotates_and_old_token_is_refused(esia, http, variant):
    body = tokens_for(http, esia.signer, "112-233-445 95")
    form = esia.signer.te_form(refresh_token=body["refresh_token"], scope="openid fullname",
                               refresh_variant=variant)
    r = http.post("/aas/oauth2/v3/te", data=form)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["refresh_token"] != body["refresh_token"] and new["state"] == form["state"]
    r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(refresh_token=body["refresh_token"],
                                                                 scope="openid fullname"))
    assert r.status_code == 400 and r.json()["error_description"].startswith("ESIA-007011: ")


def test_refresh_variant_can_be_narrowed(esia, http):
    esia.core.configure(refresh_secret_variants=["ilimurzin"])
    body = tokens_for(http, esia.signer, "112-233-445 95")
    form = esia.signer.te_form(refresh_token=body["refresh_token"], refresh_variant="aisgorod",
                               scope="openid fullname")
    r = http.post("/aas/oauth2/v3/te", data=form)
    assert r.status_code == 400 and r.json()["error_description"].startswith("ESIA-007053: ")


def test_legacy_v1_flow(esia, http):
    url = esia.signer.ac_url(BASE, "openid fullname", version="v1")
    assert "client_certificate_hash" not in url
    r = http.get(url)
    assert r.status_code == 200
    cb = callback_params(login(http, r, "112-233-445 95").headers["location"])
    form = esia.signer.te_form(cb["code"], scope="openid fullname", version="v1")
    r = http.post("/aas/oauth2/te", data=form)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == form["state"]


def test_v1_refuses_a_raw_signature(esia, http):
    params = esia.signer.ac_params("openid", version="v1")
    params["client_secret"] = esia.signer.sign(params["scope"] + params["timestamp"] + params["client_id"]
                                               + params["state"], "raw")
    r = http.get("/aas/oauth2/ac", params=params)
    assert r.status_code == 302
    assert callback_params(r.headers["location"])["error_description"].startswith("ESIA-007053: ")


def test_session_is_reused_and_consent_page_appears_for_new_rights(esia, http):
    code_for(http, esia.signer, "112-233-445 95", scope="openid fullname")
    r = ac(http, esia.signer, "openid fullname")              # same rights: straight back
    assert r.status_code == 302 and "code=" in r.headers["location"]
    r = ac(http, esia.signer, "openid fullname snils")        # new right: consent page
    assert r.status_code == 200 and "Предоставление прав доступа" in r.text and "СНИЛС" in r.text
    assert 'name="password"' not in r.text
    r2 = http.post("/consent", data={"auth_request": auth_request_of(r.text), "action": "allow"})
    assert r2.status_code == 302 and "code=" in r2.headers["location"]


def test_consent_page_in_english_and_get_form(esia, http):
    r = ac(http, esia.signer, "openid", lang="en")
    assert r.status_code == 200 and "Sign in" in r.text and 'lang="en"' in r.text
    assert '<form method="post" action="/login">' in r.text


def test_logout_ends_the_session_and_redirects(esia, http):
    code_for(http, esia.signer, "112-233-445 95")
    assert ac(http, esia.signer).status_code == 302
    r = http.get("/idp/ext/Logout", params={"client_id": "EZHD01",
                                           "redirect_url": "https://journal.test/logged-out"})
    assert r.status_code == 302 and r.headers["location"] == "https://journal.test/logged-out"
    assert "esia_session=" in r.headers["set-cookie"]
    assert ac(http, esia.signer).status_code == 200           # login page again
    assert esia.core.logouts[-1]["oid"] == PARENT


def test_logout_to_unregistered_url_is_refused(esia, http):
    r = http.get("/idp/ext/Logout", params={"client_id": "EZHD01", "redirect_url": "https://evil.test/"},
                 headers={"accept": "application/json"})
    assert r.status_code == 400 and r.json()["error_description"].startswith("ESIA-007023: ")
    r = http.get("/idp/ext/Logout", params={"client_id": "EZHD01"})
    assert r.status_code == 200 and "Вы вышли" in r.text


def test_pkce_is_enforced_when_sent(esia, http):
    from mocks.esia.crypto import pkce_s256
    verifier = "v" * 50
    cb = code_for(http, esia.signer, "112-233-445 95", code_challenge=pkce_s256(verifier),
                  code_challenge_method="S256")
    r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(cb["code"], scope="openid fullname",
                                                                 code_verifier="w" * 50))
    assert r.status_code == 400 and r.json()["error_description"].startswith("ESIA-007040: ")
    cb = code_for(http, esia.signer, "112-233-445 95", code_challenge=pkce_s256(verifier))
    r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(cb["code"], scope="openid fullname",
                                                                 code_verifier=verifier))
    assert r.status_code == 200


def test_signing_certificate_is_the_key_distribution_and_jwks_is_opt_in(esia, http):
    from cryptography import x509
    pem = http.get("/.well-known/esia-signing-certificate")
    assert pem.status_code == 200 and pem.text.startswith("-----BEGIN CERTIFICATE-----")
    der = http.get("/.well-known/esia-signing-certificate", headers={"accept": "application/pkix-cert"})
    cert = x509.load_der_x509_certificate(der.content)
    assert cert.public_key().public_numbers().e == 65537
    assert http.get("/.well-known/esia-signing-certificate", params={"kid": "nope"}).status_code == 404
    r = http.get("/.well-known/esia-signing-certificate", params={"alg": "HS256"})
    assert r.status_code == 400 and "alg must be one of" in r.json()["error_description"]
    assert http.get("/.well-known/jwks.json").status_code == 404      # the real ЕСИА has none
    http.patch("/_admin/settings", json={"publish_jwks": True})
    jwk = http.get("/.well-known/jwks.json").json()["keys"][0]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
    import base64
    assert base64.b64decode(jwk["x5c"][0]) == der.content
