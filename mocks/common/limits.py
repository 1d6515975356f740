"""How long a mock waits for a client, and how many connections it keeps: slow or silent
clients are dropped so that they cannot hold the stand.

uvicorn closes an idle keep-alive connection (`keep_alive`) and answers 503 beyond
`max_connections` (`limit_concurrency`), but waits for a request's headers and body for
ever. `Limits.uvicorn_config()` adds that, with uvicorn's httptools protocol subclassed:

- `header_timeout`: from the connection (or the first byte of a next request) to the end of
  the headers;
- `body_timeout`: from the end of the headers to the end of the body, however steadily the
  bytes trickle in (a 1-byte/s client is dropped like a silent one).

On expiry the client gets `408 {"error": "request_timeout", ...}` (when no answer has started)
and the connection is closed; the app sees a disconnect, so a body cut off this way is never
used (`mocks.common.body`)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 120.0      # 100 MB, the largest upload, at about 1 MB/s
    keep_alive: int = 75             # nginx's default keepalive_timeout (specs/README.md: project reading)
    max_connections: int = 1000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def uvicorn_config(self) -> dict[str, Any]:
        """Keyword arguments for `uvicorn.Config`."""
        return {"http": protocol_class(self), "timeout_keep_alive": self.keep_alive,
                "limit_concurrency": self.max_connections}


def _timeout_response(what: str, seconds: float) -> bytes:
    body = json.dumps({"error": "request_timeout",
                       "message": f"the request's {what} did not arrive within {seconds:g} s; nothing was used",
                       "details": []}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def protocol_class(limits: Limits) -> type:
    """uvicorn's httptools protocol with header and body deadlines."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: Any = None

        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire, what, seconds)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self, what: str, seconds: float) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if what == "headers" and self.cycle is not None and not self.cycle.response_complete:
                self._arm(seconds, what)   # a pipelined request: its clock starts after the answer before it
                return
            cycle = self.cycle if what == "body" else None
            if cycle is not None and cycle.response_started and not cycle.response_complete:
                return      # the app is answering already (a refusal before reading the body)
            if cycle is None or not cycle.response_started:
                self.transport.write(_timeout_response(what, seconds))
                if cycle is not None:
                    cycle.response_started = cycle.response_complete = True
            self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(limits.header_timeout, "headers")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm(limits.header_timeout, "headers")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(limits.body_timeout, "body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineProtocol
