"""OpenAPI mode: the portal calls a journal through the agent. A valid call is forwarded with
the agent's headers; an invalid request is refused before it reaches the journal; an invalid
answer is passed on, marked, and recorded as a contract violation; secrets never reach the
request journal."""
from __future__ import annotations

import json

import httpx
import pytest

from mocks.common.transports import SyncASGITransport
from mocks.smev import create_app
from smev_helpers import BASE, JOURNAL, JOURNAL_BASE, LEARNER, PORTAL, FakeJournal, portal_headers
from smev_helpers import showcase  # noqa: F401  (fixture)

MARKS = f"/{JOURNAL}/ezhd/api/v1/learners/{LEARNER}/marks"
PERIOD = {"from": "2025-09-01", "to": "2025-09-30"}


@pytest.fixture
def journal():
    return FakeJournal()


@pytest.fixture
def agent(showcase, journal):
    app = create_app(showcase, transport=httpx.ASGITransport(app=journal.app()))
    core = app.state.core
    core.register_provider(JOURNAL, JOURNAL_BASE)
    core.register_provider(PORTAL, "http://portal.test", spec="portal.yaml")
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE) as http:
        yield app, core, http
    transport.close()


def test_valid_call_is_forwarded_with_agent_headers(agent, journal):
    app, core, http = agent
    r = http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["learner_id"] == LEARNER
    assert "x-contract-violation" not in r.headers
    seen = journal.seen[-1]
    assert seen["path"] == f"/api/v1/learners/{LEARNER}/marks"
    assert seen["query"] == PERIOD
    assert seen["headers"]["x-smev-sender"] == PORTAL
    assert seen["headers"]["x-esia-oid"] == "1000299654"
    assert seen["headers"]["x-smev-message-id"] == r.headers["x-smev-message-id"]
    assert core.read_violations() == []
    entry = core.journal.read(path=f"/{JOURNAL}/")[-1]
    assert entry["endpoint"] == "openapi" and entry["operation_id"] == "getMarks"
    assert entry["status"] == 200 and entry["violations"] == 0
    assert entry["forward_url"].startswith(f"{JOURNAL_BASE}/api/v1/learners/{LEARNER}/marks?")


@pytest.mark.parametrize("path,params,headers,field", [
    (MARKS, {"from": "2025-13-01", "to": "2025-09-30"}, portal_headers(), "from"),
    (MARKS, {"from": "2025-09-01"}, portal_headers(), "to"),
    (MARKS, PERIOD, {"X-Smev-Sender": PORTAL}, "X-Esia-Oid"),
    (f"/{JOURNAL}/ezhd/api/v1/learners/not%20a%20key/marks", PERIOD, portal_headers(), "learner_id"),
])
def test_invalid_request_is_refused_and_not_forwarded(agent, journal, path, params, headers, field):
    app, core, http = agent
    r = http.get(path, params=params, headers=headers)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert "getMarks" in body["message_en"]
    assert any(d.get("field") == field for d in body["details"]), body
    assert journal.seen == []


def test_unknown_operation_and_method(agent, journal):
    app, core, http = agent
    r = http.get(f"/{JOURNAL}/ezhd/api/v1/nothing", headers=portal_headers())
    assert (r.status_code, r.json()["error"]) == (404, "unknown_operation")
    r = http.delete(f"/{JOURNAL}/ezhd/api/v1/me/learners", headers=portal_headers())
    assert (r.status_code, r.json()["error"]) == (405, "unknown_operation")
    r = http.get(f"/{JOURNAL}/other/api/v1/me/learners", headers=portal_headers())
    assert (r.status_code, r.json()["error"]) == (404, "unknown_operation")
    assert "/ezhd/" in r.json()["message_en"]
    assert journal.seen == []


def test_unknown_provider_and_unknown_sender(agent, journal):
    app, core, http = agent
    r = http.get(f"/NOBODY/ezhd/api/v1/learners/{LEARNER}/marks", params=PERIOD, headers=portal_headers())
    assert (r.status_code, r.json()["error"]) == (404, "unknown_mnemonic")
    r = http.get(MARKS, params=PERIOD, headers=portal_headers(**{"X-Smev-Sender": "STRANGER"}))
    assert (r.status_code, r.json()["error"]) == (403, "unknown_sender")
    r = http.get(MARKS, params=PERIOD, headers={"X-Esia-Oid": "1000299654"})
    assert (r.status_code, r.json()["error"]) == (403, "unknown_sender")
    core.configure(default_sender=PORTAL)
    r = http.get(MARKS, params=PERIOD, headers={"X-Esia-Oid": "1000299654"})
    assert r.status_code == 200
    assert journal.seen[-1]["headers"]["x-smev-sender"] == PORTAL
    assert len(journal.seen) == 1


def test_invalid_answer_is_passed_on_marked_and_recorded(agent, journal):
    app, core, http = agent
    journal.broken = True
    r = http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert r.status_code == 200
    assert r.json()["items"][0]["weight"] == "heavy"          # passed on unchanged
    assert int(r.headers["x-contract-violation"]) >= 2
    violations = http.get("/_admin/violations").json()
    assert {v["operation_id"] for v in violations} == {"getMarks"}
    by_instance = {v["instance_path"]: v for v in violations}
    weight = by_instance["/items/0/weight"]
    assert weight["schema_path"].endswith("/responses/200/content/application~1json/schema"
                                          "/properties/items/items/properties/weight/type")
    assert weight["status"] == 200 and weight["provider"] == JOURNAL
    assert weight["message_id"] == r.headers["x-smev-message-id"]
    assert any("mark_date" in v["message"] for v in violations)
    assert core.journal.read(path=f"/{JOURNAL}/")[-1]["violations"] == len(violations)
    assert http.get("/_admin/violations", params={"since": violations[-1]["seq"]}).json() == []
    assert http.delete("/_admin/violations").status_code == 204
    assert http.get("/_admin/violations").json() == []


def test_undeclared_status_is_a_violation(showcase):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def boom(request):
        return PlainTextResponse("oops", status_code=500)

    fake = Starlette(routes=[Route("/api/v1/me/learners", boom)])
    app = create_app(showcase, transport=httpx.ASGITransport(app=fake))
    app.state.core.register_provider(JOURNAL, JOURNAL_BASE)
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
        r = http.get(f"/{JOURNAL}/ezhd/api/v1/me/learners", headers=portal_headers())
    assert (r.status_code, r.text, r.headers["x-contract-violation"]) == (500, "oops", "1")
    (v,) = app.state.core.read_violations()
    assert v["operation_id"] == "getMyLearners" and v["schema_path"].endswith("/get/responses")


def test_secrets_are_redacted_in_the_journal(agent, journal):
    app, core, http = agent
    secret = "Sup3r-Secret!"
    r = http.post(f"/{JOURNAL}/ezhd/api/v1/learners/{LEARNER}/password",
                  json={"password": secret},
                  headers=portal_headers(Authorization="Bearer tok-123", Cookie="sid=abc"))
    assert r.status_code == 204
    assert json.loads(journal.seen[-1]["body"]) == {"password": secret}   # forwarded intact
    # a refused one: the validation message must not quote the password either
    r = http.post(f"/{JOURNAL}/ezhd/api/v1/learners/{LEARNER}/password",
                  json={"password": secret * 20}, headers=portal_headers(Authorization="Bearer tok-123"))
    assert r.status_code == 400 and secret not in r.text
    dump = json.dumps(http.get("/_admin/journal").json(), ensure_ascii=False)
    assert secret not in dump and "tok-123" not in dump and "sid=abc" not in dump
    assert "[REDACTED]" in dump


def test_portal_as_provider_with_its_own_prefix(showcase):
    seen = []
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def inbox(request):
        seen.append(dict(request.headers))
        body = await request.json()
        return JSONResponse({"notification_id": body["notification_id"],
                             "received_at": "2025-10-01T09:15:00+03:00", "duplicate": False},
                            status_code=202)

    portal = Starlette(routes=[Route("/api/v1/notifications", inbox, methods=["POST"])])
    app = create_app(showcase)
    core = app.state.core
    core.register_provider(PORTAL, "http://portal.test", spec="portal.yaml",
                           transport=httpx.ASGITransport(app=portal))
    assert core.providers[PORTAL].prefix == "myedu"
    note = {"notification_id": "7c1e9a40-1d2b-4c3e-8f5a-6b7c8d9e0f1a", "action": "created",
            "event": {"id": "EZ1-EV77", "organisation_id": "EZ1-ORG1", "event_type": 1,
                      "title": "Родительское собрание", "start_datetime": "2025-10-15 18:00:00",
                      "status": 1, "create_datetime": "2025-10-01 09:12:00",
                      "send_datetime": "2025-10-01 09:15:00"},
            "learner_ids": [LEARNER], "recipient_oids": ["1000299654"]}
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
        r = http.post(f"/{PORTAL}/myedu/api/v1/notifications", json=note,
                      headers={"X-Smev-Sender": "MNSV03"})
        assert r.status_code == 202, r.text
        assert seen[-1]["x-smev-sender"] == "MNSV03"
        r = http.post(f"/{PORTAL}/myedu/api/v1/notifications", json={**note, "action": "moved"},
                      headers={"X-Smev-Sender": "MNSV03"})
        assert r.status_code == 400 and len(seen) == 1


def test_unreachable_and_slow_provider(showcase):
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def slow(request):
        await asyncio.sleep(5)
        return JSONResponse({})

    app = create_app(showcase, transport=httpx.ASGITransport(app=Starlette(routes=[
        Route("/api/v1/me/learners", slow)])), forward_timeout=0.2)
    core = app.state.core
    core.register_provider(JOURNAL, JOURNAL_BASE)
    core.register_provider("DOWN01", "http://127.0.0.1:9", transport=httpx.AsyncHTTPTransport())
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
        r = http.get(f"/{JOURNAL}/ezhd/api/v1/me/learners", headers=portal_headers())
        assert (r.status_code, r.json()["error"]) == (504, "upstream_timeout")
        r = http.get("/DOWN01/ezhd/api/v1/me/learners", headers=portal_headers())
        assert (r.status_code, r.json()["error"]) == (502, "upstream_unavailable")


def test_a_crash_is_a_500_and_the_mock_goes_on(agent, journal, monkeypatch):
    app, core, http = agent

    def boom(_sender):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(core, "sender", boom)
    r = http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert (r.status_code, r.json()["error"]) == (500, "internal_error")
    assert "RuntimeError" in core.journal.read()[-1]["error"]["message"]
    monkeypatch.undo()
    assert http.get(MARKS, params=PERIOD, headers=portal_headers()).status_code == 200
