"""The security event log (LOG-01, LOG-02, LOG-03), read back as the journal's auditor reads it
(`driver.administrator().audit_events(from, to)`, windows by the journal's clock).

- LOG-01: a failed password sign-in (`driver.sign_in` with a wrong password) and a parent's
  consent given through the portal (`postConsent`) each leave a record in the log of that
  period with a time inside it, the subject (login; the parent and the child) and the outcome.
- LOG-02: the log of a period in the past holds that period's records and none of the later
  ones: a password sign-in, then (a second later) more than twenty failed ones under marked
  logins; the window of the first has its record and none of the later ones.
- LOG-03: secrets planted in the period — a password typed in a failed sign-in, the tokens of
  an ЕСИА sign-in — appear nowhere in the log of that period: neither the typed password nor
  the account's real one, no JWT-shaped string (`eyJ…`, what ЕСИА's tokens look like), and
  none of the tokens mock ЕСИА handed the journal in that window (`/_admin/issued`: access,
  id and refresh tokens), whole or as their secret part (a JWT's signature, with or without
  its payload; the first or last 16 characters of a refresh token).
  (A child password set through the portal is checked against the log by CRED-02.)
"""
from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import pytest

from conformance.browser import Browser, query
from conformance.log._support import AuditLog, check_record, mentioning, named, outcome_of, text, time_of

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def audit(driver, test_control) -> AuditLog:
    return AuditLog(driver, test_control)


def _login_of(people) -> dict:
    """A fresh staff member with an internal login and password (their account sees failed attempts)."""
    def fits(p):
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("internal_login") and jp.get("internal_password"))
    return people.of(people.pick("staff", fresh=True, where=fits)["oid"])


def _wait_next_second(audit: AuditLog, after: dt.datetime) -> None:
    """Sleep until the journal's clock is in a later second than `after`."""
    for _ in range(30):
        if audit.now().replace(microsecond=0) > after.replace(microsecond=0):
            return
        time.sleep(0.1)
    raise AssertionError("the journal's clock does not move (frozen?): a period cannot be told apart")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="sign_in_failure", session="school_login")
def test_a_failed_sign_in_is_logged(driver, people, audit):
    person = _login_of(people)
    login = person["internal_login"]
    start = audit.now() - SECOND
    answer, session = driver.sign_in(login, f"Wrong-{uuid.uuid4().hex[:8]}-1!")
    assert session is None, f"a wrong password signed {login} in: {answer.describe()}"
    end = audit.now() + SECOND
    found = mentioning(audit.read(start, end), login)
    failures = [r for r in found if "fail" in text(r).lower() or "denied" in text(r).lower()
                or "invalid" in text(r).lower()]
    assert failures, (f"the event log of {start.isoformat()} … {end.isoformat()} has no record of the failed "
                      f"sign-in of {login!r} (records naming the login: {len(found)})")
    check_record(failures[-1], start, end, "failure", f"the failed sign-in of {login!r}")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="consent")
def test_a_consent_from_the_portal_is_logged(run, people, portal, audit):
    def fits(p):
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("consent_granted") and jp.get("record_id")
                    and any((people.of(o) or {}).get("prelinked") and o not in people.claimed
                            for o in p.get("parents") or []))
    child = people.pick("learner", fresh=True, where=fits)
    learner_id = people.of(child["oid"])["record_id"]
    parent_oid = next(o for o in child["parents"] if (people.of(o) or {}).get("prelinked") and o not in people.claimed)
    parent = people.of(parent_oid)
    consent_id = str(uuid.uuid4())
    start = audit.now() - SECOND
    resp = portal.post("/api/v1/consents", parent_oid, json={
        "consent_id": consent_id, "action": "granted", "changed_at": audit.now().isoformat(timespec="seconds"),
        "learner_id": learner_id, "consent_type": "SCHOOL_EJOURNAL"})
    assert resp.status_code == 204, (f"postConsent for a parent's own child answered HTTP {resp.status_code}: "
                                     f"{resp.text[:300]}")
    end = audit.now() + SECOND
    found = mentioning(audit.read(start, end), consent_id, learner_id, str(child["oid"]))
    assert found, (f"the event log of {start.isoformat()} … {end.isoformat()} has no record of the consent "
                   f"{consent_id} a parent gave for {learner_id} through the portal")
    subject = [r for r in found if any(s and s in text(r) for s in (str(parent_oid), parent.get("internal_login"),
                                                                    parent.get("record_id")))]
    assert subject, f"the log record of the consent does not name the parent who gave it: {text(found[-1])[:300]}"
    check_record(subject[-1], start, end, "success", f"the consent {consent_id}")


@pytest.mark.requirement("LOG-02")
@pytest.mark.surface(actor="auditor")
def test_the_log_of_a_past_period_holds_that_periods_records(driver, people, audit):
    person = _login_of(people)
    later = f"log02-{uuid.uuid4().hex[:10]}-later"
    before = audit.now()
    answer, session = driver.sign_in(person["internal_login"], person["internal_password"])
    assert session is not None, (f"{person['internal_login']} cannot sign in with their own password: "
                                 f"{answer.describe()}")
    after = audit.now()
    session.sign_out()
    _wait_next_second(audit, after)
    for n in range(25):                         # more than a "latest N" answer would hold
        driver.sign_in(f"{later}-{n}", "Wrong-password-1!")
    start, end = before.replace(microsecond=0), after.replace(microsecond=0)
    items = audit.read(start, end)
    assert mentioning(items, person["internal_login"]), (
        f"the event log of {start.isoformat()} … {end.isoformat()} lacks the sign-in of "
        f"{person['internal_login']!r} made in that period (records returned: {len(items)})")
    leaked = mentioning(items, later)
    assert not leaked, (f"the event log of {start.isoformat()} … {end.isoformat()} returns {len(leaked)} record(s) "
                        f"made after the period ends: the period is not applied")
    outside = [r for r in items if (t := time_of(r)) is not None and not (start <= t <= end + SECOND)]
    assert not outside, f"the event log of a period returns records timed outside it: {text(outside[0])[:300]}"


def _issued_seq(esia) -> int:
    return max((e["seq"] for e in esia.get("/issued") or []), default=0)


def _token_parts(kind: str, token: str) -> dict[str, str]:
    """What of a token is secret on its own: the whole token; a JWT's payload with its
    signature and the signature alone; a refresh token's first and last 16 characters."""
    parts = {"the whole token": token}
    pieces = token.split(".")
    if len(pieces) == 3 and kind != "refresh_token":
        parts["its payload and signature"] = ".".join(pieces[1:])
        parts["its signature"] = pieces[2]
    elif len(token) >= 32:
        parts["its first 16 characters"] = token[:16]
        parts["its last 16 characters"] = token[-16:]
    return {what: value for what, value in parts.items() if len(value) >= 16}


def _assert_no_issued_token(dump: str, issued: list[dict]) -> None:
    for entry in issued:
        for what, value in _token_parts(entry["kind"], entry["token"]).items():
            assert value not in dump, (f"the {entry['kind']} mock ЕСИА issued to {entry['client_id']} "
                                       f"(oid {entry['oid']}) is written to the event log: {what}")


@pytest.mark.requirement("LOG-03")
@pytest.mark.surface(secret_kind=["password", "access_token", "id_token", "refresh_token"])
def test_no_password_or_token_reaches_the_log(driver, people, browser, audit, esia):
    person = _login_of(people)
    typed = f"Typed-{uuid.uuid4().hex[:12]}-9!"
    seq = _issued_seq(esia)
    start = audit.now() - SECOND
    driver.sign_in(person["internal_login"], typed)
    signer = people.confirmed_parent()
    landing = browser.sign_in(signer["oid"])
    assert landing.signed_in, f"a linked parent could not sign in through ЕСИА: {landing.describe()}"
    end = audit.now() + SECOND
    items = audit.read(start, end)
    assert items, f"the event log of {start.isoformat()} … {end.isoformat()} is empty after two sign-ins"
    dump = text(items)
    typed_logged = typed in dump
    assert not typed_logged, "the password typed in a failed sign-in is written to the event log"
    real_logged = person["internal_password"] in dump
    assert not real_logged, "a user's password is written to the event log"
    token = JWT.search(dump)
    where = dump[max(0, token.start() - 80):token.start() + 12] if token else ""
    assert not where, f"the event log holds a JWT-shaped value (an ЕСИА token?) near: {where}…"
    issued = esia.get("/issued", params={"since": seq}) or []
    assert any(e["kind"] == "access_token" for e in issued), \
        "mock ЕСИА issued no access token during an ЕСИА sign-in the journal reported as done"
    _assert_no_issued_token(dump, issued)


@pytest.mark.requirement("LOG-03")
@pytest.mark.surface(secret_kind=["authorization_code", "client_secret", "signed_with_key", "authorization_url",
                                  "document_number"])
def test_no_secret_of_an_esia_sign_in_reaches_the_log(people, browser, audit):
    """The secrets that pass through one ЕСИА sign-in, each looked for in the log of its window:
    the authorization code of the callback, the journal's own `client_secret` (its signature
    with its key) and `state` of the authorization URL, that URL itself, and the full numbers of
    the person's documents ЕСИА hands over (series and number, with or without the space;
    a number alone is too short to tell from other digits)."""
    signer = people.confirmed_parent()
    start = audit.now() - SECOND
    ac = browser.start()
    params = query(ac)
    callback = browser.at_esia(ac, signer["oid"])
    code = query(callback).get("code")
    landing = browser.land(callback)
    assert landing.signed_in, f"a linked parent could not sign in through ЕСИА: {landing.describe()}"
    end = audit.now() + SECOND
    dump = text(audit.read(start, end))
    secrets = {
        "the authorization code of the ЕСИА callback": code,
        "the journal's client_secret (its signature of the authorization request)": params.get("client_secret"),
        "the state of the authorization request": params.get("state"),
        "the ЕСИА authorization URL with its parameters": ac.split("?", 1)[1] if "?" in ac else None,
    }
    for doc in signer.get("docs") or []:
        series, number = str(doc.get("series") or ""), str(doc.get("number") or "")
        if series and number:
            secrets[f"the series and number of the signer's {doc.get('type')}"] = f"{series} {number}"
            secrets[f"the series and number of the signer's {doc.get('type')} (no space)"] = series + number
    for what, value in secrets.items():
        if value and len(value) >= 6:
            assert value not in dump, f"{what} is written to the event log"


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="sign_in_failure", session="esia")
def test_a_refused_esia_sign_in_is_logged(run, people, audit):
    """The user presses «Отказать» at ЕСИА: the journal's callback gets `error=access_denied` and
    no code, so nobody is signed in and the journal does not know who it was. The log still
    holds a failed sign-in record, with its time, outcome and an actor (`anonymous` will do)."""
    person = people.pick("staff", prelinked=True, account_type="confirmed")
    browser = Browser(run)
    try:
        browser.esia_admin("DELETE", "/faults")
        start = audit.now() - SECOND
        seen = {text(r) for r in audit.read(start, audit.now() + SECOND)}   # earlier failures in the slack
        landing = browser.land(browser.at_esia(browser.start(), person["oid"], action="deny"))
        assert not landing.signed_in, f"a sign-in refused at ЕСИА gave a session: {landing.describe()}"
        end = audit.now() + SECOND
        items = audit.read(start, end)
    finally:
        browser.close()
    failures = [r for r in named(items, "sign_in") if outcome_of(r) == "failure" and text(r) not in seen]
    assert failures, (f"the event log of {start.isoformat()} … {end.isoformat()} has no failed sign-in after a "
                      f"sign-in refused at ЕСИА ({len(items)} records in the period): "
                      + "; ".join(text(r)[:150] for r in items[-3:]))
    check_record(failures[-1], start, end, "failure", "the sign-in refused at ЕСИА")
