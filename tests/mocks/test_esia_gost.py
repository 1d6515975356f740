"""Mock ЕСИА with ГОСТ Р 34.10-2012: client certificates, `client_secret`, ГОСТ-signed tokens.

The first group needs nothing but Python (a ГОСТ test key made with gostcrypto). The second
proves the mock against an independent implementation, OpenSSL with Debian's
`libengine-gost-openssl` (PROTOCOLS.md §8.1): OpenSSL makes the certificates and signatures
(raw and CMS, 256 and 512 bit) the mock must accept, and verifies the mock's ГОСТ tokens and
certificate; those tests skip, saying why, where the engine is absent.
"""
from __future__ import annotations

import base64
import json

import pytest

from esia_helpers import BASE, PARENT, REDIRECT, assert_esia_error, code_for, tokens_for
from gost_helpers import GostOpenSSL, OpenSSLSigner
from mocks.esia import gost
from mocks.esia.testing import ClientSigner, callback_params, gost_cms_detached, make_gost_client_credentials

SCOPE = "openid fullname"


def segments(token: str) -> tuple[dict, dict, bytes, bytes]:
    head, body, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)   # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body))),
            f"{head}.{body}".encode(), base64.urlsafe_b64decode(pad(sig)))


@pytest.fixture(scope="module")
def gost_credentials():
    return make_gost_client_credentials("GOST01")


@pytest.fixture
def gost_signer(esia, gost_credentials) -> ClientSigner:
    key, pem = gost_credentials
    esia.core.register_client("GOST01", pem, [REDIRECT])
    return ClientSigner("GOST01", key, pem, REDIRECT)


# --- Python only --------------------------------------------------------------------------

def test_gost_key_signs_in_openssl_order_and_rejects_the_reverse():
    key, pem = make_gost_client_credentials("X1")
    sig = key.sign(b"message")
    assert key.public.verify(b"message", sig)
    assert not key.public.verify(b"message", sig[::-1])          # CryptoPro's order
    assert not key.public.verify(b"messagf", sig)
    parsed = gost.GostPublicKey.from_certificate(key.cert_der)
    assert parsed == key.public and parsed.bits == 256


def test_gost_client_signs_in_and_gets_gost_tokens(esia, http, gost_signer):
    reg = http.get("/_admin/clients/GOST01").json()
    assert reg["certificate_algorithm"] == "GOST3410_2012_256" and reg["token_alg"] == "GOST3410_2012_256"
    tok = tokens_for(http, gost_signer, "112-233-445 95", SCOPE)
    header, claims, signed, sig = segments(tok["access_token"])
    assert header == {"alg": "GOST3410_2012_256", "typ": "JWT", "sbt": "access", "ver": 1}
    assert claims["scope"] == f"openid fullname?oid={PARENT}" and claims["client_id"] == "GOST01"
    cert = http.get("/.well-known/esia-signing-certificate", params={"alg": "GOST3410_2012_256"})
    key = gost.GostPublicKey.from_certificate(
        base64.b64decode("".join(cert.text.strip().splitlines()[1:-1])))
    assert key.verify(signed, sig) and not key.verify(signed + b"x", sig)
    r = http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200 and r.json()["firstName"] == "Мария"
    # the same token with one signature byte changed is refused by the REST
    head, body, s = tok["access_token"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[5] ^= 1
    forged = f"{head}.{body}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_gost_client_may_choose_rs256_tokens(esia, http, gost_credentials):
    key, pem = gost_credentials
    r = http.post("/_admin/clients", json={"client_id": "GOST02", "certificate": pem,
                                           "redirect_uris": [REDIRECT], "token_alg": "RS256"})
    assert r.status_code == 201 and r.json()["token_alg"] == "RS256"
    tok = tokens_for(http, ClientSigner("GOST02", key, pem, REDIRECT), "112-233-445 95", SCOPE)
    assert segments(tok["id_token"])[0]["alg"] == "RS256"
    bad = http.post("/_admin/clients", json={"client_id": "GOST03", "certificate": pem,
                                             "redirect_uris": [REDIRECT], "token_alg": "HS256"})
    assert bad.status_code == 400 and "token_alg" in bad.text


def test_cryptopro_order_and_tampered_gost_secrets_are_007053(esia, http, gost_signer):
    params = gost_signer.ac_params(SCOPE, state="11111111-1111-4111-8111-111111111111")
    raw = base64.urlsafe_b64decode(params["client_secret"] + "==")
    for spoiled in (raw[::-1], raw[:10] + bytes([raw[10] ^ 1]) + raw[11:]):
        q = dict(params, client_secret=base64.urlsafe_b64encode(spoiled).rstrip(b"=").decode())
        r = http.get("/aas/oauth2/v2/ac", params=q)
        cb = callback_params(r.headers["location"])
        assert_esia_error(cb, "007053", "access_denied", params["state"])
    details = [e["error"].get("detail", "") for e in http.get("/_admin/journal").json()
               if e.get("error")]
    assert any("CryptoPro" in d for d in details), details   # the developer is told why


def test_gost_cms_detached_passes_v1_and_v2_v3(esia, http, gost_signer):
    gost_signer.form = "cms"
    tok = tokens_for(http, gost_signer, "112-233-445 95", SCOPE)
    assert tok["access_token"] and tok["id_token"]
    cb = code_for(http, gost_signer, "112-233-445 95", SCOPE, version="v1")
    r = http.post("/aas/oauth2/te", data=gost_signer.te_form(cb["code"], scope=SCOPE, version="v1"))
    assert r.status_code == 200, r.text
    # a CMS signature over another string is refused
    form = gost_signer.te_form("whatever", scope=SCOPE)
    form["client_secret"] = base64.urlsafe_b64encode(gost_cms_detached(gost_signer.key, b"other")).decode()
    assert_esia_error(http.post("/aas/oauth2/v3/te", data=form).json(), "007053", "access_denied")


# --- OpenSSL + ГОСТ engine -------------------------------------------------------------------

@pytest.fixture(scope="module")
def ossl(tmp_path_factory):
    o = GostOpenSSL(tmp_path_factory.mktemp("gost"))
    why = o.available()
    if why:
        pytest.skip(f"ГОСТ interoperability with OpenSSL not checked: {why}")
    return o


@pytest.fixture(scope="module")
def ossl_certs(ossl):
    return {bits: ossl.make_certificate(bits, f"GOST{bits}") for bits in (256, 512)}


def test_certificate_hash_equals_openssl_streebog_of_der(esia, http, ossl, ossl_certs):
    for bits, (_, pem) in ossl_certs.items():
        r = http.post("/_admin/clients", json={"client_id": f"OSSL{bits}", "certificate": pem,
                                               "redirect_uris": [REDIRECT]})
        assert r.status_code == 201, r.text
        assert r.json()["certificate_hash"] == ossl.certificate_hash(pem)
        assert r.json()["certificate_algorithm"] == f"GOST3410_2012_{bits}"


@pytest.mark.parametrize("bits,form", [(256, "raw"), (256, "cms"), (512, "raw"), (512, "cms")])
def test_openssl_signatures_pass_v2_ac_and_v3_te(esia, http, ossl, ossl_certs, bits, form):
    key, pem = ossl_certs[bits]
    esia.core.register_client("OSSL01", pem, [REDIRECT])
    signer = OpenSSLSigner(ossl, "OSSL01", key, pem, REDIRECT, form=form, bits=bits)
    assert signer.certificate_hash == ossl.certificate_hash(pem)
    tok = tokens_for(http, signer, "112-233-445 95", SCOPE)
    assert segments(tok["id_token"])[0]["alg"] == "GOST3410_2012_256"
    refreshed = http.post("/aas/oauth2/v3/te", data=signer.te_form(refresh_token=tok["refresh_token"], scope=SCOPE))
    assert refreshed.status_code == 200, refreshed.text


def test_openssl_cms_signature_passes_v1(esia, http, ossl, ossl_certs):
    key, pem = ossl_certs[256]
    esia.core.register_client("OSSL01", pem, [REDIRECT])
    signer = OpenSSLSigner(ossl, "OSSL01", key, pem, REDIRECT, form="cms")
    cb = code_for(http, signer, "112-233-445 95", SCOPE, version="v1")
    r = http.post("/aas/oauth2/te", data=signer.te_form(cb["code"], scope=SCOPE, version="v1"))
    assert r.status_code == 200, r.text


def test_unreversed_cryptopro_and_tampered_openssl_signatures_are_refused(esia, http, ossl, ossl_certs):
    key, pem = ossl_certs[256]
    esia.core.register_client("OSSL01", pem, [REDIRECT])
    for signer in (OpenSSLSigner(ossl, "OSSL01", key, pem, REDIRECT, cryptopro_order=True),):
        r = http.get(signer.ac_url(BASE, SCOPE, state="11111111-1111-4111-8111-111111111111"))
        assert_esia_error(callback_params(r.headers["location"]), "007053", "access_denied")
    good = OpenSSLSigner(ossl, "OSSL01", key, pem, REDIRECT)
    cb = code_for(http, good, "112-233-445 95", SCOPE)
    form = good.te_form(cb["code"], scope=SCOPE)
    raw = bytearray(base64.urlsafe_b64decode(form["client_secret"] + "=="))
    raw[0] ^= 0x80
    tampered = {**form, "client_secret": base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()}
    assert_esia_error(http.post("/aas/oauth2/v3/te", data=tampered).json(), "007053", "access_denied")
    # a CMS signature by another ГОСТ key over the right string is refused too
    other_key, other_pem = ossl.make_certificate(256, "OTHER")
    cms = base64.urlsafe_b64encode(ossl.sign_cms(other_key, other_pem, b"x")).rstrip(b"=").decode()
    assert_esia_error(http.post("/aas/oauth2/v3/te", data={**form, "client_secret": cms}).json(), "007053")
    assert http.post("/aas/oauth2/v3/te", data=form).status_code == 200     # the code survived


def test_mock_gost_tokens_and_certificate_verify_with_openssl(esia, http, ossl, gost_signer):
    tok = tokens_for(http, gost_signer, "112-233-445 95", SCOPE)
    cert = http.get("/.well-known/esia-signing-certificate", params={"alg": "GOST3410_2012_256"}).text
    assert ossl.verify_self_signed(cert)
    for name in ("id_token", "access_token"):
        header, _, signed, sig = segments(tok[name])
        assert "kid" not in header
        assert ossl.verify_raw(cert, signed, sig)
        assert not ossl.verify_raw(cert, signed + b".", sig)


def test_python_gost_certificates_and_cms_verify_with_openssl(ossl, gost_credentials):
    key, pem = gost_credentials
    assert ossl.verify_self_signed(pem)
    sig = gost_cms_detached(key, b"client_id+scope+timestamp+state")
    assert ossl.verify_cms(pem, b"client_id+scope+timestamp+state", sig)
    assert not ossl.verify_cms(pem, b"client_id+scope+timestamp+statf", sig)
    assert ossl.verify_raw(pem, b"abc", key.sign(b"abc")) and not ossl.verify_raw(pem, b"abc", key.sign(b"abc")[::-1])
