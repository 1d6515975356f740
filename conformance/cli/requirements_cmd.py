"""`ezhd requirements`: the requirement catalogue and which conformance tests verify it.

The catalogue comes from `specs/requirements.yaml`; which tests verify a requirement comes
from the tests' own `@pytest.mark.requirement(...)` markers, collected by pytest with the
`ezhd` plugin (`conformance/plugin.py`).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Sequence

import click

import conformance
from conformance.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageProblem
from specs.requirements import BASE, MUST, SHOULD, Catalogue, Requirement, load_requirements

FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
PLUGIN_MODULE = "conformance.plugin"
_ERROR_BLOCK = re.compile(r"^_+ ERROR collecting (.+?) _+$")


class CollectionFailed(click.ClickException):
    """pytest could not collect the conformance tests."""

    exit_code = EXIT_USAGE


@click.group()
def requirements() -> None:
    """The requirements of the standard and the tests that verify them."""


@requirements.command("list")
@FORMAT_OPTION
@click.option("--area", metavar="AREA", help="Only this area (AUTH, ROLE, EXP, ...).")
@click.option(
    "--strength", type=click.Choice([MUST, SHOULD], case_sensitive=False), help="Only this strength."
)
def list_requirements(fmt: str, area: str | None, strength: str | None) -> None:
    """List the requirements: ID, strength, area and title."""
    catalogue = load_requirements()
    selected = list(catalogue)
    if area is not None:
        code = area.strip().upper()
        if code not in catalogue.areas:
            raise UsageProblem(
                f"unknown area {area!r}; areas are {', '.join(catalogue.areas)}",
                ctx=click.get_current_context(),
            )
        selected = list(catalogue.by_area(code))
    if strength is not None:
        selected = [r for r in selected if r.strength == strength.upper()]
    if fmt == "json":
        _echo_json([asdict(r) for r in selected])
    else:
        rows = [(r.id, _strength(r), r.area, r.title("ru")) for r in selected]
        _echo_table(("ID", "STRENGTH", "AREA", "TITLE"), rows)


@requirements.command("show")
@click.argument("requirement_id", metavar="ID")
@FORMAT_OPTION
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True,
              help="Language of the text output (json carries both).")
def show(requirement_id: str, fmt: str, lang: str) -> None:
    """Show one requirement in full."""
    catalogue = load_requirements()
    rid = requirement_id.strip().upper()
    if rid not in catalogue:
        close = catalogue.close_matches(rid)
        hint = f"did you mean {', '.join(close)}?" if close else "`ezhd requirements list` shows every ID"
        raise UsageProblem(
            f"unknown requirement ID {requirement_id!r}; {hint}", ctx=click.get_current_context()
        )
    req = catalogue[rid]
    if fmt == "json":
        _echo_json(asdict(req))
        return
    area = catalogue.areas[req.area]
    click.echo(f"{req.id}  {_strength(req)}  level: {req.level}  area: {area.code} ({area.title(lang)})")
    click.echo(req.title(lang))
    click.echo()
    click.echo(textwrap.fill(req.text(lang), width=88))
    click.echo()
    if req.feature is not None:
        click.echo(f"feature:    {req.feature} ({catalogue.features[req.feature].title(lang)})")
    click.echo(f"source:     {'; '.join(req.source)}")
    click.echo(f"interfaces: {', '.join(req.interfaces)}")


@requirements.command("coverage")
@FORMAT_OPTION
@click.option("--strict/--no-strict", default=False, show_default=True,
              help="Also fail when a SHOULD requirement has no test.")
@click.option(
    "--tests-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Directory of tests to collect (default: the installed conformance package).",
)
@click.pass_context
def coverage(ctx: click.Context, fmt: str, strict: bool, tests_dir: Path | None) -> None:
    """Report, per requirement, the conformance tests that verify it.

    Exit 1 when a base MUST requirement (with --strict, also a SHOULD one) has no test;
    while the suite has no test at all, report only and exit 0.
    """
    catalogue = load_requirements()
    directory = (tests_dir or Path(conformance.__file__).parent).resolve()
    collected = collect_tests(directory)
    report = _coverage_report(catalogue, collected["tests"], strict, collected.get("surfaces", {}))
    report["tests_dir"] = str(directory)
    if fmt == "json":
        _echo_json(report)
    else:
        _echo_coverage_text(catalogue, report)
    ctx.exit(EXIT_FAIL if report["status"] == "incomplete" else EXIT_OK)


def _coverage_report(catalogue: Catalogue, tests: dict[str, list[str]], strict: bool,
                     marks: dict[str, dict[str, list[str]]] | None = None) -> dict[str, Any]:
    verified_by: dict[str, list[str]] = {rid: [] for rid in catalogue.ids}
    for nodeid, ids in tests.items():
        for rid in ids:
            verified_by[rid].append(nodeid)
    untested = [r for r in catalogue if not verified_by[r.id]]
    blocking = [r.id for r in untested if r.level == BASE and (r.strength == MUST or strict)]
    from specs.surfaces import coverage as surface_coverage
    from specs.surfaces import load_surfaces

    surfaces = load_surfaces()
    surface_of = {
        r.id: surface_coverage(surfaces.of(r.id), [((marks or {}).get(n, {}), True) for n in verified_by[r.id]])
        for r in catalogue if surfaces.of(r.id) is not None
    }
    gaps = {rid: [f"{dim}={v}" for dim, parts in cov.items() for v in parts["missing"]]
            for rid, cov in surface_of.items()}
    # a surface is judged for base MUSTs (what blocks sign-off), with or without --strict
    gaps = {rid: parts for rid, parts in gaps.items()
            if parts and catalogue[rid].level == BASE and catalogue[rid].strength == MUST}
    undeclared = [r.id for r in catalogue if r.id not in surface_of and r.level == BASE and r.strength == MUST]
    if not tests:
        status, message = "reporting-only", "no conformance tests yet: reporting only"
    elif blocking:
        kinds = "base MUST or SHOULD" if strict else "base MUST"
        status = "incomplete"
        message = f"{len(blocking)} {kinds} requirement(s) without a test: {', '.join(blocking)}"
    elif gaps or undeclared:
        status = "incomplete"
        message = "; ".join(
            [f"{rid}: surface not exercised and not excused: {', '.join(parts)}" for rid, parts in gaps.items()]
            + ([f"no surface declared in specs/surfaces/ for {', '.join(undeclared)}"] if undeclared else [])
        )
    else:
        status, message = "complete", "every blocking requirement has a test and its whole surface covered or excused"
    return {
        "status": status,
        "message": message,
        "strict": strict,
        "tests": len(tests),
        "requirements": [
            {
                "id": r.id, "strength": r.strength, "level": r.level, "feature": r.feature,
                "tests": verified_by[r.id], "surface": surface_of.get(r.id),
            }
            for r in catalogue
        ],
        "untested": [r.id for r in untested],
        "blocking": blocking,
        "surface_gaps": gaps,
        "surface_undeclared": undeclared,
        "unmarked_tests": [nodeid for nodeid, ids in tests.items() if not ids],
    }


def _echo_coverage_text(catalogue: Catalogue, report: dict[str, Any]) -> None:
    rows: list[tuple[str, ...]] = []
    for entry in report["requirements"]:
        nodeids = entry["tests"] or ["-"]
        rows.append((entry["id"], _strength(catalogue[entry["id"]]), nodeids[0]))
        rows.extend(("", "", nodeid) for nodeid in nodeids[1:])
    _echo_table(("ID", "STRENGTH", "TESTS"), rows)
    click.echo()
    for entry in report["requirements"]:
        for line in surface_lines(entry["surface"]):
            click.echo(f"{entry['id']}  {line}")
    for nodeid in report["unmarked_tests"]:
        click.echo(f"test without a requirement marker: {nodeid}")
    click.echo(
        f"{report['tests']} test(s); {len(catalogue) - len(report['untested'])} of {len(catalogue)} "
        f"requirements verified, {len(report['untested'])} without a test"
    )
    click.echo(report["message"])


def surface_lines(surface: dict[str, dict[str, Any]] | None) -> list[str]:
    """One line per dimension of a requirement's surface coverage: covered n/m, then what is not."""
    lines = []
    for dim, parts in (surface or {}).items():
        total = sum(len(parts[k]) for k in ("covered", "skipped", "excused", "missing"))
        line = f"{dim}: {len(parts['covered'])}/{total} covered"
        if parts["skipped"]:
            line += f"; only in skipped tests: {', '.join(parts['skipped'])}"
        if parts["excused"]:
            line += "; excused: " + "; ".join(f"{v} ({why})" for v, why in parts["excused"].items())
        if parts["missing"]:
            line += f"; MISSING: {', '.join(parts['missing'])}"
        lines.append(line)
    return lines


def collect(directory: Path) -> dict[str, list[str]]:
    """nodeid -> requirement IDs of the tests under `directory`."""
    return collect_tests(directory)["tests"]


def collect_tests(directory: Path) -> dict[str, Any]:
    """Collect the tests under `directory` in a pytest subprocess: {"tests": nodeid -> requirement
    IDs, "surfaces": nodeid -> {dimension: [values]}}."""
    from pytest import ExitCode

    with tempfile.TemporaryDirectory(prefix="ezhd-coverage-") as tmp:
        out = Path(tmp) / "requirements.json"
        command = [
            sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
            *pytest_plugin_args(), "--ezhd-requirements-out", str(out), str(directory),
        ]
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        if proc.returncode not in (ExitCode.OK, ExitCode.NO_TESTS_COLLECTED) or not out.exists():
            raise CollectionFailed(
                f"collecting the tests under {directory} failed (pytest exit {proc.returncode}): "
                f"{_failure_summary(proc)}"
            )
        return json.loads(out.read_text(encoding="utf-8"))


def pytest_plugin_args() -> list[str]:
    """pytest arguments that load the `ezhd` plugin: `-p conformance.plugin`, unless pytest
    loads it anyway through its entry point (loading it twice is an error). Schemathesis's own
    pytest plugin is kept out: the suite uses Schemathesis as a library, and its plugin blanks
    the values in Hypothesis's report of a failing example."""
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    registered = any(ep.value == PLUGIN_MODULE for ep in entry_points(group="pytest11"))
    return ["-p", "no:schemathesis"] + ([] if autoload and registered else ["-p", PLUGIN_MODULE])


def _failure_summary(proc: subprocess.CompletedProcess[str]) -> str:
    """The gist of a failed pytest run: its usage error, else the exception of each module
    that failed to collect, else its last line."""
    if proc.stderr.strip():
        return proc.stderr.strip()
    errors: dict[str, str] = {}
    module: str | None = None
    for line in proc.stdout.splitlines():
        if block := _ERROR_BLOCK.match(line):
            module = block.group(1)
            errors[module] = "collection error"
        elif module is not None and line.startswith("E "):
            errors[module] = line[1:].strip()  # the last E line names the exception
    if errors:
        return "; ".join(f"{module}: {error}" for module, error in errors.items())
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else "no output"


def _strength(req: Requirement) -> str:
    return f"{req.strength}, opt" if req.optional else req.strength


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
