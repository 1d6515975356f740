"""SQLite storage of the reference journal.

School data: one table per export table of `specs/tables`, with exactly its columns and
primary key, so a dataset loads and exports losslessly. A value is stored in its export text
form (`format_value`: dates `YYYY-MM-DD`, datetimes `YYYY-MM-DD hh:mm:ss`, times `hh:mm`,
decimals as text), integers as INTEGER and booleans as 0/1; so stored dates compare and sort
as text and a stored row is already the JSON item of the on-demand API. Storage does not
enforce NOT NULL: a row created in the journal has no `send_datetime` until the exporter sends
it (`mark_sent`).

Journal tables: `accounts` (internal login, scrypt password hash, role, link to a person
record, ЕСИА oid), `sessions` (token digests only), `join_requests`, `consent_notifications`
and `consent_state`, `event_log` (security events; append-only, never reset), `change_log`
(every row change since the last load, for incremental export: table, key, upsert or delete
with the deleted row) and `meta`.

One connection is shared behind a re-entrant lock (the app is one process); every method
takes the lock, and `transaction()` groups several calls.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

from specs.tables import Column, Table, TableSet, load_tables
from specs.values import ValueRuleError, format_value, parse_value

Stored = dict[str, Any]
_ISO = {  # type → (the conventions' format, shape, strict parser)
    "date": ("%Y-%m-%d", re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), dt.date.fromisoformat),
    "datetime": ("%Y-%m-%d %H:%M:%S", re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"),
                 dt.datetime.fromisoformat),
    "time": ("%H:%M", re.compile(r"^[0-9]{2}:[0-9]{2}$"), dt.time.fromisoformat),
}

INTERNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    login TEXT UNIQUE,
    password_hash TEXT,
    role TEXT CHECK (role IS NULL OR role IN ('admin', 'teacher', 'parent', 'student')),
    person_table TEXT CHECK (person_table IS NULL OR person_table IN ('learners', 'representatives', 'staff')),
    person_id TEXT,
    esia_oid TEXT UNIQUE,
    esia_linked_at TEXT,
    esia_link_method TEXT,
    issued_password TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (person_table, person_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    method TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT,
    ip TEXT,
    extra TEXT
);
CREATE TABLE IF NOT EXISTS join_requests (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    organisation_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('learner', 'representative')),
    class_id TEXT,
    grade_level INTEGER,
    record_id TEXT,
    last_name TEXT NOT NULL,
    first_name TEXT NOT NULL,
    middle_name TEXT,
    birth_date TEXT,
    gender INTEGER,
    relation INTEGER,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by INTEGER,
    decision_note TEXT
);
CREATE TABLE IF NOT EXISTS consent_notifications (
    consent_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    learner_id TEXT NOT NULL,
    account_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_state (
    learner_id TEXT PRIMARY KEY,
    granted INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    source TEXT NOT NULL,
    consent_id TEXT
);
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    object TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    ip TEXT,
    message_id TEXT,
    details TEXT
);
CREATE INDEX IF NOT EXISTS event_log_time ON event_log (time);
CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('upsert', 'delete')),
    changed_at TEXT NOT NULL,
    row_json TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
INTERNAL_TABLES = ("accounts", "sessions", "join_requests", "consent_notifications", "consent_state",
                   "event_log", "change_log", "meta")
RESET_TABLES = tuple(t for t in INTERNAL_TABLES if t != "event_log")  # the event log is append-only


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(column: Column) -> str:
    return "INTEGER" if column.type in ("integer", "boolean") else "TEXT"


class Database:
    """The journal's SQLite database (file path or ":memory:")."""

    def __init__(self, path: str = ":memory:", tables: TableSet | None = None) -> None:
        self.path = path
        self.tables = tables or load_tables()
        clash = set(self.tables.names) & set(INTERNAL_TABLES)
        if clash:
            raise RuntimeError(f"export table names clash with journal tables: {sorted(clash)}")
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self._depth = 0
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.create_schema()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- schema -------------------------------------------------------------------------------

    def create_schema(self) -> None:
        with self.lock:
            self.conn.executescript(INTERNAL_SCHEMA)
            for table in self.tables:
                cols = ", ".join(f"{_quote(c.name)} {_sql_type(c)}" for c in table.columns)
                pk = ", ".join(_quote(c) for c in table.primary_key)
                self.conn.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table.name)} ({cols}, PRIMARY KEY ({pk}))")
            for table, column in (("marks", "learner_id"), ("attendance", "learner_id"),
                                  ("lessons", "class_id"), ("homework", "class_id"),
                                  ("achievements", "learner_id"), ("event_learners", "learner_id"),
                                  ("class_learners", "learner_id"), ("learner_representatives", "representative_id")):
                if table in self.tables and column in self.tables[table].column_names:
                    self.conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_{column} "
                                      f"ON {_quote(table)} ({_quote(column)})")

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (nested calls join the outer one)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Stored]:
        with self.lock:
            return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Stored | None:
        with self.lock:
            row = self.conn.execute(sql, params).fetchone()
            return dict(row) if row is not None else None

    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- value forms --------------------------------------------------------------------------

    def to_stored(self, table: Table, row: Mapping[str, Any]) -> Stored:
        """Typed values (as `specs.csvio.read_table` gives them) → stored values."""
        conv = self.tables.conventions
        out: Stored = {}
        for c in table.columns:
            value = row.get(c.name)
            if value is None:
                out[c.name] = None
            elif c.type == "boolean":
                out[c.name] = 1 if value else 0
            elif c.type == "integer":
                out[c.name] = int(value)
            else:
                out[c.name] = format_value(c, value, conv)
        return out

    def to_typed(self, table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
        """Stored values → typed values (for `specs.csvio` writers)."""
        conv = self.tables.conventions
        out: dict[str, Any] = {}
        for c in table.columns:
            value = row.get(c.name)
            if value is None:
                out[c.name] = None
            elif c.type == "boolean":
                out[c.name] = bool(value)
            elif c.type == "integer":
                out[c.name] = int(value)
            else:
                out[c.name] = parse_value(c, str(value), conv)
        return out

    def from_text(self, table: Table, record: Mapping[str, str | None]) -> Stored:
        """A record of export texts (`specs.csvio.iter_records`) → stored values, checking each
        value's type; raises `specs.values.ValueRuleError` (with `.column`) at the first bad one.
        Dates, datetimes and times in the ISO-shaped formats of the conventions are kept as
        text after a fast check; everything else goes through `parse_value`."""
        conv = self.tables.conventions
        out: Stored = {}
        for c in table.columns:
            text = record.get(c.name)
            if text is None:
                out[c.name] = None
                continue
            try:
                if c.type == "string":
                    out[c.name] = text
                elif c.type in _ISO and conv.formats[c.type] == _ISO[c.type][0]:
                    shape, parse = _ISO[c.type][1], _ISO[c.type][2]
                    if not shape.match(text):
                        parse_value(c, text, conv)  # raises the rule error with the usual wording
                    try:
                        parse(text)
                    except ValueError:
                        parse_value(c, text, conv)
                        raise
                    out[c.name] = text
                elif c.type == "boolean":
                    out[c.name] = 1 if parse_value(c, text, conv) else 0
                elif c.type == "integer":
                    out[c.name] = parse_value(c, text, conv)
                else:
                    out[c.name] = format_value(c, parse_value(c, text, conv), conv)
            except ValueRuleError as exc:
                exc.column = c.name  # type: ignore[attr-defined]
                raise
            except ValueError as exc:
                error = ValueRuleError("type", f"not a real {c.type}: {exc}")
                error.column = c.name  # type: ignore[attr-defined]
                raise error from None
        return out

    @staticmethod
    def to_json(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored row as a JSON item (booleans as true/false, everything else as stored)."""
        return {c.name: (bool(row[c.name]) if c.type == "boolean" and row.get(c.name) is not None
                         else row.get(c.name)) for c in table.columns}

    # -- school data --------------------------------------------------------------------------

    def key_of(self, table: Table, row: Mapping[str, Any]) -> str:
        return json.dumps([row[k] for k in table.primary_key], ensure_ascii=False, separators=(",", ":"))

    def insert_many(self, table: Table, rows: Iterable[Mapping[str, Any]], changed_at: str) -> int:
        """Insert stored rows (no conflict expected) and log them as upserts; returns the count."""
        names = table.column_names
        sql = (f"INSERT INTO {_quote(table.name)} ({', '.join(map(_quote, names))}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        with self.transaction():
            cur = self.conn.executemany(sql, ([r.get(n) for n in names] for r in rows))
            count = cur.rowcount
            key = "json_array(" + ", ".join(_quote(k) for k in table.primary_key) + ")"
            self.conn.execute(f"INSERT INTO change_log (table_name, row_key, operation, changed_at) "
                              f"SELECT ?, {key}, 'upsert', ? FROM {_quote(table.name)} ORDER BY rowid",
                              (table.name, changed_at))
        return count

    def get(self, table_name: str, *key: Any) -> Stored | None:
        table = self.tables[table_name]
        where = " AND ".join(f"{_quote(k)} = ?" for k in table.primary_key)
        return self.one(f"SELECT * FROM {_quote(table.name)} WHERE {where}", key)

    def upsert(self, table_name: str, row: Mapping[str, Any], changed_at: str) -> Stored:
        """Insert or replace one stored row by primary key and log the change."""
        table = self.tables[table_name]
        names = table.column_names
        values = [row.get(n) for n in names]
        updates = ", ".join(f"{_quote(n)} = excluded.{_quote(n)}" for n in names if n not in table.primary_key)
        sql = (f"INSERT INTO {_quote(table.name)} ({', '.join(map(_quote, names))}) "
               f"VALUES ({', '.join('?' for _ in names)}) "
               f"ON CONFLICT ({', '.join(map(_quote, table.primary_key))}) DO UPDATE SET {updates}")
        with self.transaction():
            self.conn.execute(sql, values)
            self.conn.execute("INSERT INTO change_log (table_name, row_key, operation, changed_at) "
                              "VALUES (?, ?, 'upsert', ?)", (table.name, self.key_of(table, row), changed_at))
        return {n: row.get(n) for n in names}

    def delete(self, table_name: str, key: Sequence[Any], changed_at: str) -> Stored | None:
        """Delete one row by primary key, logging it with the deleted row (for the delete
        file); returns the deleted row or None."""
        table = self.tables[table_name]
        with self.transaction():
            row = self.get(table_name, *key)
            if row is None:
                return None
            where = " AND ".join(f"{_quote(k)} = ?" for k in table.primary_key)
            self.conn.execute(f"DELETE FROM {_quote(table.name)} WHERE {where}", list(key))
            self.conn.execute("INSERT INTO change_log (table_name, row_key, operation, changed_at, row_json) "
                              "VALUES (?, ?, 'delete', ?, ?)",
                              (table.name, self.key_of(table, row), changed_at, json.dumps(row, ensure_ascii=False)))
        return row

    def rows(self, table_name: str) -> Iterator[Stored]:
        """Every stored row of a table, in load/insert order."""
        with self.lock:
            cur = self.conn.execute(f"SELECT * FROM {_quote(self.tables[table_name].name)} ORDER BY rowid")
            batch = cur.fetchmany(1000)
            while batch:
                for r in batch:
                    yield dict(r)
                batch = cur.fetchmany(1000)

    def count(self, table_name: str) -> int:
        return self.one(f"SELECT count(*) AS n FROM {_quote(self.tables[table_name].name)}")["n"]  # type: ignore[index]

    def mark_sent(self, table_name: str, keys: Iterable[Sequence[Any]], when: str) -> None:
        """Set `send_datetime` of rows the exporter sent (not a change: nothing is logged)."""
        table = self.tables[table_name]
        where = " AND ".join(f"{_quote(k)} = ?" for k in table.primary_key)
        with self.transaction():
            self.conn.executemany(f"UPDATE {_quote(table.name)} SET send_datetime = ? WHERE {where}",
                                  ([when, *k] for k in keys))

    def changes(self, after_seq: int = 0, limit: int | None = None) -> list[Stored]:
        """Change-log entries after `after_seq`, oldest first (`row_key` is a JSON array of the
        primary key values; `row_json` the deleted row for deletes)."""
        sql = "SELECT * FROM change_log WHERE seq > ? ORDER BY seq"
        params: list[Any] = [after_seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self.query(sql, params)

    def last_change_seq(self) -> int:
        return self.one("SELECT coalesce(max(seq), 0) AS s FROM change_log")["s"]  # type: ignore[index]

    # -- reset --------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete all school data and journal state except the event log."""
        with self.transaction():
            for table in self.tables:
                self.conn.execute(f"DELETE FROM {_quote(table.name)}")
            for name in RESET_TABLES:
                self.conn.execute(f"DELETE FROM {name}")
