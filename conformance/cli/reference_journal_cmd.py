"""`ezhd reference-journal`: run the reference journal and list its seeded defects.

`serve [--config F] [--host H] [--port P] [--db PATH] [--defect ID ...] [--ready-file F]`
runs the journal under uvicorn on loopback (port 0 = chosen by the OS), prints its URL, and
writes `{url, test_control_token, admin_login, admin_password, defects}` as JSON to the
ready file once `/test-control/v1/health` answers (removed on stop). A test-control token and
an administrator password that the configuration does not set are generated and go to the
ready file (mode 0600); they are printed only to a terminal, never into a captured log.
`defects [--format text|json|markdown]` lists the
catalogue: id, requirement IDs, description, and where it lives (journal, auth, export).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from conformance.cli import UsageProblem


@click.group("reference-journal")
def reference_journal() -> None:
    """The reference journal: a conforming e-journal with switchable defects."""


@reference_journal.command("defects")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text: one line per defect; json: a list of objects; markdown: DEFECTS.md.")
def defects_cmd(fmt: str) -> None:
    """List the seeded defects and the requirements each breaks."""
    from reference_journal.defects import CATALOGUE, render_markdown

    if fmt == "json":
        click.echo(json.dumps([d.as_dict() for d in CATALOGUE.values()], ensure_ascii=False, indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(), nl=False)
    else:
        width = max(len(d) for d in CATALOGUE)
        for d in CATALOGUE.values():
            click.echo(f"{d.id:<{width}}  {','.join(d.requirement_ids):<17} {d.implemented_in:<7}  {d.title}")


def _wait_healthy(url: str, server: Any, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:   # one client: each new one loads the CA bundle again
        while time.monotonic() < deadline:
            try:
                if http.get(f"{url}/test-control/v1/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    server.should_exit = True
    raise click.ClickException(f"the journal at {url} did not answer within {timeout:.0f} s")


def _write_ready(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds credentials
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


@reference_journal.command("serve")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML settings (see reference_journal/config.py).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 = chosen by the OS).")
@click.option("--db", default=None, help="SQLite file (default from --config, else in memory).")
@click.option("--defect", "defects", multiple=True, metavar="ID",
              help="Switch a seeded defect on (repeatable); see `ezhd reference-journal defects`.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the URL and credentials as JSON here once the journal answers.")
def serve(config: Path | None, host: str, port: int, db: str | None, defects: tuple[str, ...],
          ready_file: Path | None) -> None:
    """Run the reference journal until Ctrl-C or SIGTERM."""
    import uvicorn

    from reference_journal.app import create_app
    from reference_journal.config import Settings, SettingsError, load_settings

    if config is not None and not config.is_file():
        raise UsageProblem(f"--config: {config} does not exist")
    if ready_file is not None and not ready_file.parent.is_dir():
        raise UsageProblem(f"--ready-file: directory {ready_file.parent} does not exist")
    try:
        settings = load_settings(config, {"defects": list(defects) or None, "db": db})
    except SettingsError as exc:
        raise UsageProblem(str(exc)) from None
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    url = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
    generated: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if settings.public_url == Settings.public_url:
        changes["public_url"] = url
    if not settings.test_control_token:
        changes["test_control_token"] = generated["test-control token"] = secrets.token_urlsafe(24)
    if not settings.admin_password:
        changes["admin_password"] = generated[f"administrator {settings.admin_login} password"] = (
            secrets.token_urlsafe(12) + "-Aa1")
    settings = settings.replace(**changes)
    try:
        app = create_app(settings)
    except SettingsError as exc:   # e.g. an unreadable ЕСИА key or certificate
        sock.close()
        raise UsageProblem(str(exc)) from None
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        thread.start()
        _wait_healthy(url, server)
        click.echo(f"reference-journal {url}")
        for what, value in generated.items():   # a secret reaches a log only when it is shown on a terminal
            if ready_file is not None:
                click.echo(f"  {what}: generated, in the ready file {ready_file.name} (readable by you only)")
            elif sys.stdout.isatty():
                click.echo(f"  {what}: {value}")
            else:
                click.echo(f"  {what}: generated, not shown (the output is not a terminal); "
                           f"give --ready-file FILE or set it in --config")
        if settings.defects:
            click.echo(f"  defects: {', '.join(sorted(settings.defects))}")
        if ready_file is not None:
            _write_ready(ready_file, {"url": url, "test_control_token": settings.test_control_token,
                                      "admin_login": settings.admin_login, "admin_password": settings.admin_password,
                                      "defects": sorted(settings.defects)})
        while not stop.is_set():
            if not thread.is_alive():
                raise click.ClickException("the journal stopped unexpectedly")
            stop.wait(0.2)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ready_file is not None and ready_file.exists():
            ready_file.unlink()
    click.echo("stopped")


@reference_journal.command("kill-matrix")
@click.option("--defect", "only", multiple=True, metavar="ID", help="Only these defects (repeatable); default all.")
@click.option("--scope", type=click.Choice(["tied", "full"]), default="tied", show_default=True,
              help="tied: run only the requirements each defect is tied to; full: the whole catalogue.")
@click.option("-j", "--jobs", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Certify runs at a time.")
@click.option("--seed", type=int, default=1, show_default=True, help="Dataset seed of every run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/kill-matrix"),
              show_default=True, help="Where each run's report and the matrix (kill-matrix.json) go.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the matrix as a Markdown table.")
def kill_matrix_cmd(only: tuple[str, ...], scope: str, jobs: int, seed: int, out: Path, as_markdown: bool) -> None:
    """Certify the reference journal once per seeded defect; exit 1 unless every defect is caught."""
    from conformance.killmatrix import markdown, run_matrix
    from reference_journal.defects import CATALOGUE, unknown

    bad = unknown(only)
    if bad:
        raise UsageProblem(f"--defect: unknown defect {', '.join(bad)} (see `ezhd reference-journal defects`)")
    chosen = [(d.id, list(d.requirement_ids)) for d in CATALOGUE.values() if not only or d.id in only]
    outcomes = run_matrix(chosen, out, jobs=jobs, scope=scope, seed=seed)
    if as_markdown:
        click.echo(markdown(outcomes), nl=False)
    else:
        for o in outcomes:
            mark = "killed" if o.killed else f"SURVIVED ({o.note})"
            click.echo(f"{o.defect:<32} {','.join(o.tied):<17} {mark:<10} {o.seconds:5.0f} s  "
                       f"failing: {', '.join(o.failing) or '-'}")
    killed = sum(o.killed for o in outcomes)
    click.echo(f"killed {killed} of {len(outcomes)}; details in {out / 'kill-matrix.json'}")
    raise click.exceptions.Exit(0 if killed == len(outcomes) else 1)


@reference_journal.command("mutate")
@click.option("--module", "modules", multiple=True, metavar="PATH[:START-END]",
              help="A module of reference_journal/ (repeatable; a line range keeps only mutants starting "
                   "in it). Default: passwords.py and accounts.py.")
@click.option("--mutant", "mutant_ids", multiple=True, metavar="ID",
              help="Only these mutants (ids as in mutants.json or --list; repeatable), e.g. to rerun the "
                   "survivors of a sample after the tests changed.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most N mutants per module, sampled.")
@click.option("--sample-seed", type=int, default=1, show_default=True, help="Seed of the sample.")
@click.option("--timeout", type=click.FloatRange(10), default=180.0, show_default=True,
              help="Seconds per certify run (mocks, journal and tests included).")
@click.option("-j", "--jobs", type=click.IntRange(1, 16), default=1, show_default=True, help="Runs at a time.")
@click.option("--seed", type=int, default=1, show_default=True, help="Dataset seed of every run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where mutants.json, mutants.md and each run's log go.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the table as Markdown.")
@click.option("--list", "list_only", is_flag=True, help="List the sampled mutants and their requirements; run nothing.")
@click.option("--rescore", is_flag=True,
              help="Apply the current triage (conformance/mutation.yaml) to the run in --out; run nothing.")
def mutate_cmd(modules: tuple[str, ...], mutant_ids: tuple[str, ...], limit: int | None, sample_seed: int,
               timeout: float, jobs: int, seed: int, out: Path, as_markdown: bool, list_only: bool,
               rescore: bool) -> None:
    """Mutation testing: certify mutants of the journal's code on the requirements each module implements."""
    from conformance.mutation import MutationProblem, load_config, plan, rescore as rescore_run, run

    if out.exists() and not out.is_dir():
        raise UsageProblem(f"--out: {out} is a file, not a directory")
    try:
        config = load_config()
        if rescore:
            result = rescore_run(out, config)
            _mutation_summary(result, out, as_markdown)
            return
        plans = plan(modules or ("reference_journal/passwords.py", "reference_journal/accounts.py"),
                     limit, sample_seed, config, only=mutant_ids)
    except MutationProblem as exc:
        raise UsageProblem(str(exc)) from None
    for p in plans:
        variants = [(n, kv) for n, kv in config.variants(p.module) if n]
        click.echo(f"{p.module}: {len(p.mutants)} of {p.total} mutants; certify --only {' '.join(p.requirements)}"
                   + ("; under each of: " + ", ".join(n + " (" + " ".join(f"--reference-setting {k}={v}"
                                                                         for k, v in kv.items()) + ")"
                                                    for n, kv in variants) if variants else ""))
    if list_only:
        for p in plans:
            for m in p.mutants:
                click.echo(f"{m.id}  L{m.line} {m.operator}: {m.original}  =>  {m.mutated}")
        return
    _mutation_summary(run(plans, out, config, timeout, jobs=jobs, seed=seed, echo=click.echo), out, as_markdown)


def _mutation_summary(result: dict[str, Any], out: Path, as_markdown: bool) -> None:
    from conformance.mutation import markdown

    if as_markdown:
        click.echo(markdown(result), nl=False)
    s = result["summary"]
    click.echo(f"score {s['score'] if s['score'] is not None else '-'} %: {s['scored'] - s['survived']} "
               f"killed of {s['scored']} scored ({s['survived']} survived; left out {s['equivalent']} equivalent, "
               f"{s.get('unspecified', 0)} unspecified); details in {out / 'mutants.json'}")
