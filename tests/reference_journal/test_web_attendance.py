"""The journal's web API for attendance and school events: staff of the learner's (event's)
school only, values checked against specs/tables/attendance.yaml and events.yaml, every change a
`data_change` event and a change-log entry for the export."""
from __future__ import annotations

import json
from typing import Any

import pytest

from rj_helpers import REFERENCE
from test_web import teacher_of

TODAY = REFERENCE.isoformat()
EVENT = {"event_type": 1, "title": "Родительское собрание", "start_datetime": "2026-05-26 18:00:00",
         "end_datetime": "2026-05-26 19:00:00", "place": "каб. 214", "link": "https://school.example/meet"}


def org_of(world, learner_id: str) -> str:
    return next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == learner_id)


def free_lesson(world, learner_id: str) -> dict[str, Any]:
    """A past active lesson of the learner's class without an attendance record for them."""
    taken = {r["lesson_id"] for r in world.rows["attendance"] if r["learner_id"] == learner_id}
    spans = [(r["class_id"], r["start_date"], r["end_date"]) for r in world.rows["class_learners"]
             if r["learner_id"] == learner_id]
    return next(r for r in world.rows["lessons"] if r["id"] not in taken and str(r["status"]) == "1"
                and r["lesson_date"] <= TODAY and any(c == r["class_id"] and s <= r["lesson_date"]
                                                      and (e is None or e >= r["lesson_date"]) for c, s, e in spans))


def other_school_teacher(world, organisation_id: str) -> dict[str, Any] | None:
    staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] != organisation_id}
    return next((p for p in world.personas if p["kind"] == "staff" and p["record_id"] in staff
                 and "teacher" in p["roles"] and p["internal_login"]), None)


def last_changes(client, n: int) -> list[tuple[str, str]]:
    db = client.journal.db
    return [(c["table_name"], c["operation"]) for c in db.changes(db.last_change_seq() - n)]


def data_changes(client, obj: str) -> list[str]:
    return [e["details"]["operation"] for e in client.event_log()
            if e["event"] == "data_change" and e["object"] == obj and e["outcome"] == "success"]


@pytest.fixture
def school(journal, world):
    """(client, teacher token, parent, child, lesson)."""
    client = journal()
    parent, child = world.parent(child_under_14=True)
    teacher = teacher_of(world, child)
    return client, client.sign_in(teacher["internal_login"], teacher["internal_password"]), parent, child, \
        free_lesson(world, child)


# --- attendance ------------------------------------------------------------------------------

def test_teacher_records_changes_and_deletes_attendance(school):
    client, token, parent, child, lesson = school
    resp = client.web("POST", f"/learners/{child}/attendance", token,
                      json={"lesson_id": lesson["id"], "status": 4, "minutes_late": 7})
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert (item["learner_id"], item["lesson_id"], item["lesson_date"], item["status"], item["minutes_late"]) == \
        (child, lesson["id"], lesson["lesson_date"], 4, 7)
    assert item["create_datetime"] == "2026-05-25 10:00:00"
    assert last_changes(client, 1) == [("attendance", "upsert")]
    again = client.web("POST", f"/learners/{child}/attendance", token, json={"lesson_id": lesson["id"], "status": 3})
    assert again.status_code == 409 and again.json()["error"] == "already_recorded"
    assert again.json()["details"][0]["id"] == item["id"]

    parent_token = client.sign_in(parent["internal_login"], parent["internal_password"])
    day = {"from": lesson["lesson_date"], "to": lesson["lesson_date"]}
    seen = client.web("GET", f"/learners/{child}/attendance", parent_token, params=day).json()["items"]
    assert [(a["status"], a["minutes_late"]) for a in seen if a["id"] == item["id"]] == [(4, 7)]

    resp = client.web("PATCH", f"/attendance/{item['id']}", token, json={"status": 2})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["minutes_late"]) == (2, None)  # no longer late
    resp = client.web("PATCH", f"/attendance/{item['id']}", token, json={"status": 4, "minutes_late": 15})
    assert (resp.json()["status"], resp.json()["minutes_late"]) == (4, 15)
    assert client.web("DELETE", f"/attendance/{item['id']}", token).status_code == 204
    assert client.journal.db.get("attendance", item["id"]) is None
    assert client.web("DELETE", f"/attendance/{item['id']}", token).status_code == 404
    assert last_changes(client, 3) == [("attendance", "upsert"), ("attendance", "upsert"), ("attendance", "delete")]
    deleted = client.journal.db.changes(client.journal.db.last_change_seq() - 1)[0]
    assert json.loads(deleted["row_json"])["id"] == item["id"]
    assert data_changes(client, f"attendance:{item['id']}") == ["create", "update", "update", "delete"]


def test_teacher_changes_a_loaded_attendance_record(school, world):
    client, token, _, child, _ = school
    record = next(r for r in world.rows["attendance"] if r["learner_id"] == child and r["status"] != "4")
    resp = client.web("PATCH", f"/attendance/{record['id']}", token, json={"status": 4, "minutes_late": 10})
    assert resp.status_code == 200, resp.text
    stored = client.journal.db.get("attendance", record["id"])
    assert (stored["status"], stored["minutes_late"], stored["lesson_date"]) == (4, 10, record["lesson_date"])
    assert stored["create_datetime"] == record["create_datetime"]
    assert last_changes(client, 1) == [("attendance", "upsert")]


def test_only_the_schools_staff_write_attendance(school, world):
    client, _, parent, child, lesson = school
    body = {"lesson_id": lesson["id"], "status": 3}
    record = next(r for r in world.rows["attendance"] if r["learner_id"] == child)
    seq = client.journal.db.last_change_seq()
    parent_token = client.sign_in(parent["internal_login"], parent["internal_password"])
    assert client.web("POST", f"/learners/{child}/attendance", parent_token, json=body).status_code == 403
    assert client.web("PATCH", f"/attendance/{record['id']}", parent_token, json={"status": 1}).status_code == 403
    assert client.web("DELETE", f"/attendance/{record['id']}", parent_token).status_code == 403
    teen = world.learner(under_14=False)
    teen_token = client.sign_in(teen["internal_login"], teen["internal_password"])
    resp = client.web("POST", f"/learners/{teen['record_id']}/attendance", teen_token, json=body)
    assert resp.status_code == 403 and resp.json()["error"] == "not_allowed"
    stranger = other_school_teacher(world, org_of(world, child))
    if stranger is not None:
        stranger_token = client.sign_in(stranger["internal_login"], stranger["internal_password"])
        resp = client.web("POST", f"/learners/{child}/attendance", stranger_token, json=body)
        assert resp.status_code == 403
        assert client.web("DELETE", f"/attendance/{record['id']}", stranger_token).status_code == 403
    assert client.web("POST", f"/learners/{child}/attendance", "no-such-token", json=body).status_code == 401
    assert client.journal.db.last_change_seq() == seq
    assert client.journal.db.get("attendance", record["id"]) is not None


@pytest.mark.parametrize("change, field, rule", [
    ({"status": 9}, "status", "enum"), ({"status": "4"}, "status", "type"), ({"status": None}, "status", "required"),
    ({"minutes_late": 0}, "minutes_late", "range"), ({"minutes_late": 91}, "minutes_late", "range"),
    ({"status": 1, "minutes_late": 5}, "minutes_late", "status"), ({"lesson_id": None}, "lesson_id", "required"),
    ({"lesson_id": "EZHD-9999.LSN1"}, "lesson_id", "reference"), ({"lesson_id": 12}, "lesson_id", "type")])
def test_attendance_bad_input(school, change, field, rule):
    client, token, _, child, lesson = school
    seq = client.journal.db.last_change_seq()
    resp = client.web("POST", f"/learners/{child}/attendance", token,
                      json={"lesson_id": lesson["id"], "status": 4, "minutes_late": 5, **change})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_body"
    assert (resp.json()["details"][0]["field"], resp.json()["details"][0]["rule"]) == (field, rule)
    assert client.journal.db.last_change_seq() == seq


def test_attendance_bad_changes(school, world):
    client, token, _, child, _ = school
    record = next(r for r in world.rows["attendance"] if r["learner_id"] == child)
    for body, status in (({"lesson_id": "x"}, 400), ({}, 400), ({"status": 7}, 400), ({"minutes_late": 120}, 400),
                         ([1], 400)):
        assert client.web("PATCH", f"/attendance/{record['id']}", token, json=body).status_code == status, body
    assert client.web("PATCH", "/attendance/EZHD-9999.ATT1", token, json={"status": 1}).status_code == 404
    other = next((r for r in world.rows["learners"] if r["id"] != child and r["organisation_id"] == org_of(world, child)
                  and not any(c["learner_id"] == r["id"] and c["class_id"] in
                              {x["class_id"] for x in world.rows["class_learners"] if x["learner_id"] == child}
                              for c in world.rows["class_learners"])), None)
    if other is not None:      # a lesson of another class: the learner is not in it
        resp = client.web("POST", f"/learners/{other['id']}/attendance", token,
                          json={"lesson_id": free_lesson(world, child)["id"], "status": 3})
        assert resp.status_code == 400 and resp.json()["details"][0]["rule"] == "class_membership"


# --- school events ---------------------------------------------------------------------------

def test_staff_create_change_and_cancel_an_event(school, world):
    client, token, parent, child, _ = school
    resp = client.web("POST", "/events", token, json={**EVENT, "learners": [child]})
    assert resp.status_code == 201, resp.text
    event = resp.json()
    assert event["organisation_id"] == org_of(world, child) and event["status"] == 1 and event["learners"] == [child]
    assert {k: event[k] for k in EVENT} == EVENT
    assert last_changes(client, 2) == [("events", "upsert"), ("event_learners", "upsert")]
    parent_token = client.sign_in(parent["internal_login"], parent["internal_password"])
    day = {"from": "2026-05-26", "to": "2026-05-26"}
    seen = client.web("GET", f"/learners/{child}/events", parent_token, params=day).json()["items"]
    assert [e["title"] for e in seen if e["id"] == event["id"]] == [EVENT["title"]]

    classmate = next(r["id"] for r in world.rows["learners"]
                     if r["id"] != child and r["organisation_id"] == event["organisation_id"])
    resp = client.web("PATCH", f"/events/{event['id']}", token,
                      json={"title": "Собрание перенесено", "place": None, "learners": [classmate]})
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert (changed["title"], changed["place"], changed["learners"]) == ("Собрание перенесено", None, [classmate])
    assert changed["create_datetime"] == event["create_datetime"]
    assert last_changes(client, 3) == [("events", "upsert"), ("event_learners", "delete"), ("event_learners", "upsert")]
    seen = client.web("GET", f"/learners/{child}/events", parent_token, params=day).json()["items"]
    assert event["id"] not in {e["id"] for e in seen}        # the child is no longer concerned
    assert client.web("GET", f"/events/{event['id']}", token).json()["learners"] == [classmate]

    resp = client.web("POST", f"/events/{event['id']}/cancel", token)
    assert resp.status_code == 200 and resp.json()["status"] == 2
    assert last_changes(client, 1) == [("events", "upsert")]
    assert client.journal.db.get("events", event["id"])["status"] == 2
    again = client.web("POST", f"/events/{event['id']}/cancel", token)
    assert again.status_code == 409 and again.json()["error"] == "event_cancelled"
    assert client.web("PATCH", f"/events/{event['id']}", token, json={"title": "x"}).status_code == 409
    assert data_changes(client, f"events:{event['id']}") == ["create", "update", "cancel"]


def test_only_the_schools_staff_keep_events(school, world):
    client, token, parent, child, _ = school
    event = client.web("POST", "/events", token, json={**EVENT, "learners": [child]}).json()
    seq = client.journal.db.last_change_seq()
    parent_token = client.sign_in(parent["internal_login"], parent["internal_password"])
    teen = world.learner(under_14=False)
    teen_token = client.sign_in(teen["internal_login"], teen["internal_password"])
    for who in (parent_token, teen_token):
        resp = client.web("POST", "/events", who, json={**EVENT, "learners": [child]})
        assert resp.status_code == 403 and resp.json()["error"] == "not_allowed"
        assert client.web("PATCH", f"/events/{event['id']}", who, json={"title": "x"}).status_code == 403
        assert client.web("POST", f"/events/{event['id']}/cancel", who).status_code == 403
        assert client.web("GET", f"/events/{event['id']}", who).status_code == 403
    stranger = other_school_teacher(world, event["organisation_id"])
    if stranger is not None:
        stranger_token = client.sign_in(stranger["internal_login"], stranger["internal_password"])
        assert client.web("PATCH", f"/events/{event['id']}", stranger_token, json={"title": "x"}).status_code == 403
        assert client.web("POST", f"/events/{event['id']}/cancel", stranger_token).status_code == 403
        resp = client.web("POST", "/events", stranger_token, json={**EVENT, "learners": [child]})
        assert resp.status_code == 400 and resp.json()["details"][0]["field"] == "learners/0"
    assert client.web("PATCH", "/events/EZHD-9999.EVT1", token, json={"title": "x"}).status_code == 404
    assert client.journal.db.last_change_seq() == seq
    assert client.journal.db.get("events", event["id"])["status"] == 1


@pytest.mark.parametrize("change, field, rule", [
    ({"event_type": 9}, "event_type", "enum"), ({"title": ""}, "title", "required"),
    ({"title": "я" * 1001}, "title", "max_length"), ({"title": None}, "title", "required"),
    ({"start_datetime": "2026-05-26T18:00:00+03:00"}, "start_datetime", "type"),
    ({"start_datetime": "2026-02-30 18:00:00"}, "start_datetime", "type"),
    ({"end_datetime": "2026-05-26 17:00:00"}, "end_datetime", "order"),
    ({"link": "ftp://school.example/x"}, "link", "pattern"), ({"place": 214}, "place", "type"),
    ({"learners": []}, "learners", "value"), ({"learners": "x"}, "learners", "value"),
    ({"learners": ["EZHD-9999.LRN1"]}, "learners/0", "reference")])
def test_event_bad_input(school, change, field, rule):
    client, token, _, child, _ = school
    seq = client.journal.db.last_change_seq()
    resp = client.web("POST", "/events", token, json={**EVENT, "learners": [child], **change})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "invalid_body" and (body["details"][0]["field"], body["details"][0]["rule"]) == (field, rule)
    assert client.journal.db.last_change_seq() == seq
    event = client.web("POST", "/events", token, json={**EVENT, "learners": [child]}).json()
    seq = client.journal.db.last_change_seq()
    resp = client.web("PATCH", f"/events/{event['id']}", token, json=change)
    assert resp.status_code == 400, resp.text
    assert client.journal.db.last_change_seq() == seq
    assert client.web("PATCH", f"/events/{event['id']}", token, json={"status": 2}).status_code == 400
