"""Small helpers shared by the mock ЕСИА tests."""
from __future__ import annotations

from mocks.esia.testing import auth_request_of, callback_params

BASE = "http://esia.test"
REDIRECT = "https://journal.test/auth/esia/callback"
PASSWORD = "esia"

PARENT, CHILD, PENDING_CHILD, TEEN, SIMPLE, TEACHER, SCHOOL, OLD_CHILD = (
    1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 1000007, 1000008)


def _person(oid, kind, account_type, last, first, birth, gender, snils=None, **extra):
    level = {"child": "KD", "confirmed": "PR"}.get(account_type, "P")
    p = {"oid": oid, "kind": kind, "journal_id": f"J{oid}", "level": level,
         "account_type": account_type, "trusted": account_type == "confirmed",
         "lastName": last, "firstName": first, "middleName": "Петровна" if gender == "F" else "Петрович",
         "birthDate": birth, "gender": gender, "docs": [], "scenario": []}
    if snils:
        p["snils"] = snils
    p.update(extra)
    return p


def family() -> list[dict]:
    return [
        _person(PARENT, "representative", "confirmed", "Иванова", "Мария", "14.03.1985", "F",
                "112-233-445 95", docs=[{"type": "RF_PASSPORT", "series": "4510", "number": "123456"}],
                kids=[CHILD, PENDING_CHILD, TEEN], email="maria@example.ru", mobile="+7(916)1234567"),
        _person(CHILD, "learner", "child", "Иванов", "Пётр", "01.02.2015", "M", "123-456-789 64",
                docs=[{"type": "RF_BRTH_CERT", "series": "II-МЮ", "number": "123456"}],
                parents=[PARENT], consent="granted", scenario=["under_14"]),
        _person(PENDING_CHILD, "learner", "child", "Иванова", "Анна", "05.06.2016", "F", "234-567-890 12",
                parents=[PARENT], consent="pending", scenario=["consent_pending", "under_14"]),
        _person(TEEN, "learner", "confirmed", "Иванов", "Олег", "01.01.2010", "M", "345-678-901 23",
                parents=[PARENT], reissued_from=OLD_CHILD, scenario=["reissued", "teen"]),
        _person(SIMPLE, "representative", "simplified", "Петров", "Павел", "02.02.1980", "M",
                "456-789-012 34", scenario=["unconfirmed_adult"]),
        _person(TEACHER, "staff", "confirmed", "Сидорова", "Ольга", "03.03.1975", "F", "567-890-123 45",
                roles=[{"oid": SCHOOL, "ogrn": "1026200937729", "position": "Учитель", "chief": False}]),
        {"oid": SCHOOL, "kind": "organisation", "journal_id": "ORG1", "account_type": "confirmed",
         "trusted": True, "name": "МБОУ «Школа № 1»", "inn": "6229769654", "ogrn": "1026200937729",
         "kpp": "622901001", "scenario": []},
    ]




def assert_esia_error(body: dict, code: str, error: str | None = None, state: str | None = None) -> None:
    assert set(body) <= {"error", "error_description", "state"}, body
    assert body["error_description"].startswith(f"ESIA-{code}: "), body
    if error:
        assert body["error"] == error, body
    if state is not None:
        assert body.get("state") == state, body


def ac(http, signer, scope="openid fullname", **kw):
    """GET v2/ac; return the response (no redirects followed)."""
    return http.get(signer.ac_url(BASE, scope, **kw))


def login(http, page, username, password="esia", action="allow"):
    return http.post("/login", data={"auth_request": auth_request_of(page.text), "username": username,
                                     "password": password, "action": action})


def code_for(http, signer, username, scope="openid fullname", **kw) -> dict:
    r = ac(http, signer, scope, **kw)
    if r.status_code == 302:
        return callback_params(r.headers["location"])
    assert r.status_code == 200, r.text
    r = login(http, r, username)
    assert r.status_code == 302, r.text
    return callback_params(r.headers["location"])


def tokens_for(http, signer, username, scope="openid fullname", **kw) -> dict:
    cb = code_for(http, signer, username, scope, **kw)
    assert "code" in cb, cb
    r = http.post("/aas/oauth2/v3/te", data=signer.te_form(cb["code"], scope=scope))
    assert r.status_code == 200, r.text
    return r.json()


def certificate_key(http, alg: str = "RS256", kid: str | None = None):
    """ЕСИА's token key as a journal gets it: from the downloaded signing certificate (the
    real ЕСИА has no JWKS and no `kid`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from joserfc.jwk import RSAKey
    params = {"alg": alg, **({"kid": kid} if kid else {})}
    r = http.get("/.well-known/esia-signing-certificate", params=params)
    assert r.status_code == 200, r.text
    cert = x509.load_pem_x509_certificate(r.content)
    if alg != "RS256":
        return cert
    return RSAKey.import_key(cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
