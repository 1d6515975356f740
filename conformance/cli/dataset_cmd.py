"""`ezhd dataset`: generate the suite's seeded dataset (the journal's export tables and the
ЕСИА personas of one generated world, `fixtures.dataset`) and check a directory of export
files with the reference ФЛК (`specs.validate`).
"""
from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageProblem
from fixtures.dataset import DEFAULT_AS_OF, PERSONAS_FILE, PROFILES, DatasetError, Options
from fixtures.dataset import generate as generate_dataset
from specs.tables import load_tables
from specs.validate import Violation, check_directory

_UNVALIDATED = ("region",)  # sizes not validated unless asked: the reference ФЛК keeps every key in memory


@click.group()
def dataset() -> None:
    """Generated test data: the journal's export tables and the ЕСИА personas."""


@dataset.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated world.")
@click.option("--size", type=click.Choice(list(PROFILES)), default="small", show_default=True,
              help="small: 2 schools, tens of learners; medium: thousands; region: 100,000+ learners.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory to write (created; replaced only with --force).")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=DEFAULT_AS_OF.isoformat(),
              show_default=True, help="Reference date: the last academic year contains it.")
@click.option("--years", type=click.IntRange(min=1, max=11), default=2, show_default=True,
              help="Academic years covered (the earlier ones are retrospective data).")
@click.option("--validate/--no-validate", default=None,
              help="Run the reference ФЛК over the output [default: on, off for region].")
@click.option("--force", is_flag=True, help="Replace the contents of a non-empty --out.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes generating schools in parallel [default: one per CPU for 4+ schools].")
def generate(seed: int, size: str, out: Path, as_of: dt.datetime, years: int, validate: bool | None,
             force: bool, workers: int | None) -> None:
    """Generate a dataset into --out: one CSV per export table, personas.jsonl, manifest.json.

    The same seed and options give byte-identical files.
    """
    ctx = click.get_current_context()
    options = Options(seed=seed, size=size, as_of=as_of.date(), years=years)
    progress = _progress if sys.stderr.isatty() else None
    try:
        result = generate_dataset(options, out, force=force, workers=workers, progress=progress)
    except DatasetError as exc:
        raise UsageProblem(str(exc), ctx=ctx) from None
    manifest = result.manifest
    counts = manifest["tables"]
    total = sum(counts.values())
    click.echo(f"wrote {size} dataset (seed {seed}, as of {options.as_of}, "
               f"{', '.join(manifest['academic_years'])}) to {result.out} in {result.seconds:.1f} s")
    click.echo(f"  {manifest['schools']} schools, {counts['classes']} classes, "
               f"{counts['learners']} learners, "
               f"{counts['representatives']} representatives, {counts['staff']} staff, "
               f"{counts['marks']} marks; {manifest['personas']} personas in {PERSONAS_FILE}")
    click.echo(f"  {total} rows in {len(counts)} tables, {total / max(result.seconds, 1e-9):,.0f} rows/s")
    if validate is None:
        validate = size not in _UNVALIDATED
    if validate:
        started = time.perf_counter()
        _, violations = check_directory(result.out)
        took = time.perf_counter() - started
        for violation in violations:
            click.echo(violation.message())
        click.echo(f"ФЛК: {len(violations) or 'no'} violation{'s' * (len(violations) != 1)} ({took:.1f} s)")
        ctx.exit(EXIT_FAIL if violations else EXIT_OK)


def _progress(done: int, total: int) -> None:
    click.echo(f"\r  {done}/{total} parts", err=True, nl=done == total)


@dataset.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--max-errors", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Stop after this many violations.")
def validate(directory: Path, max_errors: int) -> None:
    """Check the export files `{table}.csv` of DIRECTORY with the reference ФЛК.

    Prints each violation on its own line; exit 0 when clean, 1 when violations were found.
    """
    ctx = click.get_current_context()
    if not directory.is_dir():
        raise UsageProblem(f"{directory} is not a directory", ctx=ctx)
    tables = load_tables()
    present = [name for name in tables.export_order() if (directory / f"{name}.csv").is_file()]
    if not present:
        raise UsageProblem(f"{directory} holds no export file ({{table}}.csv)", ctx=ctx)
    try:
        counts, violations = check_directory(directory, tables, max_errors=max_errors)
    except OSError as exc:
        where = exc.filename or directory
        raise UsageProblem(f"cannot read {where}: {exc.strerror or exc}", ctx=ctx) from None
    for violation in violations:
        click.echo(violation.message())
    click.echo(_summary(directory, counts, violations))
    ctx.exit(EXIT_FAIL if violations else EXIT_OK)


def _summary(directory: Path, counts: dict[str, int], violations: list[Violation]) -> str:
    found = f"{len(violations)} violation{'s' * (len(violations) != 1)}" if violations else "no violations"
    return f"{directory}: {len(counts)} files, {sum(counts.values())} records, {found}"
