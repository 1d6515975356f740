"""What the ROLE tests share: the dataset's families and classes (read from the generated CSV
tables, never from the journal), the journal's date, a clock moved for one test and put back,
and sessions of dataset people in the journal's own interface."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from conformance.driver import JournalDriver, UserSession
from conformance.people import SIGN_IN_SCENARIOS, People
from conformance.world import clock_restored
from conformance.verdicts import EnvironmentProblem
from conformance.dataset import records

SECTIONS = ("marks", "attendance", "lessons", "homework", "achievements", "events")
STRONG_PASSWORD = "Rol-Check-2026!"      # satisfies the policy of ROLE-04


def achievement(day: dt.date, title: str) -> dict[str, Any]:
    """An achievement as the learner enters it (fields and codes of specs/tables/achievements.yaml)."""
    return {"title": title, "category": 1, "level": 2, "result": 2, "achievement_date": day.isoformat()}


@dataclass
class Dataset:
    """The generated tables a ROLE test needs, as text values."""

    learners: dict[str, dict[str, Any]]
    parents_of: dict[str, set[str]]          # learner id → representative ids
    children_of: dict[str, set[str]]         # representative id → learner ids
    classes_of: dict[str, set[str]]          # learner id → class ids (any year)
    class_members: dict[str, set[str]]       # class id → learner ids (any year)
    staff_org: dict[str, str]                # staff id → organisation id
    period: tuple[str, str] = ("", "")       # the latest academic year of the dataset
    marks_of: dict[str, list[str]] = field(default_factory=dict)    # learner id → marks in `window`
    latest_class: dict[str, str] = field(default_factory=dict)      # learner id → their latest class

    @property
    def window(self) -> tuple[str, str]:
        """The last four weeks of `period` with lessons: enough for an answer, small enough to
        be quick (the agent checks every answer against journal.yaml)."""
        end = dt.date.fromisoformat(self.period[1])
        return (end - dt.timedelta(days=27)).isoformat(), end.isoformat()

    @classmethod
    def load(cls, run: dict[str, Any]) -> "Dataset":
        directory = Path(run["dataset"]["directory"])

        def rows(name: str) -> list[dict[str, Any]]:
            return list(records(run, name))

        learners = {r["id"]: r for r in rows("learners")}
        if not learners:
            raise EnvironmentProblem(f"the dataset in {directory} has no learners")
        parents_of: dict[str, set[str]] = {}
        children_of: dict[str, set[str]] = {}
        for r in rows("learner_representatives"):
            parents_of.setdefault(r["learner_id"], set()).add(r["representative_id"])
            children_of.setdefault(r["representative_id"], set()).add(r["learner_id"])
        classes_of: dict[str, set[str]] = {}
        members: dict[str, set[str]] = {}
        latest: dict[str, tuple[str, str]] = {}
        for r in rows("class_learners"):
            if r["learner_id"] not in latest or r["start_date"] > latest[r["learner_id"]][0]:
                latest[r["learner_id"]] = (r["start_date"], r["class_id"])
            classes_of.setdefault(r["learner_id"], set()).add(r["class_id"])
            members.setdefault(r["class_id"], set()).add(r["learner_id"])
        staff_org = {r["id"]: r["organisation_id"] for r in rows("staff")}
        periods = rows("academic_periods")
        if not periods:
            raise EnvironmentProblem("the dataset has no academic periods")
        year = max(p["academic_year"] for p in periods)
        this_year = [p for p in periods if p["academic_year"] == year]
        period = (min(p["start_date"] for p in this_year), max(p["end_date"] for p in this_year))
        found = cls(learners, parents_of, children_of, classes_of, members, staff_org, period,
                    latest_class={lid: cid for lid, (_, cid) in latest.items()})
        start, end = found.window
        for r in rows("marks"):
            if start <= r["mark_date"] <= end:
                found.marks_of.setdefault(r["learner_id"], []).append(r["id"])
        return found

    def classmates(self, learner_id: str) -> set[str]:
        found: set[str] = set()
        for class_id in self.classes_of.get(learner_id, ()):
            found |= self.class_members.get(class_id, set())
        return found - {learner_id}

    def organisation(self, learner_id: str) -> str:
        return self.learners[learner_id]["organisation_id"]

    def birth_date(self, learner_id: str) -> dt.date:
        return dt.date.fromisoformat(self.learners[learner_id]["birth_date"])


def linked_parents(people: People, dataset: Dataset) -> dict[str, str]:
    """ЕСИА oid → representative id, for parents the journal has linked (prelinked) with ЕСИА."""
    found = {}
    for oid, jp in people.journal.items():
        persona = people.esia.get(int(oid))
        if (jp.get("kind") == "representative" and jp.get("prelinked") and persona is not None
                and persona.get("replaced_by") is None and jp.get("record_id") in dataset.children_of):
            found[str(oid)] = jp["record_id"]
    if not found:
        raise EnvironmentProblem("the dataset has no parent linked with ЕСИА")
    return found


# learners whose journal login belongs to a re-issued or changing account (AUTH-09): not used
_ACCOUNT_SCENARIOS = {"reissued", "turns_14"}


def pick_learner(people: People, dataset: Dataset, *wishes: Callable[[dt.date], bool],
                 parent: bool = False, claim: bool = True) -> tuple[dict[str, Any], str | None]:
    """A fresh learner with a journal login whose birth date meets the first of `wishes` any
    learner meets (and with a parent linked with ЕСИА when `parent`); the learner's journal
    persona and that parent's ЕСИА oid (else None).

    Learners are signed in with their journal login, so an ЕСИА sign-in scenario does not
    matter here; the scarce ones — a child with a linked parent and no such scenario, which
    tests of other areas need — are taken last. `claim=False` for a test that leaves the
    learner as it found them: it takes no learner another test claimed and claims none."""
    parents = linked_parents(people, dataset)

    def linked(record_id: str) -> list[str]:
        return [oid for oid, rep in sorted(parents.items()) if rep in dataset.parents_of.get(record_id, ())]

    def fits(wish: Callable[[dt.date], bool], with_parent: bool, scenario: bool | None) -> Callable[..., bool]:
        def check(p: dict[str, Any]) -> bool:
            jp = people.of(p["oid"]) or {}
            record = jp.get("record_id")
            tags = set(p.get("scenario") or ())
            if (not jp.get("internal_login") or not jp.get("internal_password") or record not in dataset.learners
                    or tags & _ACCOUNT_SCENARIOS or (not claim and p["oid"] in people.claimed)):
                return False
            if scenario is not None and bool(tags & SIGN_IN_SCENARIOS) != scenario:
                return False
            return wish(dataset.birth_date(record)) and bool(linked(record)) == with_parent
        return check

    tiers = [(True, True), (True, False)] if parent else [(False, None), (True, True), (True, False)]
    for wish in wishes:
        for with_parent, scenario in tiers:
            for tags in ((), ("under_14",), ("teen",)):
                try:
                    persona = people.pick("learner", *tags, where=fits(wish, with_parent, scenario), fresh=claim)
                except EnvironmentProblem:
                    continue
                learner = people.of(persona["oid"]) or {}
                found = linked(learner["record_id"])
                return learner, (found[0] if found else None)
    raise EnvironmentProblem("the dataset has no further learner with a journal login"
                             + (" and a parent linked with ЕСИА" if parent else "") + " for this check")


def thirteen_this_year(today: dt.date) -> Callable[[dt.date], bool]:
    """Born so that the learner is 13 by the day and by the birth year alike."""
    return lambda born: age_on(born, today) == 13 and today.year - born.year == 13


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def journal_today(test_control: Any) -> dt.date:
    return dt.datetime.fromisoformat(test_control.clock()["now"]).date()


@contextmanager
def clock_on(test_control: Any, day: dt.date) -> Iterator[dt.date]:
    """The journal's clock stopped at noon of `day` for the block; its earlier state after."""
    with clock_restored(test_control) as before:
        now = dt.datetime.fromisoformat(before["now"])
        test_control.set_clock(action="set", frozen=True,
                               now=dt.datetime.combine(day, dt.time(12, 0), now.tzinfo).isoformat())
        yield day


def day_before_14(birth: dt.date) -> dt.date:
    """The last day on which a child born on `birth` is 13."""
    try:
        birthday = birth.replace(year=birth.year + 14)
    except ValueError:              # 29 February: the birthday falls on 1 March
        birthday = dt.date(birth.year + 14, 3, 1)
    return birthday - dt.timedelta(days=1)


def sign_in_with_login(driver: JournalDriver, persona: dict[str, Any], password: str | None = None) -> UserSession:
    """A session of a dataset person with their journal login and password."""
    login, password = persona.get("internal_login"), password or persona.get("internal_password")
    if not login or not password:
        raise EnvironmentProblem(f"the dataset gives {persona.get('record_id')} no journal login and password")
    answer, session = driver.sign_in(login, password)
    assert session is not None, (f"{persona['kind']} {persona.get('record_id')} could not sign in with the "
                                 f"journal login the dataset gave them: {answer.describe()}")
    return session


def item_ids(answer_json: Any) -> set[str]:
    items = answer_json.get("items") if isinstance(answer_json, dict) else None
    return {str(i.get("id")) for i in items or [] if isinstance(i, dict)}
