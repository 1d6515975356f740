"""Reading an ASGI request body whole or not at all, with a size cap, and handing it on to the
app again.

A body is used only when it arrived complete: the client did not go away before its end,
and its size equals the `Content-Length` it declared. Anything else (a connection broken
mid-upload, a chunked body never terminated, a declared length the bytes do not match) is
`incomplete` and must not reach the app, so nothing of it can be stored."""
from __future__ import annotations

import asyncio
import codecs
import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any

TOO_LARGE = "too_large"
INCOMPLETE = "incomplete"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


SPOOL_IN_MEMORY = 1024 * 1024
"""Bytes of a body kept in memory while reading; beyond, the body goes to a temporary file, so
a body that ends up refused (too large, cut off) never costs more memory than this."""


@dataclass(frozen=True)
class Body:
    """What `read_body` got: `data` (empty unless complete), `size` (bytes received),
    `declared` (Content-Length, if any), `problem` (None, `too_large` or `incomplete`),
    `disconnected` (the client went away, so no answer can reach it) and `sha256` (of a
    complete body, computed once while reading)."""
    data: bytes = b""
    size: int = 0
    declared: int | None = None
    problem: str | None = None
    disconnected: bool = False
    sha256: str = EMPTY_SHA256

    @property
    def ok(self) -> bool:
        return self.problem is None


def content_length(scope: dict[str, Any]) -> int | None:
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


def _chunked(scope: dict[str, Any]) -> bool:
    return any(k == b"transfer-encoding" and b"chunked" in v.lower() for k, v in scope.get("headers", []))


async def read_body(scope: dict[str, Any], receive: Any, cap: int) -> Body:
    """Read the body; a declared or streamed size over `cap` stops reading at once."""
    declared = content_length(scope)
    if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS") and not declared and not _chunked(scope):
        return Body()
    if declared is not None and declared > cap:
        return Body(declared=declared, problem=TOO_LARGE)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    digest = hashlib.sha256()
    size = 0
    with spool:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Body(size=size, declared=declared, problem=INCOMPLETE, disconnected=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return Body(size=size, declared=declared, problem=TOO_LARGE)
            if declared is not None and size > declared:
                return Body(size=size, declared=declared, problem=INCOMPLETE)
            if chunk:
                spool.write(chunk)
                digest.update(chunk)
            if not message.get("more_body", False):
                break
        if declared is not None and size != declared:
            return Body(size=size, declared=declared, problem=INCOMPLETE)
        spool.seek(0)
        return Body(spool.read(), size, declared, sha256=digest.hexdigest())


def check_utf8(data: bytes, chunk: int = 1 << 20) -> None:
    """Raise `UnicodeDecodeError` (`start` = the byte offset in `data`) unless `data` is UTF-8,
    decoding a chunk at a time so that no text copy of a large body is ever made."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for at in range(0, max(len(data), 1), chunk):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[at:at + chunk], final=at + chunk >= len(data))
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError("utf-8", data, at - pending + exc.start, at - pending + exc.end,
                                     exc.reason) from None


def replay(body: bytes) -> Any:
    """An ASGI `receive` that yields `body` once, then waits for a disconnect."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}
    return receive
