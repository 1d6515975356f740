"""The defect catalogue: it covers every base MUST requirement, names only known requirement
IDs, DEFECTS.md is its rendering, and every defect this package implements is observable —
each probe below is False on the conforming journal and True with that one defect on."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from reference_journal import defects
from reference_journal.defects import CATALOGUE, DefectSwitch, implemented_here, render_markdown
from rj_helpers import ADMIN_PASSWORD, YEAR_PARAMS, World
from specs.requirements import BASE, MUST, load_requirements

DEFECTS_MD = Path(defects.__file__).with_name("DEFECTS.md")


def test_every_base_must_requirement_has_a_defect():
    catalogue = load_requirements()
    musts = {r.id for r in catalogue if r.strength == MUST and r.level == BASE}
    assert len(musts) >= 40
    covered = {rid for d in CATALOGUE.values() for rid in d.requirement_ids}
    assert musts - covered == set()


def test_defects_name_only_known_requirements():
    catalogue = load_requirements()
    for d in CATALOGUE.values():
        assert d.requirement_ids, d.id
        unknown = [rid for rid in d.requirement_ids if rid not in catalogue]
        assert unknown == [], (d.id, unknown)
        assert d.implemented_in in defects.PLACES and d.title and d.description


def test_defects_md_is_the_rendered_catalogue():
    assert DEFECTS_MD.read_text(encoding="utf-8") == render_markdown(), \
        "regenerate: ezhd reference-journal defects --format markdown > reference_journal/DEFECTS.md"


def test_the_switch_refuses_unknown_ids():
    switch = DefectSwitch({"ACCEPT_ANY_CALLER"})
    assert switch("ACCEPT_ANY_CALLER") and not switch("BAD_DATE_500")
    with pytest.raises(KeyError):
        switch("ACCEPT_ANY_CALER")
    with pytest.raises(KeyError):
        DefectSwitch({"NOPE"})


def test_defects_in_code_are_the_implemented_ones():
    """Every `defect_on("ID")` in this package's own modules names a registered defect marked
    `journal`, and every defect marked `journal` is checked somewhere (the slots' modules,
    auth and export, check their own)."""
    import re

    root = Path(defects.__file__).parent
    used = set()
    for path in root.glob("*.py"):
        if path.stem not in ("auth", "export"):
            used |= set(re.findall(r'defect_on\("([A-Z0-9_]+)"\)', path.read_text(encoding="utf-8")))
    assert used == {d.id for d in implemented_here()}


# --- probes: True when the requirement is visibly broken ----------------------------------------

def _portal(client, path, oid, **kw):
    return client.portal(path, oid, **kw)


def probe_consent_revocation(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    j = client.journal
    j.set_consent(child, True, dt.datetime.fromisoformat("2026-05-25T08:00:00+03:00"), "test")
    body = {"consent_id": str(uuid.uuid4()), "action": "revoked", "changed_at": "2026-05-25T09:00:00+03:00",
            "learner_id": child}
    assert client.portal("/consents", parent["esia"]["oid"], method="POST", json=body).status_code == 204
    return j.consent_granted(child)


def _consent_note(client, parent, action: str, at: str, **child: str):
    body = {"consent_id": child.pop("consent_id", None) or str(uuid.uuid4()), "action": action, "changed_at": at,
            **child}
    return client.portal("/consents", parent["esia"]["oid"], method="POST", json=body)


def probe_consent_by_arrival(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    client.journal.set_consent(child, True, dt.datetime.fromisoformat("2026-05-25T08:00:00+03:00"), "test")
    assert _consent_note(client, parent, "revoked", "2026-05-25T09:00:00+03:00", learner_id=child).status_code == 204
    _consent_note(client, parent, "granted", "2026-05-25T08:30:00+03:00", learner_id=child)   # late, older
    return client.journal.consent_granted(child)


def probe_consent_by_learner_id_only(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    snils = next(r["snils"] for r in world.rows["learners"] if r["id"] == child)
    return _consent_note(client, parent, "granted", "2026-05-25T09:00:00+03:00", child_snils=snils).status_code != 204


def probe_consent_conflict_applied(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    client.journal.set_consent(child, True, dt.datetime.fromisoformat("2026-05-25T08:00:00+03:00"), "test")
    cid = str(uuid.uuid4())
    _consent_note(client, parent, "granted", "2026-05-25T09:00:00+03:00", learner_id=child, consent_id=cid)
    again = _consent_note(client, parent, "revoked", "2026-05-25T09:30:00+03:00", learner_id=child, consent_id=cid)
    return again.status_code != 409 or not client.journal.consent_granted(child)


def probe_sign_out(client, world: World) -> bool:
    student = world.learner(under_14=False)
    token = client.sign_in(student["internal_login"], student["internal_password"])
    assert client.web("DELETE", "/session", token).status_code == 204
    client.cookies.clear()
    return client.web("GET", "/me", token).status_code == 200


def probe_parent_any_child(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    return client.portal(f"/learners/{world.stranger_of(parent)}/marks", parent["esia"]["oid"],
                         params=YEAR_PARAMS).status_code == 200


def probe_classmates(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    return client.portal(f"/learners/{world.classmate_of(parent)}/marks", parent["esia"]["oid"],
                         params=YEAR_PARAMS).status_code == 200


ACHIEVEMENT = {"title": "Школьный конкурс чтецов", "category": 4, "level": 1, "result": 3,
               "achievement_date": "2026-03-01"}


def probe_under_14_writes(client, world: World) -> bool:
    kid = world.learner(under_14=True)
    token = client.sign_in(kid["internal_login"], kid["internal_password"])
    return client.web("POST", f"/learners/{kid['record_id']}/achievements", token, json=ACHIEVEMENT).status_code == 201


def probe_age_by_birth_year(client, world: World) -> bool:
    for parent in (p for p in world.personas if p["kind"] == "representative" and p["prelinked"]):
        for child in world.children(parent["record_id"]):
            birth = dt.date.fromisoformat(next(r["birth_date"] for r in world.rows["learners"] if r["id"] == child))
            day = dt.date(birth.year + 14, 1, 2)
            if birth.replace(year=birth.year + 14) > day:  # 13 on that day, 14 "by the year"
                client.tc("POST", "/clock", json={"action": "set", "now": f"{day}T10:00:00+03:00", "frozen": True})
                resp = client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST",
                                     json={"password": "Nov-Parol-2026!"})
                return resp.status_code == 403
    raise LookupError("no child with a birthday after 2 January")


def probe_teen_cannot_add(client, world: World) -> bool:
    teen = world.learner(under_14=False)
    token = client.sign_in(teen["internal_login"], teen["internal_password"])
    return client.web("POST", f"/learners/{teen['record_id']}/achievements", token, json=ACHIEVEMENT).status_code == 403


def _teen_adds_achievement(client, world: World, body: dict[str, Any] = ACHIEVEMENT) -> tuple[str, list[dict[str, Any]]]:
    """A learner of 14+ adds an achievement of their own; (its id, the parent's portal view)."""
    parent, teen = world.parent(child_under_14=False)
    persona = world.persona(teen)
    token = client.sign_in(persona["internal_login"], persona["internal_password"])
    added = client.web("POST", f"/learners/{teen}/achievements", token, json=body).json()["id"]
    return added, client.portal(f"/learners/{teen}/achievements", parent["esia"]["oid"]).json()["items"]


def probe_learner_achievements_hidden(client, world: World) -> bool:
    added, seen = _teen_adds_achievement(client, world)
    return added not in {a["id"] for a in seen}


def probe_weak_password(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    return client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST",
                         json={"password": "password1"}).status_code == 204


def probe_password_for_teen(client, world: World) -> bool:
    parent, teen = world.parent(child_under_14=False)
    return client.portal(f"/learners/{teen}/password", parent["esia"]["oid"], method="POST",
                         json={"password": "Nov-Parol-2026!"}).status_code == 204


def probe_child_sets_own_password(client, world: World) -> bool:
    child = world.learner(under_14=True)
    return client.portal(f"/learners/{child['record_id']}/password", child["esia"]["oid"], method="POST",
                         json={"password": "Nov-Parol-2026!"}).status_code == 204


def probe_child_changes_own_consent(client, world: World) -> bool:
    child = world.learner(under_14=True)
    notice = {"consent_id": "2f0c8f1e-7a52-4b8e-9d0f-3c2a1b4e5d6f", "learner_id": child["record_id"], "action": "revoked",
              "changed_at": "2026-05-25T12:00:00+03:00"}
    return client.portal("/consents", child["esia"]["oid"], method="POST", json=notice).status_code == 204


def _newcomer_request(client, world: World) -> tuple[str, str, int]:
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    client.web("POST", "/accounts", admin, json={"login": "novikova.a", "password": "Novaya-Mama-1!"})
    token = client.sign_in("novikova.a", "Novaya-Mama-1!")
    _, child = world.parent(child_under_14=True)
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    body = {"kind": "representative", "organisation_id": org, "grade_level": 3, "learner_id": child, "relation": 1,
            "last_name": "Новикова", "first_name": "Анна", "gender": 2}
    resp = client.web("POST", "/join-requests", token, json=body)
    assert resp.status_code == 201, resp.text
    return token, child, resp.json()["id"]


def probe_join_auto_approved(client, world: World) -> bool:
    token, child, _ = _newcomer_request(client, world)
    return client.web("GET", f"/learners/{child}/marks", token, params=YEAR_PARAMS).status_code == 200


def _other_school_admin(client, world: World, child: str) -> str:
    """A session token of the administrator of a school other than `child`'s."""
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    other_staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] != org}
    head = next(p for p in world.personas if "school_admin" in p["roles"] and p["record_id"] in other_staff)
    return client.sign_in(head["internal_login"], head["internal_password"])


def probe_join_other_school(client, world: World) -> bool:
    _, child, request_id = _newcomer_request(client, world)
    return client.web("POST", f"/join-requests/{request_id}/decision", _other_school_admin(client, world, child),
                      json={"decision": "approve"}).status_code == 200


def _own_school_admin(client, world: World, child: str) -> str:
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    own = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == org}
    head = next(p for p in world.personas if "school_admin" in p["roles"] and p["record_id"] in own)
    return client.sign_in(head["internal_login"], head["internal_password"])


def probe_join_decision_reversible(client, world: World) -> bool:
    _, child, request_id = _newcomer_request(client, world)
    admin = _own_school_admin(client, world, child)
    path = f"/join-requests/{request_id}/decision"
    assert client.web("POST", path, admin, json={"decision": "approve"}).status_code == 200
    return client.web("POST", path, admin, json={"decision": "reject"}).status_code == 200


def probe_join_learner_not_enrolled(client, world: World) -> bool:
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    client.web("POST", "/accounts", admin, json={"login": "novikov.i", "password": "Novyi-Uchenik-1!"})
    token = client.sign_in("novikov.i", "Novyi-Uchenik-1!")
    _, child = world.parent(child_under_14=True)
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    class_id = next(r["class_id"] for r in world.rows["class_learners"] if r["learner_id"] == child)
    body = {"kind": "learner", "organisation_id": org, "class_id": class_id, "last_name": "Новиков",
            "first_name": "Илья", "gender": 1, "birth_date": "2012-03-04"}
    request_id = client.web("POST", "/join-requests", token, json=body).json()["id"]
    decided = client.web("POST", f"/join-requests/{request_id}/decision", _own_school_admin(client, world, child),
                         json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    learner = client.journal.accounts.by_login("novikov.i").person_id
    return not client.journal.db.query("SELECT * FROM class_learners WHERE learner_id = ?", (learner,))


def probe_requests_shown_to_every_school(client, world: World) -> bool:
    _, child, request_id = _newcomer_request(client, world)
    listed = client.web("GET", "/join-requests", _other_school_admin(client, world, child)).json()["items"]
    return request_id in {r["id"] for r in listed}


def probe_openapi(client, world: World) -> bool:
    doc = client.get("/api/v1/openapi.json").json()
    return {doc["components"]["parameters"][n]["name"] for n in ("From", "To")} != {"from", "to"}


def _linked_parent_of(world: World, learner_id: str) -> str:
    for p in world.personas:
        if p["prelinked"] and (p["record_id"] == learner_id or learner_id in world.children(p["record_id"])):
            return p["esia"]["oid"]
    raise LookupError(learner_id)


def _first(world: World, table: str, where: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, Any], str]:
    """The first row whose learner a linked user can read, with that user's oid."""
    for row in world.rows[table]:
        if where(row):
            try:
                return row, _linked_parent_of(world, row["learner_id"])
            except LookupError:
                continue
    raise LookupError(table)


def probe_marks_end_exclusive(client, world: World) -> bool:
    mark, oid = _first(world, "marks", lambda r: True)
    day = {"from": mark["mark_date"], "to": mark["mark_date"]}
    items = client.portal(f"/learners/{mark['learner_id']}/marks", oid, params=day).json()["items"]
    return mark["id"] not in {m["id"] for m in items}


def probe_attendance_lateness(client, world: World) -> bool:
    late, oid = _first(world, "attendance", lambda r: r["status"] == "4")
    day = {"from": late["lesson_date"], "to": late["lesson_date"]}
    items = client.portal(f"/learners/{late['learner_id']}/attendance", oid, params=day).json()["items"]
    return late["id"] not in {a["id"] for a in items}


def probe_lessons_cancelled(client, world: World) -> bool:
    from test_ondemand import cancelled_lesson

    lesson, oid, learner = cancelled_lesson(world)
    day = {"from": lesson["lesson_date"], "to": lesson["lesson_date"]}
    items = client.portal(f"/learners/{learner}/lessons", oid, params=day).json()["items"]
    return lesson["id"] not in {i["id"] for i in items}


def probe_homework_assigned(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    items = client.portal(f"/learners/{child}/homework", oid, params=YEAR_PARAMS).json()["items"]
    hw = next(h for h in items if h["assigned_date"] != h["due_date"] and h["due_date"] <= YEAR_PARAMS["to"])
    if hw["id"] not in {h["id"] for h in world.rows["homework"]}:
        raise AssertionError("homework not in the dataset")
    day = {"from": hw["due_date"], "to": hw["due_date"]}
    return hw["id"] not in {h["id"] for h in client.portal(f"/learners/{child}/homework", oid, params=day).json()["items"]}


def probe_homework_subject_renamed(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    items = client.portal(f"/learners/{child}/homework", parent["esia"]["oid"], params=YEAR_PARAMS).json()["items"]
    assert items, "no homework in the year"
    return any("subject_name" not in h and "subject" in h for h in items)


def probe_learner_achievement_level_ignored(client, world: World) -> bool:
    added, seen = _teen_adds_achievement(client, world, {**ACHIEVEMENT, "level": 2})
    return next(a for a in seen if a["id"] == added)["level"] != 2


def probe_send_datetime_empty(client, world: World) -> bool:
    added, seen = _teen_adds_achievement(client, world)
    return next(a for a in seen if a["id"] == added).get("send_datetime") is None


def probe_error_message_empty(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    resp = client.portal("/learners/EZHD-0009.LRN999/marks", parent["esia"]["oid"], params=YEAR_PARAMS)
    assert resp.status_code == 404, resp.text
    return resp.json()["message"] == ""


def probe_achievements_period(client, world: World) -> bool:
    row, oid = _first(world, "achievements", lambda r: True)
    items = client.portal(f"/learners/{row['learner_id']}/achievements", oid,
                          params={"from": "2030-01-01", "to": "2030-12-31"}).json()["items"]
    return bool(items)


def probe_mark_teacher(client, world: World) -> bool:
    class_teacher = {r["id"]: r["class_teacher_id"] for r in world.rows["classes"]}
    classes_of = {}
    for m in world.rows["class_learners"]:
        classes_of.setdefault(m["learner_id"], set()).add(class_teacher[m["class_id"]])
    mark, oid = _first(world, "marks", lambda r: r["teacher_id"] not in classes_of.get(r["learner_id"], set()))
    day = {"from": mark["mark_date"], "to": mark["mark_date"]}
    items = client.portal(f"/learners/{mark['learner_id']}/marks", oid, params=day).json()["items"]
    return next(m["teacher_id"] for m in items if m["id"] == mark["id"]) != mark["teacher_id"]


def probe_bad_date_500(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    resp = client.portal(f"/learners/{child}/marks", parent["esia"]["oid"], params={"from": "01.09.2025", "to": "2025-09-30"})
    return resp.status_code >= 500


def probe_unknown_learner(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    return client.portal("/learners/EZHD-0009.LRN999/marks", parent["esia"]["oid"], params=YEAR_PARAMS).status_code == 200


def probe_message_id_required(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    return client.portal(f"/learners/{child}/marks", parent["esia"]["oid"], params=YEAR_PARAMS).status_code != 200


def probe_any_caller(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    resp = client.get(f"/api/v1/learners/{child}/marks", params=YEAR_PARAMS, headers={"X-Esia-Oid": parent["esia"]["oid"]})
    return resp.status_code == 200


def _answered_as(client, world: World, sender: str, section: str = "marks") -> bool:
    parent, child = world.parent(child_under_14=True)
    resp = client.get(f"/api/v1/learners/{child}/{section}", params=YEAR_PARAMS,
                      headers={"X-Esia-Oid": parent["esia"]["oid"], "X-Smev-Sender": sender})
    return resp.status_code == 200


def probe_caller_prefix(client, world: World) -> bool:
    return _answered_as(client, world, "EPGU_RVD")


def probe_caller_case(client, world: World) -> bool:
    return _answered_as(client, world, "epgu")


def probe_caller_homework(client, world: World) -> bool:
    return _answered_as(client, world, "SOMEONE", "homework")


def probe_events_whole_school(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    linked = {r["event_id"] for r in world.rows["event_learners"] if r["learner_id"] == child}
    items = client.portal(f"/learners/{child}/events", parent["esia"]["oid"], params=YEAR_PARAMS).json()["items"]
    return any(e["id"] not in linked for e in items)


def probe_login_omits_children(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    return client.portal("/me/login", parent["esia"]["oid"]).json()["learners"] == []


def probe_login_by_query(client, world: World) -> bool:
    parent, _ = world.parent(child_under_14=True)
    other = next(p for p in world.personas if p["prelinked"] and p["internal_login"] and p is not parent
                 and p["kind"] == "staff")
    answer = client.portal("/me/login", parent["esia"]["oid"], params={"oid": other["esia"]["oid"]}).json()
    return answer["login"] == other["internal_login"]


def probe_password_in_answer(client, world: World) -> bool:
    resp = client.tc("POST", "/dataset", content=world.bundle, headers={"Content-Type": "application/zip"})
    assert resp.status_code == 201
    parent, _ = world.parent(child_under_14=True)
    return client.portal("/me/login", parent["esia"]["oid"]).json().get("password") == parent["internal_password"]


def probe_failed_sign_in_not_logged(client, world: World) -> bool:
    student = world.learner(under_14=False)
    client.post("/web/api/v1/session", json={"login": student["internal_login"], "password": "Wrong-Password-7!"})
    return not any(e["event"] == "sign_in" and e["outcome"] == "failure" for e in client.event_log())


def probe_consent_not_logged(client, world: World) -> bool:
    parent, child = world.parent(child_under_14=True)
    body = {"consent_id": str(uuid.uuid4()), "action": "granted", "changed_at": "2026-05-25T09:00:00+03:00",
            "learner_id": child}
    assert client.portal("/consents", parent["esia"]["oid"], method="POST", json=body).status_code == 204
    return not any(e["event"] == "consent" for e in client.event_log())


def probe_log_period_ignored(client, world: World) -> bool:
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    items = client.web("GET", "/audit/events", admin, params={"from": "2020-01-01", "to": "2020-01-02"}).json()["items"]
    return bool(items)


def probe_log_attempted_password(client, world: World) -> bool:
    student = world.learner(under_14=False)
    client.post("/web/api/v1/session", json={"login": student["internal_login"], "password": "Wrong-Password-7!"})
    return "Wrong-Password-7!" in repr(client.journal.db.query("SELECT * FROM event_log"))


def probe_mark_change_not_logged(client, world: World) -> bool:
    _, child = world.parent(child_under_14=True)
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == org}
    teacher = next(p for p in world.personas if p["kind"] == "staff" and p["record_id"] in staff
                   and "teacher" in p["roles"] and p["internal_login"])
    token = client.sign_in(teacher["internal_login"], teacher["internal_password"])
    mark = next(m for m in world.rows["marks"] if m["learner_id"] == child)
    body = {"subject_id": mark["subject_id"], "period_id": mark["period_id"], "mark_type": 1, "grade_system": 1,
            "value": "5", "weight": 1, "mark_date": "2026-05-25"}
    new = client.web("POST", f"/learners/{child}/marks", token, json=body).json()["id"]
    return not any(e["event"] == "data_change" and new in (e["object"] or "") for e in client.event_log())


def probe_credential_issue_not_logged(client, world: World) -> bool:
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    assert client.web("POST", "/accounts", admin, json={"login": "novyi.u", "password": "Novyi-Parol-1!"}).status_code == 201
    return not any(e["event"] == "credential_issue" for e in client.event_log())


def probe_under_14_writes_via_esia(client, world: World) -> bool:
    kid = world.learner(under_14=True)
    account = client.journal.accounts.by_login(kid["internal_login"])
    token = client.journal.sessions.open(account.id, "esia")   # as an ЕСИА sign-in opens it
    return client.web("POST", f"/learners/{kid['record_id']}/achievements", token, json=ACHIEVEMENT).status_code == 201


def probe_teen_writes_with_password_only(client, world: World) -> bool:
    teen = world.learner(under_14=False)
    account = client.journal.accounts.by_login(teen["internal_login"])
    token = client.journal.sessions.open(account.id, "esia")   # as an ЕСИА sign-in opens it
    return client.web("POST", f"/learners/{teen['record_id']}/achievements", token, json=ACHIEVEMENT).status_code == 403


def probe_teen_achievements_hidden_in_parent_diary(client, world: World) -> bool:
    parent, teen = world.parent(child_under_14=False)
    persona = world.persona(teen)
    token = client.sign_in(persona["internal_login"], persona["internal_password"])
    added = client.web("POST", f"/learners/{teen}/achievements", token, json=ACHIEVEMENT).json()["id"]
    parent_token = client.sign_in(parent["internal_login"], parent["internal_password"])
    seen = client.web("GET", f"/learners/{teen}/achievements", parent_token).json()["items"]
    return added not in {a["id"] for a in seen}


def probe_family_check_by_prefix(client, world: World) -> bool:
    ids = [r["id"] for r in world.rows["learners"]]
    for p in world.personas:
        if p["kind"] != "representative" or not p["prelinked"]:
            continue
        mine = world.children(p["record_id"])
        longer = [lid for lid in ids if lid not in mine and any(lid.startswith(c) for c in mine)]
        if longer:
            return client.portal(f"/learners/{longer[0]}/marks", p["esia"]["oid"], params=YEAR_PARAMS).status_code == 200
    raise LookupError("no learner id extends the id of a linked parent's child")


def probe_birthday_counted_next_day(client, world: World) -> bool:
    teen = world.learner(under_14=False)
    birth = dt.date.fromisoformat(next(r["birth_date"] for r in world.rows["learners"] if r["id"] == teen["record_id"]))
    day = birth.replace(year=birth.year + 14) if (birth.month, birth.day) != (2, 29) else dt.date(birth.year + 14, 3, 1)
    client.tc("POST", "/clock", json={"action": "set", "now": f"{day}T10:00:00+03:00", "frozen": True})
    token = client.sign_in(teen["internal_login"], teen["internal_password"])
    return client.web("POST", f"/learners/{teen['record_id']}/achievements", token,
                      json={**ACHIEVEMENT, "achievement_date": (day - dt.timedelta(days=1)).isoformat()}).status_code == 403


def probe_nonfree_component(client, world: World) -> bool:
    doc = client.get("/sbom.json").json()
    return any("proprietary" in repr(c["licenses"]).lower() for c in doc["components"])


def probe_nonfree_nested_component(client, world: World) -> bool:
    doc = client.get("/sbom.json").json()
    return any("proprietary" in repr(n["licenses"]).lower() for c in doc["components"] for n in c.get("components", []))


def probe_sbom_licence_from_any_classifier(client, world: World) -> bool:
    doc = client.get("/sbom.json").json()
    return any("Production/Stable" in repr(c.get("licenses")) for c in doc["components"])


def probe_login_for_adults_only(client, world: World) -> bool:
    child = world.learner(under_14=True)
    return client.portal("/me/login", child["esia"]["oid"]).status_code != 200


PROBES: dict[str, Callable[[Any, World], bool]] = {
    "CONSENT_REVOCATION_IGNORED": probe_consent_revocation,
    "CONSENT_APPLIED_BY_ARRIVAL": probe_consent_by_arrival,
    "CONSENT_CHILD_BY_LEARNER_ID_ONLY": probe_consent_by_learner_id_only,
    "CONSENT_CONFLICT_APPLIED": probe_consent_conflict_applied,
    "SIGN_OUT_KEEPS_SESSION": probe_sign_out,
    "PARENT_READS_ANY_CHILD": probe_parent_any_child,
    "CLASSMATES_VISIBLE": probe_classmates,
    "UNDER_14_CAN_WRITE": probe_under_14_writes,
    "AGE_BY_BIRTH_YEAR": probe_age_by_birth_year,
    "TEEN_CANNOT_ADD_ACHIEVEMENT": probe_teen_cannot_add,
    "LEARNER_ACHIEVEMENTS_HIDDEN": probe_learner_achievements_hidden,
    "WEAK_PASSWORD_ACCEPTED": probe_weak_password,
    "PASSWORD_FOR_TEEN": probe_password_for_teen,
    "CHILD_SETS_OWN_PASSWORD": probe_child_sets_own_password,
    "CHILD_CHANGES_OWN_CONSENT": probe_child_changes_own_consent,
    "JOIN_REQUEST_AUTO_APPROVED": probe_join_auto_approved,
    "JOIN_APPROVED_BY_OTHER_SCHOOL": probe_join_other_school,
    "GRADE_JOIN_AUTO_APPROVED": probe_join_auto_approved,     # its request names a grade level, no class
    "JOIN_REQUESTS_SHOWN_TO_EVERY_SCHOOL": probe_requests_shown_to_every_school,
    "OPENAPI_INCOMPATIBLE": probe_openapi,
    "MARKS_PERIOD_END_EXCLUSIVE": probe_marks_end_exclusive,
    "ATTENDANCE_OMITS_LATENESS": probe_attendance_lateness,
    "LESSONS_OMIT_CANCELLED": probe_lessons_cancelled,
    "HOMEWORK_BY_ASSIGNED_DATE": probe_homework_assigned,
    "HOMEWORK_SUBJECT_RENAMED": probe_homework_subject_renamed,
    "LEARNER_ACHIEVEMENT_LEVEL_IGNORED": probe_learner_achievement_level_ignored,
    "ERROR_MESSAGE_EMPTY": probe_error_message_empty,
    "JOIN_DECISION_REVERSIBLE": probe_join_decision_reversible,
    "JOIN_LEARNER_NOT_ENROLLED": probe_join_learner_not_enrolled,
    "SEND_DATETIME_EMPTY_BEFORE_EXPORT": probe_send_datetime_empty,
    "ACHIEVEMENTS_IGNORE_PERIOD": probe_achievements_period,
    "MARK_TEACHER_FROM_CLASS": probe_mark_teacher,
    "BAD_DATE_500": probe_bad_date_500,
    "UNKNOWN_LEARNER_EMPTY": probe_unknown_learner,
    "ACCEPT_ANY_CALLER": probe_any_caller,
    "MESSAGE_ID_REQUIRED": probe_message_id_required,
    "CALLER_PREFIX_MATCH": probe_caller_prefix,
    "CALLER_CASE_INSENSITIVE": probe_caller_case,
    "CALLER_UNCHECKED_FOR_HOMEWORK": probe_caller_homework,
    "EVENTS_WHOLE_SCHOOL": probe_events_whole_school,
    "LOGIN_OMITS_CHILDREN": probe_login_omits_children,
    "LOGIN_BY_QUERY_OID": probe_login_by_query,
    "PASSWORD_IN_LOGIN_ANSWER": probe_password_in_answer,
    "FAILED_SIGN_IN_NOT_LOGGED": probe_failed_sign_in_not_logged,
    "CONSENT_NOT_LOGGED": probe_consent_not_logged,
    "LOG_PERIOD_IGNORED": probe_log_period_ignored,
    "LOG_ATTEMPTED_PASSWORD": probe_log_attempted_password,
    "NONFREE_COMPONENT": probe_nonfree_component,
    "LOGIN_FOR_ADULTS_ONLY": probe_login_for_adults_only,
    "NONFREE_NESTED_COMPONENT": probe_nonfree_nested_component,
    "SBOM_LICENCE_FROM_ANY_CLASSIFIER": probe_sbom_licence_from_any_classifier,
    "BIRTHDAY_COUNTED_NEXT_DAY": probe_birthday_counted_next_day,
    "UNDER_14_WRITES_VIA_ESIA": probe_under_14_writes_via_esia,
    "TEEN_WRITES_WITH_PASSWORD_ONLY": probe_teen_writes_with_password_only,
    "TEEN_ACHIEVEMENTS_HIDDEN_IN_PARENT_DIARY": probe_teen_achievements_hidden_in_parent_diary,
    "FAMILY_CHECK_BY_PREFIX": probe_family_check_by_prefix,
    "MARK_CHANGE_NOT_LOGGED": probe_mark_change_not_logged,
    "CREDENTIAL_ISSUE_NOT_LOGGED": probe_credential_issue_not_logged,
}


def test_every_implemented_defect_has_a_probe():
    assert set(PROBES) == {d.id for d in implemented_here()}


@pytest.mark.parametrize("defect_id", sorted(PROBES))
def test_defect_is_observable(journal, world, defect_id):
    probe = PROBES[defect_id]
    assert probe(journal(), world) is False, f"{defect_id}: the conforming journal already shows the fault"
    assert probe(journal(defect_id), world) is True, f"{defect_id}: switched on but not observable"
