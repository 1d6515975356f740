"""A learner's diary for a period: marks, attendance, lessons, homework, achievements, events.

Items are rows of the export tables (journal.yaml: `x-table`, same columns and types) plus
the display fields journal.yaml marks `x-extra`. Selection and order follow journal.yaml:
lessons and homework through the learner's class memberships on the date (class_learners),
events through event_learners. `send_datetime` of a row not yet sent is the time of the
answer. Seeded defects of API-02…API-07, ROLE-03 and NOTIF-01 live here.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from reference_journal.core import Journal

TEACHER_NAME = ("trim(st.last_name || ' ' || st.first_name || coalesce(' ' || st.middle_name, ''))")
# section → export table of its items
SECTION_TABLES = {"marks": "marks", "attendance": "attendance", "lessons": "lessons",
                  "homework": "homework", "achievements": "achievements", "events": "events"}


def _items(j: "Journal", table: str, rows: list[dict[str, Any]], extras: tuple[str, ...]) -> list[dict[str, Any]]:
    spec = j.tables[table]
    now = j.clock.stamp()
    out = []
    for row in rows:
        item = j.db.to_json(spec, row)
        if item.get("send_datetime") is None and not j.defect_on("SEND_DATETIME_EMPTY_BEFORE_EXPORT"):
            item["send_datetime"] = now
        for name in extras:
            item[name] = row.get(name)
        out.append(item)
    return out


def marks(j: "Journal", learner_id: str, start: dt.date, end: dt.date, relation: str) -> list[dict[str, Any]]:
    end_op = "<" if j.defect_on("MARKS_PERIOD_END_EXCLUSIVE") else "<="
    rows = j.db.query(
        f"SELECT m.*, s.name AS subject_name, {TEACHER_NAME} AS teacher_name, p.name AS period_name "
        "FROM marks m LEFT JOIN subjects s ON s.id = m.subject_id LEFT JOIN staff st ON st.id = m.teacher_id "
        "LEFT JOIN academic_periods p ON p.id = m.period_id "
        f"WHERE m.learner_id = ? AND m.mark_date >= ? AND m.mark_date {end_op} ? ORDER BY m.mark_date, m.id",
        (learner_id, start.isoformat(), end.isoformat()))
    if j.defect_on("MARK_TEACHER_FROM_CLASS"):
        for row in rows:
            teacher = j.db.one(
                f"SELECT st.id, {TEACHER_NAME} AS name FROM class_learners cl JOIN classes c ON c.id = cl.class_id "
                "JOIN staff st ON st.id = c.class_teacher_id WHERE cl.learner_id = ? AND cl.start_date <= ? "
                "AND (cl.end_date IS NULL OR cl.end_date >= ?) ORDER BY cl.start_date DESC LIMIT 1",
                (learner_id, row["mark_date"], row["mark_date"]))
            if teacher:
                row["teacher_id"], row["teacher_name"] = teacher["id"], teacher["name"]
    return _items(j, "marks", rows, ("subject_name", "teacher_name", "period_name"))


def attendance(j: "Journal", learner_id: str, start: dt.date, end: dt.date, relation: str) -> list[dict[str, Any]]:
    late = " AND a.status <> 4" if j.defect_on("ATTENDANCE_OMITS_LATENESS") else ""
    rows = j.db.query(
        "SELECT a.*, s.name AS subject_name, l.lesson_number AS lesson_number FROM attendance a "
        "LEFT JOIN lessons l ON l.id = a.lesson_id LEFT JOIN subjects s ON s.id = l.subject_id "
        f"WHERE a.learner_id = ? AND a.lesson_date BETWEEN ? AND ?{late} "
        "ORDER BY a.lesson_date, l.lesson_number, a.id", (learner_id, start.isoformat(), end.isoformat()))
    return _items(j, "attendance", rows, ("subject_name", "lesson_number"))


def lessons(j: "Journal", learner_id: str, start: dt.date, end: dt.date, relation: str) -> list[dict[str, Any]]:
    cancelled = " AND l.status <> 2" if j.defect_on("LESSONS_OMIT_CANCELLED") else ""
    rows = j.db.query(
        f"SELECT l.*, s.name AS subject_name, {TEACHER_NAME} AS teacher_name, c.name AS class_name "
        "FROM lessons l JOIN class_learners cl ON cl.class_id = l.class_id AND cl.learner_id = ? "
        "AND l.lesson_date >= cl.start_date AND (cl.end_date IS NULL OR l.lesson_date <= cl.end_date) "
        "LEFT JOIN subjects s ON s.id = l.subject_id LEFT JOIN staff st ON st.id = l.teacher_id "
        "LEFT JOIN classes c ON c.id = l.class_id "
        f"WHERE l.lesson_date BETWEEN ? AND ?{cancelled} ORDER BY l.lesson_date, l.lesson_number, l.id",
        (learner_id, start.isoformat(), end.isoformat()))
    return _items(j, "lessons", rows, ("subject_name", "teacher_name", "class_name"))


def homework(j: "Journal", learner_id: str, start: dt.date, end: dt.date, relation: str) -> list[dict[str, Any]]:
    column = "assigned_date" if j.defect_on("HOMEWORK_BY_ASSIGNED_DATE") else "due_date"
    rows = j.db.query(
        f"SELECT DISTINCT h.*, s.name AS subject_name, {TEACHER_NAME} AS teacher_name FROM homework h "
        "JOIN class_learners cl ON cl.class_id = h.class_id AND cl.learner_id = ? "
        f"AND h.{column} >= cl.start_date AND (cl.end_date IS NULL OR h.{column} <= cl.end_date) "
        "LEFT JOIN subjects s ON s.id = h.subject_id LEFT JOIN staff st ON st.id = h.teacher_id "
        f"WHERE h.{column} BETWEEN ? AND ? ORDER BY h.{column}, h.id",
        (learner_id, start.isoformat(), end.isoformat()))
    items = _items(j, "homework", rows, ("subject_name", "teacher_name"))
    if j.defect_on("HOMEWORK_SUBJECT_RENAMED"):
        for item in items:
            item["subject"] = item.pop("subject_name", None)
    return items


def achievements(j: "Journal", learner_id: str, start: dt.date | None, end: dt.date | None,
                 relation: str) -> list[dict[str, Any]]:
    sql = ("SELECT a.*, s.name AS subject_name FROM achievements a LEFT JOIN subjects s ON s.id = a.subject_id "
           "WHERE a.learner_id = ?")
    params: list[Any] = [learner_id]
    if start is not None and end is not None and not j.defect_on("ACHIEVEMENTS_IGNORE_PERIOD"):
        sql += " AND a.achievement_date BETWEEN ? AND ?"
        params += [start.isoformat(), end.isoformat()]
    if relation != "self" and j.defect_on("LEARNER_ACHIEVEMENTS_HIDDEN"):
        sql += " AND a.added_by <> 2"
    rows = j.db.query(sql + " ORDER BY a.achievement_date, a.id", params)
    return _items(j, "achievements", rows, ("subject_name",))


def events(j: "Journal", learner_id: str, start: dt.date, end: dt.date, relation: str) -> list[dict[str, Any]]:
    if j.defect_on("EVENTS_WHOLE_SCHOOL"):
        rows = j.db.query(
            "SELECT e.* FROM events e JOIN learners l ON l.organisation_id = e.organisation_id AND l.id = ? "
            "WHERE substr(e.start_datetime, 1, 10) BETWEEN ? AND ? ORDER BY e.start_datetime, e.id",
            (learner_id, start.isoformat(), end.isoformat()))
    else:
        rows = j.db.query(
            "SELECT e.* FROM events e JOIN event_learners el ON el.event_id = e.id AND el.learner_id = ? "
            "WHERE substr(e.start_datetime, 1, 10) BETWEEN ? AND ? ORDER BY e.start_datetime, e.id",
            (learner_id, start.isoformat(), end.isoformat()))
    return _items(j, "events", rows, ())


SECTIONS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "marks": marks, "attendance": attendance, "lessons": lessons, "homework": homework,
    "achievements": achievements, "events": events,
}
