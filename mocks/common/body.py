"""Reading an ASGI request body whole or not at all, with a size cap, and handing it on to the
app again.

A body is used only when it arrived complete: the client did not go away before its end,
and its size equals the `Content-Length` it declared. Anything else (a connection broken
mid-upload, a chunked body never terminated, a declared length the bytes do not match) is
`incomplete` and must not reach the app, so nothing of it can be stored.

A complete body up to `SPOOL_IN_MEMORY` is bytes; a larger one stays in the file it was
spooled to while reading (`Body.path`) and is never copied into memory: the guard puts the
`Body` in the ASGI scope (`body_of`), so an upload endpoint hands the file on (the showcase
links it into its own spool) and reads it a chunk at a time. The SHA-256 is computed once,
while reading."""
from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

TOO_LARGE = "too_large"
INCOMPLETE = "incomplete"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


SPOOL_IN_MEMORY = 1024 * 1024
"""Bytes of a body kept in memory while reading; beyond, the body goes to a temporary file, so
a body that ends up refused (too large, cut off) never costs more memory than this, and an
accepted one stays there (`Body.path`)."""

CHUNK = 1 << 20
"""Bytes read at a time from a spooled body."""

SCOPE_KEY = "ezhd.body"
"""Where the guard leaves the request's `Body` in the ASGI scope."""


@dataclass(frozen=True)
class Body:
    """What `read_body` got: `data` (a complete body up to `SPOOL_IN_MEMORY`, else empty),
    `path` (a complete larger body, in its spool file; removed by `discard`), `size` (bytes
    received), `declared` (Content-Length, if any), `problem` (None, `too_large` or
    `incomplete`), `disconnected` (the client went away, so no answer can reach it) and
    `sha256` (of a complete body, computed once while reading)."""
    data: bytes = b""
    size: int = 0
    declared: int | None = None
    problem: str | None = None
    disconnected: bool = False
    sha256: str = EMPTY_SHA256
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @classmethod
    def of(cls, data: bytes) -> "Body":
        """A complete body held in memory."""
        return cls(bytes(data), len(data), sha256=hashlib.sha256(data).hexdigest())

    @property
    def content(self) -> bytes | Path:
        """What to hand on: the bytes, or the spool file of a large body."""
        return self.path if self.path is not None else self.data

    def open(self) -> BinaryIO:
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with self.open() as fh:
            while chunk := fh.read(size):
                yield chunk

    def head(self, n: int) -> bytes:
        with self.open() as fh:
            return fh.read(n)

    def read(self) -> bytes:
        """The whole body in memory (for small bodies: JSON, forms, admin uploads)."""
        return self.path.read_bytes() if self.path is not None else self.data

    def discard(self) -> None:
        """Remove the spool file (whoever handed it on has made a link or copy of their own)."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def body_of(scope: dict[str, Any]) -> Body | None:
    """The guard's `Body` of this request (None when the app runs without the guard)."""
    return scope.get(SCOPE_KEY)


async def request_body(request: Any) -> Body:
    """The request's body as a `Body`: the guard's (a large body stays on disk), or read."""
    found = body_of(request.scope)
    return found if found is not None else Body.of(await request.body())


def spool_file(fh: BinaryIO, spool_dir: str | Path | None = None) -> Body:
    """A complete `Body` of what is left in the file object `fh` (a multipart part, say), read
    a chunk at a time and hashed once; past `SPOOL_IN_MEMORY` it goes to a file of `spool_dir`."""
    spool, digest, size = _Spool(spool_dir), hashlib.sha256(), 0
    try:
        while chunk := fh.read(CHUNK):
            spool.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    except BaseException:
        spool.drop()
        raise
    data, path = spool.finish()
    return Body(data, size, sha256=digest.hexdigest(), path=path)


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


class _Spool:
    """Bytes in memory up to `SPOOL_IN_MEMORY`, then a named temporary file in `directory`."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = directory
        self.memory = bytearray()
        self.file: BinaryIO | None = None
        self.path: Path | None = None

    def write(self, chunk: bytes) -> None:
        if self.file is None and len(self.memory) + len(chunk) <= SPOOL_IN_MEMORY:
            self.memory += chunk
            return
        if self.file is None:
            fd, name = tempfile.mkstemp(prefix="ezhd-body-", suffix=".part", dir=self.directory)
            self.file, self.path = os.fdopen(fd, "wb"), Path(name)
            self.file.write(self.memory)
            self.memory = bytearray()
        self.file.write(chunk)

    def finish(self) -> tuple[bytes, Path | None]:
        if self.file is None:
            return bytes(self.memory), None
        self.file.close()
        return b"", self.path

    def drop(self) -> None:
        if self.file is not None:
            self.file.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # type: ignore[arg-type]


async def read_body(scope: dict[str, Any], receive: Any, cap: int, spool_dir: str | Path | None = None) -> Body:
    """Read the body; a declared or streamed size over `cap` stops reading at once. A complete
    body over `SPOOL_IN_MEMORY` is left in a file of `spool_dir` (default: the system's
    temporary directory), which the caller removes (`Body.discard`)."""
    declared = content_length(scope)
    if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS") and not declared and not _chunked(scope):
        return Body()
    if declared is not None and declared > cap:
        return Body(declared=declared, problem=TOO_LARGE)
    spool = _Spool(spool_dir)
    digest = hashlib.sha256()
    size = 0
    try:
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
        data, path = spool.finish()
        spool = None
        return Body(data, size, declared, sha256=digest.hexdigest(), path=path)
    finally:
        if spool is not None:
            spool.drop()


def check_utf8(data: bytes | Path, chunk: int = 1 << 16) -> None:
    """Raise `UnicodeDecodeError` (`start` = the byte offset in the body) unless `data` (bytes,
    or a file) is UTF-8, decoding a chunk at a time (each chunk's text is made and dropped), so
    that no text copy of a large body is ever made."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    if isinstance(data, Path):
        with open(data, "rb") as fh:
            at, block = 0, fh.read(chunk)
            while True:
                following = fh.read(chunk)
                _decode(decoder, block, b"", at, not following)
                if not following:
                    return
                at, block = at + len(block), following
    view = memoryview(data)
    for at in range(0, max(len(data), 1), chunk):
        _decode(decoder, view[at:at + chunk], data, at, at + chunk >= len(data))


def _decode(decoder: Any, block: Any, whole: bytes, at: int, final: bool) -> None:
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(block, final=final)
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError("utf-8", whole, at - pending + exc.start, at - pending + exc.end,
                                 exc.reason) from None


def replay(body: bytes | Body) -> Any:
    """An ASGI `receive` that yields `body` (bytes, or a `Body`: a spooled one a chunk at a
    time), then waits for a disconnect."""
    if isinstance(body, Body):
        chunks: Iterator[bytes] = body.chunks() if body.path is not None else iter([body.data])
    else:
        chunks = iter([body])
    following: bytes | None = next(chunks, b"")

    async def receive() -> dict[str, Any]:
        nonlocal following
        if following is not None:
            chunk, following = following, next(chunks, None)
            return {"type": "http.request", "body": chunk, "more_body": following is not None}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}
    return receive
