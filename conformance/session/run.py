"""Run pytest over the conformance package for a prepared run, and summarise it.

`RunPlugin` registers the results collector with the run's description (the SUT, the mocks,
the seed, the product, the setup problems) and selects by `--only`; `run_pytest` runs pytest
in-process (`--hypothesis-seed` = the run's seed, no example database) with `EZHD_RUN`
pointing at run.json, then writes junit.xml and report.html; `summarise` prints one line per
requirement and the base level, and gives certify's exit code.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest

from conformance.cli import EXIT_ENVIRONMENT, EXIT_FAIL, EXIT_OK, SetupProblem
from conformance.runfile import Run
from conformance.session.launch import CONFORMANCE_DIR, restore_env
from conformance.session.progress import Progress

__all__ = ["HYPOTHESIS_PROFILE", "PART_RECORDS", "RunPlugin", "run_pytest", "write_reports", "summarise"]

HYPOTHESIS_PROFILE = "ezhd-certify"
# pytest plugins installed beside the suite that its tests do not use: not loaded (Faker's alone
# imports Faker, ~0.4 s); Schemathesis's also blanks the values in Hypothesis's failure reports
UNUSED_PLUGINS = ("schemathesis", "faker", "respx", "anyio", "ezhd-fixtures")
SCHEMATHESIS_USER = "test_contract.py"   # the test module that loads Schemathesis (API-01)
PART_RECORDS = "records.json"


class RunPlugin:
    """Registers the results collector with the run's description, and selects by --only."""

    def __init__(self, results_path: Path, sut: Any, mocks: dict[str, str], seed: int,
                 only: tuple[str, ...], setup_problems: list[str] | None = None) -> None:
        self.results_path, self.sut, self.mocks, self.seed, self.only = results_path, sut, mocks, seed, set(only)
        self.run_extra: dict[str, Any] = {}
        if sut.product is not None:
            self.run_extra["product"] = sut.product.as_dict()
        if setup_problems:
            self.run_extra["setup_problems"] = list(setup_problems)
        self.collector: Any = None
        self.whole_package = False     # every module of the package collected (set by run_pytest)
        self.collection_failed = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: Any) -> None:
        from conformance.plugin import RESULTS_PLUGIN, requirement_ids
        from conformance.results import ResultsCollector

        self.collector = ResultsCollector(self.results_path, requirement_ids,
                                          declared_features=sorted(self.sut.features),
                                          sut=self.sut.redacted(), mocks=self.mocks, seed=self.seed,
                                          run_extra=self.run_extra)
        self.collector.summary = False   # the one summary is certify's (conformance/report/console.py)
        config.pluginmanager.register(self.collector, RESULTS_PLUGIN)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.collection_failed = True

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        from conformance.plugin import requirement_ids

        if self.whole_package and not self.collection_failed:   # what a later --only or -j reads
            from conformance.session import selection

            selection.store({item.nodeid: list(requirement_ids(item)) for item in items})
        if not self.only:
            return
        keep, drop = [], []
        for item in items:
            (keep if self.only & set(requirement_ids(item)) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def run_pytest(report_dir: Path, run: Run, sut: Any, mocks: dict[str, str], seed: int,
                only: tuple[str, ...], progress: bool = True, short_tracebacks: bool = False,
                test_files: tuple[Path, ...] = (), reports: bool = True) -> dict[str, Any]:
    """Run the suite in-process; the results (written as results.json). `reports`: also write
    junit.xml and report.html (`write_reports`; certify writes them while the stand stops)."""
    from hypothesis import settings as hypothesis_settings

    from conformance.results import load_results
    from conformance.runfile import RUN_ENV
    from conformance.session import selection

    results_path = report_dir / "results.json"
    if results_path.exists():
        results_path.unlink()
    # the run's seed drives Hypothesis; no example database, so a run does not depend on earlier ones
    hypothesis_settings.register_profile(HYPOTHESIS_PROFILE, database=None)
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = str(report_dir / "run.json")
    try:
        selected = test_files or (selection.files_for(only) if only else None) or ()
        targets = [str(f.resolve()) for f in selected] or [str(CONFORMANCE_DIR)]
        if not selected or any(f.name == SCHEMATHESIS_USER for f in selected):
            # pytest marks the package of every installed plugin for assertion rewriting, even of
            # one switched off (Schemathesis's is, below): imported first inside the run, its
            # modules were rewritten, ~2 s of a full run; imported now (with the OpenAPI modules
            # that loading a schema needs), they load as they are
            import schemathesis.specs.openapi.schemas  # noqa: F401
        args = [*targets, "-p", "no:cacheprovider", "-q", "--rootdir", str(CONFORMANCE_DIR.parent),
                "-o", "testpaths=conformance", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                *(a for name in UNUSED_PLUGINS for a in ("-p", f"no:{name}")),
                f"--hypothesis-seed={seed}", f"--hypothesis-profile={HYPOTHESIS_PROFILE}",
                # a module that does not import leaves its requirements NOT_TESTED (they block
                # sign-off), it does not stop the tests of the other requirements
                "--continue-on-collection-errors",
                "--ezhd-results", str(results_path)]
        from conformance.report.console import ConciseFailures   # failures without fixture reprs

        run_plugin = RunPlugin(results_path, sut, mocks, seed, only, list(run.setup_problems))
        run_plugin.whole_package = not selected
        plugins: list[Any] = [run_plugin, ConciseFailures()]
        if short_tracebacks:   # the same cause for every test (the journal does not answer): one line each
            args.append("--tb=line")
        if progress:
            args += ["-o", "console_output_style=classic"]
            plugins.append(Progress(run_plugin))
        code = pytest.main(args, plugins=plugins)
    finally:
        restore_env(RUN_ENV, previous)
    if not results_path.exists():
        raise SetupProblem(f"pytest ended with {int(code)} and wrote no results")
    results = load_results(results_path)
    if test_files and run_plugin.collector is not None:   # one part of a -j run: its raw records to merge
        from conformance.results import dump_records

        dump_records(run_plugin.collector.records.values(), report_dir / PART_RECORDS)
    if reports:
        write_reports(results, report_dir)
    return results


def write_reports(results: dict[str, Any], report_dir: Path) -> None:
    """JUnit XML and the HTML report, rendered from the results."""
    from conformance.junit import write_junit
    from conformance.report.html import write_html
    from conformance.report.model import load_input

    write_junit(results, report_dir / "junit.xml")
    write_html(load_input(report_dir), report_dir / "report.html")
    write_pdf_if_available(report_dir)


def write_pdf_if_available(report_dir: Path) -> None:
    """report.pdf beside report.html when WeasyPrint (the [pdf] extra) is installed."""
    from conformance.report.model import load_input
    from conformance.report.pdf import available, write_pdf

    if available() is None:
        write_pdf(load_input(report_dir), report_dir / "report.pdf")



def summarise(results: dict[str, Any], only: tuple[str, ...], report_dir: Path,
               setup_problems: list[str] | None = None) -> int:
    from conformance.report.console import summary_lines   # one wording, with or without --only

    lines, passed = summary_lines(results, only, report_dir)
    for line in lines:
        click.echo(line)
    if setup_problems:
        for line in setup_problems:
            click.echo(f"SETUP ERROR: {line}; nothing was verified (exit 3)")
        return EXIT_ENVIRONMENT
    return EXIT_OK if passed else EXIT_FAIL
