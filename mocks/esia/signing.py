"""RS256 token signing for mock ЕСИА, in this process or in a pool of signing processes.

`cryptography` holds the GIL while it signs, so one Python process signs at most one core's
worth of RSA-2048. `SigningPool(n)` runs `n` processes (`signing.main` in a fresh interpreter,
each with one end of a socket pair and nothing else of the server: no threads, sockets or main
module re-imported) that each take `(header, claims)` pairs and return compact JWTs made by
the same `joserfc` call as `sign_rs256` here. All state — codes, refresh tokens, faults, the
journal — stays in the one `EsiaCore`; only the finished claims cross the socket, so an admin
call or a queued fault still applies to the very next request. The jobs of one loop iteration
go to a worker as one message (at most `BATCH`, `WINDOW` messages in flight per worker). The
private key goes to a worker once per key (`kid`), over its own socket.

The pool serves the asyncio loop that first calls `sign` (the server's); a call from any
other loop, a pool being started or one whose workers died gets `SignerUnavailable` and the
core signs in its own process instead. Each worker runs in a session of its own (a terminal's
Ctrl-C reaches the server, which stops them) and exits when its pipe closes: on `close()`, and
when the parent dies however it dies, since no other process holds the parent's end. POSIX only
(the stand's platforms); elsewhere the server signs itself.
"""
from __future__ import annotations

import asyncio
import collections
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

REGISTRY = JWSRegistry(header_registry={
    "sbt": HeaderParameter("ЕСИА token kind (id, access)", "str"),
    "ver": HeaderParameter("ЕСИА token format version", "int"),
})
WINDOW = 2          # messages in flight per worker: one being signed, one waiting
BATCH = 8           # jobs (exchanges) per message at most: bounds the wait of the first


def sign_rs256(header: dict[str, Any], claims: dict[str, Any], key: RSAKey) -> str:
    """The compact JWS of `claims` under `header` (ЕСИА's own `sbt`/`ver` header fields)."""
    return jwt.encode(header, claims, key, registry=REGISTRY)


class SignerUnavailable(RuntimeError):
    """The pool cannot sign this (not started, other loop, workers gone): sign locally."""


def _serve(conn: Any) -> None:
    """A worker: a batch [(kid, pem or None, [(header, claims), ...]), ...] in, one reply
    per job out in one message: ("ok", [jwt, ...]) or ("error", why)."""
    keys: dict[str, RSAKey] = {}
    while True:
        try:
            batch = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        replies: list[tuple[str, Any]] = []
        for kid, pem, items in batch:
            try:
                if pem is not None:
                    keys[kid] = RSAKey.import_key(pem)
                replies.append(("ok", [sign_rs256(h, c, keys[kid]) for h, c in items]))
            except Exception as exc:  # noqa: BLE001 - report, keep serving
                replies.append(("error", f"{type(exc).__name__}: {exc}"))
        try:
            conn.send_bytes(pickle.dumps(replies, pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


class _Worker(asyncio.Protocol):
    """The parent's end of one signing process: length-prefixed pickles both ways (the
    framing of `multiprocessing.connection`, which the worker reads), answers in order."""

    def __init__(self, pool: "SigningPool", process: Any, sock: socket.socket) -> None:
        self.pool = pool
        self.process = process
        self.sock = sock
        self.transport: asyncio.Transport | None = None
        self.pending: collections.deque[list[asyncio.Future]] = collections.deque()   # batches
        self.kids: set[str] = set()        # keys this worker has been sent
        self.alive = True
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_FRAME.pack(len(payload)) + payload)

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while len(buf) >= 4:
            (size,) = _FRAME.unpack_from(buf)
            if len(buf) < 4 + size:
                break
            replies = pickle.loads(bytes(buf[4:4 + size]))
            del buf[:4 + size]
            for fut, reply in zip(self.pending.popleft(), replies):
                if not fut.done():
                    fut.set_result(reply)
        self.pool._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool._lost(self)


_FRAME = struct.Struct("!i")


class SigningPool:
    """`processes` signing processes; `await sign(kid, pem_of, items)` → JWTs in order."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.size = processes
        self.workers: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attaching: asyncio.Future | None = None
        self._backlog: collections.deque[tuple[str, Any, Any, asyncio.Future]] = collections.deque()
        self._closed = False
        self._flush_soon = False

    def start(self) -> "SigningPool":
        if os.name != "posix":
            raise OSError("signing processes need a POSIX system; use 0 signers")
        root = str(Path(__file__).resolve().parents[2])     # where `mocks` is importable from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            for _ in range(self.size):
                mine, theirs = socket.socketpair()
                try:
                    process = subprocess.Popen(
                        [sys.executable, "-c", "import sys; from mocks.esia.signing import main; "
                         "main(int(sys.argv[1]))", str(theirs.fileno())],
                        pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
                        start_new_session=True)
                except BaseException:
                    mine.close()
                    raise
                finally:
                    theirs.close()      # only the worker holds its end: EOF there when we go
                self.workers.append(_Worker(self, process, mine))
        except BaseException:
            self.close()
            raise
        return self

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def alive(self) -> bool:
        return any(w.alive for w in self.workers)

    # --- the loop side -----------------------------------------------------------------------

    async def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None and not self._closed:
            self._loop = loop
            self._attaching = loop.create_future()
            try:
                for w in self.workers:
                    try:
                        await loop.connect_accepted_socket(lambda w=w: w, sock=w.sock)
                    except OSError:     # its process is already gone: the others sign
                        w.alive = False
                        continue
                    w.transport.set_write_buffer_limits(high=1 << 20)
            finally:
                self._attaching.set_result(None)
        if loop is not self._loop:
            raise SignerUnavailable("the signing pool serves another event loop")
        if not self._attaching.done():
            await self._attaching

    async def sign(self, kid: str, pem_of: Any, items: list[tuple[dict, dict]]) -> list[str]:
        """Sign `items` with the key `kid` (`pem_of()` gives its PKCS#8 PEM when a worker
        has not seen it yet). The jobs of one loop iteration go out together: one message
        per worker, one answer back (fewer wake-ups of the server process per exchange)."""
        await self._attach()
        if self._least_busy() is None:
            raise SignerUnavailable("no signing process is running")
        fut = self._loop.create_future()
        self._backlog.append((kid, pem_of, items, fut))
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)
        status, value = await fut
        if status != "ok":
            raise SignerUnavailable(f"a signing process failed: {value}")
        return value

    def _least_busy(self) -> _Worker | None:
        return min((w for w in self.workers if w.alive and w.transport is not None),
                   key=lambda w: len(w.pending), default=None)

    def _flush(self) -> None:
        """Hand the waiting jobs to the workers with fewer than `WINDOW` batches in flight,
        shared out evenly, at most `BATCH` jobs a message."""
        self._flush_soon = False
        while self._backlog:
            free = [w for w in self.workers if w.alive and w.transport is not None and len(w.pending) < WINDOW]
            if not free:
                return
            free.sort(key=lambda w: len(w.pending))
            share = min(BATCH, -(-len(self._backlog) // len(free)))
            for w in free:
                jobs = [self._backlog.popleft() for _ in range(min(share, len(self._backlog)))]
                if jobs:
                    self._send(w, jobs)

    def _send(self, w: _Worker, jobs: list[tuple]) -> None:
        batch = []
        for kid, pem_of, items, _ in jobs:
            pem = None
            if kid not in w.kids:
                pem = pem_of()
                w.kids.add(kid)
            batch.append((kid, pem, items))
        w.pending.append([fut for *_, fut in jobs])
        w.send(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))

    def _lost(self, w: _Worker) -> None:
        """A worker's pipe broke: its jobs fail over to the caller (who signs locally)."""
        if not w.alive:
            return
        w.alive = False
        while w.pending:
            for fut in w.pending.popleft():
                if not fut.done():
                    fut.set_exception(SignerUnavailable("a signing process stopped"))
        if not self._closed:
            print(f"mock ЕСИА: signing process {w.process.pid} stopped (exit {w.process.poll()}); "
                  "signing in the server process instead", file=sys.stderr)
        if not self.alive():
            while self._backlog:
                fut = self._backlog.popleft()[3]
                if not fut.done():
                    fut.set_exception(SignerUnavailable("no signing process is running"))
        else:
            self._flush()

    # --- shutdown ----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: its socket closes, it sees EOF and exits (killed if it has
        not within `timeout`). Safe from any thread, after the loop has stopped too."""
        self._closed = True
        loop, self._loop = self._loop, None
        for w in self.workers:
            w.alive = False
            try:        # EOF for the worker, from any thread, whoever owns the descriptor
                w.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if w.transport is not None and loop is not None and not loop.is_closed():
                if loop.is_running():       # the server's loop, in its own thread
                    loop.call_soon_threadsafe(w.transport.abort)
                else:
                    w.transport.abort()
            else:                           # no live loop owns it
                w.sock.close()
        for w in self.workers:
            try:
                w.process.wait(timeout)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait(5)
        self.workers = []


def main(fd: int) -> None:
    """A signing process's entry point, serving the socket `fd` its parent passed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the server stops us, not a terminal's Ctrl-C
    _serve(Connection(fd))
