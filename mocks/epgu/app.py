"""The HTTP layer of mock ЕПГУ: one Starlette app serving the showcase and the portal.

`create_app(showcase=None, *, agent_transport=None, state_dir=None, **settings)` returns the
app; `app.state.showcase` and `app.state.portal` are the cores (close the showcase with
`app.state.showcase.close()` when the app made it).

| method and path | what |
|---|---|
| `POST /v2/datamarts/{dm}/tables/{table}/{upload,delete}` | `text/csv` body → 200 bare UUID (`text/plain`) |
| `POST /api/v1/auth_system`, `/api/v1/secure/{ogrn}/{dm}/{inst}/{id}/{path}` | the Datamart Studio proxy (`proxy.py`) |
| `GET /v2/requests/{id}/status` | `{"code", "description"}` |
| `GET /v2/requests/{id}/errors` | the ФЛК report (`?limit=`) |
| `POST /api/v1/notifications` | portal inbox (portal.yaml) → 202 receipt |
| `GET /portal/api/v1/people/{oid}/overview` | what the portal shows (`?from=&to=`), JSON |
| `POST /portal/api/v1/people/{oid}/journal-login` | the user's internal journal login |
| `POST /portal/api/v1/people/{oid}/learners/{id}/password-reset` | `{"password"}` → 204 |
| `GET /portal/people/{oid}` | the same overview as a page (`?lang=en`); its forms post to `/portal/people/...` |
| `/_admin/...` | see `admin.py` |

Refusals of the showcase API are `ApiError` `{error, message, message_en, details}` (our
extension of the published bare 400/401/500); of the portal, `{error, message, details}`.
The outer layer is the mocks' common `RequestGuard`: the admin token, bodies used only when
whole (413 before reading an oversized one), queued HTTP faults (status, delay, drop), any
crash turned into 500 so the mock keeps serving, and every exchange journalled: CSV bodies
as size and sha256, JSON bodies with secrets redacted.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from mocks.common.body import request_body
from mocks.common.journal import body_fields
from mocks.common.guard import Exchange, RequestGuard
from mocks.epgu import pages, proxy
from mocks.epgu.portal import Portal, PortalError
from mocks.epgu.showcase import Showcase, ShowcaseError, ShowcaseInputError

CSV_TYPE = "text/csv"
FORM_TYPE = "application/x-www-form-urlencoded"
JOURNAL_JSON_MAX = 64 * 1024      # larger JSON bodies are journalled as size + sha256


def endpoint_of(method: str, path: str) -> str:
    if path.startswith("/_admin"):
        return "admin"
    if path == "/api/v1/auth_system":
        return "auth"
    m = proxy.SECURE_RE.match(path)
    if m:
        return endpoint_of(method, "/" + m.group(5))
    if path.startswith("/v2/datamarts/"):
        return "upload"
    if path.startswith("/v2/requests/"):
        return {"status": "status", "errors": "errors"}.get(path.rstrip("/").rsplit("/", 1)[-1], "other")
    if path == "/api/v1/notifications":
        return "notifications"
    if path.startswith("/portal/"):
        if path.endswith("/journal-login"):
            return "journal_login"
        if path.endswith("/password-reset"):
            return "password_reset"
        if path.startswith("/portal/api/"):
            return "overview"
        return "page"
    return "other"


SHOWCASE_ENDPOINTS = ("upload", "status", "errors", "other")


# --- helpers ---------------------------------------------------------------------------------

def showcase_of(request: Request) -> Showcase:
    return request.app.state.showcase


def portal_of(request: Request) -> Portal:
    return request.app.state.portal


def api_error(exc: ShowcaseError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def portal_error(exc: PortalError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _note(request: Request, **note: Any) -> None:
    request.scope.setdefault("epgu_note", {}).update(note)


def _media_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    mime, *rest = raw.split(";")
    params = {}
    for part in rest:
        k, _, v = part.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return mime.strip().lower(), params


# --- the showcase API ------------------------------------------------------------------------

async def upload(request: Request) -> Response:
    sc = showcase_of(request)
    p = request.path_params
    try:
        sender = proxy.source_of(sc, request.headers.get("x-smev-sender"), p["datamart"])
        sc.authenticate(sender, p["datamart"])
        sc.check_target(p["datamart"], p["table"], p["operation"])
        mime, params = _media_type(request)
        if mime != CSV_TYPE:
            raise ShowcaseInputError(f"Content-Type must be {CSV_TYPE}, not {mime[:60]!r}",
                                     error="invalid_request")
        charset = params.get("charset")
        if charset and charset.lower().replace("-", "") != "utf8":
            raise ShowcaseInputError(f"the charset must be UTF-8, not {charset[:30]!r}", error="bad_encoding")
        body = await request_body(request)     # a large body stays in its spool file
        rid = await asyncio.to_thread(sc.submit, p["datamart"], p["table"], p["operation"], body.content,
                                      sender, sha256=body.sha256)
    except ShowcaseError as exc:
        _note(request, error=exc.error)
        return api_error(exc)
    _note(request, request_id=rid)
    return PlainTextResponse(rid)


async def status(request: Request) -> Response:
    sc = showcase_of(request)
    try:
        sender = proxy.source_of(sc, request.headers.get("x-smev-sender"), None)
        source = sc.authenticate(sender) if sender else None
        body = sc.status(request.path_params["request_id"], source=source)
    except ShowcaseError as exc:
        _note(request, error=exc.error)
        return api_error(exc)
    _note(request, code=body["code"])
    return JSONResponse(body)


async def errors(request: Request) -> Response:
    sc = showcase_of(request)
    try:
        sender = proxy.source_of(sc, request.headers.get("x-smev-sender"), None)
        source = sc.authenticate(sender) if sender else None
        raw = request.query_params.get("limit", "1000")
        try:
            limit = int(raw)
        except ValueError:
            raise ShowcaseInputError(f"limit must be an integer, not {raw[:20]!r}") from None
        body = await asyncio.to_thread(sc.errors, request.path_params["request_id"], source, limit)
    except ShowcaseError as exc:
        _note(request, error=exc.error)
        return api_error(exc)
    return JSONResponse(body)


# --- the portal --------------------------------------------------------------------------------

async def notifications(request: Request) -> Response:
    portal = portal_of(request)
    try:
        mime, _ = _media_type(request)
        if mime != "application/json":
            raise PortalError(400, "invalid_body", "Content-Type must be application/json",
                              "Content-Type должен быть application/json")
        status_code, body = await asyncio.to_thread(
            portal.notify, request.headers.get("x-smev-sender"), request.headers.get("x-smev-message-id"),
            await request.body())
    except PortalError as exc:
        _note(request, error=exc.error)
        return portal_error(exc)
    _note(request, duplicate=body["duplicate"])
    return JSONResponse(body, status_code=status_code)


async def overview(request: Request) -> Response:
    try:
        body = await portal_of(request).overview(request.path_params["oid"], request.query_params.get("from"),
                                                 request.query_params.get("to"))
    except PortalError as exc:
        return portal_error(exc)
    return JSONResponse(body)


async def journal_login(request: Request) -> Response:
    try:
        body = await portal_of(request).journal_login(request.path_params["oid"])
    except PortalError as exc:
        return portal_error(exc)
    return JSONResponse(body)


async def password_reset(request: Request) -> Response:
    try:
        raw = await request.body()
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            raise PortalError(400, "invalid_body", "the body is not JSON", "Тело запроса не является JSON") from None
        await portal_of(request).password_reset(request.path_params["oid"], request.path_params["learner_id"], data)
    except PortalError as exc:
        return portal_error(exc)
    return Response(status_code=204)


def _page_error(request: Request, lang: str, exc: PortalError, oid: str) -> HTMLResponse:
    msg = exc.message_en if lang == "en" else exc.message
    html = pages.render("message.html", lang, tables=showcase_of(request).tables, title=pages.TEXTS[lang]["error"],
                        heading=pages.TEXTS[lang]["error"], error=msg, back=f"/portal/people/{oid}?lang={lang}")
    return HTMLResponse(html, status_code=exc.status)


async def page(request: Request) -> Response:
    portal = portal_of(request)
    lang = pages.lang_of(request.query_params.get("lang"))
    oid = request.path_params["oid"]
    try:
        data = await portal.overview(oid, request.query_params.get("from"), request.query_params.get("to"))
    except PortalError as exc:
        return _page_error(request, lang, exc, oid)
    learners = [{**l, "name": pages.person_name(l)} for l in data["learners"]]
    query = {k: v for k, v in request.query_params.items() if k in ("from", "to")}
    html = pages.render("person.html", lang, query=query, tables=showcase_of(request).tables,
                        title=pages.TEXTS[lang]["title"], overview=data, learners=learners,
                        person_name=pages.person_name(data["person"]))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    mime, _ = _media_type(request)
    body = await request.body()
    if mime != FORM_TYPE:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def page_login(request: Request) -> Response:
    form = await _form(request)
    lang = pages.lang_of(form.get("lang") or request.query_params.get("lang"))
    oid = request.path_params["oid"]
    t = pages.TEXTS[lang]
    try:
        data = await portal_of(request).journal_login(oid)
    except PortalError as exc:
        return _page_error(request, lang, exc, oid)
    lines = [(t["your_login"], data["login"])]
    for kid in data.get("learners") or []:
        if isinstance(kid, dict):
            lines.append((f"{t['child_login']} {kid.get('learner_id', '')}", kid.get("login") or t["no_login"]))
    html = pages.render("message.html", lang, tables=showcase_of(request).tables, title=t["login_title"],
                        heading=t["login_title"], lines=lines, back=f"/portal/people/{oid}?lang={lang}")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def page_password(request: Request) -> Response:
    form = await _form(request)
    lang = pages.lang_of(form.get("lang") or request.query_params.get("lang"))
    oid = request.path_params["oid"]
    t = pages.TEXTS[lang]
    try:
        await portal_of(request).password_reset(oid, request.path_params["learner_id"],
                                                {"password": form.get("password", "")})
    except PortalError as exc:
        return _page_error(request, lang, exc, oid)
    html = pages.render("message.html", lang, tables=showcase_of(request).tables, title=t["password_title"],
                        heading=t["password_title"], text=t["password_done"], back=f"/portal/people/{oid}?lang={lang}")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    text = "no such resource" if code == 404 else "method not allowed"
    return JSONResponse({"error": "invalid_request", "message": f"{request.method} {request.url.path[:100]}: {text}",
                         "details": []}, status_code=code)


# --- outer layer: admin token, whole bodies under a cap, faults, crash guard, journal ---------

class Guard(RequestGuard):
    """The showcase's and portal's `RequestGuard` (mocks/common/guard.py)."""

    passthrough = (httpx.RemoteProtocolError,)

    def __init__(self, app: Any, showcase: Showcase, state: Any = None) -> None:
        super().__init__(app, state)
        self.showcase = showcase

    def endpoint_of(self, scope: dict[str, Any]) -> str:
        return endpoint_of(scope.get("method", ""), scope.get("path", ""))

    def cap(self, endpoint: str) -> int:
        s = self.showcase.settings
        return {"upload": s.max_body, "admin": s.admin_max_body}.get(endpoint, s.portal_max_body)

    def spool_dir(self) -> Any:
        return self.showcase.spool_dir

    def error(self, ex: Exchange, status: int, error: str, en: str, ru: str, retry_after: Any = 1) -> JSONResponse:
        headers = {"Retry-After": str(retry_after)} if status == 503 else {}
        if ex.endpoint in SHOWCASE_ENDPOINTS:
            body = {"error": error, "message": ru, "message_en": en, "details": []}
        else:
            body = {"error": error, "message": en, "details": []}
        return JSONResponse(body, status_code=status, headers=headers)

    def too_large(self, ex: Exchange, cap: int) -> Response:
        ex.scope["epgu_note"] = {"error": "too_large"}
        error = "too_large" if ex.endpoint in SHOWCASE_ENDPOINTS or ex.endpoint == "admin" else "invalid_body"
        return self.error(ex, 413, error, f"the body is larger than {cap} bytes",
                          f"Ошибка входных данных: тело запроса больше {cap} байт")

    def crash(self, ex: Exchange, exc: Exception) -> Response:
        ex.scope["epgu_note"] = {"error": "internal_error", "detail": repr(exc)[:300]}
        return self.error(ex, 500, "internal_error", "internal error", "Внутренняя ошибка")

    async def fault(self, ex: Exchange, send: Any) -> Response | None:
        if ex.endpoint in ("admin", "other"):
            return None
        fault = self.showcase.take_fault(ex.endpoint)
        if fault is not None and fault.kind == "delay":
            ex.scope["epgu_fault"] = f"delay {fault.seconds}s"
            await asyncio.sleep(max(0.0, float(fault.seconds)))
            return None
        if fault is not None and fault.kind == "drop":
            ex.scope["epgu_fault"] = "drop"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"64")]})
            raise httpx.RemoteProtocolError("connection dropped by the mock (injected fault)")
        if fault is not None:
            ex.scope["epgu_fault"] = f"status {fault.status}"
            error = "internal_error" if fault.status != 503 or ex.endpoint in SHOWCASE_ENDPOINTS else "unavailable"
            return self.error(ex, fault.status, error, "internal error (injected fault)",
                              "Внутренняя ошибка (внесённый сбой)", fault.params.get("retry_after", 1))
        return None

    def record(self, ex: Exchange) -> None:
        scope, body = ex.scope, ex.body.data
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True))
        except Exception:
            query = {"_unreadable": True}
        entry: dict[str, Any] = {
            "direction": "in", "method": scope.get("method"), "path": scope.get("path"), "endpoint": ex.endpoint,
            "query": query, "status": ex.status, "duration_ms": ex.duration_ms, **body_fields(ex.body),
            "headers": {k: v for k, v in headers.items()
                        if k in ("content-type", "content-length", "x-smev-sender", "x-smev-message-id",
                                 "authorization", "cookie")},
        }
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ex.refused in ("too_large", "incomplete"):
            entry[ex.refused] = True
        elif body:                    # CSV files and anything else: size and digest only, never content
            if ctype == "application/json" and len(body) <= JOURNAL_JSON_MAX:
                try:
                    entry["json"] = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    pass
            elif ctype == FORM_TYPE and len(body) <= JOURNAL_JSON_MAX:
                entry["form"] = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if scope.get("epgu_note"):
            entry["note"] = scope["epgu_note"]
        elif ex.refused:
            entry["note"] = {"error": ex.refused}
        if scope.get("epgu_fault"):
            entry["fault"] = scope["epgu_fault"]
        self.showcase.record(entry)


def create_app(showcase: Showcase | None = None, *, agent_transport: httpx.AsyncBaseTransport | None = None,
               state_dir: Any = None, **settings: Any) -> Starlette:
    """A mock ЕПГУ app. Without `showcase`, a new one is made (`state_dir`, `settings`);
    with one, `settings` change it. `agent_transport` carries the portal's calls to the ПОДД
    agent (None = the network)."""
    from mocks.epgu import admin

    if showcase is None:
        showcase = Showcase(state_dir=state_dir, **settings)
    elif settings:
        showcase.configure(**settings)
    portal = Portal(showcase, transport=agent_transport)
    routes = [
        Route("/v2/datamarts/{datamart}/tables/{table}/{operation}", upload, methods=["POST"]),
        Route("/v2/requests/{request_id}/status", status, methods=["GET"]),
        Route("/v2/requests/{request_id}/errors", errors, methods=["GET"]),
        Route("/api/v1/notifications", notifications, methods=["POST"]),
        Route("/portal/api/v1/people/{oid}/overview", overview, methods=["GET"]),
        Route("/portal/api/v1/people/{oid}/journal-login", journal_login, methods=["POST"]),
        Route("/portal/api/v1/people/{oid}/learners/{learner_id}/password-reset", password_reset, methods=["POST"]),
        Route("/portal/people/{oid}", page, methods=["GET"]),
        Route("/portal/people/{oid}/journal-login", page_login, methods=["POST"]),
        Route("/portal/people/{oid}/learners/{learner_id}/password-reset", page_password, methods=["POST"]),
        Route("/_ping", lambda request: PlainTextResponse("ok"), methods=["GET"]),
        Route("/api/v1/auth_system", proxy.auth_system, methods=["POST"]),
        Mount("/_admin/iam", routes=proxy.admin_routes()),
        Mount("/_admin", routes=admin.routes()),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.showcase = showcase
    app.state.portal = portal
    app.state.iam = proxy.Iam()
    app.router.routes.insert(0, Mount("/api/v1/secure", app=proxy.SecureProxy(app.router, app.state.iam)))
    app.add_middleware(Guard, showcase=showcase, state=app.state)
    return app
