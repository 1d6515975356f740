"""The journal's own web API: sessions, who may write what (ROLE-02, ROLE-03), staff edits
in the change log, join requests (ROLE-05), the auditor's log (LOG-01…LOG-03), the SBOM
(FREE-01) and the status page."""
from __future__ import annotations

import json

import pytest

from rj_helpers import ADMIN_PASSWORD, YEAR_PARAMS

ACHIEVEMENT = {"title": "Городская олимпиада по физике", "category": 1, "level": 2, "result": 2,
               "achievement_date": "2026-04-10"}


def test_sign_in_and_out(journal, world):
    client = journal()
    student = world.learner(under_14=False)
    token = client.sign_in(student["internal_login"], student["internal_password"])
    me = client.web("GET", "/me", token).json()
    assert me["account"]["person_id"] == student["record_id"] and me["account"]["role"] == "student"
    assert client.web("DELETE", "/session", token).status_code == 204
    assert client.web("GET", "/me", token).json()["error"] == "not_signed_in"
    bad = client.post("/web/api/v1/session", json={"login": student["internal_login"], "password": "Wrong-pass-1"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_credentials"
    events = [(e["event"], e["outcome"]) for e in client.event_log() if e["event"] in ("sign_in", "sign_out")]
    assert events == [("sign_in", "success"), ("sign_out", "success"), ("sign_in", "failure")]


def test_cookie_session(journal, world):
    client = journal()
    student = world.learner(under_14=False)
    client.sign_in(student["internal_login"], student["internal_password"])
    assert client.get("/web/api/v1/me").status_code == 200  # the cookie set at sign-in
    client.cookies.clear()
    assert client.get("/web/api/v1/me").status_code == 401


@pytest.mark.parametrize("body", [{}, {"login": "x"}, {"login": 1, "password": "y"}, []])
def test_sign_in_bad_body(journal, body):
    resp = journal().post("/web/api/v1/session", json=body)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_body"


def test_under_14_reads_but_cannot_write(journal, world):
    client = journal()
    kid = world.learner(under_14=True)
    token = client.sign_in(kid["internal_login"], kid["internal_password"])
    assert client.web("GET", f"/learners/{kid['record_id']}/marks", token, params=YEAR_PARAMS).status_code == 200
    resp = client.web("POST", f"/learners/{kid['record_id']}/achievements", token, json=ACHIEVEMENT)
    assert resp.status_code == 403 and resp.json()["error"] == "read_only"
    resp = client.web("PUT", "/me/password", token, json={"current_password": kid["internal_password"],
                                                          "new_password": "Nov-Parol-2026!"})
    assert resp.status_code == 403 and resp.json()["error"] == "read_only"
    assert client.journal.db.count("achievements") == sum(1 for _ in world.rows["achievements"])


def test_teen_adds_achievement_and_parent_sees_it(journal, world):
    client = journal()
    parent, teen = world.parent(child_under_14=False)
    persona = world.persona(teen)
    token = client.sign_in(persona["internal_login"], persona["internal_password"])
    resp = client.web("POST", f"/learners/{teen}/achievements", token, json=ACHIEVEMENT)
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert item["added_by"] == 2 and item["learner_id"] == teen and item["create_datetime"] == "2026-05-25 10:00:00"
    seen = client.portal(f"/learners/{teen}/achievements", parent["esia"]["oid"]).json()["items"]
    assert item["id"] in {a["id"] for a in seen}
    change = client.journal.db.changes(client.journal.db.last_change_seq() - 1)
    assert [(c["table_name"], c["operation"]) for c in change] == [("achievements", "upsert")]
    assert client.web("DELETE", f"/achievements/{item['id']}", token).status_code == 204
    assert item["id"] not in {a["id"] for a in client.portal(f"/learners/{teen}/achievements",
                                                             parent["esia"]["oid"]).json()["items"]}
    last = client.journal.db.changes(client.journal.db.last_change_seq() - 1)[0]
    assert last["operation"] == "delete" and json.loads(last["row_json"])["id"] == item["id"]


@pytest.mark.parametrize("change, field", [({"category": 9}, "category"), ({"achievement_date": "2026-13-01"}, "achievement_date"),
                                           ({"achievement_date": "2027-01-01"}, "achievement_date"),
                                           ({"title": ""}, "title"), ({"subject_id": "EZHD-0009.SUB1"}, "subject_id")])
def test_achievement_bad_input(journal, world, change, field):
    client = journal()
    teen = world.learner(under_14=False)
    token = client.sign_in(teen["internal_login"], teen["internal_password"])
    resp = client.web("POST", f"/learners/{teen['record_id']}/achievements", token, json={**ACHIEVEMENT, **change})
    assert resp.status_code == 400 and resp.json()["details"][0]["field"] == field


def test_parent_cannot_write_and_teen_cannot_write_for_others(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=False)
    token = client.sign_in(parent["internal_login"], parent["internal_password"])
    resp = client.web("POST", f"/learners/{child}/achievements", token, json=ACHIEVEMENT)
    assert resp.status_code == 403 and resp.json()["error"] == "not_allowed"
    teen = world.learner(under_14=False)
    token = client.sign_in(teen["internal_login"], teen["internal_password"])
    other = next(r["id"] for r in world.rows["learners"] if r["id"] != teen["record_id"])
    resp = client.web("POST", f"/learners/{other}/achievements", token, json=ACHIEVEMENT)
    assert resp.status_code == 403 and resp.json()["error"] == "not_in_family"


def teacher_of(world, learner_id):
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == learner_id)
    staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == org}
    return next(p for p in world.personas if p["kind"] == "staff" and p["record_id"] in staff
                and "teacher" in p["roles"] and p["internal_login"])


def test_teacher_gives_changes_and_deletes_a_mark(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    teacher = teacher_of(world, child)
    token = client.sign_in(teacher["internal_login"], teacher["internal_password"])
    mark = next(m for m in world.rows["marks"] if m["learner_id"] == child)
    body = {"subject_id": mark["subject_id"], "period_id": mark["period_id"], "mark_type": 1, "grade_system": 1,
            "value": "5", "weight": 1, "mark_date": "2026-05-25"}
    resp = client.web("POST", f"/learners/{child}/marks", token, json=body)
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["teacher_id"] == teacher["record_id"]
    assert client.web("PATCH", f"/marks/{new['id']}", token, json={"value": "4"}).json()["value"] == "4"
    seen = client.portal(f"/learners/{child}/marks", parent["esia"]["oid"], params={"from": "2026-05-25", "to": "2026-05-25"})
    assert [m["value"] for m in seen.json()["items"] if m["id"] == new["id"]] == ["4"]
    assert client.web("PATCH", f"/marks/{new['id']}", token, json={"learner_id": "x"}).status_code == 400
    assert client.web("DELETE", f"/marks/{mark['id']}", token).status_code == 204
    ops = [(c["table_name"], c["operation"]) for c in client.journal.db.changes(client.journal.db.last_change_seq() - 3)]
    assert ops == [("marks", "upsert"), ("marks", "upsert"), ("marks", "delete")]
    student = world.learner(under_14=False)
    token = client.sign_in(student["internal_login"], student["internal_password"])
    assert client.web("POST", f"/learners/{student['record_id']}/marks", token, json=body).status_code == 403


# --- join requests (ROLE-05) -----------------------------------------------------------------

def school_admin(world, organisation_id):
    staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == organisation_id}
    return next(p for p in world.personas if p["kind"] == "staff" and p["record_id"] in staff
                and "school_admin" in p["roles"])


def newcomer(client, login="novikova.a", password="Novaya-Mama-1!"):
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    resp = client.web("POST", "/accounts", admin, json={"login": login, "password": password})
    assert resp.status_code == 201, resp.text
    return client.sign_in(login, password)


def join_body(world, child):
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    cls = next(r["class_id"] for r in world.rows["class_learners"] if r["learner_id"] == child)
    return org, {"kind": "representative", "organisation_id": org, "class_id": cls, "learner_id": child,
                 "relation": 3, "last_name": "Новикова", "first_name": "Анна", "gender": 2}


def test_join_request_waits_for_the_school_administrator(journal, world):
    client = journal()
    _, child = world.parent(child_under_14=True)
    org, body = join_body(world, child)
    token = newcomer(client)
    resp = client.web("POST", "/join-requests", token, json=body)
    assert resp.status_code == 201 and resp.json()["status"] == "pending"
    request_id = resp.json()["id"]
    denied = client.web("GET", f"/learners/{child}/marks", token, params=YEAR_PARAMS)
    assert denied.status_code == 403 and denied.json()["error"] == "not_approved"
    assert client.web("POST", "/join-requests", token, json=body).status_code == 409
    other_org = next(r["id"] for r in client.journal.db.query("SELECT id FROM organisations") if r["id"] != org
                     and client.journal.db.one("SELECT 1 FROM staff WHERE organisation_id = ?", (r["id"],)))
    stranger = school_admin(world, other_org)
    other = client.sign_in(stranger["internal_login"], stranger["internal_password"])
    refused = client.web("POST", f"/join-requests/{request_id}/decision", other, json={"decision": "approve"})
    assert refused.status_code == 403
    head = school_admin(world, org)
    admin = client.sign_in(head["internal_login"], head["internal_password"])
    assert [r["id"] for r in client.web("GET", "/join-requests", admin).json()["items"]] == [request_id]
    decided = client.web("POST", f"/join-requests/{request_id}/decision", admin, json={"decision": "approve"})
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert client.web("GET", f"/learners/{child}/marks", token, params=YEAR_PARAMS).status_code == 200
    assert client.web("POST", f"/join-requests/{request_id}/decision", admin, json={"decision": "reject"}).status_code == 409
    events = [e["event"] for e in client.event_log()]
    assert {"account_create", "join_request", "join_decision", "role_change"} <= set(events)


def test_learner_join_request_creates_the_pupil(journal, world):
    client = journal()
    _, child = world.parent(child_under_14=True)
    org, _ = join_body(world, child)
    token = newcomer(client, "petrov.i", "Novyi-Uchenik-1!")
    body = {"kind": "learner", "organisation_id": org, "grade_level": 3, "last_name": "Петров", "first_name": "Иван",
            "birth_date": "2016-03-03", "gender": 1}
    request_id = client.web("POST", "/join-requests", token, json=body).json()["id"]
    head = school_admin(world, org)
    admin = client.sign_in(head["internal_login"], head["internal_password"])
    no_class = client.web("POST", f"/join-requests/{request_id}/decision", admin, json={"decision": "approve"})
    assert no_class.status_code == 400
    cls = client.journal.db.one("SELECT id FROM classes WHERE organisation_id = ? ORDER BY academic_year DESC", (org,))
    resp = client.web("POST", f"/join-requests/{request_id}/decision", admin,
                      json={"decision": "approve", "class_id": cls["id"]})
    assert resp.status_code == 200, resp.text
    me = client.web("GET", "/me", token).json()
    assert me["account"]["role"] == "student" and me["learners"][0]["class_id"] == cls["id"]


@pytest.mark.parametrize("change", [{"class_id": None, "grade_level": None}, {"organisation_id": "EZHD-9999.ORG1"},
                                    {"learner_id": "EZHD-9999.LRN1"}, {"relation": 42}, {"kind": "teacher"}])
def test_join_request_bad_input(journal, world, change):
    client = journal()
    _, child = world.parent(child_under_14=True)
    _, body = join_body(world, child)
    token = newcomer(client)
    resp = client.web("POST", "/join-requests", token, json={k: v for k, v in {**body, **change}.items() if v is not None})
    assert resp.status_code in (400, 404) and resp.json()["error"] in ("invalid_body", "organisation_not_found")


# --- event log (LOG-01…03) ---------------------------------------------------------------------

def test_auditor_reads_the_log_for_a_period_without_secrets(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    secrets_used = [parent["internal_password"], "Wrong-Password-7!", "Nov-Parol-2026!", ADMIN_PASSWORD]
    client.sign_in(parent["internal_login"], parent["internal_password"])
    client.post("/web/api/v1/session", json={"login": parent["internal_login"], "password": "Wrong-Password-7!"})
    client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST", json={"password": "Nov-Parol-2026!"})
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    resp = client.web("GET", "/audit/events", admin, params={"from": "2026-05-25", "to": "2026-05-25"})
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    kinds = [(e["event"], e["outcome"]) for e in items]
    assert ("sign_in", "success") in kinds and ("sign_in", "failure") in kinds and ("password_reset", "success") in kinds
    for e in items:
        assert e["time"].startswith("2026-05-25T10:00:00") and e["actor"] and e["event"] and e["outcome"]
    assert client.web("GET", "/audit/events", admin, params={"from": "2026-05-26", "to": "2026-05-27"}).json()["items"] == []
    raw = repr(client.journal.db.query("SELECT * FROM event_log"))
    for secret in secrets_used:
        assert secret not in raw
    token_of_admin = admin
    assert token_of_admin not in raw


def test_audit_needs_the_journal_administrator_and_a_period(journal, world):
    client = journal()
    head = next(p for p in world.personas if "school_admin" in p["roles"])
    token = client.sign_in(head["internal_login"], head["internal_password"])
    assert client.web("GET", "/audit/events", token, params={"from": "2026-05-25", "to": "2026-05-25"}).status_code == 403
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    assert client.web("GET", "/audit/events", admin, params={"from": "2026-05-25"}).status_code == 400
    assert client.web("GET", "/audit/events", admin, params={"from": "yesterday", "to": "2026-05-25"}).status_code == 400
    assert client.web("GET", "/audit/events", admin, params={"from": "2026-05-26", "to": "2026-05-25"}).status_code == 422
    client.cookies.clear()
    assert client.get("/web/api/v1/audit/events", params={"from": "2026-05-25", "to": "2026-05-25"}).status_code == 401


def test_secret_details_are_scrubbed(journal):
    client = journal()
    client.journal.events.record("test", "tester", details={"password": "Hunter2-x!", "access_token": "abc",
                                                           "note": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"})
    recorded = client.event_log()[-1]["details"]
    assert recorded == {"password": "[redacted]", "access_token": "[redacted]", "note": "[redacted]"}


# --- SBOM and status page --------------------------------------------------------------------

FREE = {"MIT", "MIT-0", "BSD-3-Clause", "BSD-2-Clause", "Apache-2.0", "MPL-2.0", "PSF-2.0", "ISC",
        "Apache-2.0 OR BSD-3-Clause", "LGPL-3.0-only", "Public Domain (blessing)"}


def test_sbom_lists_only_free_components(journal):
    doc = journal().get("/sbom.json").json()
    assert doc["bomFormat"] == "CycloneDX" and doc["components"]
    names = {c["name"].lower() for c in doc["components"]}
    assert {"starlette", "uvicorn", "jinja2", "sqlite", "cpython"} <= names
    for component in doc["components"]:
        (licence,) = component["licenses"]
        value = licence.get("expression") or licence["license"].get("id") or licence["license"]["name"]
        assert value in FREE or value.startswith("OSI Approved"), (component["name"], value)


def test_status_page_in_russian_and_english(journal):
    client = journal("ACCEPT_ANY_CALLER")
    ru = client.get("/").text
    assert "Эталонный электронный журнал" in ru and "ezhd-seed5-small" in ru and "ACCEPT_ANY_CALLER" in ru
    en = client.get("/?lang=en").text
    assert "Reference e-journal" in en and "not installed" in en
