"""Reader and writer for the export CSV conventions of `specs/tables/_conventions.yaml`.

Writing: UTF-8, `;`, lower-case header in declared order, every non-empty value in double
quotes with inner quotes doubled, an empty required value as `""`, an empty optional value
as nothing, records separated by `\\n` with no trailing newline. Python 3.11's csv module
has no quoting mode for that distinction (QUOTE_NOTNULL arrives in 3.12), so records are
formatted here; reading uses the csv module.
"""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

from specs.tables import Table, TableSet, load_tables
from specs.values import ValueRuleError, format_value, parse_value

Row = dict[str, Any]


class CsvFormatError(ValueError):
    """A file breaks the CSV conventions or a value its column; names line, column and rule."""

    def __init__(self, rule: str, detail: str, line: int | None = None, column: str | None = None):
        where = f"line {line}" if line is not None else "file"
        if column:
            where += f", column {column}"
        super().__init__(f"{where}: {rule}: {detail}")
        self.rule, self.detail, self.line, self.column = rule, detail, line, column


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def format_header(table: Table, tables: TableSet | None = None) -> str:
    conv = (tables or load_tables()).conventions
    return conv.delimiter.join(table.column_names)


def join_record(table: Table, texts: Iterable[str | None], tables: TableSet | None = None) -> str:
    """One CSV record (no line terminator) of field texts in column order, quoted as exported."""
    conv = (tables or load_tables()).conventions
    parts = []
    for column, text in zip(table.columns, texts):
        if text:
            parts.append(_quote(text))
        else:
            parts.append('""' if column.required else "")
    return conv.delimiter.join(parts)


def format_record(table: Table, row: Mapping[str, Any], tables: TableSet | None = None) -> str:
    """One CSV record (no line terminator) of a row of typed values."""
    tables = tables or load_tables()
    conv = tables.conventions
    return join_record(table, (format_value(c, row.get(c.name), conv) for c in table.columns), tables)


class TableWriter:
    """Streams rows of one table into a text stream in the export format."""

    def __init__(self, table: Table, stream: IO[str], tables: TableSet | None = None) -> None:
        self.table = table
        self.tables = tables or load_tables()
        self._stream = stream
        self._newline = self.tables.conventions.line_terminator
        self.count = 0
        stream.write(format_header(table, self.tables))

    def write(self, row: Mapping[str, Any]) -> None:
        self._stream.write(self._newline + format_record(self.table, row, self.tables))
        self.count += 1

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        for row in rows:
            self.write(row)
        return self.count


@contextmanager
def open_writer(table: Table, path: Path | str, tables: TableSet | None = None) -> Iterator[TableWriter]:
    """A TableWriter on a new file at `path` (UTF-8, no BOM, `\\n` line ends)."""
    tables = tables or load_tables()
    with open(path, "w", encoding=tables.conventions.encoding, newline="") as fh:
        yield TableWriter(table, fh, tables)


def write_table(table: Table, rows: Iterable[Mapping[str, Any]], path: Path | str,
                tables: TableSet | None = None) -> int:
    """Write all rows to `path`; returns the number of rows written."""
    with open_writer(table, path, tables) as writer:
        return writer.write_many(rows)


def dumps(table: Table, rows: Iterable[Mapping[str, Any]], tables: TableSet | None = None) -> str:
    """The export CSV of the rows as a string."""
    buffer = io.StringIO()
    TableWriter(table, buffer, tables).write_many(rows)
    return buffer.getvalue()


@contextmanager
def _open_text(source: Path | str | bytes | IO[str], encoding: str) -> Iterator[IO[str]]:
    if isinstance(source, (str, Path)):
        with open(source, encoding=encoding, errors="strict", newline="") as fh:
            yield fh
    elif isinstance(source, bytes):
        yield io.StringIO(source.decode(encoding), newline="")
    else:
        yield source


def iter_records(table: Table, source: Path | str | bytes | IO[str],
                 tables: TableSet | None = None) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, {column: text or None}) for each record after a valid header.

    Raises CsvFormatError for a file-level problem: encoding, byte-order mark, header, or a
    record with the wrong number of fields.
    """
    tables = tables or load_tables()
    conv = tables.conventions
    try:
        with _open_text(source, conv.encoding) as fh:
            reader = csv.reader(fh, delimiter=conv.delimiter, quotechar=conv.quotechar, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise CsvFormatError("header", "the file is empty: the header line is missing", 1) from None
            if header and header[0].startswith("\ufeff"):
                raise CsvFormatError("encoding", "the file starts with a byte-order mark; save it as UTF-8 without BOM", 1)
            expected = list(table.column_names)
            if header != expected:
                raise CsvFormatError("header", _header_problem(header, expected, conv.delimiter), 1)
            names = table.column_names
            for fields in reader:
                line = reader.line_num
                if len(fields) != len(names):
                    raise CsvFormatError(
                        "field_count", f"{len(fields)} fields, the header has {len(names)}", line
                    )
                yield line, {n: (f if f != "" else None) for n, f in zip(names, fields)}
    except UnicodeDecodeError as exc:
        raise CsvFormatError("encoding", f"not UTF-8 (byte {exc.start}: {exc.reason})") from None
    except csv.Error as exc:
        raise CsvFormatError("field_count", f"malformed CSV: {exc}") from None


def _header_problem(header: list[str], expected: list[str], delimiter: str) -> str:
    if len(header) == 1 and delimiter not in header[0] and "," in header[0]:
        return f"the header is not separated by {delimiter!r} (found ',')"
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra))
        return "; ".join(parts)
    return "columns are out of order; expected " + delimiter.join(expected)


def read_table(table: Table, source: Path | str | bytes | IO[str],
               tables: TableSet | None = None) -> Iterator[Row]:
    """Typed rows of a file; raises CsvFormatError at the first value of the wrong type."""
    tables = tables or load_tables()
    conv = tables.conventions
    columns = table.columns
    for line, record in iter_records(table, source, tables):
        row: Row = {}
        for column in columns:
            text = record[column.name]
            if text is None:
                row[column.name] = None
                continue
            try:
                row[column.name] = parse_value(column, text, conv)
            except ValueRuleError as exc:
                raise CsvFormatError(exc.rule, exc.detail, line, column.name) from None
        yield row
