"""Launch what a run needs: attach to the vendor's mocks or start our own, start the bundled
reference journal as a subprocess wired to them, and stop what was started.

`read_ready_file` reads the ready file of `ezhd mocks up` (each mock must answer
`/_admin/health`); `reserve_sockets` binds our own mocks' loopback ports first, so that
`spawn_reference` can start the journal with their URLs while `start_mocks` builds and serves
them (`mocks.environment`; no showcase stage delays). `spawn_reference` writes the reference
journal's settings (a test ЕСИА certificate and key in REPORT_DIR/keys, the mocks' URLs, the
export timing sized for tests, the settings the chosen defects need and those asked for), runs `ezhd
reference-journal serve` and returns the wait that gives its `Sut`.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import click

from conformance.cli import SetupProblem, UsageProblem

__all__ = ["CONFORMANCE_DIR", "MOCK_NAMES", "READY_TIMEOUT", "read_ready_file", "ready_token", "reserve_sockets",
           "start_mocks", "reference_settings", "defect_settings", "spawn_reference", "set_env", "restore_env", "stop"]

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
MOCK_NAMES = ("esia", "smev", "epgu")
# the reference journal's settings sized for a test run (its defaults are for production):
# export status polls every 0.1 s; back-off 0.3, 0.6, 1.2 s … (1 s each by default) — still far
# above the scheduling noise the EXP-06 tests allow for when they compare pauses from the
# mocks' journals (measured: within 5 ms of 0.3 and 0.6 s; the growth check fails only when
# the first pause runs 0.2 s late and the second on time); passwords issued or changed during
# the run hashed at scrypt N = 2^10, as the dataset's are (2^14 by default: ~50 ms of CPU per
# hash or sign-in; a certify run's journal lives in its report directory, administrator
# password in clear beside it)
JOURNAL_TEST_SETTINGS = {"export_poll_interval": 0.1, "export_retry_base": 0.3, "scrypt_n": 2 ** 10}


def ready_token(path: Path) -> str | None:
    """The stand's admin token from the ready file (`ezhd mocks up --admin-token`), if any."""
    try:
        token = json.loads(path.read_text(encoding="utf-8")).get("admin_token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def read_ready_file(path: Path) -> dict[str, str]:
    """The mocks' URLs from `ezhd mocks up --ready-file`; each must answer /_admin/health."""
    from conformance.runfile import no_answer

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"--mocks: {path} not found — start the mocks with `ezhd mocks up --ready-file "
                           f"{path}` and wait until it is written") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"--mocks: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError:
        raise UsageProblem(f"--mocks: {path} is not JSON; give the ready file `ezhd mocks up` writes") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"--mocks: {path} is not a {{name: url}} object; give the ready file of `ezhd mocks up`")
    missing = [n for n in MOCK_NAMES if not isinstance(data.get(n), str)]
    if missing:
        raise UsageProblem(f"--mocks: {path} has no URL for {', '.join(missing)} — start all three mocks "
                           "(`ezhd mocks up` without names)")
    urls = {n: data[n].rstrip("/") for n in MOCK_NAMES}
    for name, url in urls.items():
        why = no_answer(f"{url}/_admin/health")
        if why:
            raise SetupProblem(f"mock {name} at {url} (from {path}) does not answer: {why} — "
                               "is `ezhd mocks up` still running?")
    return urls


def reserve_sockets(stack: ExitStack, host: str = "127.0.0.1") -> tuple[dict[str, Any], dict[str, str]]:
    """A listening loopback socket per mock (OS-picked ports) and the mocks' URLs: the journal
    can be started with the URLs while the mocks are still being built; a connection made
    before a mock serves waits in the socket's backlog."""
    sockets: dict[str, Any] = {}
    for name in MOCK_NAMES:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(2048)
        sockets[name] = sock
    return sockets, {n: f"http://{host}:{s.getsockname()[1]}" for n, s in sockets.items()}


def start_mocks(stack: ExitStack, report_dir: Path, sockets: dict[str, Any] | None = None) -> dict[str, str]:
    from mocks.environment import Environment
    from mocks.epgu.showcase import STAGES

    # no modelled processing time per showcase stage: a test waits for the journal, not the mock
    env = Environment(state_dir=report_dir / "mocks", showcase_settings={"delays": dict.fromkeys(STAGES, 0.0)})
    stack.callback(env.stop)
    try:
        return env.start(sockets=sockets)
    except OSError as exc:
        raise SetupProblem(f"cannot start the mocks: {exc}") from None


def reference_settings(items: tuple[str, ...]) -> dict[str, Any]:
    """`--reference-setting KEY=VALUE` options as reference journal settings, checked by the
    journal's own settings loader (reference_journal/config.py); VALUE is read as a TOML value
    (`3`, `0.5`, `true`, `"x"`) or else taken as a string."""
    import tomllib

    from reference_journal.config import SettingsError, load_settings

    wanted: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"--reference-setting: {item!r} is not KEY=VALUE (e.g. export_channel=showcase)")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        wanted[key.strip()] = value
    try:
        load_settings(overrides=wanted)
    except SettingsError as exc:
        raise UsageProblem(f"--reference-setting: {exc}") from None
    return wanted


def defect_settings(defects: tuple[str, ...], settings: dict[str, Any] | None = None) -> list[str]:
    """TOML lines of the journal settings the chosen defects need to show at all (a
    showcase-channel defect makes the journal export through the showcase channel), and of the
    settings asked for explicitly (`reference_settings`); a conflict between them is refused."""
    from reference_journal.defects import CATALOGUE

    wanted: dict[str, Any] = {}
    for d in defects:
        for key, value in CATALOGUE[d].settings:
            if wanted.setdefault(key, value) != value:
                raise UsageProblem(f"--reference-defect: {d} needs {key} = {value!r}, another defect needs "
                                   f"{wanted[key]!r}; run them separately")
    if wanted:
        click.echo("reference journal settings for the chosen defects: "
                   + ", ".join(f"{k} = {v}" for k, v in wanted.items()))
    for key, value in (settings or {}).items():
        if wanted.setdefault(key, value) != value:
            raise UsageProblem(f"--reference-setting: {key} = {value!r}, but a chosen defect needs "
                               f"{wanted[key]!r}; leave one out")
    if settings:
        click.echo("reference journal settings asked for: " + ", ".join(f"{k} = {v}" for k, v in settings.items()))
    return [f"{key} = {json.dumps(value)}" for key, value in wanted.items()]


def spawn_reference(stack: ExitStack, report_dir: Path, urls: dict[str, str],
                    defects: tuple[str, ...], settings: dict[str, Any] | None = None) -> Callable[[], Any]:
    """Start the reference journal wired to `urls`; returns the wait for it, which gives its
    `Sut` (environment variables set) once it is ready."""
    from cryptography.hazmat.primitives import serialization

    from conformance.driver import ADMIN_PASSWORD_ENV
    from conformance.sut import REFERENCE_CLIENT_ID, REFERENCE_MNEMONIC, SutError, reference_sut
    from mocks.esia.testing import make_client_credentials

    keys = report_dir / "keys"
    keys.mkdir(exist_ok=True)
    key, cert_pem = make_client_credentials(REFERENCE_CLIENT_ID)
    key_path, cert_path = keys / "journal.key.pem", keys / "journal.cert.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_text(cert_pem, encoding="utf-8")

    config = report_dir / "reference-journal.toml"
    config.write_text("\n".join([   # paths relative to the file (the run directory stays movable)
        f"db = {json.dumps('journal.sqlite')}",
        f"esia_url = {json.dumps(urls['esia'])}",
        f"esia_client_id = {json.dumps(REFERENCE_CLIENT_ID)}",
        f"esia_key = {json.dumps(key_path.relative_to(report_dir).as_posix())}",
        f"esia_cert = {json.dumps(cert_path.relative_to(report_dir).as_posix())}",
        f"agent_url = {json.dumps(urls['smev'])}",
        f"showcase_url = {json.dumps(urls['epgu'])}",
        f"journal_mnemonic = {json.dumps(REFERENCE_MNEMONIC)}",
        *(f"{key} = {json.dumps(value)}" for key, value in JOURNAL_TEST_SETTINGS.items()),
        *defect_settings(defects, settings),
        "",
    ]), encoding="utf-8")
    ready = report_dir / "journal.ready.json"
    if ready.exists():
        ready.unlink()
    cmd = [sys.executable, "-m", "conformance.cli", "reference-journal", "serve", "--config", str(config),
           "--ready-file", str(ready)]
    for d in defects:
        cmd += ["--defect", d]
    log = open(report_dir / "journal.log", "wb")
    stack.callback(log.close)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(CONFORMANCE_DIR.parent))
    stack.callback(stop, proc)
    deadline = time.monotonic() + READY_TIMEOUT

    def wait() -> Any:
        while not ready.exists():
            if proc.poll() is not None:
                raise SetupProblem(f"the reference journal exited with {proc.returncode} "
                                   f"(see {report_dir / 'journal.log'})")
            if time.monotonic() > deadline:
                raise SetupProblem(f"the reference journal did not start within {READY_TIMEOUT:.0f} s")
            time.sleep(0.02)
        info = json.loads(ready.read_text(encoding="utf-8"))
        set_env(stack, ADMIN_PASSWORD_ENV, info["admin_password"])
        try:
            return reference_sut(info["url"], cert_path, key_path, test_control_token=info["test_control_token"],
                                 admin_login=info["admin_login"], admin_password_env=ADMIN_PASSWORD_ENV)
        except SutError as exc:
            raise SetupProblem(str(exc)) from None

    return wait


def set_env(stack: ExitStack, name: str, value: str) -> None:
    stack.callback(restore_env, name, os.environ.get(name))
    os.environ[name] = value


def restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
