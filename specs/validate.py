"""Reference ФЛК in plain Python: every rule of `specs/flk_rules.yaml` over rows and files.

It is the oracle the vectorised engine is compared with, the check a journal can run on its
own export before sending, and what `ezhd dataset generate --validate` uses. It keeps every
key of referenced tables in memory, so it suits test-size data, not a region.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

from specs import SPECS_DIR, load_yaml
from specs.csvio import CsvFormatError, iter_records
from specs.tables import Table, TableSet, load_tables
from specs.values import check_value, mask


@dataclass(frozen=True)
class Violation:
    """One ФЛК finding: where, which rule, and the (masked) value."""

    table: str
    rule: str
    detail: str
    line: int | None = None
    column: str | None = None
    value: str | None = None
    file: str | None = None

    def message(self, lang: str = "en") -> str:
        rule = load_rules()[self.rule]
        where = self.file or self.table
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f" [{self.column}]"
        shown = f" (value {self.value!r})" if self.value is not None else ""
        return f"{where}: {self.rule}: {rule['message'][lang]}: {self.detail}{shown}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def load_rules() -> Mapping[str, Mapping[str, Any]]:
    """The rule catalogue, keyed by rule id."""
    return load_yaml(SPECS_DIR / "flk_rules.yaml")


def check_row(table: Table, record: Mapping[str, str | None],
              tables: TableSet | None = None) -> list[tuple[str, str, str]]:
    """(column, rule, detail) for every single-row rule a record of texts breaks."""
    tables = tables or load_tables()
    conv = tables.conventions
    problems: list[tuple[str, str, str]] = []
    for column in table.columns:
        found = check_value(column, record.get(column.name), conv)
        if found:
            problems.append((column.name, *found))
    broken = {p[0] for p in problems}
    pairs = list(table.ordered)
    first, second = conv.technical_order
    if first in table.column_names and second in table.column_names:
        pairs.append((first, second))
    for start, end in pairs:
        a, b = record.get(start), record.get(end)
        if a and b and start not in broken and end not in broken and a > b:
            # Same-format ISO dates, datetimes and times compare correctly as text.
            problems.append((end, "order", f"{end} {b} is before {start} {a}"))
    return problems


class KeyStore:
    """Primary keys seen per table, for uniqueness and referential checks."""

    def __init__(self) -> None:
        self._keys: dict[str, set[tuple[str | None, ...]]] = {}

    def has(self, table: str, key: tuple[str | None, ...]) -> bool:
        return key in self._keys.get(table, ())

    def add(self, table: str, key: tuple[str | None, ...]) -> None:
        self._keys.setdefault(table, set()).add(key)

    def count(self, table: str) -> int:
        return len(self._keys.get(table, ()))


def check_file(table: Table, source: Path | str | bytes | IO[str], *, keys: KeyStore | None = None,
               tables: TableSet | None = None, max_errors: int = 1000,
               file: str | None = None) -> list[Violation]:
    """All violations of one file, at most `max_errors`.

    With `keys`, foreign keys are checked against it and the file's primary keys are added to
    it, so checking files in `TableSet.export_order()` checks a whole dataset.
    """
    tables = tables or load_tables()
    name = file or (str(source) if isinstance(source, (str, Path)) else None)
    out: list[Violation] = []
    seen: set[tuple[str | None, ...]] = set()
    pk = table.primary_key
    fks = [(c.name, c.references[0]) for c in table.foreign_keys]  # type: ignore[index]
    try:
        for line, record in iter_records(table, source, tables):
            for column, rule, detail in check_row(table, record, tables):
                col = table.column(column)
                out.append(Violation(table.name, rule, detail, line, column, mask(col, record[column]), name))
            key = tuple(record[k] for k in pk)
            if key in seen:
                out.append(Violation(table.name, "pk_unique", "primary key " + "/".join(map(str, key))
                                     + " repeats an earlier record of this file", line, pk[0], None, name))
            seen.add(key)
            if keys is not None:
                for column, target in fks:
                    value = record[column]
                    if value is not None and not keys.has(target, (value,)) and not (
                        target == table.name and (value,) in seen
                    ):
                        out.append(Violation(table.name, "fk", f"no {target} record with id {value}",
                                             line, column, value, name))
            if len(out) >= max_errors:
                break
    except CsvFormatError as exc:
        out.append(Violation(table.name, exc.rule, exc.detail, exc.line, exc.column, None, name))
    if keys is not None:
        for key in seen:
            keys.add(table.name, key)
    return out[:max_errors]


def check_directory(directory: Path | str, tables: TableSet | None = None,
                    max_errors: int = 1000) -> tuple[dict[str, int], list[Violation]]:
    """Check every `{table}.csv` in a directory in export order.

    Returns the number of data records per file checked and the violations found.
    """
    tables = tables or load_tables()
    directory = Path(directory)
    keys = KeyStore()
    counts: dict[str, int] = {}
    found: list[Violation] = []
    for name in tables.export_order():
        path = directory / f"{name}.csv"
        if not path.exists():
            continue
        table = tables[name]
        found.extend(check_file(table, path, keys=keys, tables=tables,
                                max_errors=max_errors - len(found), file=path.name))
        counts[name] = keys.count(name)
        if len(found) >= max_errors:
            break
    return counts, found


def iter_violations_text(violations: Iterable[Violation], lang: str = "en") -> Iterable[str]:
    for v in violations:
        yield v.message(lang)
