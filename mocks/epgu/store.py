"""The embedded DuckDB of mock ЕПГУ: showcase tables, request history, portal state.

One database (a file `epgu.duckdb` in the state directory, or in memory) holds
- schema `showcase`: one VARCHAR table per export table of `specs/tables`, in spec column
  order (values are kept as the CSV text). The primary key is *not* declared: the merge keeps
  it unique (one merge at a time: delete the staged keys, insert the staged rows; a file's
  own keys are unique by its ФЛК). A declared key would make a big upsert maintain an index
  in memory, several times the cost in time and memory of the rows themselves
  (benchmarks/README.md, issue 15); a state directory from before is migrated on opening;
- schema `epgu_mock`: the mock's own state — upload requests with their status history,
  their ФЛК reports, registered source systems, portal personas and received notifications.

`Store` knows nothing of the request lifecycle: it merges a staged table (or a view over a
large clean file, `flk.STAGED_VIEW_PREFIX`) into a showcase table atomically, reads rows, checksums, persists records, and runs the read-only queries of
the ПОДД agent's SQL mode. DuckDB's memory is limited (`memory_mib`); what a big file's ФЛК
or merge needs beyond spills to a temporary directory beside the database. The main connection (ФЛК, merges) is guarded by `lock`; reads
use short-lived cursors (own DuckDB connections to the same database, MVCC-isolated), and
the meta tables have a cursor and a lock of their own, so polling never waits for a ФЛК run.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from mocks.epgu.flk import SHOWCASE_SCHEMA, STAGED_VIEW_PREFIX, drop_staged_sql
from specs.tables import Table, TableSet

META_SCHEMA = "epgu_mock"
DB_FILE = "epgu.duckdb"   # not "showcase.duckdb": the catalog would clash with schema `showcase`

_META_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.requests (
    request_id VARCHAR PRIMARY KEY, seq BIGINT, source VARCHAR, datamart VARCHAR,
    table_name VARCHAR, operation VARCHAR, file_name VARCHAR, size BIGINT, sha256 VARCHAR,
    code INTEGER, created_at VARCHAR, updated_at VARCHAR, rows BIGINT, error_count BIGINT,
    reason VARCHAR, fault VARCHAR, history VARCHAR);
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.request_errors (
    request_id VARCHAR, n INTEGER, error VARCHAR, PRIMARY KEY (request_id, n));
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.sources (
    mnemonic VARCHAR PRIMARY KEY, datamarts VARCHAR, title VARCHAR, created_at VARCHAR);
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.personas (oid VARCHAR PRIMARY KEY, data VARCHAR);
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.notifications (
    notification_id VARCHAR PRIMARY KEY, seq BIGINT, sender VARCHAR, digest VARCHAR,
    received_at VARCHAR, data VARCHAR);
"""
META_TABLES = ("requests", "request_errors", "sources", "personas", "notifications")
_REQUEST_COLUMNS = ("request_id", "seq", "source", "datamart", "table_name", "operation",
                    "file_name", "size", "sha256", "code", "created_at", "updated_at", "rows",
                    "error_count", "reason", "fault", "history")


class QueryError(Exception):
    """A query of SQL mode failed; `reason` is `refused`, `timeout` or `failed`."""

    reason = "failed"


class QueryRefused(QueryError):
    """The query could change data or reaches beyond the showcase tables."""

    reason = "refused"


class QueryTimeout(QueryError):
    """The query ran longer than its timeout and was interrupted."""

    reason = "timeout"


@dataclass(frozen=True)
class QueryResult:
    """Columns, at most `maxrows` rows (Python values), and whether more rows existed."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class Store:
    """The DuckDB database of one mock; `path=None` keeps it in memory."""

    def __init__(self, tables: TableSet, path: Path | None = None, memory_mib: int | None = None) -> None:
        self.tables = tables
        self.path = path
        self.con = duckdb.connect(str(path) if path is not None else ":memory:")
        self.lock = threading.RLock()          # the main connection: ФЛК runs and merges
        # spilled data goes beside the database, or to a directory of our own (an in-memory one)
        self._scratch = None if path is not None else tempfile.mkdtemp(prefix="ezhd-epgu-duckdb-")
        temp = str(path) + ".tmp" if path is not None else self._scratch
        self.con.execute("SET temp_directory = " + "'" + temp.replace("'", "''") + "'")
        if memory_mib:
            self.set_memory_limit(memory_mib)
        self._ensure_showcase_tables()
        self.con.execute(_META_DDL)
        self._meta = self.con.cursor()
        self._meta_lock = threading.Lock()

    def set_memory_limit(self, mib: int) -> None:
        self.con.execute(f"SET memory_limit = '{int(mib)}MiB'")

    def _ensure_showcase_tables(self) -> None:
        """One table per spec table, without a declared key (see the module's docstring); a
        table of an older state directory that declares one is rebuilt without it."""
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {SHOWCASE_SCHEMA}")
        keyed = {r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE schema_name = ? AND constraint_type = 'PRIMARY KEY'",
            [SHOWCASE_SCHEMA]).fetchall()}
        for table in self.tables:
            target = f"{SHOWCASE_SCHEMA}.{q(table.name)}"
            cols = ", ".join(f"{q(c)} VARCHAR" for c in table.column_names)
            if table.name in keyed:
                old = q(table.name + "__keyed")
                self.con.execute(f"BEGIN TRANSACTION; ALTER TABLE {target} RENAME TO {old}; "
                                 f"CREATE TABLE {target} ({cols}); "
                                 f"INSERT INTO {target} SELECT * FROM {SHOWCASE_SCHEMA}.{old}; "
                                 f"DROP TABLE {SHOWCASE_SCHEMA}.{old}; COMMIT")
            else:
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({cols})")

    def close(self) -> None:
        with self.lock, self._meta_lock:
            try:
                self._meta.close()
            finally:
                self.con.close()
                if self._scratch is not None:
                    shutil.rmtree(self._scratch, ignore_errors=True)

    # -- showcase data ---------------------------------------------------------------------

    def table(self, name: str) -> Table:
        return self.tables[name]

    def merge(self, table: str, staged: str, operation: str, con: Any = None, drop: bool = False) -> int:
        """Apply a staged table (VARCHAR, spec column order, its keys unique) to the showcase
        table in one transaction: `upload` replaces rows by primary key (the stored rows of the
        staged keys are deleted, the staged rows inserted), `delete` removes exactly the keyed
        rows. Returns the number of staged rows. `staged` may be a view over a large clean
        file (`STAGED_VIEW_PREFIX`), read again here. `con`: the connection (a cursor of this
        store's) that holds the staged temp table; `drop`: drop it in the same transaction.
        Merges run one at a time, which is what keeps a key unique."""
        spec = self.table(table)
        target = f"{SHOWCASE_SCHEMA}.{q(table)}"
        cols = ", ".join(q(c) for c in spec.column_names)
        keys = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in spec.primary_key)
        if operation not in ("upload", "delete"):
            raise ValueError(f"unknown operation {operation!r}")
        pk = ", ".join(q(k) for k in spec.primary_key)
        remove = f"DELETE FROM {target} AS t USING (SELECT {pk} FROM {q(staged)}) AS s WHERE {keys}"
        # The rows' order in a showcase table means nothing (every read orders by key), so a
        # large file's insert may run on every thread: keeping the order makes DuckDB insert on
        # one thread under its memory limit. The setting is this connection's own, and put back
        # at once (a small file's merge skips the two statements).
        view = staged.startswith(STAGED_VIEW_PREFIX)
        unordered = ["SET SESSION preserve_insertion_order = false"] if view else []
        ordered = ["RESET SESSION preserve_insertion_order"] if view else []
        insert = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {q(staged)}"
        with self.lock:         # two round trips: a small file's merge is mostly their overhead
            con = con if con is not None else self.con

            def run(*statements: str) -> Any:
                return con.execute("; ".join(statements))
            try:
                if operation == "upload" and view:
                    run(*unordered, "BEGIN TRANSACTION")
                    empty = not run(f"SELECT EXISTS (SELECT 1 FROM {target})").fetchone()[0]
                    # a first upload: nothing to replace, the file not read for it
                    n = run(*([] if empty else [remove]), insert).fetchone()[0]
                elif operation == "upload":
                    n = run("BEGIN TRANSACTION", remove, insert).fetchone()[0]
                else:
                    n = run(*unordered, "BEGIN TRANSACTION", f"SELECT count(*) FROM {q(staged)}").fetchone()[0]
                    run(remove)
                run(*([drop_staged_sql(staged)] if drop else []), "COMMIT", *ordered)
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if ordered:
                    with contextlib.suppress(duckdb.Error):
                        run(*ordered)
                raise
        return int(n)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        cur = self.con.cursor()
        try:
            cur.execute(sql, list(params))
            cols = [d[0] for d in cur.description]
            return cols, cur.fetchall()
        finally:
            cur.close()

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query of the mock's own (trusted SQL) as dicts."""
        cols, rows = self._read(sql, params)
        return [dict(zip(cols, r)) for r in rows]

    def rows(self, table: str, limit: int = 100, offset: int = 0,
             where: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
        """(matching count, rows ordered by primary key) of a showcase table; `where` compares
        columns with text values."""
        spec = self.table(table)
        conds, params = [], []
        for col, value in (where or {}).items():
            spec.column(col)                        # KeyError for an unknown column
            conds.append(f"{q(col)} = ?")
            params.append(value)
        clause = (" WHERE " + " AND ".join(conds)) if conds else ""
        target = f"{SHOWCASE_SCHEMA}.{q(table)}"
        total = self._read(f"SELECT count(*) FROM {target}{clause}", params)[1][0][0]
        order = ", ".join(q(k) for k in spec.primary_key)
        out = self.select(f"SELECT * FROM {target}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                          [*params, int(limit), int(offset)])
        return int(total), out

    def counts(self) -> dict[str, int]:
        parts = " UNION ALL ".join(
            f"SELECT '{name}' AS t, count(*) AS n FROM {SHOWCASE_SCHEMA}.{q(name)}" for name in self.tables.names)
        return {t: int(n) for t, n in self._read(parts)[1]}

    def checksum(self) -> dict[str, Any]:
        """Per table: row count and an order-independent md5 over all rows; `all` over tables."""
        out: dict[str, Any] = {}
        for name in self.tables.names:
            target = f"{SHOWCASE_SCHEMA}.{q(name)}"
            n, digest = self._read(
                f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) FROM "
                f"(SELECT md5(CAST(t AS VARCHAR)) AS h FROM {target} AS t)")[1][0]
            out[name] = {"rows": int(n), "md5": digest}
        import hashlib
        out["all"] = hashlib.md5(json.dumps(out, sort_keys=True).encode()).hexdigest()
        return out

    def clear_showcase(self) -> None:
        with self.lock:
            for name in self.tables.names:
                self.con.execute(f"DELETE FROM {SHOWCASE_SCHEMA}.{q(name)}")

    # -- SQL mode: read-only queries ----------------------------------------------------------

    def execute_readonly(self, sql: str, params: Sequence[Any] | None = None, maxrows: int = 1000,
                         timeout_s: float = 30.0) -> QueryResult:
        """Run one SELECT over the showcase tables on its own connection, inside a transaction
        that is always rolled back, interrupted after `timeout_s`; at most `maxrows` rows.

        Refused (`QueryRefused`): more or other than one SELECT statement, table functions
        (`read_csv`, `query`, ...), and any relation that is not a showcase table or a CTE of the
        query itself (so no files, no `epgu_mock`, no catalog views)."""
        if maxrows < 0:
            raise QueryRefused("maxrows must not be negative")
        cur = self.con.cursor()
        timer: threading.Timer | None = None
        try:
            try:
                statements = cur.extract_statements(sql)
            except duckdb.Error as exc:
                raise QueryFailed(_short(exc)) from None
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise QueryRefused("exactly one SELECT statement is allowed")
            self._check_relations(cur, sql)
            cur.execute(f"SET search_path = '{SHOWCASE_SCHEMA}'")
            cur.execute("BEGIN TRANSACTION")
            if timeout_s and timeout_s > 0:
                timer = threading.Timer(timeout_s, cur.interrupt)
                timer.daemon = True
                timer.start()
            try:
                cur.execute(sql, list(params or []))
                columns = [d[0] for d in cur.description]
                fetched = cur.fetchmany(maxrows + 1) if maxrows else cur.fetchmany(1)
            except duckdb.InterruptException:
                raise QueryTimeout(f"the query ran longer than {timeout_s} s and was stopped") from None
            except duckdb.Error as exc:
                raise QueryFailed(_short(exc)) from None
            truncated = len(fetched) > maxrows
            return QueryResult(columns, [list(r) for r in fetched[:maxrows]], truncated)
        finally:
            if timer is not None:
                timer.cancel()
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass
            cur.close()

    def _check_relations(self, cur: duckdb.DuckDBPyConnection, sql: str) -> None:
        try:
            ast = json.loads(cur.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
        except duckdb.Error as exc:
            raise QueryFailed(_short(exc)) from None
        if ast.get("error"):
            raise QueryFailed(str(ast.get("error_message", "cannot parse the query")))
        ctes: set[str] = set()
        refs: list[dict[str, Any]] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                kind = node.get("type")
                if kind == "TABLE_FUNCTION":
                    fn = (node.get("function") or {}).get("function_name", "?")
                    raise QueryRefused(f"table function {fn}() is not allowed; query the showcase tables")
                if kind == "BASE_TABLE":
                    refs.append(node)
                cte_map = node.get("cte_map")
                if isinstance(cte_map, dict):
                    for entry in cte_map.get("map", []):
                        ctes.add(str(entry.get("key", "")).lower())
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(ast.get("statements", []))
        names = set(self.tables.names)
        for ref in refs:
            schema, table = ref.get("schema_name", ""), ref.get("table_name", "")
            catalog = ref.get("catalog_name", "")
            if not schema and not catalog and table.lower() in ctes:
                continue
            if catalog or schema not in ("", SHOWCASE_SCHEMA) or table not in names:
                shown = ".".join(p for p in (catalog, schema, table) if p)
                raise QueryRefused(f"relation {shown!r} is not a showcase table")

    # -- meta: requests --------------------------------------------------------------------

    def _meta_exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._meta_lock:
            self._meta.execute(sql, list(params))
            try:
                return self._meta.fetchall()
            except duckdb.Error:
                return []

    def save_request(self, record: dict[str, Any]) -> None:
        self.save_requests([record])

    def save_requests(self, records: Sequence[dict[str, Any]], per_statement: int = 200) -> None:
        """Insert or replace request records, many in one statement (one transaction each)."""
        marks = "(" + ", ".join("?" for _ in _REQUEST_COLUMNS) + ")"
        for at in range(0, len(records), per_statement):
            part = records[at:at + per_statement]
            values = [json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                      for record in part for v in (record.get(c) for c in _REQUEST_COLUMNS)]
            self._meta_exec(f"INSERT OR REPLACE INTO {META_SCHEMA}.requests VALUES "
                            + ", ".join(marks for _ in part), values)

    def load_requests(self) -> list[dict[str, Any]]:
        rows = self._meta_exec(f"SELECT * FROM {META_SCHEMA}.requests ORDER BY seq")
        out = []
        for r in rows:
            rec = dict(zip(_REQUEST_COLUMNS, r))
            for k in ("fault", "history"):
                rec[k] = json.loads(rec[k]) if rec[k] else None
            out.append(rec)
        return out

    def save_errors(self, request_id: str, errors: Iterable[dict[str, Any]]) -> None:
        rows = [(request_id, i, json.dumps(e, ensure_ascii=False)) for i, e in enumerate(errors)]
        with self._meta_lock:
            self._meta.execute(f"DELETE FROM {META_SCHEMA}.request_errors WHERE request_id = ?", [request_id])
            if rows:
                self._meta.executemany(f"INSERT INTO {META_SCHEMA}.request_errors VALUES (?, ?, ?)", rows)

    def load_errors(self, request_id: str, limit: int) -> list[dict[str, Any]]:
        rows = self._meta_exec(f"SELECT error FROM {META_SCHEMA}.request_errors WHERE request_id = ? "
                               f"ORDER BY n LIMIT ?", [request_id, int(limit)])
        return [json.loads(r[0]) for r in rows]

    # -- meta: sources, personas, notifications ------------------------------------------------

    def save_source(self, mnemonic: str, datamarts: list[str], title: str | None, created_at: str) -> None:
        self._meta_exec(f"INSERT OR REPLACE INTO {META_SCHEMA}.sources VALUES (?, ?, ?, ?)",
                        [mnemonic, json.dumps(datamarts), title, created_at])

    def delete_source(self, mnemonic: str) -> None:
        self._meta_exec(f"DELETE FROM {META_SCHEMA}.sources WHERE mnemonic = ?", [mnemonic])

    def load_sources(self) -> list[dict[str, Any]]:
        rows = self._meta_exec(f"SELECT mnemonic, datamarts, title, created_at FROM {META_SCHEMA}.sources "
                               f"ORDER BY mnemonic")
        return [{"mnemonic": m, "datamarts": json.loads(d), "title": t, "created_at": c} for m, d, t, c in rows]

    def save_personas(self, personas: Iterable[dict[str, Any]]) -> None:
        rows = [(str(p["oid"]), json.dumps(p, ensure_ascii=False)) for p in personas]
        if rows:
            with self._meta_lock:
                self._meta.executemany(f"INSERT OR REPLACE INTO {META_SCHEMA}.personas VALUES (?, ?)", rows)

    def load_personas(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self._meta_exec(f"SELECT data FROM {META_SCHEMA}.personas")]

    def save_notification(self, entry: dict[str, Any], seq: int, digest: str) -> None:
        self._meta_exec(f"INSERT OR REPLACE INTO {META_SCHEMA}.notifications VALUES (?, ?, ?, ?, ?, ?)",
                        [entry["notification_id"], seq, entry["sender"], digest, entry["received_at"],
                         json.dumps(entry, ensure_ascii=False)])

    def load_notifications(self) -> list[tuple[dict[str, Any], str]]:
        rows = self._meta_exec(f"SELECT data, digest FROM {META_SCHEMA}.notifications ORDER BY seq")
        return [(json.loads(d), g) for d, g in rows]

    def clear_meta(self, names: Iterable[str] = META_TABLES) -> None:
        for name in names:
            if name not in META_TABLES:
                raise ValueError(f"unknown meta table {name!r}")
            self._meta_exec(f"DELETE FROM {META_SCHEMA}.{name}")


class QueryFailed(QueryError):
    """DuckDB could not run the query (syntax, unknown column, ...)."""

    reason = "failed"


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
