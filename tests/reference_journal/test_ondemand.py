"""The on-demand API (specs/openapi/journal.yaml): the dataset read back through it, answers
that validate against the published schemas, the family rule (ROLE-01), the internal login
(CRED-01), a parent setting a child's password (ROLE-04, CRED-02), consent (AUTH-08), and
structured 4xx for every kind of bad input (API-08, API-09)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from reference_journal import spec

SECTIONS = {"marks": "MarkPage", "attendance": "AttendancePage", "lessons": "LessonPage",
            "homework": "HomeworkPage", "achievements": "AchievementPage", "events": "EventPage"}
YEAR = {"from": "2025-09-01", "to": "2026-05-31"}


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    assert spec.problems("journal.yaml", "Error", body) == []
    return body


def test_marks_read_back_equal_the_dataset(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    resp = client.portal(f"/learners/{child}/marks", parent["esia"]["oid"], params=YEAR)
    assert resp.status_code == 200, resp.text
    got = {m["id"]: m for m in resp.json()["items"]}
    expected = [m for m in world.rows["marks"] if m["learner_id"] == child and YEAR["from"] <= m["mark_date"] <= YEAR["to"]]
    assert expected and set(got) == {m["id"] for m in expected}
    for row in expected:
        item = got[row["id"]]
        for column, text in row.items():
            value = item[column]
            assert (str(value) if value is not None else None) == text, (column, value, text)
    dates = [m["mark_date"] for m in resp.json()["items"]]
    assert dates == sorted(dates)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_section_matches_its_schema(journal, world, section):
    client = journal()
    parent, child = world.parent(child_under_14=False)
    resp = client.portal(f"/learners/{child}/{section}", parent["esia"]["oid"], params=YEAR)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert spec.problems("journal.yaml", SECTIONS[section], body) == []
    assert body["learner_id"] == child
    if section in ("marks", "lessons", "homework", "attendance"):
        assert body["items"], f"the dataset has {section} for {child} in the year"


def test_lessons_and_events_follow_memberships(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    classes = {r["class_id"] for r in world.rows["class_learners"] if r["learner_id"] == child}
    lessons = client.portal(f"/learners/{child}/lessons", oid, params=YEAR).json()["items"]
    assert lessons and {lesson["class_id"] for lesson in lessons} <= classes
    events = client.portal(f"/learners/{child}/events", oid, params=YEAR).json()["items"]
    linked = {r["event_id"] for r in world.rows["event_learners"] if r["learner_id"] == child}
    assert {e["id"] for e in events} <= linked


def cancelled_lesson(world):
    """(a cancelled lesson, an oid that may read a learner of its class on its date, the learner)."""
    for lesson in (r for r in world.rows["lessons"] if r["status"] == "2"):
        for m in world.rows["class_learners"]:
            if m["class_id"] != lesson["class_id"] or not (m["start_date"] <= lesson["lesson_date"]
                                                           and (m["end_date"] is None or lesson["lesson_date"] <= m["end_date"])):
                continue
            for p in world.personas:
                if p["prelinked"] and (p["record_id"] == m["learner_id"]
                                       or m["learner_id"] in world.children(p["record_id"])):
                    return lesson, p["esia"]["oid"], m["learner_id"]
    raise LookupError("no cancelled lesson a linked user can see")


def test_cancelled_lessons_are_listed(journal, world):
    client = journal()
    lesson, oid, learner = cancelled_lesson(world)
    day = {"from": lesson["lesson_date"], "to": lesson["lesson_date"]}
    items = client.portal(f"/learners/{learner}/lessons", oid, params=day).json()["items"]
    assert [i["status"] for i in items if i["id"] == lesson["id"]] == [2]


def test_my_learners_for_parent_and_student(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    body = client.portal("/me/learners", parent["esia"]["oid"]).json()
    assert spec.problems("journal.yaml", "MyLearners", body) == []
    assert {x["learner_id"] for x in body["learners"]} == set(world.children(parent["record_id"]))
    assert {x["relation"] for x in body["learners"]} == {"child"}
    student = world.learner(under_14=False)
    body = client.portal("/me/learners", student["esia"]["oid"]).json()
    assert [(x["learner_id"], x["relation"]) for x in body["learners"]] == [(student["record_id"], "self")]
    assert body["learners"][0]["class_id"] is not None


def test_parent_reads_own_child_but_not_another(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    assert client.portal(f"/learners/{child}/marks", oid, params=YEAR).status_code == 200
    other = world.stranger_of(parent)
    for section in SECTIONS:
        assert_error(client.portal(f"/learners/{other}/{section}", oid, params=YEAR), 403, "not_in_family")
    denied = [e for e in client.event_log() if e["event"] == "access_denied" and e["object"] == f"learner:{other}"]
    assert len(denied) == len(SECTIONS)


def test_student_reads_only_themself(journal, world):
    client = journal()
    student = world.learner(under_14=False)
    oid = student["esia"]["oid"]
    assert client.portal(f"/learners/{student['record_id']}/marks", oid, params=YEAR).status_code == 200
    other = next(r["id"] for r in world.rows["learners"] if r["id"] != student["record_id"])
    assert_error(client.portal(f"/learners/{other}/marks", oid, params=YEAR), 403, "not_in_family")


def test_internal_login_of_the_user_and_their_children(journal, world):
    client = journal()
    parent, _ = world.parent(child_under_14=True)
    body = client.portal("/me/login", parent["esia"]["oid"]).json()
    assert spec.problems("journal.yaml", "InternalLogin", body) == []
    assert body == {"oid": parent["esia"]["oid"], "login": parent["internal_login"],
                    "learners": [{"learner_id": c, "login": world.persona(c)["internal_login"]}
                                 for c in sorted(world.children(parent["record_id"]))]}
    assert "password" not in body
    student = world.learner(under_14=False)
    assert client.portal("/me/login", student["esia"]["oid"]).json() == {
        "oid": student["esia"]["oid"], "login": student["internal_login"], "learners": []}
    issued = [e for e in client.event_log() if e["event"] == "credential_issue"]
    assert len(issued) == 2


def test_unlinked_and_unknown_users_get_404(journal, world):
    client = journal()
    unlinked = next(p for p in world.personas if not p["prelinked"] and p["kind"] == "representative")
    assert_error(client.portal("/me/learners", unlinked["esia"]["oid"]), 404, "user_not_linked")
    assert_error(client.portal("/me/login", "999999999999"), 404, "user_not_linked")


@pytest.mark.parametrize("headers, status, code", [
    ({"X-Smev-Sender": None}, 403, "caller_not_portal"),
    ({"X-Smev-Sender": "MNSV03"}, 403, "caller_not_portal"),
    ({"X-Smev-Sender": "epgu"}, 403, "caller_not_portal"),
    ({"X-Esia-Oid": None}, 400, "missing_parameter"),
    ({"X-Esia-Oid": "0123"}, 400, "invalid_parameter"),
    ({"X-Esia-Oid": "12; DROP TABLE"}, 400, "invalid_parameter"),
    ({"X-Smev-Message-Id": "not-a-uuid"}, 400, "invalid_parameter"),
])
def test_bad_callers_and_headers(journal, world, headers, status, code):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    base = {"X-Smev-Sender": "EPGU", "X-Esia-Oid": parent["esia"]["oid"]}
    base.update(headers)
    sent = {k: v for k, v in base.items() if v is not None}
    resp = client.get(f"/api/v1/learners/{child}/marks", params=YEAR, headers=sent)
    assert_error(resp, status, code)


@pytest.mark.parametrize("params, status, code", [
    ({}, 400, "missing_parameter"),
    ({"from": "2025-09-01"}, 400, "missing_parameter"),
    ({"from": "2025-13-01", "to": "2025-12-01"}, 400, "invalid_parameter"),
    ({"from": "20250901", "to": "2025-12-01"}, 400, "invalid_parameter"),
    ({"from": "2025-02-30", "to": "2025-03-01"}, 400, "invalid_parameter"),
    ({"from": "' OR 1=1 --", "to": "2025-03-01"}, 400, "invalid_parameter"),
    ({"from": "2025-10-01", "to": "2025-09-01"}, 422, "invalid_period"),
    ({"from": "2024-09-01", "to": "2025-09-02"}, 422, "period_too_long"),
])
def test_bad_periods(journal, world, params, status, code):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    assert_error(client.portal(f"/learners/{child}/marks", parent["esia"]["oid"], params=params), status, code)


def test_366_days_is_allowed_and_empty_period_is_empty(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    assert client.portal(f"/learners/{child}/marks", oid, params={"from": "2024-09-01", "to": "2025-09-01"}).status_code == 200
    resp = client.portal(f"/learners/{child}/marks", oid, params={"from": "2030-01-01", "to": "2030-01-31"})
    assert resp.status_code == 200 and resp.json()["items"] == []


def test_unknown_and_malformed_learner(journal, world):
    client = journal()
    parent, _ = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    assert_error(client.portal("/learners/EZHD-0009.LRN999/marks", oid, params=YEAR), 404, "learner_not_found")
    assert_error(client.portal("/learners/no-prefix!/marks", oid, params=YEAR), 400, "invalid_parameter")
    assert_error(client.portal("/learners/EZHD-0009.LRN999/achievements", oid, params={"from": "2025-01-01"}),
                 400, "missing_parameter")


def test_achievements_period_is_optional(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=False)
    oid = parent["esia"]["oid"]
    everything = client.portal(f"/learners/{child}/achievements", oid).json()
    assert everything["from"] is None and everything["to"] is None
    assert len(everything["items"]) == sum(a["learner_id"] == child for a in world.rows["achievements"])


# --- password of a child under 14 ---------------------------------------------------------------

def test_parent_sets_password_of_child_under_14(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    child_persona = world.persona(child)
    kid_token = client.sign_in(child_persona["internal_login"], child_persona["internal_password"])
    new = "Nov-Parol-2026!"
    resp = client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST", json={"password": new})
    assert resp.status_code == 204, resp.text
    assert client.web("GET", "/me", kid_token).status_code == 401  # the child's old sessions end
    client.sign_in(child_persona["internal_login"], new)
    events = [e for e in client.event_log() if e["event"] == "password_reset"]
    assert events and events[-1]["outcome"] == "success"
    assert new not in repr(client.event_log())


def test_password_policy_names_every_broken_rule(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    body = assert_error(client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST",
                                      json={"password": "пароль 1"}), 400, "password_policy")
    assert {d["rule"] for d in body["details"]} == {"uppercase", "lowercase", "symbol", "allowed_characters"}
    assert "пароль 1" not in repr(body) and "пароль 1" not in repr(client.event_log())


@pytest.mark.parametrize("body", [None, [], {"password": 5}, {"password": ""}, {"password": "Aa1!aaaa", "x": 1}])
def test_password_body_must_match_the_schema(journal, world, body):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    kwargs = {"content": b"not json", "headers": {"Content-Type": "application/json"}} if body is None else {"json": body}
    assert_error(client.portal(f"/learners/{child}/password", parent["esia"]["oid"], method="POST", **kwargs),
                 400, "invalid_body")


def test_password_of_teen_or_stranger_is_refused(journal, world):
    client = journal()
    parent, teen = world.parent(child_under_14=False)
    assert_error(client.portal(f"/learners/{teen}/password", parent["esia"]["oid"], method="POST",
                               json={"password": "Nov-Parol-2026!"}), 403, "learner_too_old")
    parent, _ = world.parent(child_under_14=True)
    assert_error(client.portal(f"/learners/{world.stranger_of(parent)}/password", parent["esia"]["oid"],
                               method="POST", json={"password": "Nov-Parol-2026!"}), 403, "not_in_family")


# --- consent ---------------------------------------------------------------------------------

def consent(learner_id: str, action: str = "granted", consent_id: str | None = None, at: str = "2026-05-25T09:00:00+03:00"):
    return {"consent_id": consent_id or str(uuid.uuid4()), "action": action, "changed_at": at, "learner_id": learner_id}


def test_consent_grant_revoke_and_idempotency(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    oid, j = parent["esia"]["oid"], client.journal
    j.set_consent(child, False, dt.datetime.fromisoformat("2026-05-25T08:00:00+03:00"), "test")
    grant = consent(child)
    assert client.portal("/consents", oid, method="POST", json=grant).status_code == 204
    assert j.consent_granted(child)
    assert client.portal("/consents", oid, method="POST", json=grant).status_code == 204  # repeat
    assert_error(client.portal("/consents", oid, method="POST", json={**grant, "action": "revoked"}),
                 409, "consent_conflict")
    revoke = consent(child, "revoked", at="2026-05-25T09:30:00+03:00")
    assert client.portal("/consents", oid, method="POST", json=revoke).status_code == 204
    assert not j.consent_granted(child)
    stale = consent(child, "granted", at="2026-05-25T09:10:00+03:00")  # arrives late, is older
    assert client.portal("/consents", oid, method="POST", json=stale).status_code == 204
    assert not j.consent_granted(child)
    logged = [e for e in client.event_log() if e["event"] == "consent"]
    assert [e["details"]["action"] for e in logged] == ["granted", "revoked", "granted"]


def test_consent_by_snils_and_refusals(journal, world):
    client = journal()
    parent, child = world.parent(child_under_14=True)
    oid = parent["esia"]["oid"]
    snils = next(r["snils"] for r in world.rows["learners"] if r["id"] == child)
    if snils:
        body = {k: v for k, v in consent(child).items() if k != "learner_id"} | {"child_snils": snils}
        assert client.portal("/consents", oid, method="POST", json=body).status_code == 204
    assert_error(client.portal("/consents", oid, method="POST", json=consent("EZHD-0009.LRN999")), 404,
                 "learner_not_found")
    assert_error(client.portal("/consents", oid, method="POST", json=consent(world.stranger_of(parent))), 403,
                 "not_representative")
    assert_error(client.portal("/consents", oid, method="POST",
                               json={"consent_id": "x", "action": "granted", "changed_at": "yesterday"}),
                 400, "invalid_body")
    assert_error(client.portal("/consents", oid, method="POST", json={**consent(child), "changed_at": "2026-05-25T09:00:00"}),
                 400, "invalid_body")


def test_published_description_is_journal_yaml(journal):
    client = journal()
    doc = client.get("/api/v1/openapi.json").json()
    published = spec.document("journal.yaml")
    assert doc["paths"] == published["paths"] and doc["components"] == published["components"]
    assert doc["servers"][0]["url"] == client.journal.settings.public_url
    assert client.get("/api/v1/openapi.yaml").headers["content-type"].startswith("application/yaml")


def test_unknown_api_path_is_json(journal):
    client = journal()
    assert_error_body = client.get("/api/v1/nothing-here", headers=PORTAL_HEADERS).json()
    assert assert_error_body["error"] == "not_found"
    resp = client.delete("/api/v1/me/learners", headers=PORTAL_HEADERS)
    assert resp.status_code == 405 and resp.json()["error"] == "method_not_allowed"


PORTAL_HEADERS = {"X-Smev-Sender": "EPGU", "X-Esia-Oid": "1000000000"}


# --- no input gives a 5xx (API-08) --------------------------------------------------------------

from urllib.parse import quote  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_junk = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["2025-09-01", "2025-02-29", "9999-12-31",
                                                                     "0000-01-01", "2025-9-1", "", " "]))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(sorted(SECTIONS) + ["password", "unknown"]), learner=_junk, oid=_junk,
       start=_junk, end=_junk, sender=st.sampled_from(["EPGU", "MNSV03", None]))
def test_no_input_gives_a_5xx(journal, world, section, learner, oid, start, end, sender):
    client = _fuzz_client(journal)
    params = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
    headers = {k: v for k, v in (("X-Smev-Sender", sender), ("X-Esia-Oid", oid)) if v is not None and v.isascii()
               and v.isprintable()}
    path = f"/api/v1/learners/{quote(learner or world.rows['learners'][0]['id'], safe='')}/{section}"
    method = "POST" if section == "password" else "GET"
    resp = client.request(method, path, params=params, headers=headers, json={"password": start or ""})
    assert resp.status_code < 500, (path, params, headers, resp.text)
    if resp.status_code >= 400:
        assert set(resp.json()) == {"error", "message", "details"}


_FUZZ: dict[int, object] = {}


def _fuzz_client(journal):
    """One journal for all examples of a run (the fixture factory is per test)."""
    if id(journal) not in _FUZZ:
        _FUZZ.clear()
        _FUZZ[id(journal)] = journal()
    return _FUZZ[id(journal)]
