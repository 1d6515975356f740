"""Mock ЕСИА admin API, fault injection, key rotation, request journal, and bad input."""
from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.errors import JoseError

from esia_helpers import BASE, PARENT, PENDING_CHILD, REDIRECT, assert_esia_error, code_for, tokens_for
from esia_helpers import certificate_key, family
from mocks.esia.core import _REGISTRY
from mocks.esia.testing import ClientSigner


def keyset(http):
    return certificate_key(http)


def test_admin_registers_clients_and_personas_over_http(esia, http, other_credentials):
    key, pem = other_credentials
    signer = ClientSigner("OTHER01", key, pem, "https://other.test/cb")
    r = http.post("/_admin/clients", json=signer.registration(scopes=["openid", "fullname"],
                                                              require_confirmed=True))
    assert r.status_code == 201 and r.json()["certificate_hash"] == signer.certificate_hash
    assert {c["client_id"] for c in http.get("/_admin/clients").json()} == {"EZHD01", "OTHER01"}
    assert http.post("/_admin/clients", json={"client_id": "bad id"}).status_code == 400
    assert http.post("/_admin/clients", json={**signer.registration(), "scopes": ["x"]}).status_code == 400
    jsonl = "\n".join(json.dumps(p, ensure_ascii=False) for p in family()[:2]) + "\n"
    http.post("/_admin/reset")
    assert http.get("/_admin/clients").json() == []
    r = http.post("/_admin/personas", content=jsonl.encode(), headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 201 and r.json()["loaded"] == 2
    r = http.post("/_admin/personas", json=family()[2:])
    assert r.json()["total"] == len(family()) + 1            # + the synthesized re-issued account
    assert http.get(f"/_admin/personas/{PARENT}").json()["linked_kids"]
    assert http.get("/_admin/personas/12345").status_code == 404
    assert len(http.get("/_admin/personas", params={"scenario": "consent_pending"}).json()) == 1
    assert http.post("/_admin/personas", json=[{"oid": "x", "kind": "learner"}]).status_code == 400
    assert http.post(f"/_admin/personas/{PARENT}/password", json={"password": "pw"}).status_code == 204
    assert esia.core.check_password(esia.core.persona(PARENT), "pw")


def test_admin_consents(esia, http):
    rows = http.get("/_admin/consents").json()
    assert {"child_oid": PENDING_CHILD, "client_id": "EZHD01", "granted": False, "explicit": False,
            "parents": [PARENT]} in rows
    r = http.post("/_admin/consents", json={"child_oid": PENDING_CHILD, "client_id": "EZHD01",
                                            "action": "grant"})
    assert r.status_code == 200 and esia.core.consent_granted(PENDING_CHILD, "EZHD01")
    assert http.post("/_admin/consents", json={"child_oid": PENDING_CHILD, "client_id": "EZHD01",
                                               "action": "grant", "parent_oid": 1000006}).status_code == 400
    assert http.post("/_admin/consents", json={"child_oid": 1, "client_id": "EZHD01",
                                               "action": "revoke"}).status_code == 404


def test_settings_patch(esia, http):
    r = http.patch("/_admin/settings", json={"issuer": "http://esia-portal1.test.gosuslugi.ru/"})
    assert r.json()["issuer"] == "http://esia-portal1.test.gosuslugi.ru/"
    assert http.patch("/_admin/settings", json={"nope": 1}).status_code == 400
    tok = tokens_for(http, esia.signer, "112-233-445 95")
    assert jwt.decode(tok["id_token"], keyset(http), registry=_REGISTRY).claims["iss"] == \
        "http://esia-portal1.test.gosuslugi.ru/"


def test_key_rotation_keeps_the_old_key_for_the_grace_period(esia, http):
    before = tokens_for(http, esia.signer, "112-233-445 95")
    old_kid = http.get("/_admin/keys").json()[0]["kid"]
    old_cert = certificate_key(http)
    new_kid = http.post("/_admin/keys/rotate").json()["kid"]
    assert [k["kid"] for k in http.get("/_admin/keys").json() if k["current"]] == [new_kid]
    after = tokens_for(http, esia.signer, "112-233-445 95")
    assert "kid" not in jwt.decode(after["id_token"], keyset(http), registry=_REGISTRY).header
    with pytest.raises(JoseError):              # the journal must install the new certificate
        jwt.decode(after["id_token"], old_cert, registry=_REGISTRY)
    jwt.decode(before["id_token"], certificate_key(http, kid=old_kid), registry=_REGISTRY)
    assert http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {before['access_token']}"}
                    ).status_code == 200      # the old key still verifies during the grace period
    esia.core.configure(clock_offset=86401)
    assert http.get("/.well-known/esia-signing-certificate", params={"kid": old_kid}).status_code == 404
    esia.core.configure(clock_offset=0)
    assert http.get("/.well-known/esia-signing-certificate", params={"kid": new_kid}).status_code == 200


def _spoiled(http, esia, kind, **params):
    r = http.post("/_admin/faults", json={"endpoint": "te", "kind": kind, "count": 1, **params})
    assert r.status_code == 201, r.text
    return tokens_for(http, esia.signer, "112-233-445 95")


@pytest.mark.parametrize("kind,check", [
    ("expired", lambda c: c["exp"] < time.time()),
    ("not_yet_valid", lambda c: c["nbf"] > time.time() + 60),
    ("foreign_audience", lambda c: c["aud"] != "EZHD01"),
    ("foreign_issuer", lambda c: c["iss"] != "http://esia.gosuslugi.ru/"),
])
def test_token_faults_with_valid_signature(esia, http, kind, check):
    tok = _spoiled(http, esia, kind)
    claims = jwt.decode(tok["id_token"], keyset(http), registry=_REGISTRY).claims
    assert check(claims)
    good = tokens_for(http, esia.signer, "112-233-445 95")              # only the next one
    ok = jwt.decode(good["id_token"], keyset(http), registry=_REGISTRY).claims
    assert ok["aud"] == "EZHD01" and ok["exp"] > time.time()


@pytest.mark.parametrize("kind,claim,sign", [("expired", "exp", -1), ("not_yet_valid", "nbf", 1)])
def test_a_token_fault_misses_its_validity_by_the_seconds_asked(esia, http, kind, claim, sign):
    """`seconds` says how far outside its validity the token is (AUTH-04's clock-skew check);
    without it, by a whole token lifetime."""
    close = jwt.decode(_spoiled(http, esia, kind, seconds=600)["id_token"], keyset(http), registry=_REGISTRY).claims
    assert abs(close[claim] - (time.time() + sign * 600)) < 30
    far = jwt.decode(_spoiled(http, esia, kind)["id_token"], keyset(http), registry=_REGISTRY).claims
    assert abs(far[claim] - (time.time() + sign * esia.core.settings.access_ttl)) < 30


def test_wrong_signature_and_alg_none_faults(esia, http):
    tok = _spoiled(http, esia, "wrong_signature")
    with pytest.raises(JoseError):
        jwt.decode(tok["id_token"], keyset(http), registry=_REGISTRY)
    assert http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {tok['access_token']}"}
                    ).status_code == 401
    tok = _spoiled(http, esia, "alg_none", token="id")
    head = json.loads(__import__("base64").urlsafe_b64decode(tok["id_token"].split(".")[0] + "=="))
    assert head["alg"] == "none" and tok["id_token"].endswith(".")
    jwt.decode(tok["access_token"], keyset(http), registry=_REGISTRY)   # access token untouched


def test_http_faults_status_and_delay(esia, http):
    assert http.post("/_admin/faults", json={"endpoint": "te", "kind": "status", "status": 503,
                                             "count": 2}).status_code == 201
    assert len(http.get("/_admin/faults").json()) == 1
    cb = code_for(http, esia.signer, "112-233-445 95")
    for _ in range(2):
        r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(cb["code"], scope="openid fullname"))
        assert r.status_code == 503
        assert_esia_error(r.json(), "007008", "temporarily_unavailable")
    r = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(cb["code"], scope="openid fullname"))
    assert r.status_code == 200                              # the fault did not consume the code
    http.post("/_admin/faults", json={"endpoint": "certificate", "kind": "delay", "seconds": 0.3})
    t = time.perf_counter()
    assert http.get("/.well-known/esia-signing-certificate").status_code == 200
    assert time.perf_counter() - t >= 0.3
    http.post("/_admin/faults", json={"endpoint": "rest", "kind": "status"})
    r = http.get(f"/rs/prns/{PARENT}")
    assert r.status_code == 500 and r.json()["error_description"].startswith("ESIA-007007: ")
    assert http.post("/_admin/faults", json={"endpoint": "ac", "kind": "expired"}).status_code == 400
    assert http.post("/_admin/faults", json={"endpoint": "nowhere", "kind": "status"}).status_code == 400
    assert http.delete("/_admin/faults").status_code == 204 and http.get("/_admin/faults").json() == []


def test_journal_records_every_exchange_with_secrets_redacted(esia, http):
    esia.core.set_password(PARENT, "Pa55-word-xyz")
    r = http.get(esia.signer.ac_url(BASE, "openid fullname"))
    from esia_helpers import login
    from mocks.esia.testing import callback_params
    r = login(http, r, "112-233-445 95", password="Pa55-word-xyz")
    cb = callback_params(r.headers["location"])
    form = esia.signer.te_form(cb["code"], scope="openid fullname")
    tok = http.post("/aas/oauth2/v3/te", data=form).json()
    http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {tok['access_token']}"})
    http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(refresh_token=tok["refresh_token"],
                                                             scope="openid fullname"))
    entries = http.get("/_admin/journal").json()
    text = json.dumps(entries, ensure_ascii=False)
    for secret in ("Pa55-word-xyz", cb["code"], form["client_secret"], tok["access_token"],
                   tok["id_token"], tok["refresh_token"]):
        assert secret not in text
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("GET", "/aas/oauth2/v2/ac", 200) in paths and ("POST", "/login", 302) in paths
    assert ("POST", "/aas/oauth2/v3/te", 200) in paths and ("GET", f"/rs/prns/{PARENT}", 200) in paths
    te = next(e for e in entries if e["path"] == "/aas/oauth2/v3/te")
    assert te["form"]["client_secret"] == "[REDACTED]" and te["form"]["code"] == "[REDACTED]"
    assert te["form"]["client_id"] == "EZHD01" and te["time"].endswith("Z")
    login_entry = next(e for e in entries if e["path"] == "/login")
    assert login_entry["form"]["password"] == "[REDACTED]" and "[REDACTED]" in login_entry["location"]
    last = entries[-1]["seq"]
    assert http.get("/_admin/journal", params={"since": last}).json()[0]["path"] == "/_admin/journal"
    assert http.delete("/_admin/journal").status_code == 204


def test_refusals_are_journalled_with_their_code(esia, http):
    http.post("/aas/oauth2/v3/te", data=esia.signer.te_form("nope", scope="openid"))
    e = [x for x in esia.core.read_journal() if x["path"] == "/aas/oauth2/v3/te"][-1]
    assert e["status"] == 400 and e["error"]["code"] == "007011"


# --- bad input -----------------------------------------------------------------------------

def test_oversized_body_is_413_in_esia_shape_and_the_mock_keeps_serving(esia, http):
    r = http.post("/aas/oauth2/v3/te", content=b"a=" + b"x" * (70 * 1024),
                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert_esia_error(r.json(), "007038", "invalid_request")

    def chunks():
        for _ in range(40):
            yield b"y" * 4096
    r = http.post("/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert http.get("/.well-known/esia-signing-certificate").status_code == 200


@pytest.mark.parametrize("query", [
    "client_id=%FF%FE&redirect_uri=x", "client_id=EZHD01&redirect_uri=%00", "%%%", "a=" + "b" * 17000,
    "client_id=EZHD01&redirect_uri=" + REDIRECT + "&scope=%E2%98%83",
])
def test_garbage_ac_parameters_get_4xx_in_esia_shape(esia, http, query):
    r = http.get(f"/aas/oauth2/v2/ac?{query}", headers={"accept": "application/json"})
    assert 400 <= r.status_code < 500 or r.status_code == 302
    if r.status_code == 302:
        from mocks.esia.testing import callback_params
        assert callback_params(r.headers["location"])["error_description"].startswith("ESIA-")
    else:
        assert r.json()["error_description"].startswith("ESIA-")
    assert http.get("/.well-known/esia-signing-certificate").status_code == 200


def test_garbage_forms_and_paths(esia, http):
    for body in (b"\xff\xfe\x00", b"grant_type=authorization_code&grant_type=refresh_token", b"===&&&"):
        r = http.post("/aas/oauth2/v3/te", content=body,
                      headers={"content-type": "application/x-www-form-urlencoded"})
        assert 400 <= r.status_code < 500
        assert r.json()["error_description"].startswith("ESIA-")
    r = http.get("/no/such/path")
    assert r.status_code == 404 and r.json()["error_description"].startswith("ESIA-")
    r = http.delete("/aas/oauth2/v3/te")
    assert r.status_code == 405 and r.json()["error_description"].startswith("ESIA-")
    r = http.post("/login", data={"auth_request": "forged-request-id-123", "username": "x", "password": "y"},
                  headers={"accept": "application/json"})
    assert r.status_code == 400 and r.json()["error_description"].startswith("ESIA-007003")
    assert http.get("/_admin/personas/abc").status_code == 400
    assert http.post("/_admin/faults", content=b"{not json").status_code == 400


def test_a_crash_inside_becomes_500_in_esia_shape(esia, http, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(esia.core, "_exchange", boom)
    r = http.post("/aas/oauth2/v3/te", data={"grant_type": "authorization_code"})
    assert r.status_code == 500 and r.json()["error_description"].startswith("ESIA-007007: ")
    monkeypatch.undo()
    assert http.get("/.well-known/esia-signing-certificate").status_code == 200


def test_issued_lists_every_token_handed_out_since_a_seq(esia, http):
    """`/_admin/issued` is what lets the suite look for a journal's tokens in its log (LOG-03):
    each access, id and refresh token a client got, in order, readable from a `seq` on."""
    first = tokens_for(http, esia.signer, "112-233-445 95")
    issued = http.get("/_admin/issued").json()
    assert [e["kind"] for e in issued] == ["access_token", "id_token", "refresh_token"]
    assert [e["token"] for e in issued] == [first["access_token"], first["id_token"], first["refresh_token"]]
    assert {e["client_id"] for e in issued} == {"EZHD01"} and {e["oid"] for e in issued} == {PARENT}
    since = issued[-1]["seq"]
    again = http.post("/aas/oauth2/v3/te", data=esia.signer.te_form(refresh_token=first["refresh_token"],
                                                                     scope="openid fullname")).json()
    later = http.get("/_admin/issued", params={"since": since}).json()
    assert [e["token"] for e in later] == [again["access_token"], again["id_token"], again["refresh_token"]]
    assert http.get("/_admin/issued", params={"client_id": "OTHER"}).json() == []
    bad = http.get("/_admin/issued", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["message"]
    assert http.post("/_admin/reset", json={}).status_code == 204
    assert http.get("/_admin/issued").json() == []
