"""A request to join a school waits for that school's administrator (ROLE-05).

A new journal account (created by the journal administrator, signed in with its own login)
asks to join a school as the parent of one of its learners or as a new learner, naming a class
or only a grade level. Until the school's administrator approves, and after a rejection, the
account sees none of the school's data (no diary section of that learner or a classmate); the
administrator of another school neither sees the request nor can approve it; a decided request
cannot be decided again; an approved learner is exported as a learner of the class asked for. School administrators are dataset staff with
that role, signed in through ЕСИА. The requests are the tests' own; nothing of the dataset is
changed except the new parent link an approval creates."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance.browser import Browser
from conformance.driver import UserSession
from conformance.dataset import records
from conformance.role._support import SECTIONS, STRONG_PASSWORD, Dataset
from conformance.verdicts import EnvironmentProblem

GUARDIAN, MALE, FEMALE = 3, 1, 2      # codes of learner_representatives.relation and learners.gender
NEW_LEARNER = {"last_name": "Новиков", "first_name": "Илья", "gender": MALE, "birth_date": "2012-03-04"}


@pytest.fixture(scope="module")
def schools(people, dataset) -> dict[str, str]:
    """Organisation id → ЕСИА oid of one of its school administrators (linked ones first)."""
    found: dict[str, str] = {}
    for prelinked in (True, False):
        for oid, jp in sorted(people.journal.items()):
            persona = people.esia.get(int(oid))
            org = dataset.staff_org.get(jp.get("record_id") or "")
            if (jp.get("kind") == "staff" and "school_admin" in (jp.get("roles") or []) and org
                    and org not in found and bool(jp.get("prelinked")) == prelinked and persona
                    and persona.get("account_type") == "confirmed" and not persona.get("replaced_by")):
                found[org] = oid
    if len(found) < 2:
        raise EnvironmentProblem("the dataset needs school administrators in two schools")
    return found


def _school_admin(browser_factory, driver, oid: str) -> UserSession:
    browser = browser_factory()
    landing = browser.sign_in(oid)
    assert landing.signed_in, (f"the school administrator (oid {oid}) could not sign in through ЕСИА: "
                               f"{landing.describe()}")
    return driver.session(browser)


@pytest.fixture
def browsers(run, browser):
    """Browsers with cookies of their own, one per person: `browser` first, then new ones."""
    made: list[Browser] = []

    def make() -> Browser:
        made.append(browser if not made else Browser(run))
        return made[-1]

    yield make
    for b in made[1:]:
        b.close()


def _newcomer(driver) -> UserSession:
    login = f"role05.{uuid.uuid4().hex[:10]}"
    created = driver.administrator().create_account(login, STRONG_PASSWORD)
    assert created.ok, f"the journal administrator could not create an account: {created.describe()}"
    answer, session = driver.sign_in(login, STRONG_PASSWORD)
    assert session is not None, f"the new account {login} could not sign in: {answer.describe()}"
    return session


# How a newcomer asks to join (ROLE-05: "student or parent, with class or grade level").
KINDS = {
    "representative_class": ("representative", "class"),
    "representative_grade": ("representative", "grade"),
    "learner_grade": ("learner", "grade"),
}


def _grade_of(run, class_id: str) -> int:
    row = next((r for r in records(run, "classes") if r["id"] == class_id), None)
    if row is None:
        raise EnvironmentProblem(f"the dataset has no class {class_id}")
    return int(row["grade_level"])


def _request(session: UserSession, dataset: Dataset, child: str, kind: str = "representative_class",
             run: Any = None) -> str:
    """File a join request to `child`'s school: as their parent or as a new learner of their
    class's grade, naming the class or only the grade level."""
    who, by = KINDS[kind]
    place = ({"class_id": dataset.latest_class[child]} if by == "class"
             else {"grade_level": _grade_of(run, dataset.latest_class[child])})
    person = ({"learner_id": child, "relation": GUARDIAN, "last_name": "Новикова", "first_name": "Анна",
               "gender": FEMALE} if who == "representative" else dict(NEW_LEARNER))
    answer = session.file_join_request(kind=who, organisation_id=dataset.organisation(child), **place, **person)
    assert answer.ok, f"the journal did not take a join request ({kind}) to the school of {child}: {answer.describe()}"
    request_id = answer.data.get("id") if isinstance(answer.data, dict) else None
    if request_id is None:
        raise EnvironmentProblem(f"the driver's join request answer names no id: {answer.describe()}")
    return str(request_id)


def _child(dataset: Dataset, schools: dict[str, str]) -> str:
    """A learner of a school with an administrator, with a class and marks in the period."""
    return next(lid for lid in sorted(dataset.learners)
                if dataset.organisation(lid) in schools and lid in dataset.latest_class and dataset.marks_of.get(lid))


def _sees_nothing(session: UserSession, dataset: Dataset, child: str, when: str) -> None:
    """Nothing of the school: no diary section of the named learner nor of a classmate."""
    start, end = dataset.window
    others = sorted(dataset.classmates(child))[:1]
    for learner in [child, *others]:
        for section in SECTIONS:
            answer = session.diary(learner, section, start, end)
            assert not answer.ok, (f"{when}, the requester already reads the {section} of {learner}: "
                                   f"{answer.describe()}")
            items: Any = answer.data.get("items") if isinstance(answer.data, dict) else None
            assert not items, f"{when}, the refusal carries {section} records of {learner}"


def _waiting(admin: UserSession) -> set[str]:
    waiting = admin.join_requests()
    assert waiting.ok, f"a school administrator cannot list join requests: {waiting.describe()}"
    return {str(r.get("id")) for r in (waiting.data or {}).get("items", [])}


@pytest.mark.requirement("ROLE-05")
@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.surface(
    actor="school_admin", driver_operation=["file_join_request", "decide_join_request"], join_request=k))
    for k in KINDS])
def test_a_join_request_waits_for_the_schools_administrator(run, driver, dataset, schools, browsers, kind,
                                                            test_control, epgu):
    child = _child(dataset, schools)
    newcomer = _newcomer(driver)
    request_id = _request(newcomer, dataset, child, kind, run)
    _sees_nothing(newcomer, dataset, child, f"before any administrator decided ({kind})")
    admin = _school_admin(browsers, driver, schools[dataset.organisation(child)])
    assert request_id in _waiting(admin), \
        f"the request {request_id} ({kind}) is not among those waiting for the school administrator"
    # a request naming only the grade level is approved into a class the administrator chooses
    placed = {"class_id": dataset.latest_class[child]} if KINDS[kind][1] == "grade" else {}
    decided = admin.decide_join_request(request_id, "approve", **placed)
    assert decided.ok, f"the school's own administrator could not approve the request ({kind}): {decided.describe()}"
    assert request_id not in _waiting(admin), f"the approved request {request_id} still waits for a decision"
    again = admin.decide_join_request(request_id, "reject")
    assert 400 <= again.status < 500, (f"a second decision (reject) on the request {request_id}, already approved, "
                                       f"was not refused with a 4xx: {again.describe()}")
    if KINDS[kind][0] == "representative":
        after = newcomer.diary(child, "marks", *dataset.window)
        assert after.ok, (f"after approval (and a refused second decision) the new parent cannot read {child}'s "
                          f"marks: {after.describe()}")
    else:
        _enrolled(test_control, epgu, dataset.latest_class[child], kind)


def _enrolled(test_control, epgu, class_id: str, kind: str) -> None:
    """The approved learner is a learner of the class asked for (or chosen by the administrator):
    the journal's next export carries them and their membership of that class."""
    from conformance.exp._support import export_with_references

    job = export_with_references(test_control, epgu, ("learners", "class_learners"))
    if job["state"] != "done":
        raise EnvironmentProblem(f"an export of learners and class memberships did not finish: {str(job)[:300]}")
    who = NEW_LEARNER
    found = epgu.post("/query", json={
        "sql": "SELECT DISTINCT cl.class_id FROM showcase.learners l JOIN showcase.class_learners cl "
               "ON cl.learner_id = l.id WHERE l.last_name = ? AND l.first_name = ? "
               "AND CAST(l.birth_date AS VARCHAR) = ?",
        "params": [who["last_name"], who["first_name"], who["birth_date"]], "maxrows": 50})
    classes = {row[0] for row in found["rows"]}
    assert class_id in classes, (
        f"the school administrator approved {who['last_name']} {who['first_name']} ({who['birth_date']}) as a "
        f"learner of class {class_id} ({kind}); the export that followed holds "
        + (f"them in class(es) {sorted(classes)} only" if classes else "no such learner in any class"))


@pytest.mark.requirement("ROLE-05")
@pytest.mark.surface(actor="school_admin", driver_operation="decide_join_request", join_request="representative_class")
def test_a_rejected_requester_still_sees_nothing(driver, dataset, schools, browsers):
    child = _child(dataset, schools)
    newcomer = _newcomer(driver)
    request_id = _request(newcomer, dataset, child)
    admin = _school_admin(browsers, driver, schools[dataset.organisation(child)])
    decided = admin.decide_join_request(request_id, "reject")
    assert decided.ok, f"the school's own administrator could not reject the request: {decided.describe()}"
    _sees_nothing(newcomer, dataset, child, "after the school's administrator rejected the request")


@pytest.mark.requirement("ROLE-05")
@pytest.mark.surface(actor="school_admin_other_school", driver_operation="decide_join_request")
def test_another_schools_administrator_cannot_approve(driver, dataset, schools, browsers):
    child = _child(dataset, schools)
    own_org = dataset.organisation(child)
    other_org = next(org for org in sorted(schools) if org != own_org)
    newcomer = _newcomer(driver)
    request_id = _request(newcomer, dataset, child)
    try:
        other = _school_admin(browsers, driver, schools[other_org])
        assert request_id not in _waiting(other), (f"the administrator of {other_org} is shown a request to join "
                                                    f"{own_org}: the request and the requester's data leak")
        decided = other.decide_join_request(request_id, "approve")
        assert not decided.ok, (f"the administrator of {other_org} approved a request to join {own_org}: "
                                f"{decided.describe()}")
        _sees_nothing(newcomer, dataset, child, "after another school's administrator tried to approve")
    finally:
        _school_admin(browsers, driver, schools[own_org]).decide_join_request(request_id, "reject")
