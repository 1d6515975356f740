"""The reference journal's driver service (specs/openapi/driver.yaml) under `/driver/v1`.

What a vendor serves next to its journal so the suite can act as a user in the journal's own
interface, in whatever language the journal is written. Here each operation is done through
the journal's own web API (`/web/api/v1`, `reference_journal/web.py`), called in-process with
the session's bearer token and the suite's client address, so the journal sees exactly what
its web client would send. Every call needs `Authorization: Bearer <test-control token>` (as
test-control; no token configured: every call is 401), except `/health`.

A session handle is opaque and not the journal's session token (a handle appears in URLs and
transcripts; the token stays here). The argument names of each operation come from
driver.yaml (`x-args`, `fields`); `WEB` below says how each maps onto the web API.
"""
from __future__ import annotations

import json
import secrets
import threading
from typing import Any, Callable
from urllib.parse import quote

import httpx
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_journal.errors import Detail, JournalError
from reference_journal.testcontrol import authorise
from reference_journal.web import COOKIE
from specs import OPENAPI_DIR, load_yaml

BASE = "/driver/v1"
WEB_BASE = "/web/api/v1"
MAX_BODY = 64 * 1024
MAX_HANDLES = 10_000          # sessions remembered; the oldest are forgotten first


def _q(value: Any) -> str:
    return quote(str(value), safe="")


# operation -> (arguments, fields) -> (method, web API path, query, JSON body)
WebCall = tuple[str, str, dict[str, Any] | None, Any]
WEB: dict[str, Callable[[dict[str, Any], dict[str, Any]], WebCall]] = {
    "me": lambda a, f: ("GET", "/me", None, None),
    "diary": lambda a, f: ("GET", f"/learners/{_q(a['learner_id'])}/{_q(a['section'])}",
                           {"from": a["start"], "to": a["end"]}, None),
    "add_achievement": lambda a, f: ("POST", f"/learners/{_q(a['learner_id'])}/achievements", None, f),
    "delete_achievement": lambda a, f: ("DELETE", f"/achievements/{_q(a['achievement_id'])}", None, None),
    "add_mark": lambda a, f: ("POST", f"/learners/{_q(a['learner_id'])}/marks", None, f),
    "change_mark": lambda a, f: ("PATCH", f"/marks/{_q(a['mark_id'])}", None, f),
    "delete_mark": lambda a, f: ("DELETE", f"/marks/{_q(a['mark_id'])}", None, None),
    "record_attendance": lambda a, f: ("POST", f"/learners/{_q(a['learner_id'])}/attendance", None, f),
    "add_event": lambda a, f: ("POST", "/events", None, f),
    "change_event": lambda a, f: ("PATCH", f"/events/{_q(a['event_id'])}", None, f),
    "cancel_event": lambda a, f: ("POST", f"/events/{_q(a['event_id'])}/cancel", None, None),
    "change_password": lambda a, f: ("PUT", "/me/password", None, {
        "new_password": a["new_password"],
        **({"current_password": a["current_password"]} if a.get("current_password") is not None else {})}),
    "file_join_request": lambda a, f: ("POST", "/join-requests", None, f),
    "join_requests": lambda a, f: ("GET", "/join-requests", None, None),
    "decide_join_request": lambda a, f: ("POST", f"/join-requests/{_q(a['request_id'])}/decision", None,
                                         {"decision": a["decision"], **f}),
    "create_account": lambda a, f: ("POST", "/accounts", None, {"login": a["login"], "password": a["password"]}),
    "add_record": lambda a, f: ("POST", f"/records/{_q(a['table'])}", None, {"fields": f}),
    "change_record": lambda a, f: ("PATCH", f"/records/{_q(a['table'])}", None, {"key": a["key"], "fields": f}),
    "delete_record": lambda a, f: ("DELETE", f"/records/{_q(a['table'])}", None, {"key": a["key"]}),
    "audit_events": lambda a, f: ("GET", "/audit/events", {"from": a["start"], "to": a["end"]}, None),
    "sign_out": lambda a, f: ("DELETE", "/session", None, None),
}


def _operations() -> dict[str, dict[str, Any]]:
    """name -> {"args": [...], "required": [...], "fields": bool}, from driver.yaml."""
    doc = load_yaml(OPENAPI_DIR / "driver.yaml")
    out = {}
    for item in doc["paths"].values():
        op = item.get("post") or {}
        if "operation" in op.get("tags", []):
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            out[op["operationId"]] = {"args": list(schema.get("x-args") or []),
                                      "required": list(schema.get("required") or []),
                                      "fields": "fields" in (schema.get("properties") or {})}
    return out


OPERATIONS = _operations()


class _Handles:
    """Opaque handle -> the journal's session token, bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    def new(self, token: str) -> str:
        handle = secrets.token_urlsafe(12)
        with self._lock:
            if len(self._tokens) >= MAX_HANDLES:
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[handle] = token
        return handle

    def token(self, handle: str) -> str:
        with self._lock:
            found = self._tokens.get(handle)
        if found is None:
            raise JournalError(404, "unknown_session", "нет такого сеанса драйвера", "no such driver session")
        return found

    def forget(self, handle: str) -> None:
        with self._lock:
            self._tokens.pop(handle, None)


def _handles(request: Request) -> _Handles:
    state = request.app.state
    if not hasattr(state, "driver_handles"):
        state.driver_handles = _Handles()
    return state.driver_handles


def _invalid(message_ru: str, message_en: str, field: str | None = None) -> JournalError:
    details = [Detail(message_ru, message_en, field=field)] if field else None
    return JournalError(400, "invalid_request", message_ru, message_en, details=details)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _invalid("слишком большое тело запроса", "request body too large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise _invalid("тело запроса — не JSON", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _invalid("тело запроса — не объект JSON", "the body is not a JSON object")
    return data


async def _web(request: Request, method: str, path: str, *, token: str | None = None,
               params: dict[str, Any] | None = None, body: Any = None) -> httpx.Response:
    """Call the journal's web API in-process, as the suite's client would."""
    client = (request.client.host, request.client.port) if request.client else ("127.0.0.1", 0)
    transport = httpx.ASGITransport(app=request.app, client=client)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url).rstrip("/")) as http:
        return await http.request(method, WEB_BASE + path, params=params, headers=headers,
                                  json=body)


def _answer(resp: httpx.Response, **extra: Any) -> JSONResponse:
    try:
        data = resp.json() if resp.content else None
    except ValueError:
        data = resp.text
    return JSONResponse({"status": resp.status_code, "data": data, **extra}, headers={"Cache-Control": "no-store"})


def _credentials(data: dict[str, Any]) -> tuple[str, str]:
    login, password = data.get("login"), data.get("password")
    for name, value in (("login", login), ("password", password)):
        if not isinstance(value, str) or not value:
            raise _invalid(f"нужно поле {name} (строка)", f"{name} is required (a string)", name)
    return login, password


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def sign_in(request: Request) -> Response:
    authorise(request)
    login, password = _credentials(await _body(request))
    resp = await _web(request, "POST", "/session", body={"login": login, "password": password})
    token = resp.json().get("token") if resp.is_success else None
    return _answer(resp, session=_handles(request).new(token) if token else None)


async def browser_session(request: Request) -> Response:
    authorise(request)
    cookies = (await _body(request)).get("cookies")
    if not isinstance(cookies, dict) or not isinstance(cookies.get(COOKIE), str):
        raise _invalid(f"нужна кука сеанса журнала {COOKIE} в cookies", f"cookies must hold the journal's "
                       f"session cookie {COOKIE}", "cookies")
    return JSONResponse({"session": _handles(request).new(cookies[COOKIE])})


async def browser_sign_in(request: Request) -> Response:
    authorise(request)
    login, password = _credentials(await _body(request))
    resp = await _web(request, "POST", "/session", body={"login": login, "password": password})
    cookies = [{"name": name, "value": value, "path": "/"} for name, value in resp.cookies.items()]
    return _answer(resp, cookies=cookies)


async def forget(request: Request) -> Response:
    authorise(request)
    _handles(request).forget(request.path_params["session"])
    return Response(status_code=204)


async def operation(request: Request) -> Response:
    authorise(request)
    name = request.path_params["operation"]
    spec, web = OPERATIONS.get(name), WEB.get(name)
    if spec is None or web is None:
        raise JournalError(501, "not_implemented", f"операция {name[:64]} не поддерживается",
                           f"operation {name[:64]!r} is not implemented")
    token = _handles(request).token(request.path_params["session"])
    data = await _body(request)
    unknown = set(data) - set(spec["args"]) - ({"fields"} if spec["fields"] else set())
    if unknown:
        raise _invalid("лишние поля", f"unknown arguments: {', '.join(sorted(unknown))}", sorted(unknown)[0])
    missing = [a for a in spec["required"] if a not in data]
    if missing:
        raise _invalid("не хватает аргументов", f"missing arguments: {', '.join(missing)}", missing[0])
    fields = data.get("fields") or {}
    if not isinstance(fields, dict):
        raise _invalid("fields — не объект", "fields must be an object", "fields")
    method, path, params, body = web({a: data.get(a) for a in spec["args"]}, fields)
    return _answer(await _web(request, method, path, token=token, params=params, body=body))


def routes() -> list[Route]:
    return [
        Route(f"{BASE}/health", health, methods=["GET"]),
        Route(f"{BASE}/sessions", sign_in, methods=["POST"]),
        Route(f"{BASE}/sessions/browser", browser_session, methods=["POST"]),
        Route(f"{BASE}/browser-sign-in", browser_sign_in, methods=["POST"]),
        Route(f"{BASE}/sessions/{{session}}", forget, methods=["DELETE"]),
        Route(f"{BASE}/sessions/{{session}}/{{operation}}", operation, methods=["POST"]),
    ]
