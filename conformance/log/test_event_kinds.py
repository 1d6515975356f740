"""Every kind of security event LOG-01 names leaves a record (LOG-01).

LOG-01 lists sign-in success and failure, linking and unlinking, consent, role changes, data
changes, uploads and their statuses, and credential issue. For each kind the test makes the
event happen in the journal through its public interfaces (the driver, an ЕСИА sign-in in a
browser, the portal through the agent, test-control's export), then reads the log of that
window as the auditor does and asks for a record that names the subject of the event, says in
words what happened (Russian or English; `_support.ACTION_WORDS`), states the outcome and is
timed inside the window. Sign-ins are tried in both kinds of session (the journal's own login
and ЕСИА): a journal that logs one kind and not the other breaks the rule."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from conformance.auth._support import sign_in_anew
from conformance.browser import Browser
from conformance.exp import _support as exp
from conformance.log._support import AuditLog, check_record, mentioning, named, outcome_of, text
from conformance.role._support import STRONG_PASSWORD
from conformance.verdicts import EnvironmentProblem

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def audit(driver, test_control) -> AuditLog:
    return AuditLog(driver, test_control)


def _logged(audit: AuditLog, start: dt.datetime, kind: str, needles: list[str], outcome: str, what: str) -> None:
    end = audit.now() + SECOND
    items = audit.read(start, end)
    found = mentioning(items, *needles)
    assert found, (f"the event log of {start.isoformat()} … {end.isoformat()} has no record naming "
                   f"{' / '.join(n for n in needles if n)} after {what}")
    kinds = named(found, kind)
    assert kinds, (f"the event log has records naming the subject of {what}, but none says it was a "
                   f"{kind.replace('_', ' ')}: {text(found[-1])[:300]}")
    check_record(kinds[-1], start, end, outcome, what)


def _person_with_login(people, kind: str = "staff") -> dict:
    def fits(p):
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("internal_login") and jp.get("internal_password"))
    return people.of(people.pick(kind, fresh=True, where=fits)["oid"])


def _needles(people, oid) -> list[str]:
    jp = people.of(oid) or {}
    return [str(oid), jp.get("internal_login") or "", jp.get("record_id") or ""]


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="sign_in_success", session="school_login")
def test_a_password_sign_in_is_logged(driver, people, audit):
    person = _person_with_login(people)
    start = audit.now() - SECOND
    answer, session = driver.sign_in(person["internal_login"], person["internal_password"])
    assert session is not None, f"{person['internal_login']} cannot sign in with their password: {answer.describe()}"
    session.sign_out()
    _logged(audit, start, "sign_in", [person["internal_login"], person.get("record_id") or ""], "success",
            f"the password sign-in of {person['internal_login']!r}")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="sign_in_success", session="esia")
def test_an_esia_sign_in_is_logged(run, people, audit):
    # fresh: a person no other test of the run signed in, so no earlier record names them
    teacher = people.pick("staff", prelinked=True, account_type="confirmed", fresh=True)
    start = audit.now() - SECOND
    landing = sign_in_anew(run, teacher["oid"])
    assert landing.signed_in, f"a linked teacher could not sign in through ЕСИА: {landing.describe()}"
    _logged(audit, start, "sign_in", _needles(people, teacher["oid"]), "success",
            f"the ЕСИА sign-in of oid {teacher['oid']}")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="link", session="esia")
def test_the_automatic_link_of_a_first_esia_sign_in_is_logged(run, people, audit):
    parent = people.pick("representative", prelinked=False, account_type="confirmed", fresh=True)
    start = audit.now() - SECOND
    landing = sign_in_anew(run, parent["oid"])
    assert landing.signed_in, (f"the first ЕСИА sign-in of a matching parent (oid {parent['oid']}) gave no "
                               f"session: {landing.describe()}")
    _logged(audit, start, "link", _needles(people, parent["oid"]), "success",
            f"the link of ЕСИА oid {parent['oid']} at its first sign-in")


RELINK_WORDS = r"replac|relink|re-link|перепривяз|замен"


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="unlink", session="esia")
def test_the_old_oid_of_an_account_reissued_at_14_is_logged_unlinked(run, people, audit):
    """A learner's ЕСИА account re-issued at 14 (new oid, same SNILS) signs in: the journal moves
    the learner's link to the new oid (AUTH-09), which ends the link of the old one. The log of
    that window must name the old oid and say it was unlinked — in a record of its own, or in
    the link record that says the new oid replaces it."""
    import re

    new = people.pick("learner", "reissued", fresh=True)
    old = new.get("reissued_from")
    if not old:
        raise EnvironmentProblem(f"the re-issued persona {new['oid']} does not name the account it replaces")
    start = audit.now() - SECOND
    landing = sign_in_anew(run, new["oid"])
    assert landing.signed_in, f"the account re-issued at 14 (oid {new['oid']}) gave no session: {landing.describe()}"
    end = audit.now() + SECOND
    found = mentioning(audit.read(start, end), str(old))
    assert found, (f"the learner's link moved from ЕСИА oid {old} to {new['oid']}, and no record of the event log "
                   f"of {start.isoformat()} … {end.isoformat()} names the old oid: its unlinking is not logged")
    ended = named(found, "unlink") or [r for r in found if str(new["oid"]) in text(r)
                                       and re.search(RELINK_WORDS, text(r), re.I)]
    assert ended, (f"records of the event log name ЕСИА oid {old}, but none says its link ended (unlinked, or "
                   f"replaced by oid {new['oid']}): {text(found[-1])[:300]}")
    check_record(ended[-1], start, end, "success", f"the end of the link of ЕСИА oid {old}")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="data_change")
def test_a_teachers_change_of_a_mark_is_logged(run, people, driver, audit):
    browser, session, school = exp.teacher_session(run, people, driver)
    mark_id = None
    try:
        base = exp.base_mark(run, school)
        start = audit.now() - SECOND
        answer = session.add_mark(base["learner_id"], **{**exp.mark_fields(base), "comment": "LOG-01 conformance"})
        assert answer.ok, f"a teacher could not add a mark: {answer.describe()}"
        mark_id = str((answer.data or {}).get("id") or "") if isinstance(answer.data, dict) else ""
        _logged(audit, start, "data_change", [mark_id, base["learner_id"]], "success",
                f"a teacher's new mark for {base['learner_id']}")
    finally:
        if mark_id:
            session.delete_mark(mark_id)
        browser.close()


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="credential_issue")
def test_an_issued_login_and_password_are_logged(driver, audit):
    login = f"log01.{uuid.uuid4().hex[:10]}"
    start = audit.now() - SECOND
    created = driver.administrator().create_account(login, STRONG_PASSWORD)
    assert created.ok, f"the journal administrator could not create an account: {created.describe()}"
    _logged(audit, start, "credential_issue", [login], "success", f"the issue of the login {login!r}")


@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind=["upload", "upload_status"])
def test_an_upload_and_its_failed_status_are_logged(run, test_control, smev, epgu, audit):
    """The showcase fails to process the first file (status 4): the journal's log must hold the
    upload and a record of that file whose outcome is a failure, not only the later success."""
    table = "organisations"
    start = audit.now() - SECOND
    for mock in (smev, epgu):
        mock.delete("/faults")
    epgu.post("/faults", json={"endpoint": "lifecycle", "kind": "fail", "count": 1})
    try:
        test_control.export(scope="full", tables=[table])
    finally:
        for mock in (smev, epgu):
            mock.delete("/faults")
    end = audit.now() + SECOND
    found = mentioning(audit.read(start, end), table)
    uploads = named(found, "upload")
    assert uploads, (f"the event log of {start.isoformat()} … {end.isoformat()} has no record of the upload of "
                     f"{table} (records naming it: {len(found)})")
    done = [r for r in uploads if outcome_of(r) == "success"]
    assert done, (f"the file of {table} reached the showcase after a retry, and no record of the event log says "
                  f"an upload of it succeeded: {text(uploads[-1])[:300]}")
    check_record(done[-1], start, end, "success", f"the upload of {table}")
    failed = [r for r in uploads if outcome_of(r) == "failure"]
    assert failed, (f"the showcase failed to process the file of {table} once, and no record of the event log "
                    f"says so: the upload's status is not logged ({len(uploads)} upload record(s), none a failure)")
    check_record(failed[0], start, end, "failure", f"the failed processing of {table}")



@pytest.mark.requirement("LOG-01")
@pytest.mark.surface(event_kind="role_change")
def test_a_role_granted_by_a_schools_administrator_is_logged(run, people, driver, audit):
    """A new account asks to join a school as a learner's parent; the school's administrator
    approves it, which gives the account its role: the log names the account and the change."""
    from conformance.role._support import Dataset

    dataset = Dataset.load(run)
    admins = {dataset.staff_org.get((people.of(oid) or {}).get("record_id") or ""): oid
              for oid, jp in sorted(people.journal.items())
              if "school_admin" in (jp.get("roles") or []) and jp.get("prelinked")}
    child = next((lid for lid in sorted(dataset.learners)
                  if dataset.organisation(lid) in admins and lid in dataset.latest_class), None)
    if child is None:
        raise EnvironmentProblem("the dataset has no learner of a school whose administrator is linked with ЕСИА")
    login = f"log01.role.{uuid.uuid4().hex[:8]}"
    created = driver.administrator().create_account(login, STRONG_PASSWORD)
    assert created.ok, f"the journal administrator could not create an account: {created.describe()}"
    _, newcomer = driver.sign_in(login, STRONG_PASSWORD)
    assert newcomer is not None, f"the new account {login} cannot sign in"
    asked = newcomer.file_join_request(
        kind="representative", organisation_id=dataset.organisation(child), class_id=dataset.latest_class[child],
        learner_id=child, relation=3, last_name="Новикова", first_name="Анна", gender=2)
    assert asked.ok and isinstance(asked.data, dict) and asked.data.get("id"), \
        f"the journal did not take a join request: {asked.describe()}"
    request_id = str(asked.data["id"])
    with Browser(run) as browser:
        landing = browser.sign_in(admins[dataset.organisation(child)])
        assert landing.signed_in, f"the school administrator could not sign in through ЕСИА: {landing.describe()}"
        start = audit.now() - SECOND
        decided = driver.session(browser).decide_join_request(request_id, "approve")
        assert decided.ok, f"the school's administrator could not approve the request: {decided.describe()}"
    _logged(audit, start, "role_change", [login, request_id], "success",
            f"the approval of join request {request_id} that made {login!r} a parent of {child}")
