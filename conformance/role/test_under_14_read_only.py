"""A learner under 14 may only view (ROLE-02).

The learner signs in with the journal login and password the school issued (children under 14
do not sign in with a confirmed ЕСИА account) and, in the journal's own interface, reads their
diary, then tries to write: add an achievement, change their password. Both must be refused,
and the refused achievement must not appear in the learner's diary.
Age is counted on the journal's own date, by the day: a child whose 14th birthday is later in
the current year is still under 14 (the journal clock is stopped on the day before that
birthday for the check, and put back after)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from conformance.role._support import (achievement, age_on, clock_on, day_before_14, item_ids,
                                       journal_today, pick_learner, sign_in_with_login,
                                       thirteen_this_year)
from conformance.people import SIGN_IN_SCENARIOS
from conformance.verdicts import EnvironmentProblem


def _assert_read_only(driver, dataset, learner, today: dt.date) -> None:
    learner_id = learner["record_id"]
    session = sign_in_with_login(driver, learner)
    start, end = dataset.period
    own = session.diary(learner_id, "marks", start, end)
    assert own.ok, f"the learner under 14 ({learner_id}) cannot read their own marks: {own.describe()}"
    title = f"ROLE-02 {uuid.uuid4().hex[:8]}"
    answer = session.add_achievement(learner_id, **achievement(today - dt.timedelta(days=3), title))
    try:
        assert not answer.ok, (f"the journal let a learner under 14 ({learner_id}, born {learner['birth_date']}, "
                               f"journal date {today}) add an achievement: {answer.describe()}")
        assert 400 <= answer.status < 500, f"the refusal is not a 4xx answer: {answer.describe()}"
        day = today.isoformat()
        seen = session.diary(learner_id, "achievements", (today - dt.timedelta(days=30)).isoformat(), day)
        assert seen.ok, f"the learner under 14 cannot read their own achievements: {seen.describe()}"
        assert not [i for i in (seen.data or {}).get("items", []) if i.get("title") == title], \
            f"the refused achievement of {learner_id} was stored all the same"
    finally:
        if answer.ok and isinstance(answer.data, dict) and answer.data.get("id"):
            session.delete_achievement(str(answer.data["id"]))


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(session="school_login", driver_operation="add_achievement")
def test_a_learner_under_14_reads_but_cannot_add_an_achievement(driver, people, dataset, test_control):
    today = journal_today(test_control)
    learner, _ = pick_learner(people, dataset, thirteen_this_year(today), lambda born: age_on(born, today) <= 12,
                              lambda born: age_on(born, today) < 14)
    _assert_read_only(driver, dataset, learner, today)


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(session="school_login", driver_operation="change_password")
def test_a_learner_under_14_cannot_change_their_password(driver, people, dataset, test_control):
    today = journal_today(test_control)
    learner, _ = pick_learner(people, dataset, thirteen_this_year(today), lambda born: age_on(born, today) <= 12,
                              lambda born: age_on(born, today) < 14)
    session = sign_in_with_login(driver, learner)
    new = "Rol-Kid-2026!x"
    answer = session.change_password(new, current_password=learner["internal_password"])
    if answer.ok:   # put the issued password back before failing
        session.change_password(learner["internal_password"], current_password=new)
    assert not answer.ok, (f"the journal let a learner under 14 ({learner['record_id']}) change their password: "
                           f"{answer.describe()}")
    again, _ = driver.sign_in(learner["internal_login"], learner["internal_password"])
    assert again.ok, f"the learner's issued password stopped working after a refused change: {again.describe()}"


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(timing="birthday_14", driver_operation="add_achievement")
def test_age_is_counted_to_the_day_not_by_birth_year(driver, people, dataset, test_control):
    """On the day before the 14th birthday (late enough in the year that the birth year alone
    says 14) the learner is still under 14 and may not write."""
    today = journal_today(test_control)
    not_new_year = lambda born: (born.month, born.day) > (1, 1)    # noqa: E731
    learner, _ = pick_learner(people, dataset, lambda born: not_new_year(born) and age_on(born, today) >= 13,
                              not_new_year)
    with clock_on(test_control, day_before_14(dataset.birth_date(learner["record_id"]))) as eve:
        if journal_today(test_control) != eve:
            raise EnvironmentProblem("the journal's clock did not move to the date test-control was given")
        _assert_read_only(driver, dataset, learner, eve)


# --- every write of the journal's own interface, in both kinds of session ---------------------------

FMT = "%Y-%m-%d %H:%M:%S"


def _row(dataset_rows, learner_id: str) -> dict | None:
    return next((r for r in dataset_rows if r.get("learner_id") == learner_id), None)


def _achievement_of(run, driver, learner_id: str, planted: list) -> dict:
    """An achievement of the learner for the delete to aim at: when the dataset gives them
    none, the journal administrator enters one (driver `add_record`, a copy of another learner's
    under a new id); it is removed again at the end (`planted`)."""
    from conformance.dataset import records, tables
    from conformance.exp._support import fresh_copy

    template = next(iter(records(run, "achievements")), None)
    if template is None:
        raise EnvironmentProblem("the dataset holds no achievement at all, so no deletion can be tried")
    fresh = fresh_copy(tables()["achievements"], {**template, "learner_id": learner_id})
    if fresh is None:
        raise EnvironmentProblem(f"the dataset gives {learner_id} no achievement to try to delete")
    try:
        answer = driver.administrator().add_record("achievements", **{k: v for k, v in fresh.items() if v is not None})
    except NotImplementedError:
        raise EnvironmentProblem(f"the dataset gives {learner_id} no achievement to try to delete, and the driver "
                                 f"cannot add one (add_record)") from None
    if not answer.ok:
        raise EnvironmentProblem(f"the administrator could not enter an achievement for {learner_id}: "
                                 f"{answer.describe()}")
    planted.append(fresh)
    return fresh


def _write(op: str, session, learner: dict, today: dt.date, run, driver=None,
           planted: list | None = None) -> tuple[object, dict | None]:
    """Try write `op` as the learner; (answer, the dataset record the write targets, if any)."""
    from conformance.dataset import records
    from conformance.exp._support import mark_fields

    lid = learner["record_id"]
    if op == "add_achievement":
        return session.add_achievement(lid, **achievement(today - dt.timedelta(days=3), f"ROLE-02 {uuid.uuid4().hex[:8]}")), None
    if op == "delete_achievement":
        own = _row(records(run, "achievements"), lid) or _achievement_of(run, driver, lid, planted)
        return session.delete_achievement(own["id"]), own
    if op == "add_mark":
        mark = _row(records(run, "marks"), lid)
        if mark is None:
            raise EnvironmentProblem(f"the dataset gives {lid} no mark to copy")
        return session.add_mark(lid, **{**mark_fields(mark), "value": "5", "comment": "ROLE-02 conformance"}), None
    if op == "record_attendance":
        seen = _row(records(run, "attendance"), lid)
        if seen is None:
            raise EnvironmentProblem(f"the dataset gives {lid} no attendance record to copy")
        return session.record_attendance(lid, lesson_id=seen["lesson_id"], status=2, minutes_late=None), None
    if op == "add_event":
        start = dt.datetime.combine(today + dt.timedelta(days=7), dt.time(18, 0))
        return session.add_event(event_type=1, title=f"ROLE-02 {uuid.uuid4().hex[:8]}", place="кабинет 1",
                                 start_datetime=start.strftime(FMT),
                                 end_datetime=(start + dt.timedelta(hours=1)).strftime(FMT), learners=[lid]), None
    if op == "file_join_request":
        return session.file_join_request(kind="learner", organisation_id=learner.get("organisation_id"),
                                         learner_id=lid, last_name="Тестов", first_name="Тест", gender=1), None
    raise AssertionError(op)


WRITES = ["add_achievement", "delete_achievement", "add_mark", "record_attendance", "add_event", "file_join_request"]


def _learner_under_14(run, people, dataset, today: dt.date, esia: bool) -> dict:
    """A learner under 14 (with a consenting child account linked with ЕСИА when `esia`, else with
    a journal login), one with an achievement of their own first; not one another test claimed —
    but for an ЕСИА session, where such children are scarce on some seeds, a claimed one when no
    other is left (the writes are refused, so nothing of theirs changes)."""
    from conformance.dataset import records

    achievers = {r["learner_id"] for r in records(run, "achievements")}
    found = []
    for p in people.esia.values():
        jp = people.of(p["oid"]) or {}
        record = jp.get("record_id")
        claimed = p["oid"] in people.claimed
        if (p.get("kind") != "learner" or p.get("replaced_by") is not None or (claimed and not esia)
                or record not in dataset.learners or age_on(dataset.birth_date(record), today) >= 14):
            continue
        if esia and not (jp.get("prelinked") and p.get("account_type") == "child" and p.get("consent") == "granted"
                         and not set(p.get("scenario") or ()) & SIGN_IN_SCENARIOS):
            continue
        if not esia and not (jp.get("internal_login") and jp.get("internal_password")):
            continue
        found.append((claimed, record not in achievers, p["oid"], jp))
    if not found:
        raise EnvironmentProblem("the dataset has no learner under 14 " + (
            "with a consenting child account linked with ЕСИА" if esia else "with a journal login"))
    return {**sorted(found, key=lambda f: f[:3])[0][3]}


@pytest.mark.requirement("ROLE-02")
@pytest.mark.parametrize("how", [pytest.param(h, marks=pytest.mark.surface(session=h)) for h in ("school_login", "esia")])
@pytest.mark.parametrize("op", [pytest.param(op, marks=pytest.mark.surface(driver_operation=op)) for op in WRITES])
def test_every_write_of_a_learner_under_14_is_refused(run, driver, people, dataset, test_control, browser, how, op):
    """Whatever the learner under 14 tries to write in the journal's own interface — and however
    they signed in, with the school's login or through ЕСИА with a child account — the journal
    refuses it with a 4xx answer and keeps nothing of it."""
    today = journal_today(test_control)
    learner = _learner_under_14(run, people, dataset, today, esia=how == "esia")
    if how == "school_login":
        session = sign_in_with_login(driver, learner)
    else:
        landing = browser.sign_in(learner["esia"]["oid"])
        if not landing.signed_in:
            raise EnvironmentProblem(f"a consenting child ({learner['record_id']}) could not sign in through ЕСИА, "
                                     f"so its writes cannot be tried (AUTH-08 judges that): {landing.describe()}")
        session = driver.session(browser)
    learner = {**learner, "organisation_id": dataset.organisation(learner["record_id"])}
    planted: list[dict] = []
    answer, target = _write(op, session, learner, today, run, driver, planted)
    created = answer.data.get("id") if answer.ok and isinstance(answer.data, dict) else None
    try:
        assert not answer.ok, (f"the journal let a learner under 14 ({learner['record_id']}, signed in "
                               f"{'through ЕСИА' if how == 'esia' else 'with the school login'}) {op.replace('_', ' ')}: "
                               f"{answer.describe()}")
        assert 400 <= answer.status < 500, f"the refusal of {op} is not a 4xx answer: {answer.describe()}"
        if target is not None:
            day = target["achievement_date"]
            seen = session.diary(learner["record_id"], "achievements", day, day)
            assert seen.ok, f"the learner under 14 cannot read their own achievements: {seen.describe()}"
            assert target["id"] in item_ids(seen.data), \
                f"the refused deletion removed the achievement {target['id']} all the same"
    finally:
        for record in planted:
            driver.administrator().delete_record("achievements", {"id": record["id"]})
        if created and op == "add_achievement":
            session.delete_achievement(str(created))
        elif created and op == "add_mark":
            session.delete_mark(str(created))
