"""The vectorised ФЛК of the mock showcase: the table specs compiled to SQL and run in DuckDB.

`FlkEngine.check` gives the verdicts of the reference ФЛК (`specs.validate.check_file`) —
the same rules, lines, columns and masked values — without a Python loop over records:

1. the first line (the header) goes through the reference reader: byte-order mark, empty
   file, names, order and delimiter;
2. a pass over the raw lines (DuckDB's reader, one VARCHAR per line) counts lines, finds the
   first blank line, an invalid UTF-8 sequence, and the few lines where DuckDB's CSV reader
   would read differently from Python's `csv` (a space between a quote and a delimiter:
   DuckDB trims it, `csv` keeps it or refuses the line); those lines alone are parsed by
   `csv` and their fields replace DuckDB's (a file up to 256 KiB is surveyed in Python
   instead, and gets that pass only when a blank or odd line may be in it; an invalid UTF-8
   sequence then shows among the lines pass 3's reader refuses);
3. one pass of DuckDB's CSV reader computes, per record, the first rule each field breaks,
   the order pairs and the references (hash joins against stored keys), and packs them
   into one integer per record (`flk_sql`); with them it keeps a 64-bit hash of the primary
   key, so duplicate keys are found by grouping hashes and confirmed on the keys. Records
   are numbered by the order the scan keeps (a window function would make DuckDB's
   pipeline single-threaded); every reported line is confirmed against the primary key
   read again, and a mismatch reads the file again with explicit numbers;
4. only the records with a finding are read again, to report their values and details
   (a staged table, kept for the showcase's merge, spares that second read).

A file of up to 500 lines (a showcase upload) is staged and its records fetched in one query
with their key hashes and references looked up; the rules then run in Python
(`specs.values.check_value`, the order pairs as `check_row` has them) and are packed the
same way: planning the row program would cost more than checking a few hundred records.

Files that DuckDB's reader cannot number like `csv` does — a quoted value spanning lines,
a bare carriage return — take the exact path: lines are split as Python's universal
newlines do, multi-line records are assembled by `csv` itself, and the records are checked
by the same SQL from a staged table.

Where the reference stops at a malformed record (wrong field count, broken quoting, a field
over `csv.field_size_limit()`), this engine stops too: records after it are not checked.
Unlike the reference, it names the line of an encoding error and of broken quoting.
"""
from __future__ import annotations

import contextlib
import csv
import io
import mmap
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import duckdb

from mocks.epgu.flk_sql import (RowProgram, Slot, compile_column, compile_table, decode, lit,
                                pack_sql, q)
from specs.csvio import CsvFormatError, iter_records
from specs.tables import Table, TableSet, load_tables
from specs.validate import load_rules
from specs.values import check_value, mask

SHOWCASE_SCHEMA = "showcase"
STAGED_VIEW_PREFIX = "flk_view_"   # a kept result that is a view over the caller's file, not a table
OPERATIONS = ("upload", "delete")

_LINE_DELIM = "\x1f\x1e\x1d"      # a delimiter no line holds, to read each line whole
_PATCH_LIMIT = 10_000             # more odd lines than this: the exact path
_SURVEY_MAX = 1 << 18             # files up to this size are surveyed in Python, not by DuckDB
# Byte sequences after which the raw lines need DuckDB's pass over them: a blank line, a space
# at a line's start or end or next to a delimiter, the line reader's own delimiter.
_SUSPECT_BYTES = (b"\n\n", b"\n\r\n", b"\n ", b" \n", b" \r\n", b'; "', b'" ;', b";  ", b"  ;",
                  _LINE_DELIM.encode())
# Reasons DuckDB's reader refuses a line that are csv's reasons too (anything else: exact path).
_STRUCTURAL = "'TOO MANY COLUMNS', 'MISSING COLUMNS', 'UNQUOTED VALUE'"
_FOUND_VALID_MIN_ROWS = 10_000    # smaller files test every rule of a found reference
_PK_PARTITION_ROWS = 2_000_000    # hash groups per pass when looking for duplicate keys
_PYTHON_MAX_LINES = 500           # files up to this many lines get their rules checked in Python
# A line of fields as Python's csv reads it (strict): quoted with "" inside, or unquoted and
# not starting with a quote (quotes later in an unquoted field are plain characters).
_FIELD_RE = r'"(?:[^"]|"")*"|[^";][^;]*|'
_LINE_RE = f"(?:{_FIELD_RE})(?:;(?:{_FIELD_RE}))*"
# A line DuckDB's reader reads as csv does: every field quoted whole or free of quotes.
_STANDARD_RE = r'(?:"(?:[^"]|"")*"|[^";]*)(?:;(?:"(?:[^"]|"")*"|[^";]*))*'
# DuckDB's reader drops spaces between a delimiter (or the line's ends) and a quote; csv keeps
# them (or refuses the line). Only a line with a space next to a delimiter or at an end can be
# read differently, so only such lines are tested against the grammar above.
_SPACE_AT_BOUNDARY = ("(starts_with(l, ' ') OR suffix(l, ' ') OR CASE WHEN contains(l, '; ') "
                      "OR contains(l, ' ;') THEN contains(l, '; \"') OR contains(l, '\" ;') "
                      "OR contains(l, ';  ') OR contains(l, '  ;') ELSE false END)")


def ensure_showcase_schema(con: duckdb.DuckDBPyConnection, schema: str = SHOWCASE_SCHEMA,
                           tables: TableSet | None = None) -> None:
    """Create `schema` and one table per spec table (VARCHAR columns in spec order holding
    the CSV text, NULL for an empty value, the declared primary key). Idempotent."""
    tables = tables or load_tables()
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    for table in tables:
        cols = ", ".join(f"{q(c.name)} VARCHAR" for c in table.columns)
        pk = ", ".join(q(k) for k in table.primary_key)
        con.execute(f"CREATE TABLE IF NOT EXISTS {q(schema)}.{q(table.name)} ({cols}, PRIMARY KEY ({pk}))")


@dataclass(frozen=True)
class FlkError:
    """One ФЛК finding. `message` is the rule-specific detail (as `Violation.detail`);
    `text(lang)` is the whole line in Russian or English, as `Violation.message(lang)`."""

    file: str
    line: int | None
    column: str | None
    rule: str
    value: str | None
    message: str

    def text(self, lang: str = "ru") -> str:
        rule = load_rules()[self.rule]
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f" [{self.column}]"
        shown = f" (value {self.value!r})" if self.value is not None else ""
        return f"{where}: {self.rule}: {rule['message'][lang]}: {self.message}{shown}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["detail"] = self.message
        d["text"] = {"ru": self.text("ru"), "en": self.text("en")}
        return d


@dataclass
class FlkResult:
    """The verdict on one file. `staged` names a DuckDB temp table with the parsed records
    (VARCHAR, spec column order) when kept, or for a large file the caller keeps on disk a temp
    view reading them from it (`STAGED_VIEW_PREFIX`); `notes` say what was not checked and why."""

    table: str
    file: str
    rows: int
    errors: list[FlkError]
    error_count: int
    staged: str | None
    notes: list[str] = field(default_factory=list)
    operation: str = "upload"
    path: str = "fast"              # "fast": DuckDB's CSV reader; "exact": the line splitter
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        errors = []
        for e in self.errors:
            d = asdict(e)
            if lang:
                d["text"] = e.text(lang)
            errors.append(d)
        return {"table": self.table, "file": self.file, "operation": self.operation,
                "rows": self.rows, "ok": self.ok, "error_count": self.error_count,
                "errors": errors, "notes": list(self.notes)}


def drop_staged_sql(name: str) -> str:
    """The statement dropping a kept result: a view over the caller's file or a temp table."""
    kind = "VIEW" if name.startswith(STAGED_VIEW_PREFIX) else "TABLE"
    return f"DROP {kind} IF EXISTS {q(name)}"


class FlkUsageError(ValueError):
    """The check cannot start: unknown table or operation, unreadable input."""


# -- input ---------------------------------------------------------------------------------------

class _Source:
    """The file to check on disk (bytes and text are written to a temporary file)."""

    def __init__(self, data: bytes | str | Path, file_name: str | None) -> None:
        self._temp: str | None = None
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.path = self._write(bytes(data))
            self.name = file_name or "<data>"
        elif isinstance(data, Path) or (isinstance(data, str) and not _looks_like_csv(data)):
            self.path = Path(data)
            if not self.path.is_file():
                raise FlkUsageError(f"{self.path}: no such file")
            self.name = file_name or self.path.name
        elif isinstance(data, str):
            self.path = self._write(data.encode("utf-8"))
            self.name = file_name or "<data>"
        else:
            raise FlkUsageError(f"cannot check a {type(data).__name__}")
        self.size = self.path.stat().st_size

    def _write(self, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(prefix="ezhd-flk-", suffix=".csv")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        self._temp = name
        return Path(name)

    @property
    def kept_by_caller(self) -> bool:
        """The file is the caller's (a path), not a temporary copy removed when the check ends."""
        return self._temp is None

    def close(self) -> None:
        if self._temp:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            self._temp = None

    def head(self, limit: int = 1 << 24) -> bytes:
        """The first line with its terminator (at most `limit` bytes)."""
        with open(self.path, "rb") as fh:
            chunk = fh.read(min(limit, 1 << 16))
            while b"\n" not in chunk and len(chunk) < limit:
                more = fh.read(1 << 16)
                if not more:
                    break
                chunk += more
        cut = chunk.find(b"\n")
        return chunk if cut < 0 else chunk[:cut + 1]

    def newlines(self) -> str:
        """"lf" (no CR at all), "crlf" (every CR starts a CRLF) or "cr" (a bare CR somewhere).
        The file is mapped a window at a time, so a large file does not count in the RSS."""
        window = 1 << 26
        with open(self.path, "rb") as fh:
            cr = crlf = 0
            last = b""
            found = False
            for start in range(0, self.size, window):
                length = min(window, self.size - start)
                with mmap.mmap(fh.fileno(), length, offset=start, access=mmap.ACCESS_READ) as mm:
                    if not found and mm.find(b"\r") < 0:
                        last = mm[-1:]
                        continue
                    found = True
                    chunk = mm[:]
                cr += chunk.count(b"\r")
                crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
                last = chunk[-1:]
        if not found:
            return "lf"
        return "crlf" if cr == crlf else "cr"

    def survey(self) -> "_Survey":
        """The newline convention; for a small file also its physical lines and whether any
        line may need DuckDB's pass over raw lines (a blank line, a space at a line's start
        or end or next to a delimiter, the line reader's delimiter). Python's byte search is
        slower than that pass on a large file, which therefore always gets it."""
        if self.size > _SURVEY_MAX:
            return _Survey(self.newlines(), None, True)
        data = self.path.read_bytes()
        cr = data.count(b"\r")
        kind = "lf" if cr == 0 else ("crlf" if cr == data.count(b"\r\n") else "cr")
        suspect = (kind != "lf" or data.startswith(b" ") or data.endswith(b" ")   # CRLF: counted by DuckDB
                   or any(p in data for p in _SUSPECT_BYTES))
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        return _Survey(kind, lines, suspect)

    def first_bad_utf8(self) -> tuple[int, int, str] | None:
        """(byte offset, line, reason) of the first invalid UTF-8 sequence, or None."""
        base = lines = 0
        carry = b""
        with open(self.path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 22)
                data = carry + chunk
                try:
                    data.decode("utf-8")
                    good = len(data)
                except UnicodeDecodeError as exc:
                    if chunk and exc.reason == "unexpected end of data":
                        good = exc.start          # a sequence cut by the chunk: read on
                    else:
                        return base + exc.start, lines + data.count(b"\n", 0, exc.start) + 1, exc.reason
                lines += data.count(b"\n", 0, good)
                base += good
                carry = data[good:]
                if not chunk:
                    return None


def _looks_like_csv(text: str) -> bool:
    """A str is CSV text (not a path) when it holds a line break or a delimiter."""
    return "\n" in text or ";" in text


def table_for_file(path: str | Path, tables: TableSet | None = None) -> str | None:
    """The table a file is named for: `marks.csv`, `rdm_marks.csv`, `myedu_marks.csv` → marks."""
    tables = tables or load_tables()
    stem = Path(path).name
    if stem.lower().endswith(".csv"):
        stem = stem[:-4]
    stem = stem.lower()
    for prefix in ("", "rdm_", "myedu_"):
        if stem.startswith(prefix) and stem[len(prefix):] in tables:
            return stem[len(prefix):]
    return None


# -- the engine ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Survey:
    """What one pass over the bytes found (`_Source.survey`)."""

    newlines: str                   # "lf", "crlf" or "cr" (a bare CR somewhere)
    lines: int | None               # physical lines, as DuckDB's line reader counts them
    suspect: bool                   # a line may be blank or read differently by DuckDB


@dataclass
class _Stop:
    """The first malformed record: nothing from this line on is checked."""

    line: int
    detail: str
    rule: str = "field_count"


@dataclass
class _Read:
    """What the reading passes found before the row checks."""

    lines: int = 0                  # physical lines, header included
    blank: int = 0                  # blank lines (DuckDB's CSV reader skips them)
    longest: int = 0                # characters in the longest line
    stop: _Stop | None = None
    patches: dict[int, list[str | None]] = field(default_factory=dict)
    exact: str | None = None        # why the exact path is needed, or None


class _Exact(Exception):
    """Switch to the exact path."""


class _Renumber(Exception):
    """The scan's rows came out of file order: read again with explicit line numbers."""



class _Encoding(Exception):
    def __init__(self, error: FlkError) -> None:
        super().__init__(error.message)
        self.error = error


class FlkEngine:
    """Checks export files against the table specs on one DuckDB connection.

    The connection may be the showcase's own: the engine only creates temporary tables
    (dropped when a check ends, but for a kept staged table), reads `stored_schema` for
    references, and changes no setting.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, tables: TableSet | None = None) -> None:
        self.con = con if con is not None else duckdb.connect(":memory:")
        self.tables = tables or load_tables()
        self._programs: dict[tuple, RowProgram] = {}
        self.field_limit = csv.field_size_limit()

    def check(self, data: bytes | str | Path, table: str, *, file_name: str | None = None,
              stored_schema: str | None = SHOWCASE_SCHEMA, operation: str = "upload",
              max_errors: int = 1000, keep_staged: bool = False,
              _given: Mapping[str, str] | None = None, _keys_into: str | None = None,
              _path: str | None = None) -> FlkResult:
        """Check one file: bytes, a path, or CSV text (a str holding a line break or `;`).

        References are resolved against `stored_schema` when it holds the referenced table
        (and, for a self-reference, against earlier records of the file); references to a
        table that is not there are not checked and `notes` says so. For `delete` only the
        primary key columns are checked. With `keep_staged` the parsed records stay in the
        temp table `result.staged` (drop it with `drop_staged`).
        """
        started = time.perf_counter()
        if table not in self.tables:
            raise FlkUsageError(f"unknown table {table!r}")
        if operation not in OPERATIONS:
            raise FlkUsageError(f"unknown operation {operation!r}; expected upload or delete")
        source = _Source(data, file_name)
        run = _Run(self, self.tables[table], source, stored_schema=stored_schema, operation=operation,
                   max_errors=max(0, int(max_errors)), keep_staged=keep_staged,
                   given=_given, keys_into=_keys_into, force=_path)
        try:
            result = run.execute()
        finally:
            run.cleanup()
            source.close()
        result.seconds = time.perf_counter() - started
        return result

    def drop_staged(self, result: FlkResult) -> None:
        """Drop the staged table (or view) of a result (no error when it is already gone)."""
        if result.staged:
            self.con.execute(drop_staged_sql(result.staged))
            result.staged = None

    def program(self, table: Table, operation: str, fks: Sequence[str], newlines: bool,
                found_valid: Sequence[str] = (), sql: bool = True) -> RowProgram:
        key = (table.name, operation, tuple(fks), newlines, tuple(found_valid), sql)
        if key not in self._programs:
            prog = compile_table(table, self.tables.conventions, operation=operation,
                                 fk_columns=fks, newlines=newlines,
                                 valid_if={c: q("m:" + c) for c in found_valid}, sql=sql)
            self._programs[key] = prog
        return self._programs[key]

    def stored_tables(self, schema: str | None) -> set[str]:
        """The tables (not temporary) of `schema`, in one query."""
        if not schema:
            return set()
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND NOT temporary",
            [schema]).fetchall()}


class _Run:
    """One check of one file; owns the temporary tables it creates."""

    def __init__(self, engine: FlkEngine, table: Table, source: _Source, *, stored_schema: str | None,
                 operation: str, max_errors: int, keep_staged: bool, given: Mapping[str, str] | None,
                 keys_into: str | None, force: str | None) -> None:
        self.engine, self.con, self.table, self.source = engine, engine.con, table, source
        self.conv = engine.tables.conventions
        self.stored_schema, self.operation = stored_schema, operation
        self.max_errors, self.keep_staged = max_errors, keep_staged
        # `given` is None for a lone file; a mapping (maybe empty) when files are checked together
        self.given, self.keys_into, self.force = given, keys_into, force
        self.tag = uuid.uuid4().hex[:10]
        self.temps: list[str] = []
        self.notes: list[str] = []
        self.names = table.column_names
        self.file = source.name
        self.limit = engine.field_limit
        self.newlines = "lf"
        self.patch: str | None = None
        self.stage: str | None = None
        self.stage_sql: str | None = None   # (line, columns...) of the staged records
        self.scan_line = "line"             # the line of a scan row: its column, or from rowid
        self.scan_values = False            # the scan holds the keys and the flagged records' fields
        self.view = False                   # keep_staged: a view over the file instead of a table
        self.last_rejects = ""              # the refused-lines table of the last logged read

    # -- plumbing ------------------------------------------------------------------------------------

    def temp(self, kind: str) -> str:
        name = f"_flk_{kind}_{self.tag}_{len(self.temps)}"
        self.temps.append(name)
        return name

    def rejects_options(self) -> str:
        """`read_csv` options that log refused lines to a new temp table (`last_rejects`)."""
        self.last_rejects = self.temp("rej")
        return (f", store_rejects=true, rejects_table={lit(self.last_rejects)}, "
                f"rejects_scan={lit(self.temp('rscan'))}")

    def drop(self, *names: str | None) -> None:
        wanted = [n for n in names if n]
        if not wanted:
            return
        try:                            # one round trip for all of them
            self.con.execute("; ".join(f"DROP TABLE IF EXISTS {q(n)}" for n in wanted))
        except duckdb.Error:
            for name in wanted:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute(f"DROP TABLE IF EXISTS {q(name)}")

    def cleanup(self) -> None:
        self.drop(*self.temps)
        self.temps = []

    def error(self, line: int | None, column: str | None, rule: str, value: str | None, detail: str) -> FlkError:
        return FlkError(self.file, line, column, rule, value, detail)

    def result(self, rows: int, errors: list[FlkError], count: int, staged: str | None = None,
               path: str = "fast") -> FlkResult:
        return FlkResult(self.table.name, self.file, rows, errors[:self.max_errors], count, staged,
                         list(self.notes), self.operation, path)

    # -- the flow ------------------------------------------------------------------------------------

    def execute(self) -> FlkResult:
        header = self.check_header()
        if header is not None:
            return self.result(0, [header], 1)
        survey = self.source.survey()
        self.newlines = survey.newlines
        if self.newlines == "cr" or self.force == "exact":
            return self.exact()
        try:
            if survey.suspect or survey.lines is None:
                read = self.scan_lines()
            else:       # a small file with no blank or odd line: no pass over its lines
                read = _Read(lines=survey.lines, longest=self.source.size)
        except _Encoding as enc:
            return self.result(0, [enc.error], 1)
        if read.exact:
            return self.exact()
        try:
            return self.fast(read)
        except _Encoding as enc:
            return self.result(0, [enc.error], 1)
        except _Exact:
            return self.exact()
        except _Renumber:
            self.cleanup()
            self.patch = self.stage = self.stage_sql = None
            self.notes, self.force = [], "numbered"
            return self.fast(read)

    def check_header(self) -> FlkError | None:
        """The reference reader on the first line: byte-order mark, empty file, names, `;`."""
        try:
            for _ in iter_records(self.table, self.source.head(), self.engine.tables):
                break
        except CsvFormatError as exc:
            return self.error(exc.line or 1, exc.column, exc.rule, None, exc.detail)
        return None

    # -- pass 1: raw lines ---------------------------------------------------------------------------

    def lines_scan(self, rejects: bool = True) -> str:
        nl = "\\r\\n" if self.newlines == "crlf" else "\\n"
        extra = self.rejects_options() if rejects else ""
        return (f"read_csv({lit(str(self.source.path))}, columns={{'l': 'VARCHAR'}}, "
                f"delim={lit(_LINE_DELIM)}, quote='', escape='', header=false, auto_detect=false, "
                f"new_line='{nl}', strict_mode=false, null_padding=false{extra})")

    def scan_lines(self) -> _Read:
        """Count and measure the raw lines; find blank lines and the lines DuckDB's CSV reader
        would read differently from csv (a space between a quote and a delimiter)."""
        scan = self.lines_scan()
        rejects = self.last_rejects
        odd = (f"CASE WHEN {_SPACE_AT_BOUNDARY} THEN NOT regexp_full_match(l, {lit(_STANDARD_RE)}) "
               f"ELSE false END")
        try:
            n, blank, longest, n_odd = self.con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE l IS NULL), coalesce(max(strlen(l)), 0), "
                f"count(*) FILTER (WHERE {odd}) FROM {scan}").fetchall()[0]
        except duckdb.Error as exc:         # e.g. a line over DuckDB's 2 MiB: split the text itself
            return _Read(exact=f"DuckDB's line reader: {_one_line(exc)}")
        encoding, other = self.con.execute(
            f"SELECT min(line) FILTER (WHERE error_type = 'INVALID ENCODING'), "
            f"count(*) FILTER (WHERE error_type <> 'INVALID ENCODING') FROM {q(rejects)}").fetchall()[0]
        if encoding is not None:
            raise _Encoding(self.encoding_error(int(encoding)))
        read = _Read(lines=int(n), blank=int(blank), longest=int(longest))
        if other:
            read.exact = "a line holds the line reader's delimiter"
            return read
        if n_odd > _PATCH_LIMIT:
            read.exact = f"{n_odd} lines with a space next to a quote"
            return read
        if not blank and not n_odd:
            return read
        rows = self.con.execute(
            f"SELECT rn, l FROM (SELECT row_number() OVER () AS rn, l FROM {self.lines_scan()}) "
            f"WHERE rn > 1 AND (l IS NULL OR {odd}) ORDER BY rn").fetchall()
        for rn, text in rows:
            rn = int(rn)
            if text is None:
                read.stop = _Stop(rn, f"0 fields, the header has {len(self.names)}")
                break
            fields, problem = _parse_line(text)
            if problem == "open":
                read.exact = f"line {rn} opens a quoted value that goes on past the line"
                return read
            if problem is None and len(fields) != len(self.names):
                problem = f"{len(fields)} fields, the header has {len(self.names)}"
            if problem is not None:
                read.stop = _Stop(rn, problem)
                break
            read.patches[rn] = [f if f != "" else None for f in fields]
        return read

    def encoding_error(self, line: int) -> FlkError:
        found = self.source.first_bad_utf8()
        if found is None:
            return self.error(line, None, "encoding", None, "not UTF-8")
        offset, line, reason = found
        return self.error(line, None, "encoding", None, f"not UTF-8 (byte {offset}: {reason})")

    # -- pass 2: DuckDB's CSV reader ----------------------------------------------------------------

    def records_sql(self, numbered: bool = True, rejects: bool = True) -> str:
        """The records DuckDB's reader reads (refused ones left out; each run of the reader
        logs them to its own tables). `numbered`: (line, columns...) with pass 1's patches,
        numbered by a window function, which makes the pipeline single-threaded; otherwise
        (columns...) in file order, read in parallel. Without `rejects` a refused line is an
        error (for a file already found clean)."""
        nl = "\\r\\n" if self.newlines == "crlf" else "\\n"
        cols = ", ".join(f"{lit(n)}: 'VARCHAR'" for n in self.names)
        logged = self.rejects_options() if rejects else ""
        reader = (f"read_csv({lit(str(self.source.path))}, columns={{{cols}}}, delim=';', quote='\"', "
                  f"escape='\"', header=true, auto_detect=false, new_line='{nl}', strict_mode=true, "
                  f"null_padding=false, allow_quoted_nulls=true{logged})")
        if not numbered:
            return f"SELECT * FROM {reader}"
        base = f"SELECT (row_number() OVER () + 1)::INTEGER AS line, * FROM {reader}"
        if self.patch:
            cols = ", ".join(f"CASE WHEN p.line IS NULL THEN r.{q(n)} ELSE p.{q(n)} END AS {q(n)}"
                             for n in self.names)
            base = f"SELECT r.line AS line, {cols} FROM ({base}) r LEFT JOIN {q(self.patch)} p ON r.line = p.line"
        return base

    def fast(self, read: _Read) -> FlkResult:
        if read.patches:
            self.patch = self.temp("patch")
            cols = ", ".join(f"{q(n)} VARCHAR" for n in self.names)
            self.con.execute(f"CREATE TEMP TABLE {q(self.patch)} (line INTEGER, {cols})")
            marks = ", ".join("?" for _ in range(len(self.names) + 1))
            self.con.executemany(f"INSERT INTO {q(self.patch)} VALUES ({marks})",
                                 [[line, *fields] for line, fields in sorted(read.patches.items())])
        fks, self_refs = self.references()
        found_valid = self.found_implies_valid([fk for fk in fks if fk[0] not in self_refs], read.lines)
        # A small file's rules run in Python over its staged records: planning the row program
        # costs more than checking a few hundred records with the reference functions.
        small = self.force == "python" or (self.force is None and read.lines <= _PYTHON_MAX_LINES)
        program = self.engine.program(self.table, self.operation, [c for c, _ in fks], newlines=False,
                                      found_valid=found_valid, sql=not small)
        numbered = bool(read.patches) or self.force == "numbered"
        # A large file the caller keeps on disk is not staged for the merge: a view reads it
        # again when it is merged (`finish`), in parallel, which costs less than holding every
        # record in DuckDB's memory (spilled under the showcase's limit) and copying it twice.
        self.view = (self.keep_staged and not small and not self_refs and not read.patches
                     and self.force is None and self.source.kept_by_caller)
        rejects: str | None = None
        if (self.keep_staged and not self.view) or self_refs or self.force == "staged" or small:
            # A plain CREATE TABLE ... AS SELECT keeps the file's order (DuckDB documents it), so
            # rowid numbers the records without a window function. A small file is read first
            # without a log of refused lines (two tables to make, read and drop on every upload):
            # then a refused line is an error, and the file is read again with the log.
            self.stage = self.temp("stage")
            for logged in ([False, True] if small else [True]):
                records = self.records_sql(numbered=numbered, rejects=logged)
                rejects = self.last_rejects if logged else None
                try:
                    self.con.execute(f"CREATE TEMP TABLE {q(self.stage)} AS {records}")
                    break
                except duckdb.InvalidInputException as exc:
                    if logged:
                        raise _Exact() from exc
            self.stage_sql = (f"SELECT * FROM {q(self.stage)}" if numbered
                              else f"SELECT (rowid + 2)::INTEGER AS line, * FROM {q(self.stage)}")
            records, numbered = self.stage_sql, True
        # Without a line column the scan's rowid numbers the records: a single table read keeps
        # its order (DuckDB documents it); through joins it promises none, so `report` then
        # confirms every line it reports against the key read again.
        self.scan_line = "line" if numbered else "(rowid + 2)"
        # The scan names lines by itself when they are a column, or when it reads one table with
        # no join (DuckDB keeps a single table's order then, as documented): then reporting
        # takes values from the scan instead of reading the file again, numbered. A staged
        # file is cheap to look up; with joins the order is confirmed by that second reading.
        self.scan_values = self.stage_sql is None and (numbered or not fks)
        checked: list[tuple[int, int, int, list[str | None]]] = []
        scan = ""                       # (a small file's records are checked in Python: no scan table)
        if small:
            checked = self.check_in_python(program, fks, self_refs, long=read.longest > self.limit)
            n_records = len(checked)
        else:
            scan = self.temp("scan")
            if self.stage is None:
                records = self.records_sql(numbered=numbered)
                rejects = self.last_rejects
            try:
                self.con.execute(f"CREATE TEMP TABLE {q(scan)} AS {self.scan_sql(program, records, fks, self_refs, long=read.longest > self.limit, numbered=numbered)}")
            except duckdb.InvalidInputException as exc:   # the CSV reader gave up on a line
                raise _Exact() from exc
            n_records = self.con.execute(f"SELECT count(*) FROM {q(scan)}").fetchall()[0][0]
        # Every physical line is the header, a record, a blank line DuckDB skipped or a line it
        # refused; anything else means a quoted value spanning lines: DuckDB numbers records,
        # not lines, so only the exact path can name the lines.
        refused = [] if rejects is None else self.con.execute(
            f"SELECT line, any_value(csv_line), bool_and(error_type IN ({_STRUCTURAL})), "
            f"bool_or(error_type = 'INVALID ENCODING') FROM {q(rejects)} GROUP BY line ORDER BY line").fetchall()
        bad_utf8 = [int(r[0]) for r in refused if r[3]]
        if bad_utf8:                    # as the reference: an encoding error is the only finding
            raise _Encoding(self.encoding_error(bad_utf8[0]))
        if 1 + n_records + read.blank + len(refused) != read.lines:
            raise _Exact()
        stop = read.stop
        if refused:
            line, text, structural = int(refused[0][0]), refused[0][1] or "", refused[0][2]
            if line in read.patches or not structural:
                raise _Exact()          # csv may read the line: only the exact path can tell
            if stop is None or line < stop.line:
                fields, problem = _parse_line(text)
                if problem is None and len(fields) != len(self.names):
                    problem = f"{len(fields)} fields, the header has {len(self.names)}"
                if problem is None or problem == "open":
                    raise _Exact()      # DuckDB refused what csv reads: let csv decide
                stop = _Stop(line, problem)
        if read.longest > self.limit:
            if small:
                long = min((ln for ln, _, w, _ in checked if w & 1 and (stop is None or ln < stop.line)),
                           default=None)
            else:
                long = self.con.execute(
                    f"SELECT min({self.scan_line}) FROM {q(scan)} WHERE {_before(stop, self.scan_line)} "
                    f"AND (err & 1::{program.word_type}) <> 0").fetchall()[0][0]
            if long is not None:
                stop = _Stop(int(long), f"malformed CSV: field larger than field limit ({self.limit})")
        if small:
            return self.report_checked(program, checked, stop, "fast")
        return self.report(program, scan, stop, fks, "fast")

    def check_in_python(self, program: RowProgram, fks: list[tuple[str, str]], self_refs: list[str],
                        *, long: bool) -> list[tuple[int, int, int, list[str | None]]]:
        """(line, key hash, packed word, field texts) of every staged record, the word packed
        as the row program packs it but computed by the reference rules (`check_value`, the
        order pairs of `check_row`); references are looked up in one query with the records."""
        found = [f"coalesce(src.{q(c)} IN ({keys}), false)" for c, keys in fks]
        pk = ", ".join(f"src.{q(k)}" for k in self.table.primary_key)
        cols = ", ".join(f"src.{q(n)}" for n in self.names)
        rows = self.con.execute(f"SELECT src.line, hash({pk}), {', '.join(found + [cols])} "
                                f"FROM ({self.stage_sql}) src ORDER BY src.line").fetchall()
        index = {n: i for i, n in enumerate(self.names)}
        first: dict[str, dict[str, int]] = {}           # self-reference: key -> its first line
        for column in self_refs:
            target = index[self.table.column(column).references[1]]  # type: ignore[index]
            seen: dict[str, int] = {}
            for row in rows:
                seen.setdefault(row[2 + len(fks) + target], int(row[0]))
            first[column] = seen
        fields = [(s, self.table.column(s.column)) for s in program.slots if s.kind == "field"]
        orders = [s for s in program.slots if s.kind == "order"]
        refs = [(s, i, index[s.column]) for i, s in enumerate(s for s in program.slots if s.kind == "fk")]
        out = []
        for row in rows:
            line, values = int(row[0]), list(row[2 + len(fks):])
            word, broken = 0, set()
            for slot, column in fields:
                verdict = check_value(column, values[index[slot.column]], self.conv)
                if verdict is not None:
                    word |= (slot.rules.index(verdict[0]) + 1) << slot.offset
                    broken.add(slot.column)
            for slot in orders:
                a, b = values[index[slot.other]], values[index[slot.column]]  # type: ignore[index]
                if a is not None and b is not None and slot.other not in broken \
                        and slot.column not in broken and a > b:
                    word |= 1 << slot.offset
            for slot, i, at in refs:
                value = values[at]
                if value is not None and not row[2 + i] and not (
                        slot.column in first and first[slot.column].get(value, line + 1) <= line):
                    word |= 1 << slot.offset
            if long and any(v is not None and len(v) > self.limit for v in values):
                word |= 1
            out.append((line, int(row[1]), word, values))
        return out

    def report_checked(self, program: RowProgram, checked: list[tuple[int, int, int, list[str | None]]],
                       stop: _Stop | None, path: str) -> FlkResult:
        """`report` for records checked in Python."""
        kept = [r for r in checked if stop is None or r[0] < stop.line]
        count = sum(1 for _, _, w, _ in kept for s in program.slots if (w >> s.offset) & s.mask)
        flagged = [(ln, h, w) for ln, h, w, _ in kept if w >> 1][:max(self.max_errors, 1)]
        hashes: dict[int, int] = {}
        for _, h, _, _ in kept:
            hashes[h] = hashes.get(h, 0) + 1
        candidates = [ln for ln, h, _, _ in kept if hashes[h] > 1]
        values = {ln: (h, v) for ln, h, _, v in kept}
        return self.finish(program, len(kept), count, flagged, candidates, values, stop, path)

    def found_implies_valid(self, fks: list[tuple[str, str]], rows: int) -> list[str]:
        """References whose found value needs no other check: every key they may match passes
        the column's own rules (so never a self-reference: the file's own keys are not checked
        yet). Worth asking only when the file is not smaller than the keys, and large: on a
        small file the two queries per reference cost more than the rules they spare."""
        out: list[str] = []
        if rows < _FOUND_VALID_MIN_ROWS:
            return out
        for column, keys in fks:
            col = self.table.column(column)
            if col.max_length is not None or col.pattern or col.checksum or col.hashed or col.type != "string":
                continue
            n = self.con.execute(f"SELECT count(*) FROM ({keys})").fetchall()[0][0]
            if n == 0 or n > rows:
                continue
            expr, _ = compile_column(col, self.conv, "k", newlines=False)
            bad = self.con.execute(f"SELECT count(*) FROM ({keys}) WHERE ({expr}) IS NOT NULL").fetchall()[0][0]
            if bad == 0:
                out.append(column)
        return out

    # -- references ----------------------------------------------------------------------------------

    def references(self) -> tuple[list[tuple[str, str]], list[str]]:
        """([(column, SQL of the keys it may reference)], [self-referencing columns]).

        A reference is checked when its table is stored in `stored_schema` or was given in an
        earlier file; a self-reference also against the earlier records of this file, when the
        table is stored or the file is one of several checked together (as the reference
        checks a directory). Otherwise it is not checked, and a note says so."""
        if self.operation == "delete":
            return [], []
        checked: list[tuple[str, str]] = []
        self_refs: list[str] = []
        given = self.given or {}
        stored = self.engine.stored_tables(self.stored_schema) if self.table.foreign_keys else set()
        for column in self.table.foreign_keys:
            target, target_col = column.references  # type: ignore[misc]
            sources = []
            if target in stored:
                sources.append(f"SELECT {q(target_col)} AS k FROM {q(self.stored_schema)}.{q(target)} "  # type: ignore[arg-type]
                               f"WHERE {q(target_col)} IS NOT NULL")
            if target in given:
                sources.append(f"SELECT k FROM {q(given[target])} WHERE k IS NOT NULL")
            own = target == self.table.name and (bool(sources) or self.given is not None)
            if not sources and not own:
                self.notes.append(f"{column.name} → {target}.{target_col}: not checked, "
                                  f"no {target} records stored or given")
                continue
            if own:
                self_refs.append(column.name)
            keys = " UNION ALL ".join(sources) if sources else "SELECT NULL::VARCHAR AS k WHERE false"
            checked.append((column.name, keys))
        return checked, self_refs

    # -- the row program ---------------------------------------------------------------------------

    def scan_sql(self, program: RowProgram, records: str, fks: list[tuple[str, str]],
                 self_refs: list[str], *, long: bool, numbered: bool = True) -> str:
        """([line,] h, err) per record: the primary key's hash and the packed findings. Bit 0
        of err flags a field over csv's size limit (computed only when `long`). Without
        `numbered` the records have no line column and the scan keeps their order."""
        base = (["src.line AS line"] if numbered else []) + [f"src.{q(n)} AS {q(n)}" for n in self.names]
        joins = []
        for i, (column, keys) in enumerate(fks):
            v = f"src.{q(column)}"
            found = f"coalesce({v} IN ({keys}), false)"
            if column in self_refs:
                alias = f"_flk_self{i}"
                target_col = self.table.column(column).references[1]  # type: ignore[index]
                joins.append(f"LEFT JOIN (SELECT {q(target_col)} AS _flk_k, min(line) AS _flk_first "
                             f"FROM ({records}) GROUP BY 1) {alias} ON {v} = {alias}._flk_k")
                found = f"({found} OR coalesce({alias}._flk_first <= src.line, false))"
            base.append(f"{found} AS {q('m:' + column)}")
        codes = [f"{program.field_sql[s.column]} AS {q('e:' + s.column)}"
                 for s in program.slots if s.kind == "field"]
        codes += [f"CASE WHEN {q(c)} IS NOT NULL AND NOT {q('m:' + c)} THEN 1 END AS {q('f:' + c)}"
                  for c, _ in fks]
        flags = None
        if long:
            flags = "(" + " OR ".join(f"(strlen({q(n)}) > {self.limit} AND length({q(n)}) > {self.limit})"
                                      for n in self.names) + ")"
        checked = program.field_sql

        def code_of(slot: Slot) -> str:
            if slot.kind == "field":
                return q("e:" + slot.column)
            if slot.kind == "fk":
                return q("f:" + slot.column)
            start, end = slot.other, slot.column
            clean = " AND ".join(f"{q('e:' + c)} IS NULL" for c in (start, end) if c in checked) or "true"
            return (f"CASE WHEN {q(start)} IS NOT NULL AND {q(end)} IS NOT NULL AND {clean} "  # type: ignore[arg-type]
                    f"AND {q(start)} > {q(end)} THEN 1 END")  # type: ignore[arg-type]

        pk = ", ".join(q(k) for k in self.table.primary_key)
        inner = f"SELECT {', '.join(base)} FROM ({records}) src {' '.join(joins)}"
        middle = f"SELECT *, {', '.join(codes)} FROM ({inner})" if codes else inner
        line = "line, " if numbered else ""
        scan = f"SELECT {line}hash({pk}) AS h, ({pack_sql(program, code_of, flags)}) AS err"
        if not self.scan_values:
            return f"{scan} FROM ({middle})"
        # The key of every record and the fields of each flagged one ride along (no measurable
        # cost in the pass), so reporting needs no second reading of the file.
        cols = ", ".join(q(n) for n in self.names)
        keys = ", ".join(f"{q(k)} AS {q('k:' + k)}" for k in self.table.primary_key)
        return (f"SELECT {line}h, err, {keys}, CASE WHEN (err >> 1) <> 0 THEN [{cols}] END AS {q('v:')} "
                f"FROM ({scan}, {cols} FROM ({middle}))")

    # -- reporting -----------------------------------------------------------------------------------

    def rows_at(self, lines: Iterable[int], source: str, select: str) -> list[tuple]:
        """`select` over the rows of `source` (which has a `line` column) at these lines."""
        wanted = sorted(set(lines))
        if not wanted:
            return []
        want = self.temp("want")
        self.con.execute(f"CREATE TEMP TABLE {q(want)} (line INTEGER)")
        self.con.executemany(f"INSERT INTO {q(want)} VALUES (?)", [[x] for x in wanted])
        rows = self.con.execute(f"SELECT {select} FROM ({source}) r SEMI JOIN {q(want)} w ON r.line = w.line").fetchall()
        self.drop(want)
        return rows

    def values(self, lines: Iterable[int]) -> dict[int, tuple[int, list[str | None]]]:
        """{line: (hash of the primary key, field texts)} of the records at these lines (read
        again, numbered, unless staged)."""
        records = self.stage_sql or self.records_sql(numbered=True)
        pk = ", ".join(f"r.{q(k)}" for k in self.table.primary_key)
        cols = ", ".join(f"r.{q(n)}" for n in self.names)
        rows = self.rows_at(lines, records, f"r.line, hash({pk}), {cols}")
        return {int(r[0]): (int(r[1]), list(r[2:])) for r in rows}

    def scan_values_of(self, scan: str, lines: Iterable[int]) -> dict[int, tuple[int, list[str | None]]]:
        """`values` from the scan itself: every field of a flagged line; of any other line (one
        whose key hash repeats) the key, the other fields None."""
        keys = ", ".join(f"r.{q('k:' + k)}" for k in self.table.primary_key)
        index = [self.names.index(k) for k in self.table.primary_key]
        out: dict[int, tuple[int, list[str | None]]] = {}
        for ln, h, fields, *key in self.rows_at(lines, f"SELECT {self.scan_line} AS line, * FROM {q(scan)}",
                                                 f"r.line, r.h, r.{q('v:')}, {keys}"):
            if fields is None:
                fields = [None] * len(self.names)
                for i, k in zip(index, key):
                    fields[i] = k
            out[int(ln)] = (int(h), list(fields))
        return out

    def report(self, program: RowProgram, scan: str, stop: _Stop | None,
               fks: list[tuple[str, str]], path: str) -> FlkResult:
        line = self.scan_line
        where = _before(stop, line)
        word = program.word_type
        findings = " + ".join(f"(((err >> {s.offset}) & {s.mask}::{word}) <> 0)::BIGINT"
                              for s in program.slots) or "0"
        rows, count = self.con.execute(
            f"SELECT count(*), coalesce(sum({findings}) FILTER (WHERE err <> 0), 0) FROM {q(scan)} WHERE {where}").fetchall()[0]
        rows, count = int(rows), int(count)
        limit = max(self.max_errors, 1)
        flagged = [(int(ln), int(h), int(w)) for ln, h, w in self.con.execute(
            f"SELECT {line} AS ln, h, err FROM {q(scan)} WHERE {where} AND (err >> 1) <> 0::{word} "
            f"ORDER BY ln LIMIT {limit}").fetchall()]
        candidates = self.duplicate_candidates(scan, where, rows)
        lines = [ln for ln, _, _ in flagged] + [ln for ln, _ in candidates]
        values = self.scan_values_of(scan, lines) if self.scan_values else self.values(lines)
        # The scan's order is the file's: confirmed on every line reported.
        for ln, h in [(ln, h) for ln, h, _ in flagged] + candidates:
            if ln not in values or values[ln][0] != h:
                raise _Renumber()
        return self.finish(program, rows, count, flagged, [ln for ln, _ in candidates], values, stop, path)

    def finish(self, program: RowProgram, rows: int, count: int, flagged: list[tuple[int, int, int]],
               candidates: list[int], values: Mapping[int, tuple[int, list[str | None]]],
               stop: _Stop | None, path: str) -> FlkResult:
        """The result from what the row checks found: `count` findings in `rows` records,
        (line, key hash, packed word) of the first flagged records, the lines whose key hash
        repeats, and the values of all those lines."""
        limit = max(self.max_errors, 1)
        dups = self.duplicates(candidates, values)
        count += len(dups)
        pk_rank = len([s for s in program.slots if s.kind != "fk"])
        found: list[tuple[int, int, FlkError]] = []
        for ln, _, w in flagged:
            record = dict(zip(self.names, values[ln][1]))
            for slot, rule in decode(program, w):
                rank = program.slots.index(slot) + (1 if slot.kind == "fk" else 0)
                found.append((ln, rank, self.describe(slot, rule, record, ln)))
        for ln, key in dups[:limit]:
            found.append((ln, pk_rank, self.error(
                ln, self.table.primary_key[0], "pk_unique", None,
                "primary key " + "/".join(map(str, key)) + " repeats an earlier record of this file")))
        found.sort(key=lambda t: (t[0], t[1]))
        errors = [e for _, _, e in found]
        if stop is not None:
            count += 1
            errors.append(self.error(stop.line, None, stop.rule, None, stop.detail))
        if self.keys_into:
            self.save_keys(stop)
        staged = None
        whole_stage = self.stage is not None and self.stage_sql == f"SELECT (rowid + 2)::INTEGER AS line, * FROM {q(self.stage)}"
        if self.keep_staged and stop is None and self.view and self.stage is None:
            staged = f"{STAGED_VIEW_PREFIX}{self.tag}"
            cols = ", ".join(q(n) for n in self.names)
            self.con.execute(f"CREATE TEMP VIEW {q(staged)} AS SELECT {cols} FROM "
                             f"({self.records_sql(numbered=False, rejects=False)})")
        elif self.keep_staged and stop is None and whole_stage:
            # the staged table already holds exactly the file's records, in order and with its
            # columns: handed over as it is (one statement less per upload), not dropped
            staged = self.stage
            self.temps.remove(staged)
        elif self.stage_sql is not None and self.keep_staged:
            staged = f"flk_staged_{self.tag}"
            cols = ", ".join(q(n) for n in self.names)
            self.con.execute(f"CREATE TEMP TABLE {q(staged)} AS SELECT {cols} FROM ({self.stage_sql}) "
                             f"WHERE {_before(stop)} ORDER BY line")
        return self.result(rows, errors, count, staged, path)

    def describe(self, slot: Slot, rule: str, record: Mapping[str, str | None], line: int) -> FlkError:
        column = self.table.column(slot.column)
        value = record.get(slot.column)
        if slot.kind == "fk":
            return self.error(line, slot.column, "fk", mask(column, value), f"no {slot.other} record with id {value}")
        if slot.kind == "order":
            return self.error(line, slot.column, "order", mask(column, value),
                              f"{slot.column} {value} is before {slot.other} {record.get(slot.other or '')}")
        found = check_value(column, value, self.conv)
        detail = found[1] if found and found[0] == rule else f"the value breaks the {rule} rule"
        return self.error(line, slot.column, rule, mask(column, value), detail)

    def duplicate_candidates(self, scan: str, where: str, rows: int) -> list[tuple[int, int]]:
        """(line, hash) of the records whose key hash occurs more than once; the hashes are
        grouped in parts, so a region-size file needs memory for one part only."""
        parts = max(1, -(-rows // _PK_PARTITION_ROWS))
        hashes: list[int] = []
        for k in range(parts):
            part = f"AND h % {parts} = {k}" if parts > 1 else ""
            hashes += [int(r[0]) for r in self.con.execute(
                f"SELECT h FROM {q(scan)} WHERE {where} {part} GROUP BY h HAVING count(*) > 1").fetchall()]
        if not hashes:
            return []
        cand = self.temp("dup")
        self.con.execute(f"CREATE TEMP TABLE {q(cand)} (h UBIGINT)")
        self.con.executemany(f"INSERT INTO {q(cand)} VALUES (?)", [[h] for h in hashes])
        return [(int(ln), int(h)) for ln, h in self.con.execute(
            f"SELECT {self.scan_line} AS ln, h FROM {q(scan)} WHERE {where} "
            f"AND h IN (SELECT h FROM {q(cand)}) ORDER BY ln").fetchall()]

    def duplicates(self, lines: list[int], values: Mapping[int, tuple[int, list[str | None]]]) -> list[tuple[int, tuple]]:
        """(line, key) of every record repeating the key of an earlier record."""
        index = [self.names.index(k) for k in self.table.primary_key]
        seen: set[tuple] = set()
        out = []
        for line in lines:
            key = tuple(values[line][1][i] for i in index)
            if key in seen:
                out.append((line, key))
            seen.add(key)
        return out

    def save_keys(self, stop: _Stop | None) -> None:
        """Add this file's primary key values to `keys_into`, for the references of later files."""
        self.con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {q(self.keys_into)} (k VARCHAR)")  # type: ignore[arg-type]
        if len(self.table.primary_key) != 1:
            return
        key = q(self.table.primary_key[0])
        if self.stage_sql:
            source = f"SELECT {key} FROM ({self.stage_sql}) WHERE {_before(stop)}"
        elif stop is None:
            source = f"SELECT {key} FROM ({self.records_sql(numbered=False)})"
        else:
            source = f"SELECT {key} FROM ({self.records_sql(numbered=True)}) WHERE {_before(stop)}"
        self.con.execute(f"INSERT INTO {q(self.keys_into)} {source}")  # type: ignore[arg-type]

    # -- the exact path ------------------------------------------------------------------------------

    def exact(self) -> FlkResult:
        """Split lines as Python's universal newlines do, let csv assemble the records that
        span lines, and check the staged records with the same SQL."""
        self.cleanup()
        self.notes, self.patch, self.stage, self.stage_sql = [], None, None, None
        lines = self.temp("lines")
        try:
            self.load_lines(lines)
        except _Encoding as enc:
            return self.result(0, [enc.error], 1, path="exact")
        self.stage, stop = self.assemble(lines)
        self.stage_sql = f"SELECT * FROM {q(self.stage)}"
        self.scan_line = "line"
        self.scan_values = False
        self.drop(lines)
        fks, self_refs = self.references()
        program = self.engine.program(self.table, self.operation, [c for c, _ in fks], newlines=True)
        scan = self.temp("scan")
        records = f"{self.stage_sql} WHERE {_before(stop)}"
        self.con.execute(f"CREATE TEMP TABLE {q(scan)} AS "
                         f"{self.scan_sql(program, records, fks, self_refs, long=True)}")
        long = self.con.execute(f"SELECT min(line) FROM {q(scan)} WHERE {_before(stop)} "
                                f"AND (err & 1::{program.word_type}) <> 0").fetchall()[0][0]
        if long is not None:
            stop = _Stop(int(long), f"malformed CSV: field larger than field limit ({self.limit})")
        return self.report(program, scan, stop, fks, "exact")

    def load_lines(self, lines: str) -> None:
        """(rn, l, term): every physical line, numbered as Python's universal newlines do."""
        bad = self.source.first_bad_utf8()
        if bad is not None:
            offset, line, reason = bad
            raise _Encoding(self.error(line, None, "encoding", None, f"not UTF-8 (byte {offset}: {reason})"))
        if self.newlines == "lf":
            try:
                self.con.execute(
                    f"CREATE TEMP TABLE {q(lines)} AS SELECT (row_number() OVER ())::INTEGER AS rn, "
                    f"coalesce(l, '') AS l, chr(10) AS term FROM {self.lines_scan(rejects=True)}")
                refused = self.con.execute(f"SELECT count(*) FROM {q(self.last_rejects)}").fetchall()[0][0]
            except duckdb.Error:
                refused = 1
            if not refused:
                return
            self.drop(lines)
        # CRs, or a line holding the line reader's delimiter: split the text itself (in memory).
        self.con.execute(
            f"CREATE TEMP TABLE {q(lines)} AS "
            f"WITH pieces AS (SELECT regexp_extract_all(content, {lit(_PIECE_RE)}) AS p "
            f"FROM read_text({lit(str(self.source.path))})), "
            f"numbered AS (SELECT i::INTEGER AS rn, p[i] AS raw FROM pieces, range(1, len(p) + 1) t(i)) "
            f"SELECT rn, regexp_replace(raw, {lit(_TERM_RE)}, '') AS l, "
            f"regexp_extract(raw, {lit(_TERM_RE)}, 1) AS term FROM numbered")

    def assemble(self, lines: str) -> tuple[str, _Stop | None]:
        """Stage the records of a line table: (stage, first malformed record or None)."""
        n_cols = len(self.names)
        cls = self.temp("cls")
        self.con.execute(
            f"CREATE TEMP TABLE {q(cls)} AS SELECT rn, l, term, CASE WHEN l = '' THEN 'E' "
            f"WHEN NOT contains(l, '\"') OR regexp_full_match(l, {lit(_LINE_RE)}) THEN 'C' ELSE 'X' END AS c, "
            f"CASE WHEN l <> '' AND (NOT contains(l, '\"') OR regexp_full_match(l, {lit(_LINE_RE)})) "
            f"THEN regexp_extract_all(l || ';', {lit('(' + _FIELD_RE + ');')}, 1) END AS f "
            f"FROM {q(lines)} WHERE rn > 1")
        special = self.con.execute(
            f"SELECT rn, c, l, term, len(f) FROM {q(cls)} WHERE c <> 'C' OR len(f) <> {n_cols} ORDER BY rn"
        ).fetchall()
        stop: _Stop | None = None
        consumed: list[tuple[int, int]] = []
        extra: list[list[Any]] = []
        pos = 2
        for rn, c, text, term, count in special:
            rn = int(rn)
            if rn < pos:
                continue
            if c == "E":
                stop = _Stop(rn, f"0 fields, the header has {n_cols}")
                break
            if c == "C":
                stop = _Stop(rn, f"{count} fields, the header has {n_cols}")
                break
            fields, problem = _parse_line(text)
            end = rn
            if problem == "open":
                fields, end, problem = self.continue_record(cls, rn)
            if problem is None and len(fields) != n_cols:
                problem = f"{len(fields)} fields, the header has {n_cols}"
            if problem is not None:
                stop = _Stop(end, problem)
                break
            consumed.append((rn, end))
            extra.append([end, *[f if f != "" else None for f in fields]])
            pos = end + 1
        skip = self.temp("skip")
        self.con.execute(f"CREATE TEMP TABLE {q(skip)} (a INTEGER, b INTEGER)")
        if consumed:
            self.con.executemany(f"INSERT INTO {q(skip)} VALUES (?, ?)", consumed)
        unquote = ", ".join(
            f"CASE WHEN f[{i}] = '' THEN NULL WHEN starts_with(f[{i}], '\"') "
            f"THEN nullif(replace(f[{i}][2:-2], '\"\"', '\"'), '') ELSE f[{i}] END AS {q(n)}"
            for i, n in enumerate(self.names, start=1))
        stage = self.temp("stage")
        self.con.execute(
            f"CREATE TEMP TABLE {q(stage)} AS SELECT rn AS line, {unquote} FROM {q(cls)} "
            f"WHERE c = 'C' AND len(f) = {n_cols} AND {_before(stop, 'rn')} "
            f"AND NOT EXISTS (SELECT 1 FROM {q(skip)} s WHERE rn BETWEEN s.a AND s.b)")
        extra = [row for row in extra if stop is None or row[0] < stop.line]
        if extra:
            marks = ", ".join("?" for _ in range(n_cols + 1))
            self.con.executemany(f"INSERT INTO {q(stage)} VALUES ({marks})", extra)
        self.drop(cls, skip)
        return stage, stop

    def continue_record(self, cls: str, start: int) -> tuple[list[str], int, str | None]:
        """Read the record that starts at line `start` and goes on past it, with csv pulling
        the following lines as it needs them: (fields, its last line, problem or None)."""
        def lines() -> Iterator[str]:
            after, batch = start - 1, 64
            while True:
                rows = self.con.execute(f"SELECT rn, l, term FROM {q(cls)} WHERE rn > {after} "
                                        f"ORDER BY rn LIMIT {batch}").fetchall()
                if not rows:
                    return
                for rn, l, term in rows:
                    after = int(rn)
                    yield l + (term or "")
                batch = min(batch * 4, 1 << 14)

        reader = csv.reader(lines(), delimiter=";", quotechar='"', strict=True)
        try:
            fields = next(reader)
        except csv.Error as exc:
            end = start + max(reader.line_num - 1, 0)
            if "unexpected end of data" in str(exc):
                return [], start, "malformed CSV: unexpected end of data (a quoted value is never closed)"
            return [], end, f"malformed CSV: {exc}"
        except StopIteration:
            return [], start, "malformed CSV: unexpected end of data"
        return fields, start + reader.line_num - 1, None


_PIECE_RE = "[^\\r\\n]*(?:\\r\\n|\\r|\\n)|[^\\r\\n]+$"
_TERM_RE = "(\\r\\n|\\r|\\n)$"


def _before(stop: _Stop | None, column: str = "line") -> str:
    return f"{column} < {stop.line}" if stop is not None else "true"


def _parse_line(text: str) -> tuple[list[str], str | None]:
    """(fields, problem) of one record's text as the reference's csv reader reads it: problem
    is None, "open" (a quoted value goes on past the text) or the csv error."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return [], "open"
        return [], f"malformed CSV: {exc}"
    if len(rows) > 1:
        return [], f"malformed CSV: {len(rows)} records on one line"
    return (rows[0] if rows else []), None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# -- several files -------------------------------------------------------------------------------------

def check_files(paths: Iterable[str | Path], *, table_for: Callable[[Path], str | None] | Mapping[str, str] | str | None = None,
                tables: TableSet | None = None, con: duckdb.DuckDBPyConnection | None = None,
                stored_schema: str | None = None, operation: str = "upload",
                max_errors: int = 1000) -> list[FlkResult]:
    """Check files in reference order (parents first) on one DuckDB connection, so references
    of a later file resolve against the records of earlier files given together (and against
    `stored_schema` when given). A reference whose table is neither given nor stored is not
    checked; the result says so in `notes`. Results come back in the order checked.

    `table_for` is a table name for every file, a mapping from path to table, or a function
    of the path; by default the table is read from the file name (`table_for_file`).
    """
    tables = tables or load_tables()
    engine = FlkEngine(con=con, tables=tables)
    items: list[tuple[Path, str]] = []
    for p in paths:
        path = Path(p)
        if isinstance(table_for, str):
            name: str | None = table_for
        elif isinstance(table_for, Mapping):
            name = table_for.get(str(p)) or table_for.get(str(path))
        elif callable(table_for):
            name = table_for(path)
        else:
            name = table_for_file(path, tables)
        if name is None or name not in tables:
            raise FlkUsageError(f"{path}: cannot tell its table from the name; name the table")
        items.append((path, name))
    order = {name: i for i, name in enumerate(tables.export_order())}
    if operation == "delete":
        order = {name: -i for name, i in order.items()}
    items.sort(key=lambda item: order[item[1]])
    referenced = {c.references[0] for t in tables for c in t.foreign_keys}  # type: ignore[index]
    given: dict[str, str] = {}
    tag = uuid.uuid4().hex[:8]
    results = []
    try:
        for path, name in items:
            keys_into = None
            if operation == "upload" and name in referenced:
                keys_into = given.get(name) or f"_flk_given_{name}_{tag}"
            result = engine.check(path, name, stored_schema=stored_schema, operation=operation,
                                  max_errors=max_errors, _given=dict(given), _keys_into=keys_into)
            if keys_into:
                given[name] = keys_into
            results.append(result)
    finally:
        for name in given.values():
            with contextlib.suppress(duckdb.Error):
                engine.con.execute(f"DROP TABLE IF EXISTS {q(name)}")
    return results


__all__ = ["SHOWCASE_SCHEMA", "FlkEngine", "FlkError", "FlkResult", "FlkUsageError",
           "check_files", "ensure_showcase_schema", "table_for_file"]
