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

from conformance.role._support import (achievement, age_on, clock_on, day_before_14,
                                       journal_today, pick_learner, sign_in_with_login,
                                       thirteen_this_year)
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
def test_a_learner_under_14_reads_but_cannot_add_an_achievement(driver, people, dataset, test_control):
    today = journal_today(test_control)
    learner, _ = pick_learner(people, dataset, thirteen_this_year(today), lambda born: age_on(born, today) <= 12,
                              lambda born: age_on(born, today) < 14)
    _assert_read_only(driver, dataset, learner, today)


@pytest.mark.requirement("ROLE-02")
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
