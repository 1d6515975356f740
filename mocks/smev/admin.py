"""The admin API of the mock ПОДД agent under `/_admin` (JSON in, JSON out).

| method and path | what |
|---|---|
| `GET /_admin/health` | `{"status": "ok", "mock": "smev"}` |
| `GET, PATCH /_admin/settings` | read or change `Settings` |
| `GET, POST /_admin/mnemonics` | list; register `{mnemonic, kind: system|consumer|showcase, title?}` (a system is registered with the showcase as a source too) |
| `DELETE /_admin/mnemonics/{m}` | forget one |
| `GET, POST /_admin/providers` | list; register `{mnemonic, base_url, spec?, prefix?, title?}` for OpenAPI mode (`spec`: a file of specs/openapi, default `journal.yaml`) |
| `GET, DELETE /_admin/providers/{m}` | one provider; remove it |
| `GET, POST, DELETE /_admin/faults` | list; queue `{endpoint: upload|openapi|sql, kind: status|timeout|drop|duplicate, count?, status?, seconds?, when?: before|after, retry_after?}` (`retry_after`: the seconds a 503 asks for, default 1); clear |
| `GET, DELETE /_admin/journal` | request journal (`?since=<seq>&path=<prefix>`), secrets redacted; clear |
| `GET, DELETE /_admin/violations` | providers' contract violations (`?since=<seq>&provider=<m>`); clear |
| `GET /_admin/uploads` | recent uploads: files, tables, showcase request ids and status codes |
| `POST /_admin/reset` | forget everything but settings; `{"showcase": true}` resets a shared showcase too |

Errors: 400/404 `{error, message}`.
"""
from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.common.admin import BadRequest as _Bad
from mocks.common.admin import endpoint as _wrap
from mocks.common.admin import faults_endpoint, journal_endpoint, query_int
from mocks.common.admin import read_object as _object
from mocks.smev.core import AgentCore


def _core(request: Request) -> AgentCore:
    return request.app.state.core


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "mock": "smev"})


async def settings(request: Request) -> Response:
    core = _core(request)
    if request.method == "PATCH":
        core.configure(**await _object(request))
    return JSONResponse(core.settings.public())


async def mnemonics(request: Request) -> Response:
    core = _core(request)
    if request.method == "POST":
        data = await _object(request)
        entry = core.register_mnemonic(str(data.get("mnemonic", "")), str(data.get("kind", "system")),
                                       data.get("title"))
        return JSONResponse(entry, status_code=201)
    return JSONResponse(sorted(core.mnemonics.values(), key=lambda e: e["mnemonic"]))


async def mnemonic(request: Request) -> Response:
    name = request.path_params["mnemonic"]
    if not _core(request).remove_mnemonic(name):
        raise KeyError(name)
    return Response(status_code=204)


async def providers(request: Request) -> Response:
    core = _core(request)
    if request.method == "POST":
        data = await _object(request)
        missing = [k for k in ("mnemonic", "base_url") if not data.get(k)]
        if missing:
            raise _Bad(f"missing: {', '.join(missing)}")
        provider = core.register_provider(str(data["mnemonic"]), str(data["base_url"]), data.get("spec"),
                                          data.get("prefix"), data.get("title"))
        return JSONResponse(provider.public(), status_code=201)
    return JSONResponse([p.public() for p in core.providers.values()])


async def provider(request: Request) -> Response:
    core = _core(request)
    name = request.path_params["mnemonic"]
    if request.method == "DELETE":
        if not core.remove_provider(name):
            raise KeyError(name)
        return Response(status_code=204)
    if name not in core.providers:
        raise KeyError(name)
    return JSONResponse(core.providers[name].public())


async def violations(request: Request) -> Response:
    core = _core(request)
    if request.method == "DELETE":
        core.clear_violations()
        return Response(status_code=204)
    return JSONResponse(core.read_violations(query_int(request, "since", 0), request.query_params.get("provider")))


async def uploads(request: Request) -> Response:
    return JSONResponse(list(_core(request).uploads))


async def reset(request: Request) -> Response:
    data = await _object(request)
    flag = data.get("showcase")
    _core(request).reset(showcase=bool(flag) if flag is not None else None)
    return Response(status_code=204)


def routes() -> list[Route]:
    w = _wrap
    return [
        Route("/health", w(health), methods=["GET"]),
        Route("/settings", w(settings), methods=["GET", "PATCH"]),
        Route("/mnemonics", w(mnemonics), methods=["GET", "POST"]),
        Route("/mnemonics/{mnemonic}", w(mnemonic), methods=["DELETE"]),
        Route("/providers", w(providers), methods=["GET", "POST"]),
        Route("/providers/{mnemonic}", w(provider), methods=["GET", "DELETE"]),
        Route("/faults", w(faults_endpoint(_core, ("status", "seconds", "when", "retry_after"))), methods=["GET", "POST", "DELETE"]),
        Route("/journal", w(journal_endpoint(lambda r: _core(r).journal)), methods=["GET", "DELETE"]),
        Route("/violations", w(violations), methods=["GET", "DELETE"]),
        Route("/uploads", w(uploads), methods=["GET"]),
        Route("/reset", w(reset), methods=["POST"]),
    ]
