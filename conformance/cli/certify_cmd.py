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
   `--mocks`, certify serves its own on loopback (`mocks.environment.Environment`) — right
   for the reference journal; for a FILE SUT the preflight reports it as a setup error.
   The journal is registered wherever its declaration names it (`conformance.session.prepare`):
   at ЕСИА as a client (certificate, redirect URIs), at the agent as a system allowed to upload
   and as the provider of journal.yaml (mnemonic, base_url), at the showcase as a source
   writing to its datamart. ЕСИА gets the personas of a dataset generated from `--seed`; the
   journal gets the same dataset through test-control when the SUT declares it — otherwise
   the dataset is written to DIR/dataset (and DIR/dataset.zip) and the vendor must load it
   into the journal (`ezhd dataset generate --seed N` writes the same files ahead of the run).
   Then the preflight (`conformance.session.preflight`): the journal answers, its sign-in
   goes to this mock ЕСИА as the declared client, the test-control token works, sample
   learners of the dataset are found, the driver signs the administrator in.
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

A setup mistake found by the preflight (the journal does not answer, it uses other mocks, the
token is refused, the dataset is not loaded, the driver cannot sign in, no `--mocks` for a
FILE SUT) is never a FAIL: `SETUP ERROR: cause — fix` is printed, no test body runs (every
selected test ends in ERROR with that cause), results.json (`run.setup_problems`), junit.xml
and report.html are still written, and the exit code is 3 — nothing was verified.

Exit: 0 when the base level passes, 1 when it does not, 2 on a configuration error, 3 when
the environment could not be set up or the journal or a mock did not answer. With `--only`,
only the requirements named are run and the exit code is decided on them (every selected
base MUST is PASS or NOT_APPLICABLE); the results still list the whole catalogue, the others
NOT_TESTED, and the summary's base level is that of the whole catalogue. Mocks and a
journal started by certify are always stopped; mocks attached through `--mocks` are left
running. `--level` accepts `base` only (the one level the standard defines here).

`--sut-image IMAGE` (with `--sut FILE`) runs the vendor's journal from a container image on a
private Docker network with the mocks from `--mocks-image` (`conformance.containers`): the
sut.toml's URLs are moved to the container's address, the containers' logs go to
DIR/containers/, and everything is removed afterwards; no engine or image is exit 3.

`-j N` (N > 1, `--sut reference` only) splits the selected test modules into N parts balanced
by expected cost (`AREA_COST`; a module's tests stay together, and an area's when it has a
conftest.py, so EXP's full export runs once) and runs each as a complete,
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
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import click

from conformance.cli import UsageProblem


@click.command("certify")
@click.option("--sut", "sut_arg", default=None, metavar="FILE|reference",
              help="The SUT declaration (sut.toml), or `reference` for the bundled reference journal.")
@click.option("--mocks", "mocks_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="READY.json",
              help="Attach to mocks already running: the ready file of `ezhd mocks up --ready-file`. "
                   "Needed for a vendor journal, which must be configured with the mocks' URLs before "
                   "the run (without it: a setup error); for --sut reference certify starts its own.")
@click.option("--replay", "replay_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="RUN_DIR",
              help="Run again with the SUT, seed, reference defects and selection recorded in RUN_DIR.")
@click.option("--reference-defect", "defects", multiple=True, metavar="ID",
              help="With --sut reference: switch a seeded defect on (repeatable).")
@click.option("--reference-setting", "settings", multiple=True, metavar="KEY=VALUE", hidden=True,
              help="With --sut reference: a setting of the reference journal (reference_journal/config.py), "
                   "e.g. export_channel=showcase; repeatable. For the suite's own self-checks (mutation "
                   "testing on each export channel); not recorded for --replay.")
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
@click.option("--sut-image", default=None, metavar="IMAGE",
              help="Run the journal of --sut FILE from this container image, on a private Docker network "
                   "with the mocks started from --mocks-image (conformance.containers).")
@click.option("--mocks-image", default="ezhd-mocks", show_default=True, metavar="IMAGE",
              help="With --sut-image: the image of the mock stand (docker/Dockerfile, target mocks).")
@click.option("--sut-env", "sut_env", multiple=True, metavar="NAME[=VALUE]",
              help="With --sut-image: a variable for the journal container (without =VALUE: from this "
                   "environment); repeatable.")
@click.option("--no-progress", is_flag=True, help="Print pytest's dots instead of one line per requirement.")
@click.option("--force", is_flag=True, help="Replace an earlier run in --report-dir.")
def certify(sut_arg: str | None, mocks_file: Path | None, replay_dir: Path | None, defects: tuple[str, ...],
            settings: tuple[str, ...], only: tuple[str, ...], report_dir: Path | None, seed: int | None, level: str, jobs: int | None,
            test_files: tuple[Path, ...], sut_image: str | None, mocks_image: str, sut_env: tuple[str, ...],
            no_progress: bool, force: bool) -> None:
    """Run the conformance suite against a journal; write results.json and JUnit XML.

    For a vendor journal: start the mocks (`ezhd mocks up --ready-file mocks.json`), configure
    the journal with their URLs, then `ezhd certify --sut sut.toml --mocks mocks.json`.
    """
    from conformance.session.launch import (read_ready_file, reference_settings, ready_token, reserve_sockets,
                                           set_env, spawn_reference, start_mocks)
    from conformance.session.parallel import run_parts
    from conformance.session.prepare import make_dataset, prepare
    from conformance.session.run import run_pytest, summarise, write_reports
    from conformance.sut import SutError, load_sut
    from mocks.common.guard import ADMIN_TOKEN_ENV
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
    image_env = _image_options(sut_arg, sut_image, sut_env, mocks_file, parallel)

    catalogue = load_requirements()
    unknown = [rid for rid in only if rid not in catalogue]
    if unknown:
        raise UsageProblem(f"--only: unknown requirement ID {', '.join(unknown)}")
    sut = None
    journal_settings: dict[str, object] = {}
    if sut_arg != "reference":
        if defects or settings:
            raise UsageProblem("--reference-defect and --reference-setting need --sut reference")
        try:
            sut = load_sut(Path(sut_arg).resolve())   # absolute: run.json records it for --replay
        except SutError as exc:
            raise UsageProblem("; ".join(exc.problems)) from None
    else:
        from reference_journal.defects import unknown as unknown_defects

        journal_settings = reference_settings(settings)
        bad = unknown_defects(defects)
        if bad:
            raise UsageProblem(f"--reference-defect: unknown defect {', '.join(bad)} "
                               "(see `ezhd reference-journal defects`)")
    attached = read_ready_file(mocks_file) if mocks_file is not None else None

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
        results, setup_problems = run_parts(report_dir, jobs, seed, defects, only, level,
                                          progress=not no_progress, settings=settings)
        raise click.exceptions.Exit(summarise(results, only, report_dir, setup_problems))

    options = {"seed": seed, "defects": defects, "only": only, "level": level,
               "mocks_file": str(mocks_file.resolve()) if mocks_file is not None else None}
    reporter = ThreadPoolExecutor(max_workers=1)
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as pool:
        stack.callback(reporter.shutdown)   # last out: waits for the reports, if they were started
        started = time.monotonic()
        # the dataset is generated while the mocks and the journal (a subprocess) start
        dataset_made = pool.submit(make_dataset, report_dir, seed)
        stack.callback(dataset_made.cancel)
        if sut_image is not None:
            from conformance.containers import start_image_stand

            attached, sut, mocks_file = start_image_stand(stack, report_dir, Path(sut_arg), sut_image,
                                                          mocks_image, image_env)
            options["mocks_file"] = str(mocks_file)
        if attached is not None:
            urls = attached
            journal_ready = spawn_reference(stack, report_dir, urls, defects, journal_settings) if sut is None else None
        else:   # the journal (a subprocess) starts with the mocks' URLs while the mocks are built
            sockets, urls = reserve_sockets(stack)
            journal_ready = spawn_reference(stack, report_dir, urls, defects, journal_settings) if sut is None else None
            start_mocks(stack, report_dir, sockets)
        token = ready_token(mocks_file) if mocks_file is not None else None
        if token:   # a shared stand guards its admin API: the suite's admin clients send the token
            set_env(stack, ADMIN_TOKEN_ENV, token)
        if journal_ready is not None:
            sut = journal_ready()
        dataset = dataset_made.result()
        run, setup_problems = prepare(stack, report_dir, sut, urls, dataset, options)
        click.echo(f"environment ready in {time.monotonic() - started:.1f} s: journal {sut.base_url}, "
                   + ", ".join(f"{k} {v}" for k, v in urls.items())
                   + (" (attached)" if attached is not None else "")
                   + (f"; defects: {', '.join(defects)}" if defects else ""))
        results = run_pytest(report_dir, run, sut, urls, seed, only, progress=not no_progress,
                              short_tracebacks=bool(setup_problems), test_files=test_files, reports=False)
        # junit.xml and report.html are rendered (CPU) while the journal and the mocks stop
        # (mostly waiting for them), on leaving this block
        written = reporter.submit(write_reports, results, report_dir)
    written.result()
    code = summarise(results, only, report_dir, setup_problems)
    raise click.exceptions.Exit(code)


# --- what a run needs ----------------------------------------------------------------------------

def _image_options(sut_arg: str, image: str | None, sut_env: tuple[str, ...], mocks_file: Path | None,
                   parallel: bool) -> dict[str, str]:
    """The journal container's extra variables (`--sut-env`), once the options are checked."""
    import os

    if image is None:
        if sut_env:
            raise UsageProblem("--sut-env needs --sut-image")
        return {}
    if sut_arg == "reference":
        raise UsageProblem("--sut-image runs the journal of a sut.toml: give --sut FILE (the reference "
                           "journal as an image is docker/Dockerfile's target reference-journal)")
    if mocks_file is not None or parallel:
        raise UsageProblem("--sut-image starts its own mocks on its own network: leave out --mocks and -j")
    env: dict[str, str] = {}
    for item in sut_env:
        name, sep, value = item.partition("=")
        if not name.isidentifier():
            raise UsageProblem(f"--sut-env: {item!r} is not NAME or NAME=VALUE")
        if not sep and name not in os.environ:
            raise UsageProblem(f"--sut-env: {name} is not set in this environment; set it or give {name}=VALUE")
        env[name] = value if sep else os.environ[name]
    return env


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
    source = run.sut.get("source")
    if not source:
        raise UsageProblem(f"--replay: {run_file} does not record the SUT")
    return (str(source), run.dataset.seed, run.reference_defects, run.only,
            Path(run.mocks_file) if run.mocks_file else None, run.jobs if run.jobs and run.jobs > 1 else None)


