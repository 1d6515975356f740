"""The HTTP layer of the mock ПОДД agent: a Starlette app over one `AgentCore`.

`create_app(showcase=None, transport=None, core=None, **settings)` returns the app;
`app.state.core` is the core. Routes (agent-relative):

- `POST|DELETE /{mnemonic}/myedu/api/edu-upload/{version}/csv/{table}` and
  `…/multipart/csv` — the upload channel (edu-upload.yaml);
- `POST /{mnemonic}/sql`, `GET /{mnemonic}/sql/requests/{id}` — SQL mode (agent-sql.yaml);
- anything else under `/{mnemonic}/…` — OpenAPI mode: checked against the provider's spec,
  forwarded with httpx (`transport`: an `httpx.AsyncBaseTransport` for in-process
  providers), the answer checked too;
- `/_admin/…` — the admin API (`admin.py`).

The app's outermost layer (`AgentApp.__call__`, outside Starlette's own error middleware so
that a connection can really be dropped) is the mocks' common `RequestGuard`: the admin
token, bodies used only when whole and under the cap, queued faults, any crash turned into
500 `internal_error` so the mock keeps serving, and every exchange written to the request
journal with secrets redacted.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio
import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mocks.common.body import request_body, spool_file
from mocks.common.journal import body_fields
from mocks.common.guard import Exchange, RequestGuard
from mocks.smev.core import AgentCore, Settings, UploadFile, UploadOutcome
from mocks.smev.errors import AgentError

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host",
                        "content-length", "content-encoding"})
AGENT_HEADERS = frozenset({"x-smev-sender", "x-smev-message-id"})
UPLOAD_RE = re.compile(r"^/[^/]+/myedu/api/edu-upload(/|$)")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SQL_RE = re.compile(r"^/[^/]+/sql(/requests/[^/]*)?/?$")


class ConnectionDropped(Exception):
    """Raised by a `drop` fault: the connection closes without an answer."""


def endpoint_of(path: str) -> str:
    if path == "/_admin" or path.startswith("/_admin/"):
        return "admin"
    if UPLOAD_RE.match(path):
        return "upload"
    if SQL_RE.match(path):
        return "sql"
    if re.match(r"^/[^/]+/.", path):
        return "openapi"
    return "other"


def route_path(scope: dict[str, Any]) -> str:
    """The path below `root_path` (the app may be mounted under a prefix)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def core_of(request: Request) -> AgentCore:
    return request.app.state.core


def error_response(exc: AgentError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def note(request: Request, /, **info: Any) -> None:
    """Add to what the request journal keeps of this exchange."""
    request.scope.setdefault("smev", {}).update(info)


def _json_or_size(body: bytes, content_type: str, limit: int) -> Any:
    """A body for the journal: parsed JSON (then redacted by the journal) or its size."""
    if not body:
        return None
    if "json" in content_type.lower() and len(body) <= limit:
        try:
            return json.loads(body)
        except ValueError:
            pass
    return {"bytes": len(body), "content_type": content_type.split(";")[0]}


# --- edu-upload ---------------------------------------------------------------------------

def _refuse(request: Request, exc: AgentError) -> JSONResponse:
    note(request, error=exc.note())
    return error_response(exc)


async def _upload(request: Request, files: list[UploadFile], duplicate: bool) -> Response:
    core = core_of(request)
    p = request.path_params
    operation = "upload" if request.method == "POST" else "delete"

    def submit() -> list[tuple[UploadFile, str]]:
        return core.submit_upload(p["mnemonic"], p["version"], operation, files, duplicate)

    def verdict() -> UploadOutcome:
        return core.verdict(p["mnemonic"], operation, submitted)

    # small bodies of a known source are submitted, and answered, without a thread hop
    submitted = submit() if core.submits_at_once(p["mnemonic"], files) else await anyio.to_thread.run_sync(submit)
    await core.until_final(submitted)       # no thread is held while the showcase works
    outcome = await anyio.to_thread.run_sync(verdict) if core.verdict_reads_store(submitted) else verdict()
    note(request, upload={"operation": operation, "files": outcome.files})
    headers = {"X-Request-Id": ", ".join(outcome.request_ids)} if outcome.request_ids else {}
    if outcome.error is not None:
        note(request, error=outcome.error.note())
        return JSONResponse(outcome.error.body(), status_code=outcome.status, headers=headers)
    return Response(status_code=200, headers=headers)


def _upload_preflight(request: Request) -> None:
    core = core_of(request)
    if request.method not in ("POST", "DELETE"):
        raise AgentError(405, "invalid_request", "метод не поддерживается: POST или DELETE",
                         "method not allowed: use POST or DELETE", headers={"Allow": "POST, DELETE"})
    core.check_upload_target(request.path_params["mnemonic"], request.path_params["version"])


async def upload_table(request: Request) -> Response:
    try:
        _upload_preflight(request)
        core = core_of(request)
        table = request.path_params["table"]
        if table not in core.tables:
            raise core.unknown_table(table)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/octet-stream":
            raise AgentError(400, "invalid_request",
                             "тело запроса должно быть application/octet-stream (файл CSV)",
                             "the body must be application/octet-stream (the CSV file)",
                             [{"message": f"got Content-Type {ctype or '(none)'}"}])
        body = await request_body(request)     # a large body stays in its spool file
        if not body.size:
            raise AgentError(400, "empty_body", "тело запроса пусто: передайте файл CSV",
                             "the body is empty: send the CSV file")
        files = [UploadFile(f"{table}.csv", table, body)]
        return await _upload(request, files, _duplicate(request))
    except AgentError as exc:
        return _refuse(request, exc)


async def upload_multipart(request: Request) -> Response:
    try:
        _upload_preflight(request)
        core = core_of(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "multipart/form-data":
            raise AgentError(400, "invalid_request", "тело запроса должно быть multipart/form-data",
                             "the body must be multipart/form-data",
                             [{"message": f"got Content-Type {ctype or '(none)'}"}])
        limit = core.settings.max_files
        try:
            form = await request.form(max_files=limit, max_fields=1000)
        except (MultiPartException, HTTPException) as exc:
            text = str(getattr(exc, "detail", None) or exc)
            if "files" in text.lower() and "maximum" in text.lower():
                raise AgentError(400, "too_large", f"не более {limit} файлов в одном запросе",
                                 f"at most {limit} files per request") from None
            raise AgentError(400, "invalid_request", "тело multipart/form-data не читается",
                             f"the multipart/form-data body cannot be read: {text}") from None
        try:
            parts = form.getlist("files")
            if not parts:
                raise AgentError(400, "invalid_request", "нет поля files с файлами CSV",
                                 "the multipart field 'files' with the CSV files is missing")
            files: list[UploadFile] = []
            try:
                for part in parts:
                    if not isinstance(part, StarletteUpload) or not part.filename:
                        raise AgentError(400, "bad_file_name",
                                         "каждая часть files должна быть файлом с именем {таблица}.csv",
                                         "each part of 'files' must be a file named {table}.csv")
                    table = core.table_of(part.filename)
                    await part.seek(0)
                    body = await anyio.to_thread.run_sync(spool_file, part.file, core.spool_dir())
                    files.append(UploadFile(part.filename.replace("\\", "/").rsplit("/", 1)[-1], table, body))
                return await _upload(request, files, _duplicate(request))
            finally:
                for f in files:
                    f.body.discard()
        finally:
            await form.close()
    except AgentError as exc:
        return _refuse(request, exc)


def _duplicate(request: Request) -> bool:
    fault = request.scope.get("smev_fault")
    return fault is not None and fault.kind == "duplicate"


# --- SQL mode -----------------------------------------------------------------------------

async def sql_execute(request: Request) -> Response:
    core = core_of(request)
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) \
        if ctype.startswith("application/x-www-form-urlencoded") else None
    note(request, form=form)
    try:
        status, payload, rid = await anyio.to_thread.run_sync(lambda: core.sql(
            request.path_params["mnemonic"], request.headers.get("accept-version"),
            request.headers.get("x-request-id"), body, ctype))
    except AgentError as exc:
        return _refuse(request, exc)
    headers = {"X-Request-Id": rid}
    if status == 202:
        headers["Location"] = f"/{request.path_params['mnemonic']}/sql/requests/{rid}"
    else:
        note(request, result={"row_count": payload["row_count"], "truncated": payload["truncated"]})
    return JSONResponse(payload, status_code=status, headers=headers)


async def sql_state(request: Request) -> Response:
    core = core_of(request)
    try:
        state = core.sql_request(request.path_params["mnemonic"], request.headers.get("accept-version"),
                                 request.path_params["request_id"])
    except AgentError as exc:
        return _refuse(request, exc)
    return JSONResponse(state)


# --- OpenAPI mode -------------------------------------------------------------------------

class _Borrowed(httpx.AsyncBaseTransport):
    """An injected transport the per-call client must not close."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


async def _forward(transport: Any, method: str, url: str, headers: list[tuple[str, str]],
                   body: bytes, timeout: float) -> httpx.Response:
    kwargs: dict[str, Any] = {"timeout": timeout}
    if transport is not None:
        kwargs["transport"] = _Borrowed(transport)
    async with httpx.AsyncClient(**kwargs) as client:
        with anyio.fail_after(timeout):
            response = await client.request(method, url, headers=headers, content=body)
            await response.aread()
    return response


def _api_path(request: Request, prefix: str) -> str:
    """The raw path after `/{mnemonic}/{prefix}`; `AgentError` 404 if the prefix is absent."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    root = request.scope.get("root_path", "").encode("latin-1")
    if root and raw.startswith(root):          # mounted under a prefix
        raw = raw[len(root):]
    text = raw.decode("latin-1")
    rest = text.split("/", 2)[2] if text.count("/") >= 2 else ""
    if prefix:
        if rest != prefix and not rest.startswith(prefix + "/"):
            mnemonic = request.path_params["mnemonic"]
            raise AgentError(404, "unknown_operation",
                             f"путь должен начинаться с /{mnemonic}/{prefix}/",
                             f"the path must start with /{mnemonic}/{prefix}/")
        rest = rest[len(prefix):]
    return "/" + rest.lstrip("/")


async def openapi_call(request: Request) -> Response:
    core = core_of(request)
    mnemonic = request.path_params["mnemonic"]
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    limit = core.settings.journal_body_limit
    note(request, provider=mnemonic, request={
        "headers": {k: v for k, v in request.headers.items() if k not in ("content-length",)},
        "body": _json_or_size(body, ctype, limit)})
    try:
        provider = core.provider(mnemonic)
        api_path = _api_path(request, provider.prefix)
        sender = core.sender(request.headers.get("x-smev-sender"))
        message_id = str(uuid.uuid4())
        headers = [(k, v) for k, v in request.headers.items()
                   if k not in HOP_BY_HOP and k not in AGENT_HEADERS]
        headers += [("x-smev-sender", sender), ("x-smev-message-id", message_id)]
        note(request, sender=sender, message_id=message_id)
        query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        op, problems, checked = provider.spec.check_request(
            request.method, unquote(api_path), query, headers, body, ctype)
        if op is None:
            status = 405 if "is not an operation" in problems[0].message else 404
            raise AgentError(status, "unknown_operation",
                             f"операции {request.method} {unquote(api_path)[:200]} нет в спецификации поставщика",
                             problems[0].message)
        note(request, operation_id=op.operation_id)
        if problems:
            raise AgentError(400, "invalid_request",
                             "запрос не соответствует спецификации поставщика и не передан",
                             f"the request does not match the provider's specification "
                             f"({op.operation_id}) and was not forwarded",
                             [p.public() for p in problems])
        url = provider.base_url + api_path
        if request.scope.get("query_string"):
            url += "?" + request.scope["query_string"].decode("latin-1")
        note(request, forward_url=url)
        fault = request.scope.get("smev_fault")
        times = 2 if fault is not None and fault.kind == "duplicate" else 1
        transport = provider.transport or request.app.state.transport
        response = None
        violations = 0
        for _ in range(times):
            try:
                response = await _forward(transport, request.method, url, headers, body,
                                          core.settings.forward_timeout)
            except (TimeoutError, httpx.TimeoutException):
                raise AgentError(504, "upstream_timeout",
                                 f"поставщик {mnemonic} не ответил за {core.settings.forward_timeout:g} с",
                                 f"provider {mnemonic} did not answer within "
                                 f"{core.settings.forward_timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise AgentError(502, "upstream_unavailable", f"поставщик {mnemonic} недоступен",
                                 f"provider {mnemonic} is unreachable: {type(exc).__name__}") from None
            if core.settings.validate_responses:
                found = provider.spec.check_response(
                    op, checked, response.status_code, list(response.headers.multi_items()),
                    response.content, response.headers.get("content-type", ""))
                violations += core.add_violations(mnemonic, found, message_id)
    except AgentError as exc:
        return _refuse(request, exc)
    assert response is not None
    out_headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
    out_headers.append(("x-smev-message-id", message_id))
    if violations:
        out_headers.append(("x-contract-violation", str(violations)))
    rtype = response.headers.get("content-type", "")
    note(request, response={"status": response.status_code,
                            "headers": dict(response.headers.items()),
                            "body": _json_or_size(response.content, rtype, limit)},
         violations=violations)
    result = Response(response.content, status_code=response.status_code)
    result.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers] + [
        (b"content-length", str(len(response.content)).encode())]
    return result


async def crashed(request: Request, exc: Exception) -> Response:
    """Any unexpected exception: 500 `internal_error`, noted for the journal."""
    note(request, error={"error": "internal_error", "message": repr(exc)[:300]})
    return error_response(AgentError(500, "internal_error", "внутренняя ошибка агента",
                                     "internal error of the agent"))


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return JSONResponse({"error": "not_found" if status == 404 else "method_not_allowed",
                         "message": "адрес не обслуживается агентом",
                         "message_en": "this path is not served by the agent", "details": []},
                        status_code=status)


# --- outermost layer: body cap, faults, crash guard, journal -------------------------------

def _cap(core: AgentCore, endpoint: str) -> int:
    s = core.settings
    return {"admin": s.admin_max_body, "upload": s.max_body, "sql": s.sql_max_body}.get(
        endpoint, s.forward_max_body)


def _too_large(endpoint: str, cap: int) -> AgentError:
    if endpoint == "upload":
        return AgentError(400, "too_large", f"запрос больше {cap} байт", f"the request is larger than {cap} bytes")
    if endpoint == "sql":
        return AgentError(400, "bad_parameter", f"запрос больше {cap} байт", f"the request is larger than {cap} bytes")
    return AgentError(413, "too_large", f"запрос больше {cap} байт", f"the request is larger than {cap} bytes")


def _fault_error(endpoint: str, status: int, retry_after: Any = 1) -> AgentError:
    if status == 504 and endpoint == "sql":
        return AgentError(504, "upstream_timeout", "поставщик не ответил вовремя (внедрённый сбой)",
                          "the provider did not answer in time (injected fault)")
    if status == 503:
        return AgentError(503, "internal_error", "сервис временно недоступен (внедрённый сбой)",
                          "service temporarily unavailable (injected fault)", headers={"Retry-After": str(retry_after)})
    return AgentError(status, "internal_error", "внутренняя ошибка (внедрённый сбой)",
                      "internal error (injected fault)")


def _real_server(scope: dict[str, Any]) -> bool:
    # uvicorn (and other servers) state the ASGI spec version; httpx's in-process transport
    # does not. A real server closes the connection when the app returns a value.
    return "spec_version" in (scope.get("asgi") or {})


class Guard(RequestGuard):
    """The agent's `RequestGuard` (mocks/common/guard.py); a `drop` fault raises
    `ConnectionDropped`, which `AgentApp` turns into a closed connection."""

    passthrough = (ConnectionDropped,)

    def __init__(self, app: Any, state: Any) -> None:
        super().__init__(app, state)
        self.core: AgentCore = state.core

    def endpoint_of(self, scope) -> str:
        return endpoint_of(route_path(scope))

    def cap(self, endpoint: str) -> int:
        return _cap(self.core, endpoint)

    def spool_dir(self) -> Any:
        return self.core.spool_dir()

    def _refuse(self, ex: Exchange, exc: AgentError) -> Response:
        ex.scope.setdefault("smev", {})["error"] = exc.note()
        return error_response(exc)

    def error(self, ex: Exchange, status: int, error: str, en: str, ru: str) -> Response:
        return self._refuse(ex, AgentError(status, error, ru, en))

    def too_large(self, ex: Exchange, cap: int) -> Response:
        return self._refuse(ex, _too_large(ex.endpoint, cap))

    def crash(self, ex: Exchange, exc: Exception) -> Response:
        ex.scope.setdefault("smev", {}).setdefault(
            "error", {"error": "internal_error", "message": repr(exc)[:300]})
        return error_response(AgentError(500, "internal_error", "внутренняя ошибка агента",
                                         "internal error of the agent"))

    def crashed_late(self, ex: Exchange, exc: Exception) -> None:
        ex.scope.setdefault("smev", {}).setdefault(
            "error", {"error": "internal_error", "message": repr(exc)[:300]})
        # Starlette has already answered 500 through `crashed`

    async def fault(self, ex: Exchange, send) -> Response | None:
        if ex.endpoint not in ("upload", "openapi", "sql"):
            return None
        fault = ex.fault = self.core.take_fault(ex.endpoint)
        if fault is None:
            return None
        ex.scope["smev_fault"] = fault
        if fault.kind == "timeout":
            await asyncio.sleep(max(0.0, float(fault.seconds)))
        elif fault.kind == "status":
            return error_response(_fault_error(ex.endpoint, fault.status, fault.params.get("retry_after", 1)))
        elif fault.kind == "drop" and fault.params.get("when") != "after":
            raise ConnectionDropped()
        elif fault.kind == "drop":
            ex.swallow = True
        return None

    def after(self, ex: Exchange) -> None:
        if ex.swallow:
            ex.status = None
            raise ConnectionDropped()

    def record(self, ex: Exchange) -> None:
        if ex.endpoint == "admin":
            return
        scope = ex.scope
        query_raw = scope.get("query_string", b"")
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": scope.get("method"), "path": scope.get("path"), "endpoint": ex.endpoint,
            "query": dict(parse_qsl(query_raw.decode("utf-8", "replace"), keep_blank_values=True)),
            "status": ex.status, "duration_ms": ex.duration_ms, **body_fields(ex.body),
        }
        kept = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ex.response_headers
                if k.lower() in (b"x-request-id", b"x-contract-violation", b"x-smev-message-id")}
        if kept and ex.status is not None:
            entry["response_headers"] = kept
        info = dict(scope.get("smev") or {})
        if "error" in info:
            entry["error"] = info.pop("error")
        entry.update(info)
        if ex.refused == "too_large":
            entry["too_large"] = True
        elif ex.refused == "incomplete":
            entry["incomplete"] = True
        if ex.fault is not None:
            entry["fault"] = {k: v for k, v in ex.fault.public().items() if k != "count"}
        self.core.record(entry)


class AgentApp(Starlette):
    """Starlette with the agent's guard as the outermost layer."""

    async def __call__(self, scope, receive, send):  # type: ignore[override]
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        try:
            await Guard(self._serve, self.state)(scope, receive, send)
        except ConnectionDropped:
            if _real_server(scope):
                return "dropped"          # uvicorn closes the transport, no response is sent
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None
        return None

    async def _serve(self, scope, receive, send) -> None:
        await super().__call__(scope, receive, send)


def create_app(showcase: Any = None, *, transport: httpx.AsyncBaseTransport | None = None,
               core: AgentCore | None = None, **settings: Any) -> AgentApp:
    """A mock ПОДД agent. Without `showcase` the agent makes its own in-memory one; the
    combined environment passes the shared `mocks.epgu.showcase.Showcase`. `transport` is the
    default httpx transport for OpenAPI mode (e.g. `httpx.ASGITransport(journal_app)`);
    `settings` override `Settings` fields."""
    from mocks.smev import admin

    if core is None:
        core = AgentCore(showcase, Settings(**settings) if settings else None)
    elif settings:
        core.configure(**settings)
    mnemonic = "{mnemonic:str}"
    upload = f"/{mnemonic}/myedu/api/edu-upload/{{version:str}}"
    routes = [
        Mount("/_admin", routes=admin.routes()),
        Route(upload + "/csv/{table:str}", upload_table, methods=ALL_METHODS),
        Route(upload + "/multipart/csv", upload_multipart, methods=ALL_METHODS),
        Route(f"/{mnemonic}/sql", sql_execute, methods=["POST"]),
        Route(f"/{mnemonic}/sql/requests/{{request_id:str}}", sql_state, methods=["GET"]),
        Route(f"/{mnemonic}/{{rest:path}}", openapi_call, methods=ALL_METHODS),
    ]
    app = AgentApp(routes=routes, exception_handlers={404: not_found, 405: not_found, Exception: crashed})
    app.router.redirect_slashes = False
    app.state.core = core
    app.state.transport = transport
    return app
