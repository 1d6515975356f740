"""Transcripts of the conformance tests' HTTP exchanges: recorded in order, secrets redacted
before anything is stored, written as JSON Lines."""
from __future__ import annotations

import json

import httpx

from conformance import evidence

SECRETS = ["s3cr3t-bearer", "hunter2-pass", "client-secret-sig", "auth-code-123", "session-cookie-v",
           "eyJhbGciOiJSUzI1NiJ9.payload.sig"]


def _app(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/login":
        return httpx.Response(302, headers={"Location": "https://journal/cb?code=auth-code-123&state=s1",
                                            "Set-Cookie": "sid=session-cookie-v; HttpOnly"})
    return httpx.Response(200, json={"access_token": "eyJhbGciOiJSUzI1NiJ9.payload.sig", "oid": 1000,
                                     "nested": [{"password": "hunter2-pass"}]})


def _client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(_app), event_hooks=evidence.hooks("sut"))


def test_exchanges_are_recorded_in_order_with_secrets_redacted(tmp_path):
    transcript = evidence.start("conformance/x/test_a.py::test_b[param]")
    try:
        with _client() as http:
            http.post("https://esia/login", data={"client_secret": "client-secret-sig", "username": "1000"},
                      headers={"Authorization": "Bearer s3cr3t-bearer"})
            http.post("https://journal/api", json={"password": "hunter2-pass", "login": "ivanov"},
                      headers={"Cookie": "sid=session-cookie-v"})
    finally:
        assert evidence.stop() is transcript
    assert [e["url"] for e in transcript.exchanges] == ["https://esia/login", "https://journal/api"]
    assert [e["status"] for e in transcript.exchanges] == [302, 200]
    first, second = transcript.exchanges
    assert "username=1000" in first["request_body"]                       # what is not secret stays
    assert second["request_body"]["login"] == "ivanov" and second["response_body"]["oid"] == 1000
    assert "state=s1" in first["response_headers"]["location"]
    path = transcript.write(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert path.name == "conformance_x_test_a.py_test_b_param.jsonl"
    assert [json.loads(line)["method"] for line in text.splitlines()] == ["POST", "POST"]
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets in the transcript: {leaked}"
    assert text.count(evidence.REDACTED) >= 6


def test_nothing_is_recorded_outside_a_test(tmp_path):
    with _client() as http:
        http.get("https://journal/api")                # no transcript started: no error, no record
    transcript = evidence.start("t")
    evidence.stop()
    assert transcript.exchanges == [] and transcript.write(tmp_path) is None


def test_each_exchange_names_who_talked_to_whom_and_setup_is_told_apart(tmp_path, monkeypatch):
    from conformance.runfile import RUN_ENV, write_run

    from test_runfile import RUN   # tests/ is on the path (rootdir-relative imports, like rj_helpers)

    path = tmp_path / "run.json"
    write_run(path, {**RUN, "journal": {**RUN["journal"], "base_url": "https://journal"},
                     "test_control": {"url": "https://journal/test-control/v1", "token_env": "T"},
                     "mocks": {"esia": "https://esia", "smev": "https://agent", "epgu": "https://showcase"}})
    monkeypatch.setenv(RUN_ENV, str(path))
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    transcript = evidence.start("t")
    try:
        with httpx.Client(transport=transport, event_hooks=evidence.hooks("browser")) as browser:
            browser.get("https://journal/sign-in")
            browser.get("https://esia/aas/oauth2/v2/ac?client_id=X")
            browser.delete("https://esia/_admin/faults")     # the browser client also sets up ЕСИА
        with httpx.Client(transport=transport, event_hooks=evidence.hooks("esia")) as admin:
            admin.post("https://esia/_admin/faults")
        with httpx.Client(transport=transport, event_hooks=evidence.hooks("portal→agent")) as portal:
            portal.get("https://agent/J1/ezhd/api/v1/learners")
        with httpx.Client(transport=transport, event_hooks=evidence.hooks("test-control")) as tc:
            tc.post("https://journal/test-control/v1/export")
        with httpx.Client(transport=transport, event_hooks=evidence.hooks("sut")) as driver:
            driver.get("https://elsewhere/x")
    finally:
        evidence.stop()
    seen = [(e["from"], e["to"], e["setup"]) for e in transcript.exchanges]
    assert seen == [("browser", "journal", False), ("browser", "esia", False), ("suite", "esia-admin", True),
                    ("suite", "esia-admin", True),
                    ("portal", "journal-via-agent", False), ("suite", "test-control", True),
                    ("driver", "other", False)]
    assert set(e["to"] for e in transcript.exchanges) <= set(evidence.PARTIES)
