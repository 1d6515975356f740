"""`ezhd flk FILE...`: check export files with the vectorised ФЛК of the mock showcase
(`mocks.epgu.flk`): DuckDB, one pass over each file, the verdicts of the reference ФЛК.

Files are checked parents first in one in-memory database, so a reference resolves
against the records of the files given together; a reference to a table not given is not
checked, and the summary says so. Exit 0 when every file is clean, 1 on any ФЛК error,
2 when the command cannot run (unknown table, unreadable file, contradictory options).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageProblem
from specs.tables import load_tables

_TEXTS = {
    "summary": {"ru": "{file}: таблица {table}, записей: {rows}, ошибок ФЛК: {errors}",
                "en": "{file}: table {table}, {rows} records, {errors} ФЛК errors"},
    "shown": {"ru": "  (показаны первые {shown})", "en": "  (the first {shown} shown)"},
    "note": {"ru": "  не проверено: {note}", "en": "  not checked: {note}"},
    "total_ok": {"ru": "ФЛК: ошибок нет ({files} файл(ов), {rows} записей, {seconds:.1f} с)",
                 "en": "ФЛК: no errors ({files} files, {rows} records, {seconds:.1f} s)"},
    "total_bad": {"ru": "ФЛК: ошибок {errors} ({files} файл(ов), {rows} записей, {seconds:.1f} с)",
                  "en": "ФЛК: {errors} errors ({files} files, {rows} records, {seconds:.1f} s)"},
}


def _t(key: str, lang: str, **values: object) -> str:
    return _TEXTS[key][lang].format(**values)


@click.command("flk")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--table", default=None,
              help="Table of every FILE [default: from each file name: marks.csv, rdm_marks.csv].")
@click.option("--operation", type=click.Choice(["upload", "delete"]), default="upload", show_default=True,
              help="upload: every rule; delete: the primary key columns only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True,
              help="Language of the messages.")
@click.option("--max-errors", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Errors listed per file (all are counted).")
def flk(files: tuple[Path, ...], table: str | None, operation: str, fmt: str, lang: str,
        max_errors: int) -> None:
    """Check export FILEs (CSV, `;`, UTF-8) with the vectorised ФЛК.

    Exit 0: every file is clean; 1: ФЛК errors were found; 2: the check could not run.
    """
    from mocks.epgu.flk import FlkUsageError, check_files, table_for_file

    ctx = click.get_current_context()
    tables = load_tables()
    if table is not None and table not in tables:
        raise UsageProblem(f"unknown table {table!r}; known tables: {', '.join(sorted(tables.names))}", ctx=ctx)
    chosen: dict[str, str] = {}
    for path in files:
        if not path.exists():
            raise UsageProblem(f"{path}: no such file", ctx=ctx)
        if not path.is_file():
            raise UsageProblem(f"{path}: not a file", ctx=ctx)
        if not os.access(path, os.R_OK):
            raise UsageProblem(f"{path}: cannot read the file", ctx=ctx)
        named = table_for_file(path, tables)
        if table is not None:
            if named is not None and named != table:
                raise UsageProblem(f"{path} is named for table {named}, not {table}; "
                                   "check files of different tables without --table", ctx=ctx)
            chosen[str(path)] = table
        elif named is None:
            raise UsageProblem(f"{path}: cannot tell the table from the file name; use --table", ctx=ctx)
        else:
            chosen[str(path)] = named
    if len(set(map(os.path.realpath, map(str, files)))) != len(files):
        raise UsageProblem("a file is given twice", ctx=ctx)
    try:
        results = check_files(files, table_for=chosen, tables=tables, operation=operation,
                              max_errors=max_errors)
    except FlkUsageError as exc:
        raise UsageProblem(str(exc), ctx=ctx) from None
    except OSError as exc:
        raise UsageProblem(f"cannot read {exc.filename or 'a file'}: {exc.strerror or exc}", ctx=ctx) from None
    total = sum(r.error_count for r in results)
    if fmt == "json":
        payload = {"ok": total == 0, "error_count": total, "operation": operation,
                   "files": [dict(r.to_dict(lang), path=str(p), seconds=round(r.seconds, 3))
                             for r, p in zip(results, _paths_in_order(results, files))]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for result in results:
            for error in result.errors:
                click.echo(error.text(lang))
            click.echo(_t("summary", lang, file=result.file, table=result.table, rows=result.rows,
                          errors=result.error_count))
            if len(result.errors) < result.error_count:
                click.echo(_t("shown", lang, shown=len(result.errors)))
            for note in result.notes:
                click.echo(_t("note", lang, note=note))
        seconds = sum(r.seconds for r in results)
        rows = sum(r.rows for r in results)
        key = "total_ok" if total == 0 else "total_bad"
        click.echo(_t(key, lang, errors=total, files=len(results), rows=rows, seconds=seconds))
    ctx.exit(EXIT_FAIL if total else EXIT_OK)


def _paths_in_order(results: list, files: tuple[Path, ...]) -> list[Path]:
    """The given paths in the order `check_files` checked them (results name files by name)."""
    remaining = list(files)
    ordered = []
    for result in results:
        match = next((p for p in remaining if p.name == result.file), remaining[0])
        remaining.remove(match)
        ordered.append(match)
    return ordered
