"""Evidence: a transcript of every HTTP exchange a conformance test makes, secrets redacted.

Every client the tests use (the browser, the portal, the mocks' admin APIs, test-control, the
journal driver) is an httpx client built by `client()`, whose event hooks append each exchange
to the current test's `Transcript`. At the end of the test the transcript is written as JSON
Lines to `<report dir>/transcripts/<test>.jsonl` and attached to the test's results through
``record_property("ezhd_evidence", path)`` (`conformance/results.py`).

Each exchange names who talked to whom: ``from`` is the role the suite's client played
(`CALLERS`: the suite as a browser, as the portal, as the journal's own user interface through
the driver, or as the tester setting up mocks), ``to`` the party its URL belongs to, found from
the run file (`PARTIES`: the journal, its test-control API, a mock, a mock's admin API), and
``setup`` is true for the tester's own calls (a mock's `/_admin`, test-control) so a report
tells them apart from the traffic that judges the journal.

Redaction happens before anything is stored: header, query, form and JSON fields named in
`SECRET_KEYS` (tokens, passwords, client secrets, cookies, ЕСИА's authorization `code`) become
``[REDACTED]``; bodies are cut at `BODY_LIMIT` characters.
"""
from __future__ import annotations

import functools
import json
import re
import ssl
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from mocks.common.journal import REDACTED, SECRET_KEYS as _MOCK_SECRET_KEYS, redact, redact_url

SECRET_KEYS = _MOCK_SECRET_KEYS | {"code", "auth_request", "test_control_token", "admin_password",
                                   "current_password", "initial_password"}
BODY_LIMIT = 8192
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


class Transcript:
    """The exchanges of one test, in order; thread-safe (the journal may call back)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def write(self, directory: Path) -> Path | None:
        if not self.exchanges:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / (_SAFE.sub("_", self.name).strip("_")[:180] + ".jsonl")
        with path.open("w", encoding="utf-8") as fh:
            for exchange in self.exchanges:
                fh.write(json.dumps(exchange, ensure_ascii=False) + "\n")
        return path


_current: Transcript | None = None

#: the role a client's label stands for (the client labels of conformance/clients.py, browser.py,
#: driver.py, api/_support.py); a label not here is a mock admin client named after its mock
CALLERS = {"browser": "browser", "portal→agent": "portal", "portal": "portal", "sut": "driver",
           "test-control": "suite"}
#: the parties an exchange can reach, as report writers name them (conformance/report/i18n.py)
PARTIES = ("journal", "test-control", "journal-via-agent", "esia", "smev", "epgu",
           "esia-admin", "smev-admin", "epgu-admin", "other")
_SETUP_PARTIES = {"test-control", "esia-admin", "smev-admin", "epgu-admin"}


def _run_parties() -> list[tuple[str, str]]:
    """(URL prefix, party) of the run, longest prefix first; empty without a run file."""
    from conformance.runfile import load_run

    try:
        run = load_run() or {}
    except (OSError, ValueError):
        run = {}
    found: list[tuple[str, str]] = []
    for name, url in (run.get("mocks") or {}).items():
        if isinstance(url, str) and url:
            found += [(url.rstrip("/") + "/_admin", f"{name}-admin"), (url.rstrip("/"), name)]
    test_control = (run.get("test_control") or {}).get("url")
    if test_control:
        found.append((test_control.rstrip("/"), "test-control"))
    base = (run.get("journal") or {}).get("base_url")
    if base:
        found.append((base.rstrip("/"), "journal"))
    return sorted(found, key=lambda item: -len(item[0]))


_parties_cache: tuple[str | None, list[tuple[str, str]]] | None = None


def party_of(url: str, caller: str) -> str:
    """The party `url` belongs to in this run (`PARTIES`)."""
    import os

    from conformance.runfile import RUN_ENV

    global _parties_cache
    key = os.environ.get(RUN_ENV)
    if _parties_cache is None or _parties_cache[0] != key:
        _parties_cache = (key, _run_parties())
    for prefix, party in _parties_cache[1]:
        if url == prefix or url.startswith(prefix + "/") or url.startswith(prefix + "?"):
            if party == "smev" and caller == "portal":
                return "journal-via-agent"   # the portal's request, forwarded by the agent
            return party
    return "other"


def caller_of(label: str) -> str:
    """The role of a client labelled `label` (`CALLERS`); a mock's name: the tester."""
    return CALLERS.get(label, "suite")


def start(name: str) -> Transcript:
    global _current
    _current = Transcript(name)
    return _current


def stop() -> Transcript | None:
    global _current
    done, _current = _current, None
    return done


def _headers(headers: httpx.Headers) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        low = name.lower()
        if low in SECRET_KEYS:
            out[name] = REDACTED
        elif low == "location":
            out[name] = redact_url(value, SECRET_KEYS) or value
        else:
            out[name] = value
    return out


def _body(content: bytes, content_type: str) -> Any:
    if not content:
        return None
    text = content[:BODY_LIMIT * 4].decode("utf-8", errors="replace")
    text = _PEM.sub(REDACTED, text)
    if "json" in content_type:
        try:
            return redact(json.loads(content), SECRET_KEYS)
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        pairs = [(k, REDACTED if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(text, keep_blank_values=True)]
        return urlencode(pairs, safe="[]")
    if "zip" in content_type or "octet-stream" in content_type:
        return f"<{len(content)} bytes of {content_type}>"
    return text[:BODY_LIMIT] + ("…" if len(text) > BODY_LIMIT else "")


def _on_request(label: str):
    def hook(request: httpx.Request) -> None:
        request.extensions["ezhd_started"] = time.monotonic()
    return hook


def _on_response(label: str):
    def hook(response: httpx.Response) -> None:
        transcript = _current
        if transcript is None:
            return
        request = response.request
        response.read()
        try:
            request_body = request.content
        except httpx.RequestNotRead:
            request_body = b""
        started = request.extensions.get("ezhd_started")
        caller = caller_of(label)
        party = party_of(str(request.url), caller)
        if party in _SETUP_PARTIES:
            caller = "suite"   # the tester setting up, whichever client it used
        transcript.add({
            "from": caller,
            "to": party,
            "setup": party in _SETUP_PARTIES,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": request.method,
            "url": redact_url(str(request.url), SECRET_KEYS),
            "request_headers": _headers(request.headers),
            "request_body": _body(request_body, request.headers.get("content-type", "")),
            "status": response.status_code,
            "response_headers": _headers(response.headers),
            "response_body": _body(response.content, response.headers.get("content-type", "")),
            "ms": round((time.monotonic() - started) * 1000, 1) if started else None,
        })
    return hook


def hooks(label: str) -> dict[str, list[Any]]:
    """httpx `event_hooks` that record into the current test's transcript under `label`."""
    return {"request": [_on_request(label)], "response": [_on_response(label)]}


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once: httpx makes a new one (loading the CA bundle,
    ~20 ms of CPU) for every client, and the tests make clients by the thousand."""
    return httpx.create_ssl_context()


def client(label: str, **kwargs: Any) -> httpx.Client:
    """An httpx client whose exchanges are recorded (label: sut, esia, smev, epgu, test-control)."""
    kwargs.setdefault("timeout", 30.0)
    kwargs.setdefault("verify", ssl_context())
    return httpx.Client(event_hooks=hooks(label), **kwargs)
