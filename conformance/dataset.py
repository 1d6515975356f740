"""The run's generated dataset as the conformance tests read it: the records of each export
table (`run["dataset"]["directory"]/{table}.csv`), read once per run and cached.

`records()` gives values as the CSV text the journal was loaded with; `typed_rows()` parses
them by the table specs. A table the dataset has no file for has no records; a file that
cannot be read is the tester's problem (`EnvironmentProblem`, verdict ERROR)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from conformance.verdicts import EnvironmentProblem
from specs.csvio import iter_records, read_table
from specs.tables import TableSet, load_tables

Record = dict[str, str | None]


@functools.lru_cache(maxsize=1)
def tables() -> TableSet:
    return load_tables()


def _read(directory: str, name: str, typed: bool) -> tuple[dict[str, Any], ...]:
    path = Path(directory) / f"{name}.csv"
    if not path.exists():
        return ()
    try:
        if typed:
            return tuple(read_table(tables()[name], path, tables()))
        return tuple(r for _, r in iter_records(tables()[name], path, tables()))
    except (OSError, ValueError) as exc:   # CsvFormatError is a ValueError
        raise EnvironmentProblem(f"cannot read the dataset table {path}: {exc}") from None


@functools.lru_cache(maxsize=128)
def _cached(directory: str, name: str, typed: bool) -> tuple[dict[str, Any], ...]:
    return _read(directory, name, typed)


def records(run: dict[str, Any], name: str) -> tuple[Record, ...]:
    """The dataset's records of table `name`, values as CSV text; () when it has none."""
    return _cached(str(run["dataset"]["directory"]), name, False)


def typed_rows(directory: str | Path, name: str) -> tuple[dict[str, Any], ...]:
    """The dataset's rows of table `name` in `directory`, typed by the table specs."""
    return _cached(str(directory), name, True)
