"""The HTTP application: `create_app(settings) -> Starlette`.

Routes: the auth slot's (if installed), the on-demand API (`/api/v1`, journal.yaml), the
journal's web API and status page (`/web/api/v1`, `/`), the test-control API
(`/test-control/v1`), the driver service (`/driver/v1`, specs/openapi/driver.yaml), and
`/sbom.json`. `app.state.journal` is the core. Refusals are
`{error, message, details}` JSON; an unknown path or method under an API prefix is JSON too.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reference_journal import api, driver_api, slots, testcontrol, web
from reference_journal.config import Settings
from reference_journal.core import Journal
from reference_journal.errors import JournalError, lang_of
from reference_journal.sbom import sbom

_API_PREFIXES = ("/api/", "/web/api/", "/test-control/", "/driver/")


async def _sbom(request: Request) -> Response:
    j: Journal = request.app.state.journal
    return JSONResponse(sbom(nonfree=j.defect_on("NONFREE_COMPONENT"),
                             nested_nonfree=j.defect_on("NONFREE_NESTED_COMPONENT"),
                             any_classifier=j.defect_on("SBOM_LICENCE_FROM_ANY_CLASSIFIER")),
                        media_type="application/vnd.cyclonedx+json")


async def _journal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JournalError)
    if request.url.path.startswith("/api/") and request.app.state.journal.defect_on("ERROR_MESSAGE_EMPTY"):
        exc.message_ru = exc.message_en = ""
    return exc.response(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith(_API_PREFIXES):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    if exc.status_code == 405:
        err = JournalError(405, "method_not_allowed", "метод не поддерживается", "method not allowed",
                           headers=dict(exc.headers or {}))
    elif exc.status_code == 404:
        err = JournalError(404, "not_found", "нет такого адреса", "no such path")
    else:
        err = JournalError(exc.status_code, "http_error", str(exc.detail), str(exc.detail))
    return err.response(request, lang_of(request))


async def _call(obj: Any, name: str) -> None:
    method = getattr(obj, name, None)
    if callable(method):
        result = method()
        if inspect.isawaitable(result):
            await result


def create_app(settings: Settings | None = None, *, journal: Journal | None = None,
               load_slots: bool = True) -> Starlette:
    """A journal app. `journal` lets a caller keep the core; `load_slots=False` starts
    without the auth and export slots even if installed."""
    journal = journal or Journal(settings or Settings())
    if load_slots:
        journal.auth = slots.load_auth(journal)
        journal.export = slots.load_export(journal)
    routes: list[Any] = list(getattr(journal.auth, "routes", []) or [])
    routes += api.routes() + web.routes() + testcontrol.routes() + driver_api.routes()
    routes.append(Route("/sbom.json", _sbom, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for slot in (journal.auth, journal.export):
            await _call(slot, "startup")
        try:
            yield
        finally:
            for slot in (journal.export, journal.auth):
                await _call(slot, "shutdown")

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={JournalError: _journal_error, HTTPException: _http_error})
    app.state.journal = journal
    return app
