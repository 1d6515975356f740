"""A full school day of the conforming journal against the mocks, all in-process (issue 5):
with no defect switched on, sign-ins through mock ЕСИА, marks, attendance, an event and an
achievement through the journal's web API, the portal's on-demand reads through the ПОДД
agent, the internal login, a parent resetting a child's password, the event's notification,
scheduled and explicit exports — and afterwards no error in any mock's request journal, no
contract violation at the agent, every showcase request done, and an event log with the day's
security events and no secret in it.

The pieces are the existing benches: `auth_helpers` (mock ЕСИА and the "browser"),
`rj_export` (showcase, agent and portal sharing one showcase) and the helpers of the auth and
export tests; only the wiring of all of them around one journal is here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth_helpers import ESIA, Esia, make_bench
from reference_journal.export import create_exporter
from rj_export import AGENT_URL, EPGU_URL, FAST, MNEMONIC, Bench as Federal, Router, export
from rj_helpers import ADMIN_PASSWORD, NOW, REFERENCE, PortalTransport, World
from test_auth import journal_persona, parent_confirmed, pick

TODAY = REFERENCE.isoformat()
YEAR = {"from": "2025-09-01", "to": "2026-05-31"}
CHILD_PASSWORD = "Detskiy-Parol-2026!"     # what a parent sets for a child under 14, through the portal


@pytest.fixture(scope="module")
def esia(world: World, tmp_path_factory: pytest.TempPathFactory) -> Esia:
    return Esia.build(tmp_path_factory.mktemp("esia-day"), world)


@pytest.fixture
def day(esia: Esia, world: World, portal, tmp_path: Path):
    """(browser, federal mocks, portal client, agent client): a journal with both slots; ЕСИА,
    agent, portal and showcase in-process, the journal registered at the agent as the provider
    of journal.yaml and the portal calling the journal through the agent."""
    personas = [json.loads(line) for line in esia.personas_text.splitlines() if line.strip()]
    federal = Federal(personas)
    browser = make_bench(esia, world, portal, tmp_path / "journal.sqlite", agent_url=AGENT_URL,
                         showcase_url=EPGU_URL, export_channel="edu-upload", export_interval=900, **FAST)
    j = browser.journal
    j.http_transport = Router({"esia.test": esia.app, "agent.test": federal.smev, "epgu.test": federal.epgu})
    j.export = create_exporter(j)
    journal_app = browser._transport._inner.app  # the journal's ASGI app (make_bench does not return it)
    federal.agent.register_provider(MNEMONIC, "http://journal.test", spec="journal.yaml",
                                    transport=httpx.ASGITransport(app=journal_app))
    federal.portal.transport = httpx.ASGITransport(app=federal.smev)
    federal.showcase.configure(agent_url=AGENT_URL, journal_mnemonic=MNEMONIC, portal_date=TODAY)
    epgu = httpx.Client(transport=PortalTransport(federal.epgu, portal), base_url=EPGU_URL)
    agent = httpx.Client(transport=PortalTransport(federal.smev, portal), base_url=AGENT_URL)
    yield browser, federal, epgu, agent
    epgu.close()
    agent.close()
    browser.close()
    j.db.close()
    federal.close()


def test_a_full_day_leaves_no_error_in_any_mock(day, esia: Esia, world: World):
    b, fed, epgu, agent = day
    j = b.journal
    secrets: set[str] = {CHILD_PASSWORD, ADMIN_PASSWORD}

    # -- the morning: the dataset arrives through test-control, the showcase gets everything ----
    resp = b.tc("POST", "/dataset", content=world.bundle, headers={"Content-Type": "application/zip"})
    assert resp.status_code == 201, resp.text
    assert b.tc("POST", "/clock", json={"action": "set", "now": NOW, "frozen": True}).status_code == 200
    assert export(b, scope="full")["state"] == "done"

    def esia_password(persona: dict[str, Any]) -> str:
        password = f"Esia-{persona['oid']}-Pw!"
        esia.core.set_password(int(persona["oid"]), password)
        secrets.add(password)
        return password

    def sign_in(persona: dict[str, Any]) -> str:
        """ЕСИА sign-in through the mock's login form; the journal session token."""
        b.cookies.clear()
        callback = b.at_esia(b.start(), persona["oid"], esia_password(persona))
        resp = b.get(callback)
        assert b.signed_in(resp), (persona["oid"], resp.status_code, resp.text[:300])
        return b.cookies.get("ezhd_session")

    # -- who takes part ---------------------------------------------------------------------------
    parent, child = world.parent(child_under_14=True)          # the family the teacher writes for
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    school_staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == org}
    teacher = pick(esia, world, "staff", prelinked=True,
                   where=lambda p: journal_persona(world, p["oid"])["record_id"] in school_staff
                   and "teacher" in journal_persona(world, p["oid"])["roles"])
    family_parent = esia.persona(parent["esia"]["oid"])
    other_parents = [parent_confirmed(esia, world, prelinked=True), parent_confirmed(esia, world, prelinked=False)]
    teen = pick(esia, world, "learner", prelinked=True, account_type="confirmed", under_14=False)
    little = pick(esia, world, "learner", prelinked=True, account_type="child", under_14=True,
                  where=lambda p: p.get("consent") == "granted")

    # -- sign-ins through ЕСИА -----------------------------------------------------------------------
    teacher_token = sign_in(teacher)
    tokens = {str(p["oid"]): sign_in(p) for p in [family_parent, *other_parents, teen, little]}
    newly_linked = str(other_parents[1]["oid"])
    assert j.accounts.by_oid(newly_linked) is not None

    # -- the teacher's lessons: new marks, a changed mark, a deleted one ---------------------------
    template = next(m for m in world.rows["marks"] if m["learner_id"] == child)
    new_mark = {"subject_id": template["subject_id"], "period_id": template["period_id"],
                "mark_type": int(template["mark_type"]), "grade_system": int(template["grade_system"]),
                "value": "5", "weight": int(template["weight"] or 1), "mark_date": TODAY,
                "comment": "ответ у доски"}
    added = []
    for value in ("5", "4", "3"):
        resp = b.web("POST", f"/learners/{child}/marks", teacher_token, json={**new_mark, "value": value})
        assert resp.status_code == 201, resp.text
        added.append(resp.json()["id"])
    resp = b.web("PATCH", f"/marks/{added[1]}", teacher_token, json={"value": "5", "comment": "исправлено"})
    assert resp.status_code == 200, resp.text
    assert b.web("DELETE", f"/marks/{added[2]}", teacher_token).status_code == 204
    resp = b.web("PATCH", f"/marks/{template['id']}", teacher_token, json={"weight": 2})
    assert resp.status_code == 200, resp.text
    day_marks = {added[0]: "5", added[1]: "5"}
    # attendance: the teacher turns a recorded absence into a lateness of 10 minutes
    present = next(r for r in world.rows["attendance"] if r["learner_id"] == child and r["status"] != "4")
    resp = b.web("PATCH", f"/attendance/{present['id']}", teacher_token, json={"status": 4, "minutes_late": 10})
    assert resp.status_code == 200, resp.text

    # -- a 14+ learner adds an achievement; the under-14 may only read ----------------------------
    achievement = {"title": "Победитель школьной олимпиады по математике", "category": 1, "level": 1,
                   "result": 1, "achievement_date": TODAY}
    teen_id = journal_persona(world, teen["oid"])["record_id"]
    resp = b.web("POST", f"/learners/{teen_id}/achievements", tokens[str(teen["oid"])], json=achievement)
    assert resp.status_code == 201, resp.text
    little_id = journal_persona(world, little["oid"])["record_id"]
    assert b.web("GET", f"/learners/{little_id}/marks", tokens[str(little["oid"])], params=YEAR).status_code == 200

    # -- the portal: the family overview through the agent, the internal login, a new password ---
    oid = str(family_parent["oid"])
    resp = epgu.get(f"/portal/api/v1/people/{oid}/overview", params={"from": TODAY, "to": TODAY})
    assert resp.status_code == 200, resp.text
    overview = resp.json()
    assert overview["learners_error"] is None
    card = next(item for item in overview["learners"] if item["learner_id"] == child)
    marks = card["sections"]["marks"]
    assert marks["source"] == "journal" and marks["error"] is None, marks
    assert {m["id"]: m["value"] for m in marks["items"] if m["id"] in day_marks} == day_marks
    assert all(s["error"] is None for s in card["sections"].values()), card["sections"]
    resp = epgu.post(f"/portal/api/v1/people/{oid}/journal-login")
    assert resp.status_code == 200, resp.text
    logins = resp.json()
    assert logins["warnings"] == [] and logins["login"]
    under_14 = next(p for p in world.personas if p["kind"] == "learner" and p["record_id"] in world.children(
        parent["record_id"]) and world.age(p["record_id"]) < 14 and p["internal_login"])
    resp = epgu.post(f"/portal/api/v1/people/{oid}/learners/{under_14['record_id']}/password-reset",
                     json={"password": CHILD_PASSWORD})
    assert resp.status_code in (200, 204), resp.text
    assert b.sign_in(under_14["internal_login"], CHILD_PASSWORD)

    # -- an event for tomorrow, entered by the teacher and announced to the family ----------------
    resp = b.web("POST", "/events", teacher_token, json={
        "event_type": 1, "title": "Родительское собрание", "start_datetime": "2026-05-26 18:00:00",
        "end_datetime": "2026-05-26 19:00:00", "place": "каб. 214", "learners": [child]})
    assert resp.status_code == 201, resp.text
    event = {"row": resp.json(), "child": child, "parent": parent}

    # -- the clock moves: the scheduled export, then an explicit one -------------------------------
    for _ in range(2):
        assert b.tc("POST", "/clock", json={"action": "advance", "seconds": 900}).status_code == 200
    scheduled = [e for e in j.events.read() if e["event"] == "upload" and e["actor"] == "scheduler"]
    assert scheduled, "the scheduled export did not run"
    job = export(b, scope="changes")
    assert job["state"] == "done", job
    inbox = fed.portal.inbox(oid=str(event["parent"]["esia"]["oid"]))
    assert [n["event"]["id"] for n in inbox] == [event["row"]["id"]]

    # -- the evening: the parent signs out of the journal and of ЕСИА; the auditor reads the log -
    sign_in(family_parent)
    resp = b.delete("/web/api/v1/session")
    assert resp.status_code == 200, resp.text
    out = b.get(resp.json()["logout_url"])
    assert out.status_code == 302, out.text
    assert b.get(out.headers["location"]).status_code == 200
    assert b.me().status_code == 401
    b.cookies.clear()
    auditor = b.sign_in(j.settings.admin_login, ADMIN_PASSWORD)
    resp = b.web("GET", "/audit/events", auditor, params={"from": TODAY, "to": TODAY})
    assert resp.status_code == 200, resp.text

    # -- afterwards: the mocks saw nothing wrong ---------------------------------------------------
    problems = []
    for name, client in (("esia", b), ("smev", agent), ("epgu", epgu)):
        url = f"{ESIA}/_admin/journal" if name == "esia" else "/_admin/journal"
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        entries = resp.json()
        assert entries, f"{name} journal is empty"
        for e in entries:
            if (e.get("status") or 0) >= 400 or e.get("error"):
                problems.append({"mock": name, **{k: e.get(k) for k in ("method", "path", "status", "error")}})
        text = json.dumps(entries, ensure_ascii=False)
        for secret in secrets:
            assert secret not in text, f"a password is in the {name} journal"
    assert problems == [], json.dumps(problems, ensure_ascii=False, indent=1)[:4000]
    violations = agent.get("/_admin/violations").json()
    assert violations == [], json.dumps(violations, ensure_ascii=False)[:4000]
    requests = fed.requests()
    assert requests and [r for r in requests if r["code"] != 3] == []
    shown = {r["id"]: r["value"] for r in fed.rows("marks") if r["id"] in added}
    assert shown == day_marks                 # the deleted mark is gone from the showcase too
    assert str(next(r for r in fed.rows("marks") if r["id"] == template["id"])["weight"]) == "2"
    late = next(r for r in fed.rows("attendance") if r["id"] == present["id"])
    assert (str(late["status"]), str(late["minutes_late"])) == ("4", "10")
    assert [r["title"] for r in fed.rows("achievements") if r["learner_id"] == teen_id
            and str(r["achievement_date"]) == TODAY] == [achievement["title"]]

    # -- and the journal logged the day, without a secret ------------------------------------------
    log = j.events.read()
    got = {(e["event"], e["outcome"]) for e in log}
    assert {("sign_in", "success"), ("link", "success"), ("password_reset", "success"), ("data_change", "success"),
            ("upload", "success"), ("sign_out", "success"), ("credential_issue", "success")} <= got, got
    assert not {e for e, outcome in got if outcome == "failure"}, [e for e in log if e["outcome"] == "failure"]
    esia_sign_ins = {e["details"].get("oid") for e in log if e["event"] == "sign_in" and e["outcome"] == "success"
                     and e["details"].get("method") == "esia"}
    assert {str(p["oid"]) for p in [teacher, family_parent, *other_parents, teen, little]} <= esia_sign_ins
    text = json.dumps(log, ensure_ascii=False)
    for secret in secrets:
        assert secret not in text, "a password is in the event log"
