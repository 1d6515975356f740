"""RS256 token signing for mock ЕСИА, in this process or in a pool of signing processes.

`cryptography` holds the GIL while it signs, so one Python process signs at most one core's
worth of RSA-2048. `SigningPool(n)` runs `n` processes (`signing.main` in a fresh interpreter,
each with one end of a socket pair and nothing else of the server: no threads, sockets or main
module re-imported) that each take `(header, claims)` pairs and
return compact JWTs made by the same `joserfc` call as `sign_rs256` here. All state —
codes, refresh tokens, faults, the journal — stays in the one `EsiaCore`; only the finished
claims cross the pipe, so an admin call or a queued fault still applies to the very next
request. The private key goes to a worker once per key (`kid`), over its own pipe.

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
WINDOW = 4          # jobs in flight per worker: keeps it busy, keeps both pipes far from full


def sign_rs256(header: dict[str, Any], claims: dict[str, Any], key: RSAKey) -> str:
    """The compact JWS of `claims` under `header` (ЕСИА's own `sbt`/`ver` header fields)."""
    return jwt.encode(header, claims, key, registry=REGISTRY)


class SignerUnavailable(RuntimeError):
    """The pool cannot sign this (not started, other loop, workers gone): sign locally."""


def _serve(conn: Any) -> None:
    """A worker: (kid, pem or None, [(header, claims), ...]) in, ("ok", [jwt, ...]) out."""
    keys: dict[str, RSAKey] = {}
    while True:
        try:
            kid, pem, items = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            if pem is not None:
                keys[kid] = RSAKey.import_key(pem)
            key = keys[kid]
            reply: tuple[str, Any] = ("ok", [sign_rs256(h, c, key) for h, c in items])
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, process: Any, conn: Any) -> None:
        self.process = process
        self.conn = conn
        self.pending: collections.deque[asyncio.Future] = collections.deque()
        self.kids: set[str] = set()        # keys this worker has been sent
        self.alive = True


class SigningPool:
    """`processes` signing processes; `await sign(kid, pem_of, items)` → JWTs in order."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.size = processes
        self.workers: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backlog: collections.deque[tuple[bytes, str, Any, asyncio.Future]] = collections.deque()
        self._closed = False

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
                finally:
                    theirs.close()      # only the worker holds its end: EOF there when we go
                self.workers.append(_Worker(process, Connection(mine.detach())))
        except BaseException:
            self.close()
            raise
        return self

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def alive(self) -> bool:
        return any(w.alive for w in self.workers)

    # --- the loop side -----------------------------------------------------------------------

    def _attach(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None and not self._closed:
            self._loop = loop
            for w in self.workers:
                loop.add_reader(w.conn.fileno(), self._readable, w)
        if loop is not self._loop:
            raise SignerUnavailable("the signing pool serves another event loop")
        return loop

    async def sign(self, kid: str, pem_of: Any, items: list[tuple[dict, dict]]) -> list[str]:
        """Sign `items` with the key `kid` (`pem_of()` gives its PKCS#8 PEM when a worker
        has not seen it yet)."""
        loop = self._attach()
        fut = loop.create_future()
        job = (kid, pem_of, items, fut)
        worker = min((w for w in self.workers if w.alive), key=lambda w: len(w.pending), default=None)
        if worker is None:
            raise SignerUnavailable("no signing process is running")
        if len(worker.pending) < WINDOW:
            self._send(worker, job)
        else:
            self._backlog.append(job)
        status, value = await fut
        if status != "ok":
            raise SignerUnavailable(f"a signing process failed: {value}")
        return value

    def _send(self, w: _Worker, job: tuple) -> None:
        kid, pem_of, items, fut = job
        pem = None
        if kid not in w.kids:
            pem = pem_of()
            w.kids.add(kid)
        try:
            w.conn.send_bytes(pickle.dumps((kid, pem, items), pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._lost(w)
            self._resubmit(job)
            return
        w.pending.append(fut)

    def _resubmit(self, job: tuple) -> None:
        worker = min((w for w in self.workers if w.alive), key=lambda w: len(w.pending), default=None)
        if worker is None:
            if not job[3].done():
                job[3].set_exception(SignerUnavailable("no signing process is running"))
        else:
            self._send(worker, job)

    def _readable(self, w: _Worker) -> None:
        try:
            reply = pickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            self._lost(w)
            return
        fut = w.pending.popleft()
        if not fut.done():
            fut.set_result(reply)
        while self._backlog and len(w.pending) < WINDOW and w.alive:
            self._send(w, self._backlog.popleft())

    def _lost(self, w: _Worker) -> None:
        """A worker's pipe broke: its jobs fail over to the caller (who signs locally)."""
        if not w.alive:
            return
        w.alive = False
        if self._loop is not None:
            try:
                self._loop.remove_reader(w.conn.fileno())
            except (ValueError, OSError, RuntimeError):
                pass
        while w.pending:
            fut = w.pending.popleft()
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

    # --- shutdown ----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (their pipes close, they exit; terminate, then kill, the slow)."""
        self._closed = True
        loop, self._loop = self._loop, None
        for w in self.workers:
            if loop is not None and not loop.is_closed():
                try:
                    loop.remove_reader(w.conn.fileno())
                except (ValueError, OSError, RuntimeError):
                    pass
            w.alive = False
            try:
                w.conn.close()
            except OSError:
                pass
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
