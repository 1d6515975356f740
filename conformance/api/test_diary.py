"""API-02…API-07: a learner's marks, attendance, lessons, homework and achievements for a period,
as «Моё образование» asks for them through the agent on behalf of the learner's parent.

How: the expected answer is computed from the journal's own records — the generated dataset
the journal was loaded with (CSV tables read with `specs.csvio`) — with journal.yaml's
selection rules: `from`/`to` inclusive; marks by `mark_date`, attendance (absences *and*
lateness) by `lesson_date`, lessons of the learner's classes on the lesson date by
`lesson_date` including cancelled ones, homework of those classes by `due_date`, achievements
by `achievement_date` or all without a period. Each item must be the record it names, value
for value in every column it shares with its export table (journal.yaml `x-table`; only
`send_datetime` may differ). A Hypothesis property draws a learner and a period around one of
the learner's records (ending on it, starting on it, around it, just before or after it); for
each defect-prone case a fixed check pins the boundary. After one export, each answered record
must also be in the showcase with the same values (API-07).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.api import _support as sup

SETTINGS = settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SHOWCASE_TABLES = tuple(sup.item_table(s) for s in sup.SECTIONS)


@pytest.fixture(scope="module")
def ds(run) -> sup.Dataset:
    return sup.dataset(run["dataset"]["directory"])


@pytest.fixture(scope="module")
def fams(people, ds) -> list[sup.Family]:
    found = sup.families(people, ds)
    if not found:
        from conformance.verdicts import EnvironmentProblem
        raise EnvironmentProblem("the dataset has no learner with a prelinked, confirmed parent")
    return found


@pytest.fixture(scope="module")
def exported(test_control, epgu) -> None:
    """One full export of the diary tables to the showcase for the module, with the tables they
    reference (transitively) when the showcase does not hold those yet."""
    from conformance.exp._support import export_with_references

    job = export_with_references(test_control, epgu, SHOWCASE_TABLES)
    assert job["state"] == "done", f"the full export of the diary tables did not finish: {str(job)[:500]}"


def ask(portal, fam: sup.Family, section: str, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
    resp = portal.get(f"/api/v1/learners/{fam.learner_id}/{section}", fam.parent_oid,
                      params=sup.period_params(start, end))
    assert resp.status_code == 200, (
        f"GET {section} of {fam.learner_id} for {start}…{end} as their parent (oid {fam.parent_oid}) through the "
        f"agent: HTTP {resp.status_code} {resp.text[:300]}")
    body = resp.json()
    assert isinstance(body.get("items"), list), f"the {section} answer has no items list: {resp.text[:300]}"
    return body["items"]


def check(portal, ds, fam, section, start, end) -> list[dict[str, Any]]:
    items = ask(portal, fam, section, start, end)
    problems = sup.compare(ds, section, fam.learner_id, start, end, items)
    assert not problems, (f"{section} of {fam.learner_id} for {start}…{end} differ from the journal's records "
                          f"({len(problems)} differences): " + "; ".join(problems[:8]))
    return items


def showcase_rows(epgu, table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    got = epgu.post("/query", json={"sql": f"SELECT * FROM showcase.{table} WHERE id IN ({marks})",
                                    "params": ids, "maxrows": len(ids) + 1})
    return {row[got["columns"].index("id")]: dict(zip(got["columns"], row)) for row in got["rows"]}


def agree_with_showcase(epgu, ds: sup.Dataset, section: str, items: list[dict[str, Any]]) -> None:
    table = sup.item_table(section)
    known = {r["id"] for r in ds.rows(table)}
    ids = [i["id"] for i in items if i.get("id") in known]   # records created during the run may be unexported
    stored = showcase_rows(epgu, table, ids)
    columns = [c for c in sup.item_columns(section, ds.tables) if c not in sup.VOLATILE]
    problems = []
    for item in items:
        if item.get("id") not in ids:
            continue
        row = stored.get(item["id"])
        if row is None:
            problems.append(f"{item['id']} is answered but not in the showcase after a full export")
            continue
        for col in columns:
            a, s = ds.text(table, col, item.get(col)), ds.text(table, col, row.get(col))
            if a != s:
                problems.append(f"{item['id']}: {col} is {a or 'empty'} in the answer, {s or 'empty'} in the showcase")
    assert not problems, (f"the {section} answer disagrees with the showcase ({len(problems)} differences): "
                          + "; ".join(problems[:8]))


@st.composite
def learner_and_period(draw, fams: list[sup.Family], ds: sup.Dataset, section: str):
    fam = draw(st.sampled_from(fams))
    date_column = sup.SECTIONS[section][1]
    if section == "achievements" and draw(st.integers(0, 4)) == 0:
        return fam, None, None
    records = ds.records(section, fam.learner_id)
    if records:
        anchor = draw(st.sampled_from(records))[date_column]
    else:
        anchor = draw(st.dates(dt.date(2024, 9, 1), dt.date(2026, 5, 31)))
    span = draw(st.integers(0, 7))
    kind = draw(st.sampled_from(["ends on it", "starts on it", "around it", "just before it", "just after it"]))
    one = dt.timedelta(days=1)
    start, end = {
        "ends on it": (anchor - span * one, anchor),
        "starts on it": (anchor, anchor + span * one),
        "around it": (anchor - (span // 2) * one, anchor + (span - span // 2) * one),
        "just before it": (anchor - (span + 1) * one, anchor - one),
        "just after it": (anchor + one, anchor + (span + 1) * one),
    }[kind]
    return fam, start, end


def _property(section: str):
    req = sup.SECTIONS[section][0]

    def test(portal, epgu, ds, fams, exported, data) -> None:
        fam, start, end = data.draw(learner_and_period(fams, ds, section), label="learner and period")
        items = check(portal, ds, fam, section, start, end)
        agree_with_showcase(epgu, ds, section, items)

    test.__doc__ = (f"For any learner with a parent and any period drawn around their records, the {section} "
                    "answer equals the journal's records and the showcase after an export.")
    marked = pytest.mark.surface(journal_operation=sup.operation_of(section))
    return marked(pytest.mark.requirement(req, "API-07")(given(data=st.data())(SETTINGS(test))))


test_marks_equal_records_and_showcase = _property("marks")
test_attendance_equal_records_and_showcase = _property("attendance")
test_lessons_equal_records_and_showcase = _property("lessons")
test_homework_equal_records_and_showcase = _property("homework")
test_achievements_equal_records_and_showcase = _property("achievements")


# --- fixed boundary checks ------------------------------------------------------------------------

@pytest.mark.requirement("API-02")
@pytest.mark.surface(journal_operation="getMarks")
def test_marks_of_the_last_day_are_included(portal, people, ds):
    """A period that ends on a mark's date includes that mark (`to` is inclusive)."""
    fam, mark = sup.first_family(people, ds, "marks", lambda r: True)
    day = mark["mark_date"]
    items = check(portal, ds, fam, "marks", day - dt.timedelta(days=6), day)
    assert mark["id"] in {i["id"] for i in items}
    check(portal, ds, fam, "marks", day, day)


@pytest.mark.requirement("API-03")
@pytest.mark.surface(journal_operation="getAttendance")
def test_attendance_reports_lateness(portal, people, ds):
    """Lateness (attendance status 4, with minutes late) is reported like absences."""
    fam, late = sup.first_family(people, ds, "attendance", lambda r: r["status"] == 4)
    items = check(portal, ds, fam, "attendance", late["lesson_date"], late["lesson_date"])
    got = next((i for i in items if i["id"] == late["id"]), None)
    assert got is not None and got.get("status") == 4 and got.get("minutes_late") == late["minutes_late"], (
        f"lateness {late['id']} of {fam.learner_id} on {late['lesson_date']} ({late['minutes_late']} min) is not "
        f"reported as status 4: {got}")


@pytest.mark.requirement("API-04")
@pytest.mark.surface(journal_operation="getLessons")
def test_cancelled_lessons_are_in_the_schedule(portal, people, ds):
    """A cancelled lesson of the learner's class stays in the schedule with `status: 2`."""
    fam, lesson = sup.first_family(people, ds, "lessons", lambda r: r["status"] == 2)
    items = check(portal, ds, fam, "lessons", lesson["lesson_date"], lesson["lesson_date"])
    got = next((i for i in items if i["id"] == lesson["id"]), None)
    assert got is not None and got.get("status") == 2, (
        f"cancelled lesson {lesson['id']} of {fam.learner_id} on {lesson['lesson_date']} is not in the schedule "
        f"with status 2: {got}")


@pytest.mark.requirement("API-05")
@pytest.mark.surface(journal_operation="getHomework")
def test_homework_is_selected_by_due_date(portal, people, ds):
    """Homework falls in the period of its due date, not of the day it was assigned."""
    fam, hw = sup.first_family(people, ds, "homework", lambda r: r["assigned_date"] < r["due_date"])
    due_items = check(portal, ds, fam, "homework", hw["due_date"], hw["due_date"])
    assert hw["id"] in {i["id"] for i in due_items}, (
        f"homework {hw['id']} due {hw['due_date']} is missing from the answer for that day")
    day_before = hw["due_date"] - dt.timedelta(days=1)
    check(portal, ds, fam, "homework", hw["assigned_date"], day_before)


@pytest.mark.requirement("API-06")
@pytest.mark.surface(journal_operation="getAchievements")
def test_achievements_respect_the_period(portal, people, ds):
    """With `from`/`to`, only achievements dated within the period; without them, all."""
    fam, ach = sup.first_family(people, ds, "achievements", lambda r: True)
    day = ach["achievement_date"]
    check(portal, ds, fam, "achievements", day, day)
    check(portal, ds, fam, "achievements", day + dt.timedelta(days=1), day + dt.timedelta(days=30))
    check(portal, ds, fam, "achievements", day - dt.timedelta(days=30), day - dt.timedelta(days=1))
    check(portal, ds, fam, "achievements", None, None)


@pytest.mark.requirement("API-07")
@pytest.mark.surface(journal_operation="getMarks")
def test_mark_names_its_own_teacher_and_subject(portal, people, ds, epgu, exported):
    """A mark given by a subject teacher who is not the class teacher names that teacher, with the
    same subject, date and value as the journal's record and the showcase."""
    class_teacher = {r["id"]: r["class_teacher_id"] for r in ds.rows("classes")}
    teachers_of: dict[str, set[str]] = {}
    for m in ds.rows("class_learners"):
        teachers_of.setdefault(m["learner_id"], set()).add(class_teacher.get(m["class_id"]))
    fam, mark = sup.first_family(people, ds, "marks",
                                 lambda r: r["teacher_id"] not in teachers_of.get(r["learner_id"], set()))
    items = check(portal, ds, fam, "marks", mark["mark_date"], mark["mark_date"])
    got = next(i for i in items if i["id"] == mark["id"])
    staff = next(s for s in ds.rows("staff") if s["id"] == mark["teacher_id"])
    subject = next(s for s in ds.rows("subjects") if s["id"] == mark["subject_id"])
    if "teacher_name" in got:
        assert staff["last_name"] in str(got["teacher_name"]), (
            f"mark {mark['id']}: teacher_name {got['teacher_name']!r} is not {staff['last_name']} "
            f"(staff {mark['teacher_id']})")
    if "subject_name" in got:
        assert got["subject_name"] == subject["name"], (
            f"mark {mark['id']}: subject_name {got['subject_name']!r}, the journal's subject is {subject['name']!r}")
    agree_with_showcase(epgu, ds, "marks", items)


@pytest.mark.requirement("API-02")
@pytest.mark.surface(journal_operation="getMarks")
def test_a_mark_not_yet_exported_is_answered_with_the_time_of_the_answer(run, people, driver, portal, epgu, ds,
                                                                          fams, test_control):
    """A mark a teacher has just given is in the parent's answer at once, before any export, and
    its `send_datetime` is the time of the answer on the journal's clock (journal.yaml: the time
    the record was last sent, or of this answer when it has not been sent), never empty and not
    before its `create_datetime`. Record datetimes are read as the local time of the journal's
    clock, in the offset its test-control clock reports (project reading)."""
    from conformance.exp import _support as exp
    from conformance.verdicts import EnvironmentProblem
    from conformance.world import journal_now

    browser, session, school = exp.teacher_or_skip(run, people, driver, "giving a mark")
    added: set[str] = set()
    try:
        learners = {r["id"] for r in ds.rows("learners") if r["organisation_id"] == school}
        fam = next((f for f in fams if f.learner_id in learners), None)
        base = next((r for r in exp.dataset(run, "marks") if fam and r["learner_id"] == fam.learner_id), None)
        if fam is None or base is None:
            raise EnvironmentProblem(f"the dataset has no learner of {school} (the signed-in teacher's school) "
                                     "with a mark and a prelinked, confirmed parent")
        day = dt.date.fromisoformat(base["mark_date"])
        known = {i["id"] for i in ask(portal, fam, "marks", day, day)}
        answer = session.add_mark(fam.learner_id, **{**exp.mark_fields(base), "comment": "API-02 conformance"})
        assert answer.ok, f"a teacher could not add a mark: {answer.describe()}"
        before = journal_now(test_control).replace(tzinfo=None, microsecond=0)
        items = ask(portal, fam, "marks", day, day)
        after = journal_now(test_control).replace(tzinfo=None, microsecond=0)
        fresh = [i for i in items if i.get("id") not in known]
        added.update(str(i["id"]) for i in fresh if i.get("id"))
        assert fresh, (f"a mark given to {fam.learner_id} for {day} is not in their parent's answer for that day "
                       f"({len(items)} items, all known before)")
        got = fresh[0]
        sent, created = got.get("send_datetime"), got.get("create_datetime")
        assert isinstance(sent, str) and sent, (
            f"mark {got.get('id')}, not exported yet, is answered with send_datetime {sent!r}: journal.yaml wants "
            "the time of the answer")
        stored = showcase_rows(epgu, "marks", [got["id"]]).get(got["id"])
        if stored is not None:     # the journal sent it meanwhile (its own schedule): the time it was sent
            assert ds.text("marks", "send_datetime", sent) == ds.text("marks", "send_datetime", stored["send_datetime"]), (
                f"mark {got['id']} is in the showcase sent at {stored['send_datetime']}, answered as sent at {sent}")
        else:
            when = dt.datetime.strptime(sent, "%Y-%m-%d %H:%M:%S")
            slack = dt.timedelta(seconds=2)
            assert before - slack <= when <= after + slack, (
                f"mark {got['id']}, not exported yet, is answered with send_datetime {sent}; the answer came "
                f"between {before} and {after} on the journal's clock")
        assert isinstance(created, str) and created <= sent, (
            f"mark {got['id']}: create_datetime {created!r} is after its send_datetime {sent!r}")
    finally:
        for mark_id in added:
            session.delete_mark(mark_id)
        browser.close()
