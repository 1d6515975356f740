"""The admin API of mock ЕПГУ under `/_admin` (JSON in, JSON out; for tests and the suite).

| method and path | what |
|---|---|
| `GET /_admin/health` | `{"status": "ok", "mock": "epgu", "step", "pending"}` |
| `GET, PATCH /_admin/settings` | read or change `Settings` (delays per stage, step, agent_url, journal_mnemonic, portal_mnemonic, portal_date, caps, ...) |
| `GET, POST /_admin/sources` | list; register `{mnemonic, datamarts?, title?}` (a source system = a journal; also the senders the inbox accepts) |
| `DELETE /_admin/sources/{mnemonic}` | remove one |
| `GET, POST, DELETE /_admin/faults` | queue `{endpoint, kind, count?, status?, seconds?}`; list; clear |
| `GET, DELETE /_admin/journal` | request journal (`?since=<seq>&path=<prefix>`), secrets redacted, CSV as size + sha256; clear |
| `GET /_admin/requests` | upload requests, oldest first (`?source=&table=&code=&limit=`) |
| `GET /_admin/requests/{id}` | one request with its status history |
| `POST /_admin/requests/{id}/release` | end a `stall` fault |
| `POST /_admin/step` | advance the oldest unfinished request one stage (step mode) → `{request_id, code}` or `{idle: true}` |
| `POST /_admin/run` | step until idle (or stalled) → `{steps}` |
| `GET /_admin/tables` | row count per showcase table |
| `GET /_admin/tables/{table}` | stored rows as JSON (`?limit=100&offset=0&<column>=<value>`) → `{table, total, rows}` |
| `GET /_admin/checksum` | per-table row count and md5, `all` over every table |
| `POST /_admin/query` | `{sql, params?, maxrows?, timeout?}` → SQL-mode query result `{columns, rows, truncated}` |
| `GET, POST /_admin/personas` | portal personas; load a JSON list, `{"personas": [...]}` or JSON Lines (`personas.jsonl`) |
| `GET /_admin/personas/{oid}` | one persona |
| `GET, DELETE /_admin/inbox` | notifications received (`?oid=` for one recipient), redacted; clear |
| `POST /_admin/reset` | forget data, requests, sources, personas, inbox, faults and the journal (settings stay) |

Fault endpoints: `upload`, `status`, `errors`, `notifications`, `overview`, `page`,
`journal_login`, `password_reset` with kinds `status` (answer `status`, default 500; 503
adds `Retry-After`, `retry_after` seconds, default 1), `delay` (`seconds`, then the normal answer) and `drop` (the connection
closes before a complete answer); and `lifecycle` with kinds `fail` (the request ends in 4)
`stall` (it stays in 6 for `seconds`; 0 = until released) and `flk` (a clean file with records
ends in 7, its report naming the first record's first non-key column, rule `pattern`). Each
fault serves the next
`count` requests. Errors: 400/404 `{error, message}`.
"""
from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.common.admin import BadRequest as _Bad
from mocks.common.admin import as_object as _object
from mocks.common.admin import endpoint, faults_endpoint, journal_endpoint, read_records
from mocks.common.admin import query_int as _int
from mocks.common.admin import read_json as _json
from mocks.epgu.portal import Portal
from mocks.epgu.showcase import Showcase
from mocks.epgu.store import QueryError


def _sc(request: Request) -> Showcase:
    return request.app.state.showcase


def _portal(request: Request) -> Portal:
    return request.app.state.portal


async def health(request: Request) -> Response:
    sc = _sc(request)
    return JSONResponse({"status": "ok", "mock": "epgu", "step": sc.settings.step, "pending": sc.pending()})


async def settings(request: Request) -> Response:
    sc = _sc(request)
    if request.method == "PATCH":
        sc.configure(**_object(await _json(request)))
    return JSONResponse(sc.settings.public())


async def sources(request: Request) -> Response:
    sc = _sc(request)
    if request.method == "POST":
        data = _object(await _json(request))
        entry = sc.register_source(data.get("mnemonic"), data.get("datamarts"), data.get("title"))
        return JSONResponse(entry, status_code=201)
    return JSONResponse(sc.sources())


async def source(request: Request) -> Response:
    mnemonic = request.path_params["mnemonic"]
    if not _sc(request).remove_source(mnemonic):
        raise KeyError(mnemonic)
    return Response(status_code=204)


async def requests_list(request: Request) -> Response:
    q = request.query_params
    code = q.get("code")
    return JSONResponse(_sc(request).requests(source=q.get("source"), table=q.get("table"),
                                              code=int(code) if code is not None else None,
                                              limit=_int(request, "limit", 1000, 0, 100_000)))


async def request_one(request: Request) -> Response:
    return JSONResponse(_sc(request).request(request.path_params["request_id"]))


async def release(request: Request) -> Response:
    return JSONResponse(_sc(request).release(request.path_params["request_id"]))


async def step(request: Request) -> Response:
    moved = await asyncio.to_thread(_sc(request).step)
    if moved is None:
        return JSONResponse({"idle": True})
    return JSONResponse({"request_id": moved[0], "code": moved[1]})


async def run(request: Request) -> Response:
    return JSONResponse({"steps": await asyncio.to_thread(_sc(request).run_pending)})


async def tables(request: Request) -> Response:
    return JSONResponse(_sc(request).counts())


async def table(request: Request) -> Response:
    sc = _sc(request)
    name = request.path_params["table"]
    where = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
    total, rows = sc.rows(name, _int(request, "limit", 100, 0, 1_000_000), _int(request, "offset", 0), where)
    return JSONResponse({"table": name, "total": total, "rows": rows})


async def checksum(request: Request) -> Response:
    return JSONResponse(_sc(request).checksum())


async def query(request: Request) -> Response:
    data = _object(await _json(request))
    if not isinstance(data.get("sql"), str):
        raise _Bad("sql (a string) is required")
    result = await asyncio.to_thread(_sc(request).execute_readonly, data["sql"], data.get("params") or [],
                                     int(data.get("maxrows", 1000)), float(data.get("timeout", 10)))
    body = {"columns": result.columns, "rows": result.rows, "truncated": result.truncated}
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type="application/json")


async def personas(request: Request) -> Response:
    portal = _portal(request)
    if request.method == "POST":
        rows = await read_records(request, "personas")
        count = portal.load_personas(rows)
        return JSONResponse({"loaded": count, "total": len(portal.personas())}, status_code=201)
    return JSONResponse(portal.personas())


async def persona(request: Request) -> Response:
    p = _portal(request).persona(request.path_params["oid"])
    if p is None:
        raise KeyError(request.path_params["oid"])
    return JSONResponse(p)


async def inbox(request: Request) -> Response:
    portal = _portal(request)
    if request.method == "DELETE":
        portal.clear_inbox()
        return Response(status_code=204)
    return JSONResponse(portal.inbox(oid=request.query_params.get("oid")))


async def reset(request: Request) -> Response:
    _sc(request).reset()
    _portal(request).reset()
    return Response(status_code=204)


def routes() -> list[Route]:
    def w(fn):
        return endpoint(fn, {QueryError: lambda exc: (400, f"query_{exc.reason}")})

    return [
        Route("/health", w(health), methods=["GET"]),
        Route("/settings", w(settings), methods=["GET", "PATCH"]),
        Route("/sources", w(sources), methods=["GET", "POST"]),
        Route("/sources/{mnemonic}", w(source), methods=["DELETE"]),
        Route("/faults", w(faults_endpoint(_sc, ("status", "seconds", "retry_after"))), methods=["GET", "POST", "DELETE"]),
        Route("/journal", w(journal_endpoint(lambda r: _sc(r).journal)), methods=["GET", "DELETE"]),
        Route("/requests", w(requests_list), methods=["GET"]),
        Route("/requests/{request_id}", w(request_one), methods=["GET"]),
        Route("/requests/{request_id}/release", w(release), methods=["POST"]),
        Route("/step", w(step), methods=["POST"]),
        Route("/run", w(run), methods=["POST"]),
        Route("/tables", w(tables), methods=["GET"]),
        Route("/tables/{table}", w(table), methods=["GET"]),
        Route("/checksum", w(checksum), methods=["GET"]),
        Route("/query", w(query), methods=["POST"]),
        Route("/personas", w(personas), methods=["GET", "POST"]),
        Route("/personas/{oid}", w(persona), methods=["GET"]),
        Route("/inbox", w(inbox), methods=["GET", "DELETE"]),
        Route("/reset", w(reset), methods=["POST"]),
    ]
