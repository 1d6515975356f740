"""The outer ASGI layer every mock puts around its app: the admin token, a body read whole or
not at all under a size cap (a large one left on disk, `mocks.common.body`), queued faults, a
crash guard and the request journal.

`RequestGuard.__call__` is the one sequence; a mock subclasses it and supplies what differs:
which endpoint a path is, each endpoint's cap, its error shape, its faults and its journal
entry. The order: `/_admin` without the stand's admin token → 401 (nothing read); a body
that did not arrive whole (client gone, or its size differs from `Content-Length`) never
reaches the app — nobody is answered when the client has gone, 400 otherwise; over the cap
→ the mock's `too_large`; then a queued fault may answer instead of the app; an exception
of the app becomes the mock's 500 if nothing was sent yet. Every request is recorded once.

The admin token is the stand's, not a mock's: `set_admin_token(app, token)` puts it in
`app.state.admin_token`; clients send `Authorization: Bearer <token>` (`admin_headers`).
`ezhd mocks up --admin-token` (or `$EZHD_MOCKS_ADMIN_TOKEN`) sets it on every mock."""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from mocks.common.admin import error_response
from mocks.common.body import INCOMPLETE, SCOPE_KEY, TOO_LARGE, Body, read_body, replay

ADMIN_TOKEN_ENV = "EZHD_MOCKS_ADMIN_TOKEN"
"""The environment variable `ezhd mocks up` and the suite's admin clients read the token from."""


def set_admin_token(app: Any, token: str | None) -> None:
    """Require `token` on every `/_admin` route of `app` (None or "" = no token)."""
    app.state.admin_token = token or None


def admin_headers(token: str | None) -> dict[str, str]:
    """The headers an admin client sends with `token` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def authorized(scope: dict[str, Any], token: str | None) -> bool:
    """True without a token; else the request must carry `Authorization: Bearer <token>`."""
    if not token:
        return True
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            scheme, _, given = v.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return False


@dataclass
class Exchange:
    """One request passing the guard: what the mock's hooks and journal entry need."""
    scope: dict[str, Any]
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    body: Body = field(default_factory=Body)
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    fault: Any = None
    refused: str | None = None      # "unauthorized", "too_large", "incomplete": the guard answered
    swallow: bool = False            # process, but send nothing (a "drop after" fault)

    @property
    def duration_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


class RequestGuard:
    """Base of the three mocks' outer layer. `app` is the wrapped ASGI app, `state` the
    Starlette state holding `admin_token`. Exceptions in `passthrough` are the mock's way of
    dropping a connection and pass unchanged."""

    passthrough: tuple[type[BaseException], ...] = ()

    def __init__(self, app: Any, state: Any = None) -> None:
        self.app = app
        self.state = state

    # --- what a mock supplies -----------------------------------------------------------------
    def endpoint_of(self, scope: dict[str, Any]) -> str:
        raise NotImplementedError

    def cap(self, endpoint: str) -> int:
        raise NotImplementedError

    def spool_dir(self) -> Any:
        """Where a large body is spooled while read (None: the system's temporary directory);
        a mock whose store keeps bodies on disk names a directory on the same file system,
        so that handing a body on is a link, not a copy."""
        return None

    def error(self, ex: Exchange, status: int, error: str, en: str, ru: str) -> Response:
        """The mock's error answer."""
        raise NotImplementedError

    def too_large(self, ex: Exchange, cap: int) -> Response:
        return self.error(ex, 413, "too_large", f"the body is larger than {cap} bytes",
                          f"тело запроса больше {cap} байт")

    def incomplete(self, ex: Exchange) -> Response:
        return self.error(ex, 400, "invalid_request", incomplete_text(ex.body, "en"), incomplete_text(ex.body, "ru"))

    def crash(self, ex: Exchange, exc: Exception) -> Response:
        return self.error(ex, 500, "internal_error", "internal error", "внутренняя ошибка")

    async def fault(self, ex: Exchange, send: Any) -> Response | None:
        """A queued fault's answer instead of the app's (None = go on to the app)."""
        return None

    def after(self, ex: Exchange) -> None:
        """Called when the app has answered (a mock may drop the connection here)."""

    def crashed_late(self, ex: Exchange, exc: Exception) -> None:
        """The app failed after its answer had started: re-raise (the server drops it)."""
        raise exc

    def record(self, ex: Exchange) -> None:
        raise NotImplementedError

    # --- the one sequence ---------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ex = Exchange(scope, self.endpoint_of(scope))

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ex.status = message["status"]
                ex.response_headers = list(message.get("headers", []))
            if not ex.swallow:
                await send(message)

        try:
            if ex.endpoint == "admin" and not authorized(scope, getattr(self.state, "admin_token", None)):
                ex.refused = "unauthorized"
                await unauthorized()(scope, receive, send_wrapper)
                return
            cap = self.cap(ex.endpoint)
            ex.body = await read_body(scope, receive, cap, self.spool_dir())
            if ex.body.problem == INCOMPLETE:
                ex.refused = INCOMPLETE
                if not ex.body.disconnected:
                    await self.incomplete(ex)(scope, receive, send_wrapper)
                return
            if ex.body.problem == TOO_LARGE:
                ex.refused = TOO_LARGE
                await self.too_large(ex, cap)(scope, receive, send_wrapper)
                return
            answer = await self.fault(ex, send_wrapper)
            if answer is not None:
                await answer(scope, receive, send_wrapper)
                return
            scope[SCOPE_KEY] = ex.body         # an upload endpoint takes a large body as its file
            await self.app(scope, replay(ex.body), send_wrapper)
            self.after(ex)
        except self.passthrough:
            raise
        except Exception as exc:  # noqa: BLE001 - keep serving whatever happens
            if ex.status is not None and not ex.swallow:
                self.crashed_late(ex, exc)
            else:
                ex.swallow = False
                await self.crash(ex, exc)(scope, receive, send_wrapper)
        finally:
            try:
                self.record(ex)
            finally:
                ex.body.discard()


def unauthorized() -> Response:
    response = error_response(401, "unauthorized",
                              "this stand requires its admin token: send 'Authorization: Bearer <token>' "
                              f"(the token given to `ezhd mocks up --admin-token` or ${ADMIN_TOKEN_ENV})")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def incomplete_text(body: Body, lang: str) -> str:
    if lang == "ru":
        return (f"тело запроса неполное: получено {body.size} байт, заявлено {body.declared}; ничего не сохранено"
                if body.declared is not None else "тело запроса оборвано; ничего не сохранено")
    return (f"the body is incomplete: {body.size} bytes received, Content-Length {body.declared}; nothing was stored"
            if body.declared is not None else "the body was cut off; nothing was stored")
