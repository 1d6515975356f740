"""SQL mode (specs/openapi/agent-sql.yaml): the request form, the read-only check of the
query, and the result format. No HTTP and no database here.

The query is parsed with sqlglot (dialect `duckdb`) and refused unless it is exactly one
`SELECT` (set operations and a leading `WITH` allowed) that reads only showcase tables, named
as in specs/tables, bare or qualified with the showcase schema. Refused, each with a 400 that
names the reason: DDL/DML and every other statement (`COPY`, `ATTACH`, `PRAGMA`, `SET`,
`INSTALL`, `EXPLAIN`, ...), several statements, table functions and file paths or URLs in
`FROM` (`read_csv(...)`, `'/etc/passwd'`), other schemas and catalogs (`information_schema`,
`pg_catalog`, `duckdb_*` views), functions that reach outside the showcase or change state,
numbered or named placeholders, and syntax errors. What runs is the *re-rendered* parse tree
(comments dropped), so the database executes exactly the statement that was checked; the
showcase's read-only connection is the second line of defence.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
import re
import uuid
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from mocks.smev.errors import AgentError

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_SQL = 65536
MAX_PARAMS = 1000
TIMEOUT_RANGE = (1, 300)
MAXROWS_RANGE = (1, 100_000)
BOOL_TEXT = {"true": True, "True": True, "1": True, "false": False, "False": False, "0": False}

# Statement kinds that are never a read-only query. Looked up by name so that a sqlglot
# release without one of them still loads.
_STATEMENT_NODES = tuple(getattr(exp, name) for name in (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "Copy",
    "Attach", "Detach", "Command", "Pragma", "Set", "Use", "Install", "Load", "Describe", "Show",
    "Summarize", "Transaction", "Commit", "Rollback", "Into", "Export", "Analyze",
    "TruncateTable", "LoadData", "Grant", "Revoke", "Cache", "Uncache", "Refresh", "Kill")
    if hasattr(exp, name))

# Scalar functions that read files, the environment or the catalog, or change state.
FORBIDDEN_FUNCTION = re.compile(
    r"^(read_\w*|read|glob|getenv|current_setting|duckdb_\w*|pragma_\w*|query|query_table|"
    r"sniff_csv|parquet_\w*|iceberg_\w*|delta_scan|st_read\w*|sqlite_\w*|postgres_\w*|mysql_\w*|"
    r"http\w*|load_\w*|install_\w*|export_\w*|import_\w*|checkpoint|force_checkpoint|"
    r"nextval|currval|setval|setseed|which_secret|txid_current|enable_\w*|disable_\w*)$", re.I)


@dataclasses.dataclass(frozen=True)
class SqlRequest:
    """The form of `POST /{mnemonic}/sql`, parsed and range-checked."""
    sql: str
    params: list[Any]
    priority: str = "NORMAL"
    timeout: int = 30
    maxrows: int = 10_000
    async_request: bool = False


@dataclasses.dataclass(frozen=True)
class CheckedQuery:
    sql: str                  # the re-rendered statement that is executed
    tables: tuple[str, ...]   # showcase tables read


def refused(error: str, message: str, message_en: str, field: str | None = "sql",
            detail: str | None = None, position: int | None = None) -> AgentError:
    entry: dict[str, Any] = {"message": detail or message_en}
    if field:
        entry["field"] = field
    if position is not None:
        entry["position"] = position
    return AgentError(400, error, message, message_en, [entry])


def _bad(field: str, ru: str, en: str) -> AgentError:
    return refused("bad_parameter", f"поле {field}: {ru}", f"field {field}: {en}", field)


# --- the request form -------------------------------------------------------------------------

def parse_form(body: bytes, content_type: str, *, default_timeout: int = 30,
               default_maxrows: int = 10_000) -> SqlRequest:
    """Parse and check the form fields; `AgentError` 400 `bad_parameter` names the field."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise refused("bad_parameter", f"тело запроса должно быть {FORM_TYPE}",
                      f"the body must be {FORM_TYPE}", "content-type")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise refused("bad_parameter", "тело запроса не в UTF-8 или неверно закодировано",
                      "the body is not valid UTF-8 form encoding", None) from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise _bad(key, "задано более одного раза", "given more than once")
        form[key] = value

    sql = form.get("sql", "")
    if not sql.strip():
        raise _bad("sql", "обязательно и не может быть пустым", "is required and must not be empty")
    if len(sql) > MAX_SQL:
        raise _bad("sql", f"длиннее {MAX_SQL} символов", f"longer than {MAX_SQL} characters")

    params: Any = []
    if form.get("params", "").strip():
        try:
            params = json.loads(form["params"])
        except ValueError:
            raise _bad("params", "должно быть JSON-массивом значений",
                       "must be a JSON array of values") from None
    if not isinstance(params, list) or any(isinstance(p, (dict, list)) for p in params):
        raise _bad("params", "должно быть JSON-массивом строк, чисел, true/false или null",
                   "must be a JSON array of strings, numbers, booleans or nulls")
    if len(params) > MAX_PARAMS:
        raise _bad("params", f"не более {MAX_PARAMS} значений", f"at most {MAX_PARAMS} values")

    priority = form.get("priority") or "NORMAL"
    if priority not in ("NORMAL", "HIGH"):
        raise _bad("priority", "допустимы NORMAL или HIGH", "must be NORMAL or HIGH")
    timeout = _int_field(form, "timeout", default_timeout, 3, TIMEOUT_RANGE)
    maxrows = _int_field(form, "maxrows", default_maxrows, 6, MAXROWS_RANGE)
    flag = form.get("async_request") or "false"
    if flag not in BOOL_TEXT:
        raise _bad("async_request", "допустимы true/false", "must be true or false")
    return SqlRequest(sql, params, priority, timeout, maxrows, BOOL_TEXT[flag])


def _int_field(form: Mapping[str, str], name: str, default: int, digits: int,
               bounds: tuple[int, int]) -> int:
    text = form.get(name) or ""
    if not text:
        return default
    lo, hi = bounds
    if not re.fullmatch(rf"[0-9]{{1,{digits}}}", text) or not lo <= int(text) <= hi:
        raise _bad(name, f"целое число от {lo} до {hi}", f"must be an integer from {lo} to {hi}")
    return int(text)


# --- the query check --------------------------------------------------------------------------

def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    try:
        return node.sql_name()
    except Exception:  # pragma: no cover - every Func has one
        return type(node).__name__


def _position(sql: str, error: dict[str, Any]) -> int | None:
    line, col = error.get("line"), error.get("col")
    if not line or not col:
        return None
    lines = sql.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1])
    return max(0, min(len(sql), offset + col - len(error.get("highlight") or "")))


def check_query(sql: str, param_count: int, tables: Mapping[str, Sequence[tuple[str, str]]],
                schema: str = "showcase") -> CheckedQuery:
    """The query as it may run, or `AgentError` 400 naming why it is refused.

    `tables` maps each showcase table to its columns as `(name, SQL type)`. The showcase keeps
    values as CSV text; each table reference is read through a typed projection of it
    (`TRY_CAST` to the column's type), so results carry the types agent-sql.yaml names."""
    known = {t.lower() for t in tables}
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        position = _position(sql, first)
        text = first.get("description") or str(exc).splitlines()[0]
        raise refused("syntax_error", f"синтаксическая ошибка в SQL: {text}",
                      f"SQL syntax error: {text}", position=position) from None
    except SqlglotError as exc:
        text = str(exc).splitlines()[0][:200]
        raise refused("syntax_error", f"синтаксическая ошибка в SQL: {text}",
                      f"SQL syntax error: {text}") from None
    if not statements:
        raise refused("syntax_error", "запрос пуст", "the query is empty")
    if len(statements) > 1:
        raise AgentError(400, "multiple_statements",
                         f"запрос содержит {len(statements)} оператора(ов); допустим один SELECT",
                         f"the request contains {len(statements)} statements; one SELECT is allowed")
    root = statements[0]
    if isinstance(root, exp.Subquery):
        root = root.unnest()
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        kind = str(root.this if isinstance(root, exp.Command) else root.key).upper()
        raise refused("not_select", "допустим только один SELECT только для чтения",
                      "only one read-only SELECT is allowed",
                      detail=f"{kind} statements are not allowed")
    for node in root.walk():
        if isinstance(node, _STATEMENT_NODES):
            raise refused("not_select", "допустим только один SELECT только для чтения",
                          "only one read-only SELECT is allowed",
                          detail=f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func) and FORBIDDEN_FUNCTION.match(_function_name(node)):
            name = _function_name(node).lower()
            raise refused("not_select", f"функция {name} недоступна: она обращается за пределы "
                          "витрины или меняет состояние",
                          f"function {name} is not allowed: it reaches outside the showcase "
                          "or changes state")
        if isinstance(node, exp.Placeholder) and node.args.get("this") is not None:
            raise refused("params_mismatch", "допустимы только позиционные параметры ?",
                          "only positional ? placeholders are allowed", "sql",
                          detail=f"${node.args['this']}")
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    read: list[str] = []
    for table in root.find_all(exp.Table):
        _check_table(table, known, ctes, schema.lower())
        if table.name.lower() in known and table.name.lower() not in read:
            read.append(table.name.lower())
    placeholders = sum(1 for _ in root.find_all(exp.Placeholder))
    if placeholders != param_count:
        raise refused("params_mismatch",
                      f"в запросе {placeholders} параметр(ов) ?, передано значений: {param_count}",
                      f"the query has {placeholders} ? placeholder(s) but {param_count} value(s) "
                      "were given", "params")
    columns = {name.lower(): cols for name, cols in tables.items()}
    for table in list(root.find_all(exp.Table)):
        name = table.name.lower()
        if name in columns and not (not table.db and name in ctes) and _plain(table):
            alias = table.args.get("alias")
            alias = alias.copy() if alias is not None else exp.TableAlias(
                this=exp.to_identifier(table.name))
            table.replace(exp.Subquery(this=_typed_projection(name, columns[name], schema),
                                       alias=alias))
    return CheckedQuery(root.sql(dialect="duckdb", comments=False), tuple(read))


def _plain(table: exp.Table) -> bool:
    """A reference with nothing but a name and an alias (no sample, hints, ...)."""
    return all(k in ("this", "db", "catalog", "alias") or v in (None, [], False)
               for k, v in table.args.items())


def _typed_projection(table: str, columns: Sequence[tuple[str, str]], schema: str) -> exp.Select:
    items = []
    for name, sql_type in columns:
        column = exp.column(name, quoted=True)
        value = column if sql_type.upper() == "VARCHAR" else exp.TryCast(
            this=column, to=exp.DataType.build(sql_type, dialect="duckdb"))
        items.append(exp.alias_(value, name, quoted=True))
    return exp.select(*items).from_(exp.table_(table, db=schema, quoted=True))


def _check_table(table: exp.Table, known: set[str], ctes: set[str], schema: str) -> None:
    if not isinstance(table.this, exp.Identifier):
        name = _function_name(table.this) if isinstance(table.this, exp.Func) else table.this.sql("duckdb")
        raise refused("unknown_table", f"табличные функции недоступны: {name.lower()}",
                      f"table functions are not allowed: {name.lower()}")
    name, db, catalog = table.name, table.db, table.catalog
    qualified = ".".join(p for p in (catalog, db, name) if p)
    if catalog or (db and db.lower() != schema):
        raise refused("unknown_table", f"доступны только таблицы витрины; {qualified} вне её",
                      f"only showcase tables may be read; {qualified} is outside the showcase",
                      detail=qualified)
    if not db and name.lower() in ctes:
        return
    if name.lower() in known:
        return
    if table.this.quoted and re.search(r"[/\\:.]", name):
        raise refused("unknown_table", "пути к файлам и URL недоступны",
                      "file paths and URLs are not allowed", detail=name)
    raise refused("unknown_table", f"таблицы «{name}» нет в витрине",
                  f'table "{name}" does not exist in the showcase', detail=name)


# --- the result -------------------------------------------------------------------------------

def value_type(value: Any) -> str | None:
    """The Prostore logical type (SqlColumn.type) of a Python value from DuckDB."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, (float, decimal.Decimal)):
        return "DOUBLE"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    if isinstance(value, uuid.UUID):
        return "UUID"
    return "VARCHAR"


def json_value(value: Any) -> Any:
    """A cell in the textual forms of the export CSV (specs/tables/_conventions.yaml)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def format_result(columns: Sequence[str], rows: Sequence[Sequence[Any]], truncated: bool) -> dict[str, Any]:
    """`SqlResult` of agent-sql.yaml. A column's type is that of its first non-null value
    (the showcase reports names only); a column of nulls only is VARCHAR."""
    types: list[str | None] = [None] * len(columns)
    for row in rows:
        for i, value in enumerate(row):
            if types[i] is None:
                types[i] = value_type(value)
        if all(types):
            break
    cols = [{"name": str(name), "type": types[i] or "VARCHAR"} for i, name in enumerate(columns)]
    out_rows = [[json_value(v) for v in row] for row in rows]
    return {"columns": cols, "rows": out_rows, "row_count": len(out_rows), "truncated": bool(truncated)}
