"""Containers: what runs inside the images of `docker/Dockerfile`, and `ezhd certify --sut-image`.

Inside the images (`python -m conformance.containers COMMAND`, settings from the environment):

- `mocks`: the mock stand. One `ezhd mocks up` listening on 0.0.0.0 from `$EZHD_MOCKS_PORT`
  (8090: esia, smev, epgu on consecutive ports), URLs named by `$EZHD_MOCKS_PUBLIC_HOST` (the
  service name, default `mocks`), ready file and showcase state under `$EZHD_MOCKS_STATE`
  (`/state/mocks.json`). The admin token is `$EZHD_MOCKS_ADMIN_TOKEN`, or one generated into
  the ready file (readable by the image's user only). A *shared stand*:
  `$EZHD_MOCKS_TENANTS=a,b` runs one complete stand per tenant in the one container (tenant k on
  ports PORT+3k…, state and ready file in `/state/<tenant>/`, token `$EZHD_MOCKS_ADMIN_TOKEN_<A>`
  or generated), because the mocks keep journal-wide settings (the portal's journal, the
  agent's datamart, ЕСИА's fault queue) that two journals certified at once would disturb.
- `healthcheck`: exit 0 when every stand of the ready files answers `/_admin/health`.
- `certify`: compose's suite service. Waits (up to `$EZHD_WAIT_SECONDS`, 300) for the stand's
  ready file and for the journal of `/config/sut.toml` to answer — a journal may take a while to
  start — then runs `ezhd certify --sut /config/sut.toml --mocks /state/mocks.json --report-dir
  /reports/run --force` with `$EZHD_CERTIFY_OPTIONS`; a wait in vain is a setup error (exit 3).
- `reference-journal`: the bundled reference journal configured from the environment as a
  vendor's journal image would be (`REFERENCE_ENV`), listening on 0.0.0.0.

On the host, `start_image_stand` is `ezhd certify --sut-image IMAGE` (the Docker SDK, extra
`containers`): a private network, the mocks image started on it, the vendor's image started
with the mocks' URLs and its own public URL in its environment (`JOURNAL_ENV`), every URL of
sut.toml on the journal's origin moved to the container's address; afterwards the containers'
logs (secrets passed in redacted) are written to the report directory and everything started
is removed, also on failure, Ctrl-C or SIGTERM. Host and containers use the same addresses (the
containers' own on the private network), so this needs an engine whose container addresses
the host reaches (Linux); with Docker Desktop use `compose.yaml`, where the suite is a container.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Mapping

__all__ = ["JOURNAL_ENV", "REFERENCE_ENV", "MOCKS_PORT", "private_network", "start_image_stand", "main"]

MOCKS_PORT = 8090
STATE = "/state"
# what `--sut-image` gives the vendor's journal container: the mocks' URLs and its own
JOURNAL_ENV = {"esia": "EZHD_ESIA_URL", "smev": "EZHD_AGENT_URL", "epgu": "EZHD_SHOWCASE_URL",
               "journal": "EZHD_JOURNAL_URL", "client_id": "EZHD_ESIA_CLIENT_ID",
               "mnemonic": "EZHD_AGENT_MNEMONIC", "datamart": "EZHD_AGENT_DATAMART", "port": "EZHD_JOURNAL_PORT"}
# the reference journal image's settings (reference_journal/config.py key ← variable); the
# ЕСИА key and certificate come as files ($EZHD_ESIA_KEY, $EZHD_ESIA_CERT) or PEM text
# ($EZHD_ESIA_KEY_PEM, $EZHD_ESIA_CERT_PEM)
REFERENCE_ENV = {"public_url": "EZHD_JOURNAL_URL", "esia_url": "EZHD_ESIA_URL", "agent_url": "EZHD_AGENT_URL",
                 "showcase_url": "EZHD_SHOWCASE_URL", "esia_client_id": "EZHD_ESIA_CLIENT_ID",
                 "journal_mnemonic": "EZHD_AGENT_MNEMONIC", "showcase_datamart": "EZHD_AGENT_DATAMART",
                 "test_control_token": "EZHD_TEST_CONTROL_TOKEN", "admin_password": "EZHD_ADMIN_PASSWORD"}
READY_TIMEOUT = 90.0


class ContainerError(RuntimeError):
    """A container could not be set up; the message names the cause and the fix."""


# --- inside the images --------------------------------------------------------------------------

def _tenant_var(tenant: str) -> str:
    return "EZHD_MOCKS_ADMIN_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", tenant).upper()


def _stands(environ: Mapping[str, str]) -> list[tuple[str, Path, int, str]]:
    """(tenant, directory, first port, admin token) of each stand the environment asks for."""
    state = Path(environ.get("EZHD_MOCKS_STATE", STATE))
    port = int(environ.get("EZHD_MOCKS_PORT", MOCKS_PORT))
    tenants = [t.strip() for t in environ.get("EZHD_MOCKS_TENANTS", "").split(",") if t.strip()]
    for t in tenants:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", t):
            raise ContainerError(f"EZHD_MOCKS_TENANTS: {t!r} is not a name (letters, digits, _ . -)")
    if len(set(tenants)) != len(tenants):
        raise ContainerError("EZHD_MOCKS_TENANTS: a tenant is named twice")
    default = environ.get("EZHD_MOCKS_ADMIN_TOKEN", "").strip()
    if not tenants:
        return [("", state, port, default or secrets.token_urlsafe(24))]
    return [(t, state / t, port + 3 * k, environ.get(_tenant_var(t), "").strip() or default
             or secrets.token_urlsafe(24)) for k, t in enumerate(tenants)]


def run_mocks(environ: Mapping[str, str]) -> int:
    """Run one `ezhd mocks up` per stand until SIGTERM/SIGINT or until one of them stops."""
    public = environ.get("EZHD_MOCKS_PUBLIC_HOST", "mocks")
    procs: list[subprocess.Popen] = []
    for tenant, directory, port, token in _stands(environ):
        directory.mkdir(parents=True, exist_ok=True)
        ready = directory / "mocks.json"
        ready.unlink(missing_ok=True)   # a stale one from a killed container would lie
        env = {**environ, "EZHD_MOCKS_ADMIN_TOKEN": token}   # in the environment, not on a command line
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "mocks", "up", "--host", "0.0.0.0", "--port", str(port),
             "--public-host", public, "--state-dir", str(directory / "showcase"), "--ready-file", str(ready)],
            env=env))
        print(f"stand {tenant or '(default)'}: ports {port}-{port + 2}, ready file {ready}", flush=True)
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        done = [p for p in procs if p.poll() is not None]
        if done:
            code = done[0].returncode or 1
            break
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    return code


def healthcheck(environ: Mapping[str, str]) -> int:
    """0 when every stand's mocks answer /_admin/health with its token (ready files under the state)."""
    import httpx

    state = Path(environ.get("EZHD_MOCKS_STATE", STATE))
    tenants = [t.strip() for t in environ.get("EZHD_MOCKS_TENANTS", "").split(",") if t.strip()]
    for ready in [state / t / "mocks.json" for t in tenants] or [state / "mocks.json"]:
        try:
            data = json.loads(ready.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            print(f"{ready}: not written yet", file=sys.stderr)
            return 1
        headers = {"Authorization": f"Bearer {data['admin_token']}"} if data.get("admin_token") else {}
        for name in ("esia", "smev", "epgu"):
            port = data[name].rsplit(":", 1)[1]
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/_admin/health", headers=headers, timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            if not ok:
                print(f"{name} on port {port} does not answer", file=sys.stderr)
                return 1
    return 0


def run_certify(environ: Mapping[str, str]) -> int:
    import shlex

    from conformance.runfile import no_answer

    sut = Path(environ.get("EZHD_SUT", "/config/sut.toml"))
    ready = Path(environ.get("EZHD_MOCKS_READY", f"{STATE}/mocks.json"))
    deadline = time.monotonic() + float(environ.get("EZHD_WAIT_SECONDS", 300))
    while not (ready.is_file() and ready.stat().st_size):
        if time.monotonic() > deadline:
            print(f"SETUP ERROR: the mocks wrote no ready file {ready} — see the mocks' log", file=sys.stderr)
            return 3
        time.sleep(1)
    try:
        base_url = tomllib.loads(sut.read_text(encoding="utf-8"))["journal"]["base_url"]
    except (OSError, ValueError, KeyError, TypeError) as exc:   # certify names every problem of it below
        print(f"note: cannot read journal.base_url of {sut} ({exc}); not waiting for the journal", flush=True)
    else:
        while (why := no_answer(base_url, timeout=2.0)) and time.monotonic() < deadline:
            time.sleep(1)
        if why:
            print(f"SETUP ERROR: the journal at {base_url} does not answer: {why} — see the journal's log",
                  file=sys.stderr)
            return 3
    os.execv(sys.executable, [sys.executable, "-m", "conformance.cli", "certify", "--sut", str(sut), "--mocks",
                              str(ready), "--report-dir", environ.get("EZHD_REPORT_DIR", "/reports/run"), "--force",
                              *shlex.split(environ.get("EZHD_CERTIFY_OPTIONS", ""))])


def reference_config(environ: Mapping[str, str], home: Path) -> str:
    """The reference journal's TOML settings from the environment (`REFERENCE_ENV`)."""
    missing = [environ_name for key, environ_name in REFERENCE_ENV.items()
               if key in ("esia_url", "agent_url") and not environ.get(environ_name)]
    if missing:
        raise ContainerError(f"set {', '.join(missing)}: the URLs of the mocks the journal talks to")
    lines = [f"db = {json.dumps(str(home / 'journal.sqlite'))}"]
    for key, name in REFERENCE_ENV.items():
        if environ.get(name):
            lines.append(f"{key} = {json.dumps(environ[name])}")
    for key, name in (("esia_key", "EZHD_ESIA_KEY"), ("esia_cert", "EZHD_ESIA_CERT")):
        pem = environ.get(name + "_PEM")
        path = Path(environ.get(name) or f"/config/keys/journal.{key[5:]}.pem")
        if pem:
            path = home / f"journal.{key[5:]}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(pem)
        elif not path.is_file():
            raise ContainerError(f"the journal's ЕСИА {key[5:]} is missing: mount it at {path}, "
                                 f"or give ${name} (a path) or ${name}_PEM (the PEM text)")
        lines.append(f"{key} = {json.dumps(str(path))}")
    return "\n".join(lines) + "\n"


def run_reference_journal(environ: Mapping[str, str]) -> int:
    home = Path(environ.get("HOME", "/tmp"))
    config = home / "journal.toml"
    config.write_text(reference_config(environ, home), encoding="utf-8")
    os.chmod(config, 0o600)
    os.execv(sys.executable, [sys.executable, "-m", "conformance.cli", "reference-journal", "serve",
                              "--config", str(config), "--host", "0.0.0.0",
                              "--port", environ.get("EZHD_JOURNAL_PORT", "8000")])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"mocks": run_mocks, "healthcheck": healthcheck, "certify": run_certify,
                "reference-journal": run_reference_journal}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m conformance.containers {'|'.join(commands)}", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]](os.environ)
    except ContainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --- on the host: ezhd certify --sut-image ------------------------------------------------------

def _engine() -> Any:
    """The Docker engine, or `SetupProblem` saying why there is none."""
    from conformance.cli import SetupProblem

    try:
        import docker
    except ImportError:
        raise SetupProblem("--sut-image needs the Docker SDK for Python — pip install "
                           "'ezhd-conformance[containers]'") from None
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:   # docker.errors.DockerException and the transport's errors
        raise SetupProblem(f"no Docker engine answers ({exc}) — start it (dockerd) or set DOCKER_HOST") from None
    return client


def _image(client: Any, name: str, option: str) -> None:
    from docker.errors import APIError, ImageNotFound

    from conformance.cli import SetupProblem

    try:
        client.images.get(name)
        return
    except ImageNotFound:
        pass
    try:
        client.images.pull(name)
    except (APIError, ImageNotFound) as exc:
        hint = (" — build it: docker build -f docker/Dockerfile --target mocks -t ezhd-mocks ."
                if option == "--mocks-image" else " — build or pull it first")
        raise SetupProblem(f"{option}: image {name} is not on the Docker engine and cannot be pulled "
                           f"({exc.explanation if isinstance(exc, APIError) else exc}){hint}") from None


def private_network(client: Any, name: str, count: int) -> tuple[Any, list[str]]:
    """A private bridge network with a subnet the engine chose (so it overlaps nothing) but
    declared, so that containers get addresses known before they start: (network, `count`
    addresses for them)."""
    from docker.types import IPAMConfig, IPAMPool

    probe = client.networks.create(name, driver="bridge", labels={"ezhd": "sut-image"})
    try:
        probe.reload()
        subnet = probe.attrs["IPAM"]["Config"][0]["Subnet"]
    finally:
        probe.remove()
    hosts = ipaddress.ip_network(subnet).hosts()
    gateway = str(next(hosts))
    addresses = [str(next(hosts)) for _ in range(count)]
    network = client.networks.create(name, driver="bridge", labels={"ezhd": "sut-image"},
                                     ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway)]))
    return network, addresses


def _moved(value: Any, origin: str, to: str) -> Any:
    if isinstance(value, dict):
        return {k: _moved(v, origin, to) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, origin, to) for v in value]
    if isinstance(value, str) and (value == origin or value.startswith(origin + "/")):
        return to + value[len(origin):]
    return value


def sut_at(sut_file: Path, address: str) -> tuple[Any, int, list[str]]:
    """The declaration of `sut_file` with every URL on the journal's origin moved to
    `address`, keeping the declared port (base_url's, default 80/443): (Sut, port, the names
    of the variables holding the secrets it declares — the journal must know them too)."""
    from urllib.parse import urlsplit

    from conformance.sut import sut_from_mapping

    data = tomllib.loads(sut_file.read_text(encoding="utf-8"))
    parts = urlsplit(data["journal"]["base_url"])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    origin = f"{parts.scheme}://{parts.netloc}"
    moved = _moved(data, origin, f"{parts.scheme}://{address}:{port}")
    declared = [section.get(key) for section in (data.get("test_control") or {}, data.get("driver") or {})
                for key in ("token_env", "admin_password_env")]
    return (sut_from_mapping(moved, base_dir=sut_file.resolve().parent, source=sut_file.resolve()), port,
            [n for n in dict.fromkeys(declared) if isinstance(n, str)])


def _redacted(text: str, secret_values: list[str]) -> str:
    from conformance.report.redact import redact_text

    for value in sorted(secret_values, key=len, reverse=True):
        if len(value) >= 6:
            text = text.replace(value, "[redacted]")
    return redact_text(text)


def _wait(what: str, container: Any, url: str, hide: list[str]) -> None:
    """Until something answers at `url`; `SetupProblem` with the log's tail (`hide` redacted)
    when the container exits or nothing answers in time."""
    import httpx

    from conformance.cli import SetupProblem

    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs["State"]["ExitCode"]
            tail = _redacted(container.logs(tail=5).decode("utf-8", "replace"), hide).strip().replace("\n", " | ")
            raise SetupProblem(f"{what} container exited with code {code}: {tail} — see its log in the report "
                               "directory")
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SetupProblem(f"{what} container does not answer at {url} within {READY_TIMEOUT:.0f} s — "
                               "see its log in the report directory")
        time.sleep(0.3)


def start_image_stand(stack: ExitStack, report_dir: Path, sut_file: Path, image: str, mocks_image: str,
                      extra_env: Mapping[str, str]) -> tuple[dict[str, str], Any, Path]:
    """`--sut-image`: the private network, the mocks and the journal container; everything is
    removed when `stack` closes. Returns (mock URLs, Sut at the container's address, the
    stand's ready file with its admin token)."""
    import click

    from conformance.cli import SetupProblem

    client = _engine()
    stack.callback(client.close)
    _image(client, mocks_image, "--mocks-image")
    _image(client, image, "--sut-image")
    run_id = uuid.uuid4().hex[:10]
    labels = {"ezhd": "sut-image", "ezhd.run": run_id}
    token = secrets.token_urlsafe(24)
    secret_values = [token, *extra_env.values()]
    started: list[tuple[str, Any]] = []

    def tear_down() -> None:
        logs = report_dir / "containers"
        for role, container in started:
            try:
                text = container.logs().decode("utf-8", "replace")
                logs.mkdir(exist_ok=True)
                (logs / f"{role}.log").write_text(_redacted(text, secret_values), encoding="utf-8")
            except Exception:   # the log is a courtesy; removal below must happen regardless
                pass
            try:
                container.remove(force=True, v=True)
                click.echo(f"container {role}: log in {logs / (role + '.log')}, removed")
            except Exception:
                pass

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt   # so the stack unwinds and removes what was started

    if _in_main_thread():
        signal.signal(signal.SIGTERM, on_term)
        stack.callback(signal.signal, signal.SIGTERM, previous)
    try:
        network, (mocks_ip, journal_ip) = private_network(client, f"ezhd-{run_id}", 2)
    except Exception as exc:
        raise SetupProblem(f"cannot create a Docker network: {exc}") from None
    stack.callback(network.remove)
    stack.callback(tear_down)

    def run(role: str, name: str, ip: str, environment: dict[str, str], alias: str) -> Any:
        api = client.api
        networking = api.create_networking_config(
            {network.name: api.create_endpoint_config(ipv4_address=ip, aliases=[alias])})
        cid = api.create_container(name, name=f"ezhd-{role}-{run_id}", environment=environment, labels=labels,
                                   host_config=api.create_host_config(), networking_config=networking)["Id"]
        container = client.containers.get(cid)
        started.append((role, container))
        container.start()
        return container

    mocks = run("mocks", mocks_image, mocks_ip, {"EZHD_MOCKS_ADMIN_TOKEN": token,
                                                 "EZHD_MOCKS_PUBLIC_HOST": mocks_ip}, "mocks")
    _wait("the mocks", mocks, f"http://{mocks_ip}:{MOCKS_PORT}/_admin/health", secret_values)
    deadline = time.monotonic() + READY_TIMEOUT
    while (found := mocks.exec_run(["cat", f"{STATE}/mocks.json"])).exit_code != 0:
        if time.monotonic() > deadline:
            raise SetupProblem(f"the mocks container wrote no ready file within {READY_TIMEOUT:.0f} s — "
                               "see its log in the report directory")
        time.sleep(0.3)
    ready = report_dir / "mocks.json"
    fd = os.open(ready, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(found.output)
    stack.callback(ready.unlink, missing_ok=True)
    urls = {k: v for k, v in json.loads(found.output).items() if k != "admin_token"}

    sut, port, declared = sut_at(sut_file, journal_ip)
    secret_values += [os.environ[n] for n in declared if os.environ.get(n)]
    environment = {**{n: os.environ[n] for n in declared if os.environ.get(n)},
                   JOURNAL_ENV["esia"]: urls["esia"], JOURNAL_ENV["smev"]: urls["smev"],
                   JOURNAL_ENV["epgu"]: urls["epgu"], JOURNAL_ENV["journal"]: sut.base_url,
                   JOURNAL_ENV["client_id"]: sut.esia.client_id, JOURNAL_ENV["mnemonic"]: sut.agent.mnemonic,
                   JOURNAL_ENV["datamart"]: sut.agent.datamart, JOURNAL_ENV["port"]: str(port), **extra_env}
    journal = run("journal", image, journal_ip, environment, "journal")
    _wait("the journal", journal, sut.base_url, secret_values)
    return urls, sut, ready


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
