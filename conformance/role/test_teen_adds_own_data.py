"""A learner of 14 or over adds their own data, and a linked parent keeps seeing it (ROLE-03).

The learner (14 or over on the journal's date, by the day) signs in — with their journal login,
or through ЕСИА with their confirmed account — and adds an achievement in the journal's own
interface; the journal must accept it, and the learner's parent must then find it both through
the portal (`getAchievements`, `X-Esia-Oid` = the parent) and in the journal's own diary,
signed in through ЕСИА. The achievement is removed again at the end."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from conformance.browser import Browser
from conformance.role._support import (achievement, age_on, clock_on, day_before_14, item_ids, journal_today,
                                       pick_learner, sign_in_with_login)
from conformance.verdicts import EnvironmentProblem


@pytest.mark.requirement("ROLE-03")
@pytest.mark.surface(actor=["learner_14_plus", "parent"], driver_operation="add_achievement",
                     session="school_login")
def test_a_teen_adds_an_achievement_and_the_parent_sees_it(run, driver, portal, people, dataset, test_control):
    today = journal_today(test_control)
    teen, parent_oid = pick_learner(people, dataset, lambda born: age_on(born, today) >= 14, parent=True)
    learner_id = teen["record_id"]
    session = sign_in_with_login(driver, teen)
    title = f"ROLE-03 {uuid.uuid4().hex[:8]}"
    entered = achievement(today - dt.timedelta(days=2), title)
    answer = session.add_achievement(learner_id, **entered)
    try:
        assert answer.ok, (f"the journal refused a learner of {age_on(dataset.birth_date(learner_id), today)} "
                           f"({learner_id}) adding their own achievement: {answer.describe()}")
        assert isinstance(answer.data, dict) and answer.data.get("id"), \
            f"the journal did not say which achievement it stored: {answer.describe()}"
        added = str(answer.data["id"])
        own = session.diary(learner_id, "achievements", (today - dt.timedelta(days=30)).isoformat(), today.isoformat())
        assert own.ok and added in {str(i.get("id")) for i in (own.data or {}).get("items", [])}, \
            f"the learner does not see the achievement they added: {own.describe()}"
        seen = portal.get(f"/api/v1/learners/{learner_id}/achievements", parent_oid)
        assert seen.status_code == 200, (f"the parent (oid {parent_oid}) cannot read their child's achievements: "
                                         f"HTTP {seen.status_code} {seen.text[:200]}")
        items = {str(i.get("id")): i for i in seen.json().get("items", [])}
        assert added in items, (f"the achievement {added} that {learner_id} added is not shown to their parent "
                                f"(oid {parent_oid}) through the portal")
        differ = {k: items[added].get(k) for k, v in entered.items() if str(items[added].get(k)) != str(v)}
        assert not differ, (f"the parent sees the achievement {added} otherwise than {learner_id} entered it "
                            f"({entered}): {differ}")
        with Browser(run) as b:
            landing = b.sign_in(parent_oid)
            if not landing.signed_in:
                raise EnvironmentProblem(f"the linked parent (oid {parent_oid}) could not sign in through ЕСИА, so "
                                         f"their view in the journal cannot be read (AUTH-01 judges that): "
                                         f"{landing.describe()}")
            day = (today - dt.timedelta(days=2)).isoformat()
            theirs = driver.session(b).diary(learner_id, "achievements", day, day)
            assert theirs.ok, f"the parent cannot read their child's achievements in the journal: {theirs.describe()}"
            assert added in item_ids(theirs.data), (
                f"the achievement {added} that {learner_id} added is shown to their parent (oid {parent_oid}) through "
                f"the portal but not in the journal's own diary")
    finally:
        if answer.ok and isinstance(answer.data, dict) and answer.data.get("id"):
            session.delete_achievement(str(answer.data["id"]))


@pytest.mark.requirement("ROLE-03")
@pytest.mark.surface(actor="learner_14_plus", driver_operation="add_achievement", timing="birthday_14")
def test_on_the_14th_birthday_the_learner_may_add_their_own_data(driver, people, dataset, test_control):
    """Age counts by the day: on the 14th birthday itself (the journal's clock stopped on it) the
    learner is 14 and may add an achievement; a journal counting "older than 14" refuses."""
    today = journal_today(test_control)
    teen, _ = pick_learner(people, dataset, lambda born: age_on(born, today) >= 14, claim=False)
    learner_id = teen["record_id"]
    birthday = day_before_14(dataset.birth_date(learner_id)) + dt.timedelta(days=1)
    with clock_on(test_control, birthday) as day:
        if journal_today(test_control) != day:
            raise EnvironmentProblem("the journal's clock did not move to the date test-control was given")
        session = sign_in_with_login(driver, teen)
        answer = session.add_achievement(learner_id, **achievement(day - dt.timedelta(days=1),
                                                                   f"ROLE-03 {uuid.uuid4().hex[:8]}"))
        try:
            assert answer.ok, (f"on their 14th birthday ({day}) the journal refused {learner_id} adding their own "
                               f"achievement: {answer.describe()}")
        finally:
            if answer.ok and isinstance(answer.data, dict) and answer.data.get("id"):
                session.delete_achievement(str(answer.data["id"]))


@pytest.mark.requirement("ROLE-03")
@pytest.mark.surface(actor="learner_14_plus", driver_operation="add_achievement", session="esia")
def test_a_teen_signed_in_through_esia_adds_their_own_achievement(run, driver, people, dataset, test_control):
    """Learners of 14 or over hold confirmed ЕСИА accounts and sign in with them: such a session
    may write the learner's own data as the school login's does."""
    today = journal_today(test_control)

    def fourteen(p: dict) -> bool:
        record = (people.of(p["oid"]) or {}).get("record_id")
        return record in dataset.learners and age_on(dataset.birth_date(record), today) >= 14

    teen = people.pick("learner", prelinked=True, account_type="confirmed", where=fourteen)
    learner_id = people.of(teen["oid"])["record_id"]
    with Browser(run) as b:
        landing = b.sign_in(teen["oid"])
        if not landing.signed_in:
            raise EnvironmentProblem(f"a linked learner of 14 or over (oid {teen['oid']}) could not sign in through "
                                     f"ЕСИА, so their writes cannot be tried (AUTH-01 judges that): "
                                     f"{landing.describe()}")
        session = driver.session(b)
        title = f"ROLE-03 {uuid.uuid4().hex[:8]}"
        answer = session.add_achievement(learner_id, **achievement(today - dt.timedelta(days=2), title))
        try:
            assert answer.ok, (f"the journal refused a learner of {age_on(dataset.birth_date(learner_id), today)} "
                               f"({learner_id}), signed in through ЕСИА, adding their own achievement: "
                               f"{answer.describe()}")
            day = (today - dt.timedelta(days=2)).isoformat()
            own = session.diary(learner_id, "achievements", day, day)
            assert own.ok and title in {i.get("title") for i in (own.data or {}).get("items", [])}, \
                f"the learner does not see the achievement they added: {own.describe()}"
        finally:
            if answer.ok and isinstance(answer.data, dict) and answer.data.get("id"):
                session.delete_achievement(str(answer.data["id"]))
