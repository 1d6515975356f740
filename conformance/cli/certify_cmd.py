"""`ezhd certify`: run the conformance suite against a journal and write the results.

    ezhd certify --sut FILE|reference [--mocks READY.json] [--reference-defect ID ...]
                 [--only ID ...] [--report-dir DIR] [--seed N] [--level base] [--no-progress]
    ezhd certify --replay RUN_DIR [--only ID ...] [--report-dir DIR]

1. The SUT: `--sut FILE` reads a sut.toml (`conformance.sut.load_sut`; every problem is
   reported, exit 2). `--sut reference` runs the bundled reference journal: a test
   certificate and key are generated into the report directory, and the journal is started
   as a subprocess (`python -m conformance.cli reference-journal serve`) wired to the mocks,
   with the `--reference-defect`s switched on.
2. The mocks (ЕСИА, ПОДД agent, ЕПГУ). A vendor's journal must be configured with their URLs
   before it runs, so for a FILE SUT the vendor starts them first (`ezhd mocks up
   --ready-file READY.json`), points the journal at them, and gives `--mocks READY.json`:
   certify attaches to them (each must answer `/_admin/health`, else exit 3). Without
   `--mocks`, certify serves its own on loopback (`mocks.environment.Environment`) and prints
   their URLs — a vendor's journal cannot know those, so that is only useful for the
   reference journal or a journal that discovers them at run time.
   The journal is registered at ЕСИА as a client (certificate, redirect URIs of sut.toml), at
   the agent as the provider of journal.yaml (mnemonic, base_url), and at the showcase as its
   source. ЕСИА gets the personas of a dataset generated from `--seed`; the journal gets the
   same dataset through test-control when the SUT declares it — otherwise the dataset is
   written to DIR/dataset (and DIR/dataset.zip) and the vendor must load it into the journal
   (`ezhd dataset generate --seed N` writes the same files ahead of the run).
3. pytest runs in-process over the `conformance` package with `--ezhd-results
   DIR/results.json` and `--hypothesis-seed=N` (Hypothesis examples follow the run's seed, the
   example database is off); the tests find the run through `DIR/run.json`
   (`conformance.runfile`; "journal" and "driver" come from the SUT declaration). One line
   per requirement is printed as its last test finishes (`--no-progress`: pytest's dots).
   JUnit XML is written next to results.json, and a per-requirement summary is printed.

`--replay RUN_DIR` runs again with what RUN_DIR recorded in run.json: the SUT (`reference`, or
the sut.toml path, read again), the seed, the reference defects, the `--only` selection
(unless `--only` is given) and the mocks ready file (when it still exists, unless `--mocks` is
given). It writes to `--report-dir`, default RUN_DIR + "-replay".

When the journal does not answer at its base_url (nothing listens), the run still happens:
every test ends in ERROR with the cause ("the journal at URL does not answer: connection
refused"), results.json and junit.xml are written, the summary says the journal was
unreachable, and the exit code is 3 — nothing was verified, which is not the same as a
journal that was verified and failed (1).

Exit: 0 when the base level passes, 1 when it does not, 2 on a configuration error, 3 when
the environment could not be set up or the journal or a mock did not answer. With `--only`,
only the requirements named are run and the exit code is decided on them (every selected
base MUST is PASS or NOT_APPLICABLE); the results still list the whole catalogue, the others
NOT_TESTED, and the summary's base level is that of the whole catalogue. Mocks and a
journal started by certify are always stopped; mocks attached through `--mocks` are left
running. `--level` accepts `base` only (the one level the standard defines here).

`-j N` (N > 1, `--sut reference` only) splits the selected test modules into N parts balanced
by expected cost (`AREA_COST`; a module's tests stay together) and runs each as a complete,
independent certify run in a subprocess — its own mocks, its own reference journal, the same
seed's dataset — into REPORT_DIR/parts/<k> (hidden option `--tests FILE`; its output in
parts/<k>.log, its progress lines relayed as `[part k] ...`). Their raw test records are then
merged into one results.json (verdicts computed once, by `results.build_results`; run started
= earliest, finished = latest; mocks and SUT of part 0), rendered to junit.xml and
report.html; evidence keeps its absolute parts/<k>/transcripts paths; run.json records `jobs`
(a `--replay` runs in as many parts unless `-j` is given) and the parts. Not pytest-xdist: the
tests share one journal, one set of mocks and one dataset and change their state (ЕСИА's fault
queue, the journal's clock, exclusive exports, claimed people). A vendor journal is one
instance that cannot be split: `-j` with a FILE SUT (or `--mocks`) exits 2.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import pytest

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageProblem
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
MOCK_NAMES = ("esia", "smev", "epgu")
EXIT_ENVIRONMENT = 3
HYPOTHESIS_PROFILE = "ezhd-certify"
PARTS_DIR = "parts"
PART_RECORDS = "records.json"
# the rough cost of a test of each area, in units of a quick auth test (per-area means of a full
# reference run): exp runs exports, api schema-driven calls, auth many quick sign-ins. Balances
# the parts of a -j run; an area not named costs 1.
AREA_COST = {"exp": 12.0, "notif": 7.0, "api": 4.5, "log": 4.0, "role": 3.0, "cred": 2.0}


class SetupProblem(click.ClickException):
    """The environment (mocks, journal, dataset) could not be set up: exit 3."""

    exit_code = EXIT_ENVIRONMENT


@click.command("certify")
@click.option("--sut", "sut_arg", default=None, metavar="FILE|reference",
              help="The SUT declaration (sut.toml), or `reference` for the bundled reference journal.")
@click.option("--mocks", "mocks_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="READY.json",
              help="Attach to mocks already running: the ready file of `ezhd mocks up --ready-file`. "
                   "Needed for a vendor journal, which must be configured with the mocks' URLs before "
                   "the run; without it certify starts its own mocks on loopback.")
@click.option("--replay", "replay_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="RUN_DIR",
              help="Run again with the SUT, seed, reference defects and selection recorded in RUN_DIR.")
@click.option("--reference-defect", "defects", multiple=True, metavar="ID",
              help="With --sut reference: switch a seeded defect on (repeatable).")
@click.option("--only", "only", multiple=True, metavar="ID",
              help="Run only the tests of these requirement IDs (repeatable).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write results (default reports/run-<UTC timestamp>; RUN_DIR-replay with --replay).")
@click.option("--seed", type=int, default=None,
              help="Seed of the generated dataset and of Hypothesis.  [default: 1]")
@click.option("--level", type=click.Choice(["base"]), default="base", show_default=True,
              help="The conformance level to certify (only `base` is defined).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run the suite in N parallel parts, each with its own mocks and reference journal, "
                   "and merge their results (--sut reference only).")
@click.option("--tests", "test_files", multiple=True, hidden=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Run only the tests of these files (one part of a -j run).")
@click.option("--no-progress", is_flag=True, help="Print pytest's dots instead of one line per requirement.")
@click.option("--force", is_flag=True, help="Replace an earlier run in --report-dir.")
def certify(sut_arg: str | None, mocks_file: Path | None, replay_dir: Path | None, defects: tuple[str, ...],
            only: tuple[str, ...], report_dir: Path | None, seed: int | None, level: str, jobs: int | None,
            test_files: tuple[Path, ...], no_progress: bool, force: bool) -> None:
    """Run the conformance suite against a journal; write results.json and JUnit XML.

    For a vendor journal: start the mocks (`ezhd mocks up --ready-file mocks.json`), configure
    the journal with their URLs, then `ezhd certify --sut sut.toml --mocks mocks.json`.
    """
    from conformance.sut import SutError, load_sut
    from specs.requirements import load_requirements

    if replay_dir is not None:
        if sut_arg is not None or seed is not None or defects:
            raise UsageProblem("--replay takes the SUT, seed and reference defects from RUN_DIR; "
                               "leave out --sut, --seed and --reference-defect")
        sut_arg, seed, defects, recorded_only, recorded_mocks, recorded_jobs = _replayed(replay_dir)
        only = only or recorded_only
        jobs = jobs or recorded_jobs
        if mocks_file is None and recorded_mocks is not None and recorded_mocks.exists():
            mocks_file = recorded_mocks
        if report_dir is None:
            report_dir = replay_dir.parent / (replay_dir.name + "-replay")
        click.echo(f"replaying {replay_dir}: --sut {sut_arg} --seed {seed}"
                   + "".join(f" --reference-defect {d}" for d in defects)
                   + "".join(f" --only {r}" for r in only) + (f" -j {jobs}" if jobs and jobs > 1 else ""))
    if sut_arg is None:
        raise UsageProblem("give --sut FILE|reference, or --replay RUN_DIR")
    parallel = jobs is not None and jobs > 1
    if parallel and sut_arg != "reference":
        raise UsageProblem("-j: a vendor journal is one journal instance with one state, which parallel "
                           "parts would share and disturb (only --sut reference starts a journal per part); "
                           "run without -j")
    if parallel and mocks_file is not None:
        raise UsageProblem("-j: each parallel part starts its own mocks, so --mocks cannot be used with it; "
                           "run without -j or without --mocks")
    if parallel and test_files:
        raise UsageProblem("-j cannot be combined with --tests")
    seed = 1 if seed is None else seed

    catalogue = load_requirements()
    unknown = [rid for rid in only if rid not in catalogue]
    if unknown:
        raise UsageProblem(f"--only: unknown requirement ID {', '.join(unknown)}")
    sut = None
    if sut_arg != "reference":
        if defects:
            raise UsageProblem("--reference-defect needs --sut reference")
        try:
            sut = load_sut(Path(sut_arg).resolve())   # absolute: run.json records it for --replay
        except SutError as exc:
            raise UsageProblem("; ".join(exc.problems)) from None
    else:
        from reference_journal.defects import unknown as unknown_defects

        bad = unknown_defects(defects)
        if bad:
            raise UsageProblem(f"--reference-defect: unknown defect {', '.join(bad)} "
                               "(see `ezhd reference-journal defects`)")
    attached = _read_ready_file(mocks_file) if mocks_file is not None else None

    if report_dir is None:
        report_dir = Path("reports") / f"run-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    if report_dir.is_dir() and any(report_dir.iterdir()):
        if not force:
            raise UsageProblem(f"--report-dir: {report_dir} is not empty; choose a new directory "
                               "or add --force to replace an earlier run there")
        if not (report_dir / "run.json").exists():
            raise UsageProblem(f"--report-dir: {report_dir} holds no earlier run (no run.json); "
                               "--force only replaces a run, choose an empty directory")
        shutil.rmtree(report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageProblem(f"--report-dir: cannot create {report_dir}: {exc.strerror or exc}") from None
    report_dir = report_dir.resolve()

    if parallel:
        assert jobs is not None
        results, unreachable = _run_parts(report_dir, jobs, seed, defects, only, level,
                                          progress=not no_progress)
        raise click.exceptions.Exit(_summarise(results, only, report_dir, unreachable))

    options = {"seed": seed, "defects": defects, "only": only, "level": level,
               "mocks_file": str(mocks_file.resolve()) if mocks_file is not None else None}
    with ExitStack() as stack:
        started = time.monotonic()
        dataset = _dataset(report_dir, seed)
        urls = attached if attached is not None else _start_mocks(stack, report_dir)
        if mocks_file is not None and _ready_token(mocks_file):
            _set_env(stack, ADMIN_TOKEN_ENV, _ready_token(mocks_file))   # the admin clients send it
        if sut is None:
            sut = _start_reference(stack, report_dir, urls, defects)
        elif attached is None:
            click.echo("note: the mocks were started by certify, so the journal cannot have been configured "
                       "with their URLs; start them first with `ezhd mocks up --ready-file F`, configure the "
                       "journal, and pass --mocks F")
        run, unreachable = _prepare(stack, report_dir, sut, urls, dataset, options)
        click.echo(f"environment ready in {time.monotonic() - started:.1f} s: journal {sut.base_url}, "
                   + ", ".join(f"{k} {v}" for k, v in urls.items())
                   + (" (attached)" if attached is not None else "")
                   + (f"; defects: {', '.join(defects)}" if defects else ""))
        results = _run_pytest(report_dir, run, sut, urls, seed, only, progress=not no_progress,
                              short_tracebacks=bool(unreachable), test_files=test_files)
    code = _summarise(results, only, report_dir, unreachable)
    raise click.exceptions.Exit(code)


# --- what a run needs ----------------------------------------------------------------------------

def _replayed(run_dir: Path) -> tuple[str, int, tuple[str, ...], tuple[str, ...], Path | None, int | None]:
    """(sut, seed, reference defects, only, mocks ready file, -j) recorded in RUN_DIR."""
    from conformance.runfile import load_run

    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise UsageProblem(f"--replay: {run_dir} holds no run (no run.json)")
    try:
        run = load_run(run_file)
    except (OSError, ValueError) as exc:
        raise UsageProblem(f"--replay: cannot read {run_file}: {exc}") from None
    assert run is not None
    source = (run.get("sut") or {}).get("source")
    seed = (run.get("dataset") or {}).get("seed")
    results_file = run_dir / "results.json"
    if seed is None and results_file.is_file():
        try:
            seed = json.loads(results_file.read_text(encoding="utf-8"))["run"]["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            seed = None
    if not source or not isinstance(seed, int):
        raise UsageProblem(f"--replay: {run_file} does not record the SUT and the seed")
    mocks_file = run.get("mocks_file")
    return (str(source), seed, tuple(run.get("reference_defects") or ()), tuple(run.get("only") or ()),
            Path(mocks_file) if mocks_file else None,
            run.get("jobs") if isinstance(run.get("jobs"), int) and run.get("jobs") > 1 else None)


def _read_ready_file(path: Path) -> dict[str, str]:
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


def _ready_token(path: Path) -> str | None:
    """The stand's admin token from the ready file (`ezhd mocks up --admin-token`), if any."""
    try:
        token = json.loads(path.read_text(encoding="utf-8")).get("admin_token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def _dataset(report_dir: Path, seed: int) -> dict[str, Any]:
    from fixtures.bundle import bundle_bytes, personas_of
    from fixtures.dataset import Options, generate

    directory = generate(Options(seed=seed), report_dir / "dataset").out
    bundle = bundle_bytes(directory)
    (report_dir / "dataset.zip").write_bytes(bundle)
    journal_personas = report_dir / "journal-personas.json"
    journal_personas.write_text(json.dumps(personas_of(bundle), ensure_ascii=False), encoding="utf-8")
    return {"directory": directory, "bundle": bundle, "journal_personas": journal_personas}


def _start_mocks(stack: ExitStack, report_dir: Path) -> dict[str, str]:
    from mocks.environment import Environment

    env = Environment(state_dir=report_dir / "mocks")
    stack.callback(env.stop)
    try:
        return env.start()
    except OSError as exc:
        raise SetupProblem(f"cannot start the mocks: {exc}") from None


def _defect_settings(defects: tuple[str, ...]) -> list[str]:
    """TOML lines of the journal settings the chosen defects need to show at all (a
    showcase-channel defect makes the journal export through the showcase channel)."""
    from reference_journal.defects import CATALOGUE

    wanted: dict[str, str] = {}
    for d in defects:
        for key, value in CATALOGUE[d].settings:
            if wanted.setdefault(key, value) != value:
                raise UsageProblem(f"--reference-defect: {d} needs {key} = {value!r}, another defect needs "
                                   f"{wanted[key]!r}; run them separately")
    if wanted:
        click.echo("reference journal settings for the chosen defects: "
                   + ", ".join(f"{k} = {v}" for k, v in wanted.items()))
    return [f"{key} = {json.dumps(value)}" for key, value in wanted.items()]


def _start_reference(stack: ExitStack, report_dir: Path, urls: dict[str, str], defects: tuple[str, ...]):
    """Start the reference journal wired to `urls`; its `Sut` (environment variables set)."""
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
    config.write_text("\n".join([
        f"db = {json.dumps(str(report_dir / 'journal.sqlite'))}",
        f"esia_url = {json.dumps(urls['esia'])}",
        f"esia_client_id = {json.dumps(REFERENCE_CLIENT_ID)}",
        f"esia_key = {json.dumps(str(key_path))}",
        f"esia_cert = {json.dumps(str(cert_path))}",
        f"agent_url = {json.dumps(urls['smev'])}",
        f"showcase_url = {json.dumps(urls['epgu'])}",
        f"journal_mnemonic = {json.dumps(REFERENCE_MNEMONIC)}",
        *_defect_settings(defects),
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
    stack.callback(_stop, proc)
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None:
            raise SetupProblem(f"the reference journal exited with {proc.returncode} "
                               f"(see {report_dir / 'journal.log'})")
        if time.monotonic() > deadline:
            raise SetupProblem(f"the reference journal did not start within {READY_TIMEOUT:.0f} s")
        time.sleep(0.05)
    info = json.loads(ready.read_text(encoding="utf-8"))
    _set_env(stack, ADMIN_PASSWORD_ENV, info["admin_password"])
    try:
        return reference_sut(info["url"], cert_path, key_path, test_control_token=info["test_control_token"],
                             admin_login=info["admin_login"], admin_password_env=ADMIN_PASSWORD_ENV)
    except SutError as exc:
        raise SetupProblem(str(exc)) from None


def _prepare(stack: ExitStack, report_dir: Path, sut: Any, urls: dict[str, str], dataset: dict[str, Any],
             options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Register the journal at the mocks, load the dataset, write run.json.
    Returns the run and what did not answer (the journal)."""
    import httpx

    from conformance.runfile import TOKEN_ENV, driver_entry, journal_entry, no_answer, write_run

    directory = dataset["directory"]
    with httpx.Client(timeout=120.0, headers=admin_headers(os.environ.get(ADMIN_TOKEN_ENV))) as http:
        def admin(base: str, method: str, path: str, **kwargs: Any) -> Any:
            try:
                resp = http.request(method, f"{base}/_admin{path}", **kwargs)
            except httpx.HTTPError as exc:
                raise SetupProblem(f"{base}/_admin{path}: {exc}") from None
            if resp.status_code >= 300:
                raise SetupProblem(f"{base}/_admin{path}: {resp.status_code} {resp.text[:200]}")
            return resp

        admin(urls["esia"], "POST", "/clients", json={
            "client_id": sut.esia.client_id, "certificate": sut.esia.certificate.read_text(encoding="utf-8"),
            "redirect_uris": [sut.esia.redirect_uri, sut.esia.logout_redirect_uri]})
        personas = (directory / "personas.jsonl").read_bytes()
        for mock in ("esia", "epgu"):   # ЕСИА signs them in; the portal addresses their notifications
            admin(urls[mock], "POST", "/personas", content=personas, headers={"Content-Type": "application/x-ndjson"})
        admin(urls["smev"], "POST", "/providers", json={
            "mnemonic": sut.agent.mnemonic, "base_url": sut.base_url, "spec": "journal.yaml",
            "title": "journal under test"})
        admin(urls["epgu"], "PATCH", "/settings", json={"journal_mnemonic": sut.agent.mnemonic})

        unreachable = []
        why = no_answer(sut.base_url)
        if why:
            unreachable.append(f"the journal at {sut.base_url} does not answer: {why}")
            click.echo(f"warning: {unreachable[0]} — every test will end in ERROR")
        loaded = False
        if sut.test_control is not None and not unreachable:
            try:
                resp = http.post(f"{sut.test_control.url}/dataset", content=dataset["bundle"],
                                 headers={"Authorization": f"Bearer {sut.test_control.token}",
                                          "Content-Type": "application/zip"})
            except httpx.HTTPError as exc:
                raise SetupProblem(f"test-control {sut.test_control.url}/dataset: {exc}") from None
            if resp.status_code != 201:
                raise SetupProblem(f"the journal refused the dataset: {resp.status_code} {resp.text[:300]}")
            loaded = True
        elif sut.test_control is None:
            click.echo(f"note: the SUT declares no test-control API, so the dataset was not loaded into the "
                       f"journal. It is in {directory} (zip: {report_dir / 'dataset.zip'}); the journal must "
                       f"hold it for the tests to find their people — `ezhd dataset generate --seed "
                       f"{options['seed']} --out DIR` writes the same files ahead of the run")

    if sut.test_control is not None:
        _set_env(stack, TOKEN_ENV, sut.test_control.token)
    run = {
        "journal": journal_entry(sut),
        "mocks": dict(urls),
        "mocks_file": options["mocks_file"],
        "test_control": {"url": sut.test_control.url, "token_env": TOKEN_ENV} if sut.test_control else None,
        "dataset": {"directory": str(directory), "seed": options["seed"],
                    "journal_personas": str(dataset["journal_personas"]),
                    "esia_personas": str(directory / "personas.jsonl"), "loaded": loaded},
        "driver": driver_entry(sut),
        "reference_defects": sorted(options["defects"]),
        "only": list(options["only"]),
        "level": options["level"],
        "sut": sut.redacted(),
    }
    write_run(report_dir / "run.json", run)
    return run, unreachable


def _set_env(stack: ExitStack, name: str, value: str) -> None:
    stack.callback(_restore_env, name, os.environ.get(name))
    os.environ[name] = value


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- the run -----------------------------------------------------------------------------------

class _RunPlugin:
    """Registers the results collector with the run's description, and selects by --only."""

    def __init__(self, results_path: Path, sut: Any, mocks: dict[str, str], seed: int,
                 only: tuple[str, ...]) -> None:
        self.results_path, self.sut, self.mocks, self.seed, self.only = results_path, sut, mocks, seed, set(only)
        self.collector: Any = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: Any) -> None:
        from conformance.plugin import RESULTS_PLUGIN, _requirement_ids
        from conformance.results import ResultsCollector

        self.collector = ResultsCollector(self.results_path, _requirement_ids,
                                          declared_features=sorted(self.sut.features),
                                          sut=self.sut.redacted(), mocks=self.mocks, seed=self.seed)
        config.pluginmanager.register(self.collector, RESULTS_PLUGIN)

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if not self.only:
            return
        from conformance.plugin import _requirement_ids

        keep, drop = [], []
        for item in items:
            (keep if self.only & set(_requirement_ids(item)) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


class _Progress:
    """One line per requirement as its last test finishes: its counts and the run's so far.
    pytest's progress letters are blanked (the failure details at the end stay)."""

    _KINDS = ("pass", "fail", "error", "skip")

    def __init__(self, run_plugin: _RunPlugin) -> None:
        self.run_plugin = run_plugin
        self.ids: dict[str, list[str]] = {}          # nodeid -> requirement IDs
        self.left: dict[str, int] = {}               # requirement -> tests not finished
        self.counts: dict[str, dict[str, int]] = {}  # requirement -> kind -> n
        self.totals = dict.fromkeys(self._KINDS, 0)
        self.done = 0
        self.config: Any = None

    def pytest_configure(self, config: Any) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: Any) -> None:
        from conformance.plugin import _requirement_ids

        for item in session.items:
            ids = _requirement_ids(item)
            if not ids:
                continue
            self.ids[item.nodeid] = ids
            for rid in ids:
                self.left[rid] = self.left.get(rid, 0) + 1
                self.counts.setdefault(rid, dict.fromkeys(self._KINDS, 0))

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: Any, config: Any):
        result = yield
        if isinstance(result, tuple) and len(result) == 3:
            category, _letter, word = result
            return category, "", word
        return result

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        from conformance.verdicts import Outcome

        ids = self.ids.get(nodeid)
        collector = self.run_plugin.collector
        record = collector.records.get(nodeid) if collector is not None else None
        if not ids or record is None:
            return
        kind = {Outcome.PASSED: "pass", Outcome.FAILED: "fail", Outcome.ERROR: "error",
                Outcome.SKIPPED: "skip"}[record.outcome]
        self.totals[kind] += 1
        self.done += 1
        for rid in ids:
            self.counts[rid][kind] += 1
            self.left[rid] -= 1
            if self.left[rid] == 0:
                self._line(rid)

    def _line(self, rid: str) -> None:
        c = self.counts[rid]
        own = ", ".join(f"{c[k]} {k}" for k in self._KINDS if c[k]) or "none"
        run = " ".join(f"{k} {self.totals[k]}" for k in self._KINDS)
        line = f"{rid:<10} {own:<28} | run: {run} ({self.done}/{len(self.ids)} tests)"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter") if self.config else None
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(line)
        else:
            click.echo(line)


def _run_pytest(report_dir: Path, run: dict[str, Any], sut: Any, mocks: dict[str, str], seed: int,
                only: tuple[str, ...], progress: bool = True, short_tracebacks: bool = False,
                test_files: tuple[Path, ...] = ()) -> dict[str, Any]:
    from hypothesis import settings as hypothesis_settings

    from conformance.results import load_results
    from conformance.runfile import RUN_ENV

    results_path = report_dir / "results.json"
    if results_path.exists():
        results_path.unlink()
    # the run's seed drives Hypothesis; no example database, so a run does not depend on earlier ones
    hypothesis_settings.register_profile(HYPOTHESIS_PROFILE, database=None)
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = str(report_dir / "run.json")
    try:
        targets = [str(f.resolve()) for f in test_files] or [str(CONFORMANCE_DIR)]
        args = [*targets, "-p", "no:cacheprovider", "-q", "--rootdir", str(CONFORMANCE_DIR.parent),
                "-o", "testpaths=conformance", "-p", "no:schemathesis", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                f"--hypothesis-seed={seed}", f"--hypothesis-profile={HYPOTHESIS_PROFILE}",
                # a module that does not import leaves its requirements NOT_TESTED (they block
                # sign-off), it does not stop the tests of the other requirements
                "--continue-on-collection-errors",
                "--ezhd-results", str(results_path)]
        run_plugin = _RunPlugin(results_path, sut, mocks, seed, only)
        plugins: list[Any] = [run_plugin]
        if short_tracebacks:   # the same cause for every test (the journal does not answer): one line each
            args.append("--tb=line")
        if progress:
            args += ["-o", "console_output_style=classic"]
            plugins.append(_Progress(run_plugin))
        code = pytest.main(args, plugins=plugins)
    finally:
        _restore_env(RUN_ENV, previous)
    if not results_path.exists():
        raise SetupProblem(f"pytest ended with {int(code)} and wrote no results")
    results = load_results(results_path)
    if test_files and run_plugin.collector is not None:   # one part of a -j run: its raw records to merge
        from conformance.results import dump_records

        dump_records(run_plugin.collector.records.values(), report_dir / PART_RECORDS)
    _write_reports(results, report_dir)
    return results


def _write_reports(results: dict[str, Any], report_dir: Path) -> None:
    """JUnit XML and the HTML report, rendered from the results."""
    from conformance.junit import write_junit
    from conformance.report.html import write_html
    from conformance.report.model import load_input

    write_junit(results, report_dir / "junit.xml")
    write_html(load_input(report_dir), report_dir / "report.html")


# --- parallel parts (-j N) ---------------------------------------------------------------------
#
# The conformance tests share one journal, one set of mocks and one dataset and change their
# state (mock ЕСИА's fault queue, the journal's clock, exclusive exports, claimed people), so
# pytest-xdist workers against one environment would disturb each other. Instead the selected
# test modules are split into N parts balanced by expected cost, and each part is a complete,
# independent certify run (its own mocks and reference journal, the same seed's dataset) in a
# subprocess writing to REPORT_DIR/parts/<k>; their raw test records are merged into one
# results.json, whose verdicts are computed once over all of them.

def _plan_parts(only: tuple[str, ...], jobs: int) -> tuple[list[list[Path]], list[tuple[str, ...]], dict[str, int]]:
    """The test files of each part (a module's tests stay together; the costliest file goes
    to the part with the least so far), each part's --only (the requirements of `only`, or of
    the catalogue, that its tests verify, so that its exit code is about them), and the node
    IDs in collection order."""
    from conformance.cli.requirements_cmd import CollectionFailed, _collect

    root = CONFORMANCE_DIR.parent
    cost: dict[Path, float] = {}
    try:
        tests = _collect(CONFORMANCE_DIR)
    except CollectionFailed as exc:   # every module, the parts' own collection reports the problem
        click.echo(f"note: {exc}; splitting by test file only")
        tests = {}
        for path in sorted(CONFORMANCE_DIR.glob("*/test_*.py")):
            cost[path] = AREA_COST.get(path.parent.name, 1.0)
    wanted = set(only)
    for nodeid, ids in tests.items():
        if wanted and not wanted & set(ids):
            continue
        path = root / nodeid.split("::", 1)[0]
        cost[path] = cost.get(path, 0.0) + AREA_COST.get(path.parent.name, 1.0)
    if not cost:   # nothing selected: one part, which reports it as the single run would
        cost = {path: 1.0 for path in sorted(CONFORMANCE_DIR.glob("*/test_*.py"))}
        jobs = 1
    parts: list[list[Path]] = [[] for _ in range(min(jobs, len(cost)))]
    load = [0.0] * len(parts)
    for path in sorted(cost, key=lambda p: (-cost[p], str(p))):
        k = load.index(min(load))
        parts[k].append(path)
        load[k] += cost[path]
    parts = [sorted(files) for files in parts]
    part_only = []
    for files in parts:
        names = {str(f.relative_to(root)) for f in files if f.is_relative_to(root)}
        verified = {rid for nodeid, ids in tests.items() if nodeid.split("::", 1)[0] in names for rid in ids}
        part_only.append(tuple(rid for rid in only if rid in verified) if only else tuple(sorted(verified)))
    part_only = [ids or only for ids in part_only]
    return parts, part_only, {nodeid: i for i, nodeid in enumerate(tests)}


def _run_parts(report_dir: Path, jobs: int, seed: int, defects: tuple[str, ...], only: tuple[str, ...],
               level: str, progress: bool) -> tuple[dict[str, Any], list[str]]:
    """Run the parts in parallel, merge them into REPORT_DIR; the results and what did not answer."""
    import threading

    from conformance.runfile import load_run, write_run
    from conformance.results import build_results, load_records, write_results
    from specs.requirements import load_requirements

    # provisional, so that an interrupted run can still be replaced (--force) or replayed
    write_run(report_dir / "run.json", {"sut": {"source": "reference"}, "dataset": {"seed": seed},
                                        "reference_defects": sorted(defects), "only": list(only),
                                        "level": level, "mocks_file": None, "jobs": jobs})
    plan, part_only, order = _plan_parts(only, jobs)
    parts_dir = report_dir / PARTS_DIR
    parts_dir.mkdir()
    root = CONFORMANCE_DIR.parent
    click.echo(f"running in {len(plan)} parallel part(s), each with its own mocks and reference journal"
               + (f" (-j {jobs}, but the selection has only {len(plan)} test file(s))" if len(plan) < jobs else "")
               + ":")
    for k, files in enumerate(plan):
        click.echo(f"  part {k}: " + ", ".join(str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
                                               for f in files))
    base = [sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference", "--seed", str(seed),
            "--level", level]
    for d in defects:
        base += ["--reference-defect", d]
    if not progress:
        base.append("--no-progress")
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    codes: list[int | None] = [None] * len(plan)
    logs = [parts_dir / f"{k}.log" for k in range(len(plan))]
    started = time.monotonic()

    def pump(k: int, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with open(logs[k], "w", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if progress and " | run: " in line:
                    with lock:
                        click.echo(f"[part {k}] {line.rstrip()}")
        codes[k] = proc.wait()
        with lock:
            click.echo(f"part {k} finished in {time.monotonic() - started:.1f} s: exit {codes[k]} (log: {logs[k]})")

    threads = []
    try:
        for k, files in enumerate(plan):
            cmd = [*base, "--report-dir", str(parts_dir / str(k))]
            for rid in part_only[k]:
                cmd += ["--only", rid]
            for f in files:
                cmd += ["--tests", str(f)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    encoding="utf-8", errors="replace", cwd=str(root),
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            procs.append(proc)
            thread = threading.Thread(target=pump, args=(k, proc), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    finally:
        for proc in procs:
            _interrupt(proc)

    records, runs, unreachable = [], [], []
    for k in range(len(plan)):
        part = parts_dir / str(k)
        if codes[k] not in (EXIT_OK, EXIT_FAIL, EXIT_ENVIRONMENT) or not (part / PART_RECORDS).is_file() \
                or not (part / "results.json").is_file():
            raise SetupProblem(f"part {k} exited with {codes[k]} without results (see {logs[k]})")
        if codes[k] == EXIT_ENVIRONMENT:
            unreachable.append(f"part {k}: the journal or a mock did not answer (see {logs[k]})")
        records += load_records(part / PART_RECORDS)
        runs.append(json.loads((part / "results.json").read_text(encoding="utf-8"))["run"])
    records.sort(key=lambda r: (order.get(r.nodeid, len(order)), r.nodeid))
    run = {**runs[0], "started": min(r["started"] for r in runs), "finished": max(r["finished"] for r in runs),
           "pytest_exit_status": max(r["pytest_exit_status"] for r in runs)}
    results = build_results(load_requirements(), records, run=run, declared_features=runs[0]["declared_features"])
    write_results(results, report_dir / "results.json")
    run_file = load_run(parts_dir / "0" / "run.json") or {}
    run_file.pop("format", None)
    write_run(report_dir / "run.json", {**run_file, "only": list(only), "jobs": jobs, "parts": [
        {"dir": str(parts_dir / str(k)), "tests": [str(f) for f in files], "exit": codes[k]}
        for k, files in enumerate(plan)]})
    _write_reports(results, report_dir)
    return results, unreachable


def _interrupt(proc: subprocess.Popen) -> None:
    """Stop a part still running: SIGINT first, so it stops its own journal and mocks."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _stop(proc)


def _summarise(results: dict[str, Any], only: tuple[str, ...], report_dir: Path,
               unreachable: list[str] | None = None) -> int:
    from conformance.verdicts import base_level_result

    click.echo("")
    click.echo("requirement  strength  verdict         tests")
    shown = [r for r in results["requirements"] if r["tests"] or r["id"] in only]
    for r in shown:
        click.echo(f"{r['id']:<12} {r['strength']:<9} {r['verdict']:<15} {len(r['tests'])}")
    counts = ", ".join(f"{n} {v}" for v, n in results["summary"]["verdicts"].items() if n)
    click.echo(f"requirements: {counts}")
    full = results["summary"]["base_level"]
    if only:
        scoped = base_level_result((r["id"], r["strength"], r["level"], r["verdict"])
                                   for r in results["requirements"] if r["id"] in only)
        click.echo(f"base level over --only {', '.join(only)}: {scoped.result}"
                   + (f" (blocking: {', '.join(scoped.blocking)})" if scoped.blocking else ""))
        click.echo(f"base level of the whole catalogue: {full['result']} "
                   f"({len(full['blocking'])} base MUST not passed)")
        passed = scoped.passed
    else:
        click.echo(f"base level: {full['result']}"
                   + (f" (blocking: {', '.join(full['blocking'])})" if full["blocking"] else ""))
        passed = full["result"] == "pass"
    click.echo(f"results: {report_dir / 'results.json'}; JUnit: {report_dir / 'junit.xml'}; report: {report_dir / 'report.html'}")
    if unreachable:
        for line in unreachable:
            click.echo(f"UNREACHABLE: {line}; every test ended in ERROR and nothing was verified")
        return EXIT_ENVIRONMENT
    return EXIT_OK if passed else EXIT_FAIL
