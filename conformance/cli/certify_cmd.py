"""`ezhd certify`: run the conformance suite against a journal and write the results.

    ezhd certify --sut FILE|reference [--reference-defect ID ...] [--only ID ...]
                 [--report-dir DIR] [--seed N]

1. The SUT: `--sut FILE` reads a sut.toml (`conformance.sut.load_sut`; every problem is
   reported, exit 2). `--sut reference` runs the bundled reference journal: a test
   certificate and key are generated into the report directory, and the journal is started
   as a subprocess (`python -m conformance.cli reference-journal serve`) wired to the mocks,
   with the `--reference-defect`s switched on.
2. The mocks (`mocks.environment.Environment`: ЕСИА, ПОДД agent, ЕПГУ) are served on
   loopback. The journal is registered at ЕСИА as a client (certificate, callback and
   sign-out return), at the agent as the provider of journal.yaml, and at the showcase as its
   source. ЕСИА gets the personas of a dataset generated from `--seed`; the journal gets the
   same dataset through test-control.
3. pytest runs in-process over the `conformance` package with `--ezhd-results
   DIR/results.json`; the tests find the run through `DIR/run.json` (`conformance.runfile`).
   JUnit XML is written next to it, and a per-requirement summary is printed.

Exit: 0 when the base level passes, 1 when it does not, 2 on a configuration error, 3 when
the environment could not be set up. With `--only`, only the requirements named are run and
the exit code is decided on them (every selected base MUST is PASS or NOT_APPLICABLE); the
results still list the whole catalogue, the others NOT_TESTED, and the summary's base level
is that of the whole catalogue. The mocks and the journal are always stopped.

A sut.toml run uses mocks on loopback too; it needs the vendor's journal to reach them, so for
now only `--sut reference` is wired end to end (a FILE run stops after the checks with exit 2
naming what is missing).
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import pytest

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageProblem

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


class SetupProblem(click.ClickException):
    """The environment (mocks, journal, dataset) could not be set up: exit 3."""

    exit_code = 3


@click.command("certify")
@click.option("--sut", "sut_arg", required=True, metavar="FILE|reference",
              help="The SUT declaration (sut.toml), or `reference` for the bundled reference journal.")
@click.option("--reference-defect", "defects", multiple=True, metavar="ID",
              help="With --sut reference: switch a seeded defect on (repeatable).")
@click.option("--only", "only", multiple=True, metavar="ID",
              help="Run only the tests of these requirement IDs (repeatable).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write results (default reports/run-<UTC timestamp>).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated dataset.")
@click.option("--force", is_flag=True, help="Replace an earlier run in --report-dir.")
def certify(sut_arg: str, defects: tuple[str, ...], only: tuple[str, ...], report_dir: Path | None,
            seed: int, force: bool) -> None:
    """Run the conformance suite against a journal; write results.json and JUnit XML."""
    from conformance.sut import SutError, load_sut
    from specs.requirements import load_requirements

    catalogue = load_requirements()
    unknown = [rid for rid in only if rid not in catalogue]
    if unknown:
        raise UsageProblem(f"--only: unknown requirement ID {', '.join(unknown)}")
    if sut_arg != "reference":
        if defects:
            raise UsageProblem("--reference-defect needs --sut reference")
        try:
            load_sut(sut_arg)
        except SutError as exc:
            raise UsageProblem("; ".join(exc.problems)) from None
        raise UsageProblem(f"--sut {sut_arg}: the declaration is valid, but runs against a vendor "
                           "journal are not wired yet; use --sut reference")
    from reference_journal.defects import unknown as unknown_defects

    bad = unknown_defects(defects)
    if bad:
        raise UsageProblem(f"--reference-defect: unknown defect {', '.join(bad)} "
                           "(see `ezhd reference-journal defects`)")
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

    with ExitStack() as stack:
        run, sut, mocks = _set_up_reference(stack, report_dir, defects, seed)
        results = _run_pytest(report_dir, run, sut, mocks, seed, only)
    code = _summarise(results, only, report_dir)
    raise click.exceptions.Exit(code)


# --- environment -------------------------------------------------------------------------------

def _set_up_reference(stack: ExitStack, report_dir: Path, defects: tuple[str, ...], seed: int):
    import httpx
    from cryptography.hazmat.primitives import serialization

    from conformance.runfile import TOKEN_ENV, write_run
    from conformance.sut import REFERENCE_CLIENT_ID, REFERENCE_MNEMONIC, SutError, reference_sut
    from fixtures.bundle import bundle_bytes
    from fixtures.dataset import Options, generate
    from mocks.environment import Environment
    from mocks.esia.testing import make_client_credentials

    started = time.monotonic()
    # the journal's test certificate
    keys = report_dir / "keys"
    keys.mkdir(exist_ok=True)
    key, cert_pem = make_client_credentials(REFERENCE_CLIENT_ID)
    key_path, cert_path = keys / "journal.key.pem", keys / "journal.cert.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_text(cert_pem, encoding="utf-8")

    # the dataset
    dataset_dir = generate(Options(seed=seed), report_dir / "dataset").out
    bundle = bundle_bytes(dataset_dir)
    (report_dir / "dataset.zip").write_bytes(bundle)

    # the mocks
    env = Environment(state_dir=report_dir / "mocks")
    stack.callback(env.stop)
    try:
        urls = env.start()
    except OSError as exc:
        raise SetupProblem(f"cannot start the mocks: {exc}") from None

    # the journal, as a subprocess
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
    journal_url = info["url"]
    token = info["test_control_token"]

    try:
        sut = reference_sut(journal_url, cert_path, key_path, test_control_token=token)
    except SutError as exc:
        raise SetupProblem(str(exc)) from None

    with httpx.Client(timeout=120.0) as http:
        def admin(base: str, path: str, **kwargs: Any) -> Any:
            resp = http.post(f"{base}/_admin{path}", **kwargs)
            if resp.status_code >= 300:
                raise SetupProblem(f"{base}/_admin{path}: {resp.status_code} {resp.text[:200]}")
            return resp

        admin(urls["esia"], "/clients", json={
            "client_id": sut.esia.client_id, "certificate": cert_pem,
            "redirect_uris": [sut.esia.redirect_uri, sut.esia.logout_redirect_uri]})
        admin(urls["esia"], "/personas", content=(dataset_dir / "personas.jsonl").read_bytes(),
              headers={"Content-Type": "application/x-ndjson"})
        admin(urls["smev"], "/providers", json={"mnemonic": sut.agent.mnemonic, "base_url": journal_url,
                                                "spec": "journal.yaml", "title": "reference journal"})
        if env.showcase is not None:
            env.showcase.configure(journal_mnemonic=sut.agent.mnemonic)
        resp = http.post(f"{journal_url}/test-control/v1/dataset", content=bundle,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"})
        if resp.status_code != 201:
            raise SetupProblem(f"the journal refused the dataset: {resp.status_code} {resp.text[:300]}")

    journal_personas = report_dir / "journal-personas.json"
    from fixtures.bundle import personas_of

    journal_personas.write_text(json.dumps(personas_of(bundle), ensure_ascii=False), encoding="utf-8")
    from conformance.driver import ADMIN_PASSWORD_ENV

    for name, value in ((TOKEN_ENV, token), (ADMIN_PASSWORD_ENV, info["admin_password"])):
        stack.callback(_restore_env, name, os.environ.get(name))
        os.environ[name] = value
    run = {
        "journal": {"base_url": sut.base_url, "sign_in_url": sut.base_url + "/auth/esia/login",
                    "sign_out_url": sut.base_url + "/auth/esia/logout",
                    "redirect_uri": sut.esia.redirect_uri, "logout_redirect_uri": sut.esia.logout_redirect_uri,
                    "client_id": sut.esia.client_id, "mnemonic": sut.agent.mnemonic,
                    "openapi_url": sut.base_url + "/api/v1/openapi.yaml", "sbom_url": sut.base_url + "/sbom.json"},
        "mocks": dict(urls),
        "test_control": {"url": sut.test_control.url, "token_env": TOKEN_ENV} if sut.test_control else None,
        "dataset": {"directory": str(dataset_dir), "seed": seed, "journal_personas": str(journal_personas),
                    "esia_personas": str(dataset_dir / "personas.jsonl")},
        "driver": {"class": "conformance.driver:ReferenceDriver", "admin_login": info["admin_login"],
                   "admin_password_env": ADMIN_PASSWORD_ENV},
        "reference_defects": sorted(defects),
        "sut": sut.redacted(),
    }
    write_run(report_dir / "run.json", run)
    click.echo(f"environment ready in {time.monotonic() - started:.1f} s: journal {journal_url}, "
               + ", ".join(f"{k} {v}" for k, v in urls.items())
               + (f"; defects: {', '.join(defects)}" if defects else ""))
    return run, sut, urls


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


def _run_pytest(report_dir: Path, run: dict[str, Any], sut: Any, mocks: dict[str, str], seed: int,
                only: tuple[str, ...]) -> dict[str, Any]:
    from conformance.results import load_results
    from conformance.runfile import RUN_ENV

    results_path = report_dir / "results.json"
    if results_path.exists():
        results_path.unlink()
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = str(report_dir / "run.json")
    try:
        args = [str(CONFORMANCE_DIR), "-p", "no:cacheprovider", "-q", "--rootdir", str(CONFORMANCE_DIR.parent),
                "-o", "testpaths=conformance", "-p", "no:schemathesis", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                "--ezhd-results", str(results_path)]
        code = pytest.main(args, plugins=[_RunPlugin(results_path, sut, mocks, seed, only)])
    finally:
        _restore_env(RUN_ENV, previous)
    if not results_path.exists():
        raise SetupProblem(f"pytest ended with {int(code)} and wrote no results")
    results = load_results(results_path)
    from conformance.junit import write_junit

    write_junit(results, report_dir / "junit.xml")
    return results


def _summarise(results: dict[str, Any], only: tuple[str, ...], report_dir: Path) -> int:
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
    click.echo(f"results: {report_dir / 'results.json'}; JUnit: {report_dir / 'junit.xml'}")
    return EXIT_OK if passed else EXIT_FAIL
