"""What every mock's `/_admin` API shares: JSON in, JSON out, and one error shape.

`endpoint(fn)` turns the exceptions an admin handler raises into `{error, message}` answers:
`BadRequest`, `ValueError`, `TypeError` → 400 `bad_request`; `KeyError` → 404 `not_found`;
a mock adds its own mappings with `extra={ExcType: (status, error)}`. `journal_endpoint`
serves a `RequestJournal` (`GET ?since=&path=`, `DELETE` clears)."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The admin request cannot be used; the message says why."""


def error_response(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


async def read_json(request: Request) -> Any:
    """The JSON body; an empty body is `{}`."""
    body = await request.body()
    if not body:
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None


def as_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    return data


async def read_object(request: Request) -> dict[str, Any]:
    return as_object(await read_json(request))


async def read_records(request: Request, key: str) -> list[dict[str, Any]]:
    """A list of objects from a JSON list, `{key: [...]}`, one object, or JSON Lines
    (`application/x-ndjson`, or several lines that each start with `{`): how `personas.jsonl`
    and friends are posted."""
    try:
        body = (await request.body()).decode("utf-8")
        ctype = request.headers.get("content-type", "")
        if "ndjson" in ctype or "jsonl" in ctype or (body.lstrip().startswith("{") and "\n{" in body):
            rows = [json.loads(line) for line in body.splitlines() if line.strip()]
        else:
            data = json.loads(body) if body.strip() else []
            if isinstance(data, dict):
                rows = data.get(key, [data]) if "oid" not in data and key in data else [data]
            else:
                rows = data
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON or JSON Lines: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadRequest(f"expected {key} objects")
    return rows


def query_int(request: Request, name: str, default: int, low: int = 0, high: int = 10**12) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in {low}..{high}")
    return value


def endpoint(fn: Handler, extra: dict[type, Callable[[Exception], tuple[int, str]]] | None = None) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except Exception as exc:  # noqa: BLE001 - mapped below, else re-raised
            for kind, mapping in (extra or {}).items():
                if isinstance(exc, kind):
                    status, error = mapping(exc)
                    return error_response(status, error, str(exc))
            if isinstance(exc, (BadRequest, ValueError, TypeError)):
                return error_response(400, "bad_request", str(exc))
            if isinstance(exc, KeyError):
                return error_response(404, "not_found", f"unknown {exc}")
            raise
    handler.__name__ = getattr(fn, "__name__", "handler")
    return handler


def journal_endpoint(journal_of: Callable[[Request], Any]) -> Handler:
    async def journal(request: Request) -> Response:
        log = journal_of(request)
        if request.method == "DELETE":
            log.clear()
            return Response(status_code=204)
        return JSONResponse(log.read(query_int(request, "since", 0), request.query_params.get("path")))
    return journal


def faults_endpoint(owner_of: Callable[[Request], Any], params: tuple[str, ...]) -> Handler:
    """`/_admin/faults` over an owner with `add_fault(endpoint, kind, count, **params)` and a
    `FaultQueue` at `.faults`: `POST` queues one (only the named `params` are passed on),
    `GET` lists, `DELETE` clears."""
    async def faults(request: Request) -> Response:
        owner = owner_of(request)
        if request.method == "POST":
            data = await read_object(request)
            given = {k: data[k] for k in params if k in data}
            fault = owner.add_fault(str(data.get("endpoint", "")), str(data.get("kind", "")),
                                    data.get("count", 1), **given)
            return JSONResponse(fault.public(), status_code=201)
        if request.method == "DELETE":
            owner.faults.clear()
            return Response(status_code=204)
        return JSONResponse(owner.faults.list())
    return faults
