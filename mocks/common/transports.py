"""Ways to reach a mock without a network, or on loopback.

- `asgi_transport(app)` (async httpx) and `SyncASGITransport(app)` (sync httpx: the ASGI
  app runs on an anyio blocking portal in a background thread).
- `respx_router(app, base_url)` — a respx router sending every request for `base_url` to the
  app (respx's own `ASGIHandler` for async clients, `SyncASGITransport` for sync ones);
  `responses_router(app, base_url)` — the same for `requests` through `responses`.
  Close either with `close_router()`.
- `ServerThread(app, limits=None)` — uvicorn on 127.0.0.1, port picked by the OS, in a thread,
  with the header/body deadlines and connection limits of `mocks.common.limits`.
"""
from __future__ import annotations

import re
from typing import Any

import httpx


# --- transports -----------------------------------------------------------------------------

def asgi_transport(app: Any) -> httpx.ASGITransport:
    """Transport for `httpx.AsyncClient(transport=..., base_url=...)`."""
    return httpx.ASGITransport(app=app)


class SyncASGITransport(httpx.BaseTransport):
    """A sync httpx transport over an ASGI app, run on an anyio blocking portal (a background
    thread with its own event loop). Close it (or use it as a context manager) to stop the
    thread."""

    def __init__(self, app: Any) -> None:
        from anyio.from_thread import start_blocking_portal

        self._inner = httpx.ASGITransport(app=app)
        self._cm = start_blocking_portal()
        self._portal = self._cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            req = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                                extensions=request.extensions)
            resp = await self._inner.handle_async_request(req)
            content = await resp.aread()
            return resp.status_code, resp.headers.raw, content

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None


def respx_router(app: Any, base_url: str, router: Any = None, sync: bool | None = None) -> Any:
    """A respx router (new or given) that routes `base_url/...` to the app.

    Async httpx clients are served by respx's `ASGIHandler`; sync ones by a
    `SyncASGITransport`. respx calls one side effect for both, and an httpx request does not
    say which kind of client sent it, so the side effect answers asynchronously when an
    event loop runs in the calling thread and synchronously otherwise. A *sync* client
    called from inside a coroutine needs `sync=True` (and then async clients cannot share
    the router); `sync=False` forces the async handler."""
    import asyncio

    import respx

    router = router or respx.MockRouter(assert_all_called=False)
    async_handler = respx.ASGIHandler(app)
    sync_transport = SyncASGITransport(app)

    def side_effect(request: httpx.Request):
        if sync is None:
            try:
                asyncio.get_running_loop()
                use_async = True
            except RuntimeError:
                use_async = False
        else:
            use_async = not sync
        if use_async:
            return async_handler(request)
        return sync_transport.handle_request(request)

    router.route(url__startswith=base_url.rstrip("/") + "/").mock(side_effect=side_effect)
    router.route(url=base_url.rstrip("/")).mock(side_effect=side_effect)
    router.mock_transport = sync_transport  # closed by close_router()
    return router


def responses_router(app: Any, base_url: str, mock: Any = None) -> Any:
    """A `responses.RequestsMock` (new or given) sending `requests` calls for `base_url` to the
    app. Other URLs are untouched: add `mock.add_passthru(...)` for the journal if needed."""
    import responses

    mock = mock or responses.RequestsMock(assert_all_requests_are_fired=False)
    transport = SyncASGITransport(app)

    def callback(prepared):
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        req = httpx.Request(prepared.method, prepared.url, headers=dict(prepared.headers), content=body)
        resp = transport.handle_request(req)
        headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() != "content-length"]
        return resp.status_code, headers, resp.content

    pattern = re.compile(re.escape(base_url.rstrip("/")) + r"(/.*)?(\?.*)?$")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        mock.add_callback(method, pattern, callback=callback)
    mock.mock_transport = transport
    return mock


# --- a real server on loopback ---------------------------------------------------------------

class ServerThread:
    """Run an ASGI app under uvicorn in a background thread on loopback (port 0 = OS-picked).

    `with ServerThread(app) as url: ...` — for end-to-end tests and benchmarks that need real
    sockets; `ezhd mocks up` runs the same server in the foreground. `limits`
    (`mocks.common.limits.Limits`, defaults without) bounds slow clients and connections."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, limits: Any = None,
                 sock: Any = None, **config: Any) -> None:
        import uvicorn

        from mocks.common.limits import Limits

        config = {**(limits or Limits()).uvicorn_config(), **config}
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "off")
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **config))
        self.sock = sock          # a socket already bound (and listening): served instead of host/port
        self.thread: Any = None
        self.url = ""

    def start(self) -> str:
        import threading
        import time as _time

        sockets = [self.sock] if self.sock is not None else None
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": sockets}, name="mock-uvicorn",
                                       daemon=True)
        self.thread.start()
        deadline = _time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or _time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            _time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def close_router(router: Any) -> None:
    """Stop the background thread of a router made by `respx_router`/`responses_router`."""
    transport = getattr(router, "mock_transport", None)
    if transport is not None:
        transport.close()
