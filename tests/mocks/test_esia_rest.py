"""Mock ЕСИА person REST: Bearer tokens, scope enforcement, collections, kids, re-issue."""
from __future__ import annotations

import pytest

from esia_helpers import (BASE, CHILD, OLD_CHILD, PARENT, SCHOOL, TEACHER, TEEN,
                          assert_esia_error, tokens_for)


def bearer(tok: dict) -> dict:
    return {"Authorization": f"Bearer {tok['access_token']}"}


@pytest.fixture
def parent(esia, http):
    scope = ("openid fullname birthdate gender snils id_doc email mobile kid_fullname kid_birthdate "
             "kid_snils kid_birth_cert_doc")
    return tokens_for(http, esia.signer, "112-233-445 95", scope=scope)


def test_person_fields_follow_scopes(esia, http, parent):
    p = http.get(f"/rs/prns/{PARENT}", headers=bearer(parent)).json()
    assert p["stateFacts"] == ["EntityRoot"]
    assert (p["lastName"], p["firstName"], p["middleName"]) == ("Иванова", "Мария", "Петровна")
    assert p["birthDate"] == "14.03.1985" and p["gender"] == "F" and p["snils"] == "112-233-445 95"
    assert p["trusted"] is True and p["eTag"] and p["rIdDoc"]
    http.cookies.clear()
    narrow = tokens_for(http, esia.signer, "112-233-445 95", scope="openid fullname")
    p = http.get(f"/rs/prns/{PARENT}", headers=bearer(narrow)).json()
    assert "snils" not in p and "birthDate" not in p and p["lastName"] == "Иванова"


def test_collections_with_and_without_embed(esia, http, parent):
    c = http.get(f"/rs/prns/{PARENT}/ctts", headers=bearer(parent)).json()
    assert c["stateFacts"] == ["hasSize"] and c["size"] == 2 and c["eTag"]
    assert all(e.startswith(f"{BASE}/rs/prns/{PARENT}/ctts/") for e in c["elements"])
    one = http.get(c["elements"][0].removeprefix(BASE), headers=bearer(parent)).json()
    assert one["type"] in ("EML", "MBT") and one["vrfStu"] == "VERIFIED"
    e = http.get(f"/rs/prns/{PARENT}/ctts", params={"embed": "(elements)"}, headers=bearer(parent)).json()
    assert {x["type"]: x["value"] for x in e["elements"]} == {"EML": "maria@example.ru", "MBT": "+7(916)1234567"}
    d = http.get(f"/rs/prns/{PARENT}/docs?embed=(elements)", headers=bearer(parent)).json()
    assert d["elements"][0]["type"] == "RF_PASSPORT" and d["elements"][0]["series"] == "4510"


def test_nested_embed_as_real_clients_send_it(esia, http, parent):
    q = "embed=(contacts.elements,addresses.elements,documents.elements)"
    p = http.get(f"/rs/prns/{PARENT}?{q}", headers=bearer(parent)).json()
    assert p["lastName"] == "Иванова"
    assert {x["type"]: x["value"] for x in p["contacts"]["elements"]} == {
        "EML": "maria@example.ru", "MBT": "+7(916)1234567"}
    assert p["contacts"]["size"] == 2 and p["documents"]["elements"][0]["series"] == "4510"
    assert "addresses" not in p          # no `addresses` scope in the token: left out
    linked = http.get(f"/rs/prns/{PARENT}?embed=(contacts)", headers=bearer(parent)).json()
    assert all(e.startswith(f"{BASE}/rs/prns/{PARENT}/ctts/") for e in linked["contacts"]["elements"])
    assert "contacts" not in http.get(f"/rs/prns/{PARENT}", headers=bearer(parent)).json()


def test_access_token_scope_carries_the_subject(esia, http, parent):
    import base64
    import json
    body = parent["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    scopes = claims["scope"].split()
    assert "openid" in scopes and f"fullname?oid={PARENT}" in scopes and f"kid_snils?oid={PARENT}" in scopes
    assert all(s == "openid" or s.endswith(f"?oid={PARENT}") for s in scopes)


def test_kids_and_reading_a_kid(esia, http, parent):
    k = http.get(f"/rs/prns/{PARENT}/kids", headers=bearer(parent)).json()
    assert k["size"] == 3 and f"{BASE}/rs/prns/{PARENT}/kids/{CHILD}" in k["elements"]
    k = http.get(f"/rs/prns/{PARENT}/kids?embed=(elements)", headers=bearer(parent)).json()
    kid = next(x for x in k["elements"] if x["oid"] == CHILD)
    assert kid["firstName"] == "Пётр" and kid["birthDate"] == "01.02.2015" and kid["snils"] == "123-456-789 64"
    one = http.get(f"/rs/prns/{PARENT}/kids/{CHILD}", headers=bearer(parent)).json()
    assert one == kid
    docs = http.get(f"/rs/prns/{PARENT}/kids/{CHILD}/docs?embed=(elements)", headers=bearer(parent)).json()
    assert docs["elements"][0]["type"] == "RF_BRTH_CERT"
    p = http.get(f"/rs/prns/{CHILD}", headers=bearer(parent)).json()    # with kid_* scopes
    assert p["lastName"] == "Иванов" and p["trusted"] is False and "gender" not in p


def test_scope_enforcement_is_403(esia, http):
    tok = tokens_for(http, esia.signer, "112-233-445 95", scope="openid fullname")
    for path in ("ctts", "addrs", "docs", "kids", "roles", "orgs"):
        r = http.get(f"/rs/prns/{PARENT}/{path}", headers=bearer(tok))
        assert r.status_code == 403, path
        assert_esia_error(r.json(), "007019", "insufficient_scope")
    r = http.get(f"/rs/prns/{CHILD}", headers=bearer(tok))          # no kid_* scope
    assert r.status_code == 403


def test_someone_elses_oid_is_403_unknown_is_404(esia, http, parent):
    assert http.get(f"/rs/prns/{TEACHER}", headers=bearer(parent)).status_code == 403
    r = http.get("/rs/prns/999999999", headers=bearer(parent))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert http.get("/rs/prns/abc", headers=bearer(parent)).status_code == 404
    assert http.get(f"/rs/prns/{PARENT}/ctts/1", headers=bearer(parent)).status_code == 404
    assert http.get(f"/rs/prns/{PARENT}/nothing", headers=bearer(parent)).status_code == 404


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer abc", "Bearer a.b.c", "Basic Zm9vOmJhcg==",
                                    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOjF9."])
def test_missing_or_malformed_token_is_401(esia, http, header):
    r = http.get(f"/rs/prns/{PARENT}", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"] == "invalid_token"
    assert r.json()["error_description"].startswith("ESIA-")


def test_expired_token_and_foreign_token_are_401(esia, http, parent):
    esia.core.configure(clock_offset=3700)
    assert http.get(f"/rs/prns/{PARENT}", headers=bearer(parent)).status_code == 401
    esia.core.configure(clock_offset=0)
    from mocks.esia.core import EsiaCore
    foreign = EsiaCore()                                    # another ЕСИА, another key
    foreign.clients = esia.core.clients
    foreign.personas = esia.core.personas
    from mocks.esia.core import Grant
    tok = foreign.issue_tokens(esia.core.clients["EZHD01"],
                               Grant("EZHD01", PARENT, ("openid",), "sid", 0, "PWD", "online", "", 0), "s")
    assert http.get(f"/rs/prns/{PARENT}", headers=bearer(tok)).status_code == 401


def test_roles_and_orgs_of_a_teacher(esia, http):
    tok = tokens_for(http, esia.signer, str(TEACHER), scope="openid fullname usr_org")
    roles = http.get(f"/rs/prns/{TEACHER}/roles", headers=bearer(tok)).json()
    assert roles["size"] == 1
    role = roles["elements"][0]
    assert role["oid"] == SCHOOL and role["prnOid"] == TEACHER and role["ogrn"] == "1026200937729"
    assert role["fullName"] == "МБОУ «Школа № 1»" and role["chief"] is False
    orgs = http.get(f"/rs/prns/{TEACHER}/orgs", headers=bearer(tok)).json()
    assert orgs["elements"] == [f"{BASE}/rs/orgs/{SCHOOL}"]
    org = http.get(f"/rs/orgs/{SCHOOL}", headers=bearer(tok)).json()
    assert org["inn"] == "6229769654" and org["kpp"] == "622901001" and org["trusted"] is True


def test_reissued_child_both_oids_resolve_with_the_same_snils(esia, http):
    assert esia.core.persona(OLD_CHILD)["replaced_by"] == TEEN
    new = tokens_for(http, esia.signer, "345-678-901 23", scope="openid snils")
    assert new["access_token"]
    from joserfc import jwt
    sub = jwt.decode(new["id_token"], esia.core.current_key.key,
                     registry=__import__("mocks.esia.core", fromlist=["_REGISTRY"])._REGISTRY).claims["sub"]
    assert sub == TEEN                                      # SNILS signs the current account in
    http.cookies.clear()
    old = tokens_for(http, esia.signer, str(OLD_CHILD), scope="openid snils")
    a = http.get(f"/rs/prns/{TEEN}", headers=bearer(new)).json()
    b = http.get(f"/rs/prns/{OLD_CHILD}", headers=bearer(old)).json()
    assert a["snils"] == b["snils"] == "345-678-901 23"


def test_dataset_personas_load_and_sign_in(esia, http):
    dataset = pytest.importorskip("fixtures.dataset")
    if not hasattr(dataset, "generate_small"):
        pytest.skip("fixtures.dataset has no generate_small")
    personas = dataset.generate_small(1).personas
    esia.core.reset()
    esia.core.register_client("EZHD01", esia.signer.certificate_pem, [esia.signer.redirect_uri])
    esia.core.load_personas(personas)
    pending = next(p for p in personas if "consent_pending" in p["scenario"])
    parent_oid = pending["parents"][0]
    r = tokens_for(http, esia.signer, str(parent_oid), scope="openid fullname kid_fullname")
    kids = http.get(f"/rs/prns/{parent_oid}/kids?embed=(elements)", headers=bearer(r)).json()
    assert pending["oid"] in {k["oid"] for k in kids["elements"]}
    http.cookies.clear()
    from esia_helpers import code_for
    assert "parentalConsentPending" in code_for(http, esia.signer, str(pending["oid"]))["error_description"]
    esia.core.set_consent(pending["oid"], "EZHD01", True, parent_oid=parent_oid)
    http.cookies.clear()
    assert "code" in code_for(http, esia.signer, str(pending["oid"]))
    reissued = next(p for p in personas if p.get("reissued_from"))
    assert esia.core.persona(reissued["reissued_from"]) is not None
