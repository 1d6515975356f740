"""The test-control API (specs/openapi/test-control.yaml): load a dataset zip, export now,
clock, reset, health. Every operation but health needs `Authorization: Bearer <token>` equal
to `Settings.test_control_token` (no token configured: every call is 401).

`startExport`/`getExport` delegate to the export slot; without it they answer 501
`not_implemented` naming the missing module, after the body has been checked.
"""
from __future__ import annotations

import datetime as dt
import hmac
import inspect
import json
import tempfile
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_journal import __version__, dataset, spec
from reference_journal import events as ev
from reference_journal.core import Journal
from reference_journal.errors import Detail, JournalError

TC = "test-control.yaml"
MAX_JSON = 64 * 1024


def _journal(request: Request) -> Journal:
    return request.app.state.journal


def authorise(request: Request) -> Journal:
    j = _journal(request)
    expected = j.settings.test_control_token
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise JournalError(401, "unauthorized", "нужен верный токен test-control (Authorization: Bearer …)",
                           "a valid test-control bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return j


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _export_busy(j: Journal) -> bool:
    return bool(j.export is not None and await _maybe_await(j.export.busy()))


def _busy() -> JournalError:
    return JournalError(409, "busy", "идёт выгрузка; повторите после её окончания", "an export is running; retry after it ends")


async def _json_body(request: Request, schema: str) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_JSON:
        raise JournalError(400, "invalid_body", "тело запроса слишком велико", "the body is too large")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JournalError(400, "invalid_body", "тело запроса — не JSON", "the body is not JSON") from None
    found = spec.problems(TC, schema, data)
    if found:
        raise JournalError(400, "invalid_body", f"тело запроса не соответствует {schema}",
                           f"the body does not match {schema}",
                           [Detail(msg, msg, field=path, rule="schema") for path, msg in found])
    return data


async def load_dataset(request: Request) -> Response:
    j = authorise(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/zip":
        raise JournalError(400, "invalid_dataset", "набор данных передаётся как application/zip",
                           "the dataset must be sent as application/zip")
    if await _export_busy(j):
        raise _busy()
    limit = j.settings.max_dataset_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise JournalError(413, "too_large", f"набор больше {limit} байт", f"the dataset is over {limit} bytes")
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise JournalError(413, "too_large", f"набор больше {limit} байт", f"the dataset is over {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        if j.export is not None:
            await _maybe_await(j.export.reset())
        result = await run_in_threadpool(dataset.load, j, spool)
    return JSONResponse(result, status_code=201)


async def start_export(request: Request) -> Response:
    j = authorise(request)
    body = await _json_body(request, "ExportRequest")
    unknown = sorted(set(body.get("tables", [])) - set(j.tables.names))
    if unknown:
        raise JournalError(400, "invalid_body", "неизвестные таблицы", "unknown tables",
                           [Detail(t, t, field="tables", rule="known_table") for t in unknown])
    if body["scope"] == "period":
        start, end = dt.date.fromisoformat(body["from"]), dt.date.fromisoformat(body["to"])
        if start > end or (end - start).days + 1 > 366:
            raise JournalError(400, "invalid_body", "период пуст или длиннее 366 дней",
                               "the period is empty or longer than 366 days",
                               [Detail("from…to", "from…to", field="to", rule="max_span_days")])
    if j.export is None:
        raise _not_implemented()
    if await _export_busy(j):
        raise _busy()
    job_id = await _maybe_await(j.export.start(body))
    j.events.record(ev.UPLOAD, "test-control", object=f"export_job:{job_id}", details={"scope": body["scope"]})
    return JSONResponse({"job_id": job_id}, status_code=202, headers={"Location": f"/test-control/v1/export/{job_id}"})


def _not_implemented() -> JournalError:
    return JournalError(501, "not_implemented",
                        "выгрузка на витрину не подключена: нет модуля reference_journal.export",
                        "export to the showcase is not available: the module reference_journal.export is not installed")


async def get_export(request: Request) -> Response:
    j = authorise(request)
    if j.export is None:
        raise _not_implemented()
    job = await _maybe_await(j.export.job(request.path_params["job_id"]))
    if job is None:
        raise JournalError(404, "unknown_job", "нет такой выгрузки", "no such export job")
    return JSONResponse(job)


async def get_clock(request: Request) -> Response:
    return JSONResponse(authorise(request).clock.state())


async def set_clock(request: Request) -> Response:
    j = authorise(request)
    body = await _json_body(request, "ClockRequest")
    action = body["action"]
    if action == "set":
        now = spec.parse_datetime(body["now"])
        if now is None:
            raise JournalError(400, "invalid_body", "now — не дата-время RFC 3339 со смещением",
                               "now is not an RFC 3339 date-time with an offset",
                               [Detail("now", "now", field="now", rule="format.date-time")])
        j.clock.set(now, bool(body.get("frozen", False)))
    elif action == "advance":
        j.clock.advance(body["seconds"])
        if j.export is not None and hasattr(j.export, "clock_advanced"):
            await _maybe_await(j.export.clock_advanced(body["seconds"]))
    else:
        j.clock.release()
    return JSONResponse(j.clock.state())


async def reset(request: Request) -> Response:
    j = authorise(request)
    if await _export_busy(j):
        raise _busy()
    if j.export is not None:
        await _maybe_await(j.export.reset())
    await run_in_threadpool(j.reset)
    return Response(status_code=204)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "test_control_version": "1",
                         "product": f"ezhd reference journal {__version__}"})


def routes() -> list[Route]:
    base = "/test-control/v1"
    return [
        Route(f"{base}/dataset", load_dataset, methods=["POST"]),
        Route(f"{base}/export", start_export, methods=["POST"]),
        Route(f"{base}/export/{{job_id}}", get_export, methods=["GET"]),
        Route(f"{base}/clock", get_clock, methods=["GET"]),
        Route(f"{base}/clock", set_clock, methods=["POST"]),
        Route(f"{base}/reset", reset, methods=["POST"]),
        Route(f"{base}/health", health, methods=["GET"]),
    ]
