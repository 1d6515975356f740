"""`ezhd mocks`: run the federal mocks (ЕСИА, ПОДД agent, ЕПГУ showcase and portal).

`ezhd mocks up [NAMES...] [--host 127.0.0.1] [--port 0] [--state-dir DIR] [--ready-file F]
[--admin-token T]` starts the named mocks (default: all three) under uvicorn on loopback (port 0 = chosen by
the OS; with a fixed port, consecutive ports), sharing one showcase and with the portal
wired to the agent (`mocks.environment`). It prints `NAME URL` per mock, writes
`{name: url}` as JSON to the ready file once every mock answers its `/_admin/health`
(removed on stop), and stops cleanly on Ctrl-C or SIGTERM (exit 0). With `--state-dir` the
showcase keeps what it accepted across restarts. A mock is set up through its admin API
(`/_admin/...`). With `--admin-token` (or `$EZHD_MOCKS_ADMIN_TOKEN`) every `/_admin` route
wants `Authorization: Bearer <token>` (401 otherwise) and the ready file carries the token as
`admin_token` (the file is then readable by its owner only); a `--host` beyond loopback is
refused without one, since the admin API resets and rewrites the stand. `--header-timeout`,
`--body-timeout` and `--max-connections` bound slow clients (`mocks.common.limits`).
`--esia-signers N` (`$EZHD_ESIA_SIGNERS`) signs ЕСИА's RS256 tokens in N processes (default one per
CPU, 0 = in the server process; `mocks.esia.signing`), all stopped with the stand.
`--public-host NAME` (`$EZHD_MOCKS_PUBLIC_HOST`) is the host the printed and ready-file URLs
name instead of the interface listened on: in a container the stand listens on 0.0.0.0 and
journals reach it by its service name (`docker/`, `conformance.containers`).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from conformance.cli import UsageProblem
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers
from mocks.common.limits import Limits


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses; any other name or address is not."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_signers() -> int:
    """One ЕСИА signing process per CPU this process may use (`cryptography` signs one
    token at a time per process; state and HTTP stay in the server process)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not Linux
        return max(1, os.cpu_count() or 1)


def _wait_healthy(url: str, token: str | None, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/_admin/health", headers=admin_headers(token), timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException(f"mock at {url} did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def _write_ready(path: Path, urls: dict[str, str], token: str | None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    data: dict[str, str] = dict(urls)
    if token:
        data["admin_token"] = token
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if token else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@click.group()
def mocks() -> None:
    """Run the mock federal services (ЕСИА, ...) on loopback."""


@mocks.command("up")
@click.argument("names", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the first mock (0 = chosen by the OS).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the showcase's data and request history here (default: in memory).")
@click.option("--ready-file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write {name: url} JSON here once every mock answers.")
@click.option("--admin-token", envvar=ADMIN_TOKEN_ENV, show_envvar=True, default=None,
              help="Require this bearer token on every /_admin route (needed with a --host beyond loopback).")
@click.option("--public-host", envvar="EZHD_MOCKS_PUBLIC_HOST", show_envvar=True, default=None,
              help="Host named in the printed and ready-file URLs (default: --host), e.g. a container's service name.")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=Limits.header_timeout, show_default=True,
              help="Seconds a client has to send a request's headers.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=Limits.body_timeout, show_default=True,
              help="Seconds a client has to send a request's body (refused and dropped after).")
@click.option("--max-connections", type=click.IntRange(min=1), default=Limits.max_connections, show_default=True,
              help="Connections served at once; beyond them the answer is 503.")
@click.option("--esia-signers", type=click.IntRange(min=0), envvar="EZHD_ESIA_SIGNERS", show_envvar=True,
              default=None, help="Processes that sign ЕСИА's RS256 tokens (0 = in the server process; "
                                 "default: one per CPU).")
def up(names: tuple[str, ...], host: str, port: int, state_dir: Path | None,
       ready_file: Path | None, admin_token: str | None, public_host: str | None,
       header_timeout: float, body_timeout: float, max_connections: int, esia_signers: int | None) -> None:
    """Start NAMES (esia, smev, epgu; default: all) until Ctrl-C or SIGTERM."""
    from mocks.environment import NAMES, Environment

    wanted = list(dict.fromkeys(names)) or list(NAMES)
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise UsageProblem(f"unknown mock {', '.join(unknown)}; available: {', '.join(NAMES)}")
    if ready_file is not None and not ready_file.parent.is_dir():
        raise UsageProblem(f"--ready-file: directory {ready_file.parent} does not exist")
    if state_dir is not None and state_dir.exists() and not state_dir.is_dir():
        raise UsageProblem(f"--state-dir: {state_dir} exists and is not a directory")
    admin_token = (admin_token or "").strip() or None
    if not admin_token and not is_loopback(host):
        raise UsageProblem(f"--host {host} is reachable beyond this machine: give --admin-token TOKEN "
                           f"(or set ${ADMIN_TOKEN_ENV}) so that only you can reset and rewrite the stand")
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    env = None
    try:
        try:
            signers = default_signers() if esia_signers is None else esia_signers
            env = Environment(wanted, state_dir=state_dir, admin_token=admin_token,
                              esia_signers=signers if "esia" in wanted else 0)
            urls = env.start(host=host, port=port, limits=Limits(header_timeout=header_timeout,
                                                                 body_timeout=body_timeout,
                                                                 max_connections=max_connections))
        except (OSError, RuntimeError, SystemExit) as exc:
            raise click.ClickException(f"cannot start the mocks on {host}:{port}: {exc}") from None
        for url in urls.values():
            _wait_healthy(url, admin_token)
        public = urls if not public_host else {
            name: f"http://{public_host}:{url.rsplit(':', 1)[1]}" for name, url in urls.items()}
        for name, url in public.items():
            click.echo(f"{name} {url}")
        if ready_file is not None:
            _write_ready(ready_file, public, admin_token)
        while not stop.is_set():
            if not env.alive():
                raise click.ClickException("a mock stopped unexpectedly")
            stop.wait(0.2)
    finally:
        if env is not None:
            env.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ready_file is not None and ready_file.exists():
            ready_file.unlink()
    click.echo("stopped")
