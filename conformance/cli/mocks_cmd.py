"""`ezhd mocks`: run the federal mocks (ЕСИА now; ПОДД agent and ЕПГУ when they exist).

`ezhd mocks up [NAMES...] [--host 127.0.0.1] [--port 0] [--ready-file F]` starts each named
mock under uvicorn on loopback (port 0 = chosen by the OS; with several mocks and a fixed
port, consecutive ports), prints `NAME URL` per mock, writes `{name: url}` as JSON to the
ready file once every mock answers its `/_admin/health` (and removes it on stop), and stops cleanly on Ctrl-C or
SIGTERM (exit 0). A mock is set up through its admin API (`/_admin/...`).

A new mock joins by adding one entry to `MOCKS`: its name and the import path of a
`create_app()` factory.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import click

from conformance.cli import UsageProblem

MOCKS: dict[str, str] = {
    "esia": "mocks.esia.app:create_app",
    # "smev": "mocks.smev.app:create_app",   (issue 4)
    # "epgu": "mocks.epgu.app:create_app",
}


def factory(name: str) -> Callable[[], Any]:
    module, _, attr = MOCKS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def _wait_healthy(url: str, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/_admin/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException(f"mock at {url} did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def _write_ready(path: Path, urls: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(urls, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@click.group()
def mocks() -> None:
    """Run the mock federal services (ЕСИА, ...) on loopback."""


@mocks.command("up")
@click.argument("names", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the first mock (0 = chosen by the OS).")
@click.option("--ready-file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write {name: url} JSON here once every mock answers.")
def up(names: tuple[str, ...], host: str, port: int, ready_file: Path | None) -> None:
    """Start NAMES (default: all available mocks) until Ctrl-C or SIGTERM."""
    from mocks.common.transports import ServerThread

    wanted = list(dict.fromkeys(names)) or list(MOCKS)
    unknown = [n for n in wanted if n not in MOCKS]
    if unknown:
        raise UsageProblem(f"unknown mock {', '.join(unknown)}; available: {', '.join(MOCKS)}")
    if ready_file is not None and not ready_file.parent.is_dir():
        raise UsageProblem(f"--ready-file: directory {ready_file.parent} does not exist")
    servers: dict[str, ServerThread] = {}
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i, name in enumerate(wanted):
            server = ServerThread(factory(name)(), host=host, port=port + i if port else 0)
            try:
                server.start()
            except (OSError, RuntimeError, SystemExit) as exc:
                raise click.ClickException(f"cannot start mock {name} on {host}:{port + i if port else 0}: "
                                           f"{exc}") from None
            servers[name] = server
        urls = {name: s.url for name, s in servers.items()}
        for name, url in urls.items():
            _wait_healthy(url)
            click.echo(f"{name} {url}")
        if ready_file is not None:
            _write_ready(ready_file, urls)
        while not stop.is_set():
            if any(not s.thread.is_alive() for s in servers.values()):
                raise click.ClickException("a mock stopped unexpectedly")
            stop.wait(0.2)
    finally:
        for s in servers.values():
            s.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ready_file is not None and ready_file.exists():
            ready_file.unlink()
    click.echo("stopped")
