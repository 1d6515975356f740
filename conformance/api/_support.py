"""What the on-demand API tests share: the journal's records as the generated dataset holds
them, the mapping of journal.yaml's answers onto the export tables, the expected answer of a
diary section for a learner and a period, and a direct client of the journal (for the checks
the agent would stop before they reach it).

The mapping is read, not written down: each diary operation's 200 answer in journal.yaml is a
page whose `items` schema names its export table (`x-table`), and the item properties that are
columns of that table (specs/tables) carry the same values; properties marked `x-extra` and
vendor `x_…` properties are display additions. Values are compared as export texts
(`specs.values.format_value`), so `5` and `"5"`, or a date and its ISO text, are equal.
"""
from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conformance import evidence
from conformance.clients import PORTAL_MNEMONIC
from conformance.people import SIGN_IN_SCENARIOS, People
from conformance.verdicts import EnvironmentProblem
from conformance.world import world_of
from specs import OPENAPI_DIR, load_yaml
from conformance.dataset import typed_rows
from specs.tables import TableSet, load_tables
from specs.values import ValueRuleError, format_value, parse_value

JOURNAL_YAML = Path(OPENAPI_DIR) / "journal.yaml"
DIARY = "/api/v1/learners/{learner_id}/"

# section → (requirement, the column that places a record in a period; journal.yaml descriptions)
SECTIONS: dict[str, tuple[str, str]] = {
    section: (req, load_tables()[section].dated_by or "")      # specs/tables: each table's dated_by
    for section, req in (("marks", "API-02"), ("attendance", "API-03"), ("lessons", "API-04"),
                         ("homework", "API-05"), ("achievements", "API-06"))
}


def operation_of(section: str) -> str:
    """The journal.yaml operationId of a diary section (`marks` → getMarks)."""
    return "get" + section[:1].upper() + section[1:]


def operation_ids(method: str | None = None) -> list[str]:
    """Every operationId of journal.yaml (of one HTTP method when given)."""
    return [op["operationId"] for item in standard()["paths"].values() for m, op in item.items()
            if isinstance(op, dict) and "operationId" in op and (method is None or m == method)]


# columns whose value is the time of sending, not a fact of the record (journal.yaml: send_datetime)
VOLATILE = frozenset({"send_datetime"})


@functools.lru_cache(maxsize=1)
def standard() -> dict[str, Any]:
    return load_yaml(JOURNAL_YAML)


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """`node` with a top-level local `$ref` followed (repeatedly)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or seen > 20:
            raise ValueError(f"unsupported $ref {ref!r}")
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node


def item_table(section: str) -> str:
    """The export table of a section's items, from journal.yaml (`x-table` of the item schema)."""
    return _item_schema(section)["x-table"]


def _item_schema(section: str) -> dict[str, Any]:
    doc = standard()
    op = doc["paths"][DIARY + section]["get"]
    page = resolve(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
    return resolve(doc, page["properties"]["items"]["items"])


def item_columns(section: str, tables: TableSet) -> tuple[str, ...]:
    """Item properties that are columns of the section's export table (not `x-extra`)."""
    item = _item_schema(section)
    table = tables[item["x-table"]]
    return tuple(name for name, prop in item["properties"].items()
                 if not prop.get("x-extra") and name in table.column_names)


def error_schema() -> dict[str, Any]:
    """journal.yaml's `Error` schema, with its `$ref`s inlined (for jsonschema)."""
    doc = standard()
    schema = dict(resolve(doc, {"$ref": "#/components/schemas/Error"}))
    props = dict(schema["properties"])
    props["error"] = resolve(doc, props["error"])
    return {**schema, "properties": props}


def error_problem(resp: httpx.Response) -> str | None:
    """Why an error answer is not journal.yaml's `Error {error, message, details}`; None when it is."""
    import jsonschema

    try:
        body = resp.json()
    except ValueError:
        return f"the body is not JSON: {resp.text[:200]!r}"
    schema = error_schema()
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        return f"the body {str(body)[:300]} is not an Error of journal.yaml: {errors[0].message}"
    expected = standard()["components"]["schemas"]["ErrorCode"]["x-http-status"].get(body["error"])
    if expected is not None and expected != resp.status_code:
        return f"error code {body['error']!r} comes with HTTP {expected} in journal.yaml, not {resp.status_code}"
    return None


# --- the dataset -------------------------------------------------------------------------------

class Dataset:
    """The journal's records as the generated dataset holds them (typed rows of each table)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.tables = load_tables()
        self._rows: dict[str, list[dict[str, Any]]] = {}

    def rows(self, table: str) -> list[dict[str, Any]]:
        if table not in self._rows:
            self._rows[table] = list(typed_rows(self.directory, table))
        return self._rows[table]

    @functools.cached_property
    def memberships(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows("class_learners"):
            out.setdefault(row["learner_id"], []).append(row)
        return out

    def in_class(self, learner_id: str, class_id: str, day: dt.date) -> bool:
        return any(m["class_id"] == class_id and m["start_date"] <= day
                   and (m["end_date"] is None or day <= m["end_date"])
                   for m in self.memberships.get(learner_id, ()))

    def belongs(self, section: str, learner_id: str, row: dict[str, Any]) -> bool:
        """Whether a record of the section's table belongs to the learner (journal.yaml's selection)."""
        date_column = SECTIONS[section][1]
        if "learner_id" in row and section != "lessons":
            return row["learner_id"] == learner_id
        return self.in_class(learner_id, row["class_id"], row[date_column])

    @functools.lru_cache(maxsize=None)
    def _by(self, table: str, column: str) -> dict[Any, list[tuple[int, dict[str, Any]]]]:
        """The table's rows (with their place in the dataset) by the value of `column`."""
        out: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
        for i, row in enumerate(self.rows(table)):
            out.setdefault(row[column], []).append((i, row))
        return out

    @functools.lru_cache(maxsize=256)
    def _of_learner(self, section: str, learner_id: str) -> tuple[dict[str, Any], ...]:
        """`belongs` over the table, in dataset order, looking only at the rows of the learner or
        of their classes (an index built once per table instead of a scan per learner)."""
        table = item_table(section)
        rows = self.rows(table)
        if not rows:
            return ()
        key = "learner_id" if "learner_id" in rows[0] and section != "lessons" else "class_id"
        values = [learner_id] if key == "learner_id" else {m["class_id"] for m in self.memberships.get(learner_id, ())}
        index = self._by(table, key)
        found = sorted((pair for v in values for pair in index.get(v, ())), key=lambda pair: pair[0])
        return tuple(r for _, r in found if self.belongs(section, learner_id, r))

    def records(self, section: str, learner_id: str, start: dt.date | None = None,
                end: dt.date | None = None) -> list[dict[str, Any]]:
        """The learner's records of a section, within [start, end] when given (inclusive)."""
        date_column = SECTIONS[section][1]
        return [r for r in self._of_learner(section, learner_id)
                if start is None or end is None or start <= r[date_column] <= end]

    def text(self, table: str, column: str, value: Any) -> str:
        """The export text of a value of a column ('' for empty)."""
        col = self.tables[table].column(column)
        if value is None or value == "":
            return ""
        if isinstance(value, (dt.date, dt.time)):
            return format_value(col, value, self.tables.conventions)
        try:
            return format_value(col, parse_value(col, str(value), self.tables.conventions), self.tables.conventions)
        except ValueRuleError:
            return f"<not a {col.type}: {value!r}>"


@functools.lru_cache(maxsize=4)
def dataset(directory: str) -> Dataset:
    return Dataset(directory)


# --- people ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """A learner and the ЕСИА oid of a parent linked to them in the journal (prelinked, confirmed)."""
    learner_id: str
    parent_oid: str


def families(people: People, ds: Dataset) -> list[Family]:
    """One family per learner that has a usable parent: a prelinked, confirmed representative with
    no sign-in scenario, that no test took for changing (`people.claimed`)."""
    reps = {}
    for p in people.esia.values():
        if p.get("kind") != "representative" or p.get("replaced_by") is not None:
            continue
        if p.get("account_type") != "confirmed" or set(p.get("scenario") or []) & SIGN_IN_SCENARIOS:
            continue
        if p["oid"] in people.claimed:
            continue
        jp = people.of(p["oid"])
        if jp and jp.get("prelinked") and jp.get("record_id"):
            reps.setdefault(jp["record_id"], str(p["oid"]))
    parent_of = {lid: next((reps[r] for r in rids if r in reps), None)
                 for lid, rids in world_of(ds.directory, people).representatives.items()}
    return [Family(lid, oid) for lid, oid in sorted(parent_of.items()) if oid]


def family_of(people: People, ds: Dataset, learner_id: str) -> Family | None:
    return next((f for f in families(people, ds) if f.learner_id == learner_id), None)


def first_family(people: People, ds: Dataset, section: str, where) -> tuple[Family, dict[str, Any]]:
    """The first record of a section (dataset order) that `where` accepts and whose learner has a
    usable parent, with that family."""
    fams = {f.learner_id: f for f in families(people, ds)}
    table = item_table(section)
    for row in ds.rows(table):
        learners = [row["learner_id"]] if "learner_id" in row else [
            lid for lid in fams if ds.in_class(lid, row["class_id"], row[SECTIONS[section][1]])]
        for lid in learners:
            if lid in fams and where(row):
                return fams[lid], row
    raise EnvironmentProblem(f"the dataset has no {table} record of the kind this check needs for a learner "
                             "with a prelinked parent; try another --seed")


# --- comparing an answer with the records -------------------------------------------------------

def compare(ds: Dataset, section: str, learner_id: str, start: dt.date | None, end: dt.date | None,
            items: list[dict[str, Any]]) -> list[str]:
    """Differences between a section's answer items and the learner's records of the period.

    Items not in the dataset are records created during the run by other checks; they must
    still belong to the period. Every dataset record of the period must be answered once,
    with the same value in every column the item shares with the export table."""
    table = item_table(section)
    columns = [c for c in item_columns(section, ds.tables) if c not in VOLATILE]
    date_column = SECTIONS[section][1]
    expected = {r["id"]: r for r in ds.records(section, learner_id, start, end)}
    known = {r["id"] for r in ds.rows(table)}
    problems: list[str] = []
    seen: set[str] = set()
    for item in items:
        rid = item.get("id")
        if rid in seen:
            problems.append(f"{rid} is answered twice")
        seen.add(rid)
        if rid not in expected:
            if rid in known:
                rec = next(r for r in ds.rows(table) if r["id"] == rid)
                problems.append(f"{rid} ({date_column} {rec[date_column]}) is answered but is not a record of "
                                f"{learner_id} within {start}…{end}")
            else:
                day = item.get(date_column)
                if start is not None and end is not None and not (start.isoformat() <= str(day) <= end.isoformat()):
                    problems.append(f"{rid} ({date_column} {day}) is outside the period {start}…{end}")
            continue
        rec = expected[rid]
        for col in columns:
            want, got = ds.text(table, col, rec[col]), ds.text(table, col, item.get(col))
            if want != got:
                problems.append(f"{rid}: {col} is {got or 'empty'!s} in the answer, {want or 'empty'} in the "
                                "journal's records")
    for rid, rec in expected.items():
        if rid not in seen:
            extra = f", status {rec['status']}" if "status" in rec else ""
            problems.append(f"{rid} ({date_column} {rec[date_column]}{extra}) is a record of {learner_id} within "
                            f"{start}…{end} but is missing from the answer")
    dates = [str(i.get(date_column)) for i in items]
    if dates != sorted(dates):
        problems.append(f"items are not ordered by {date_column} as journal.yaml requires")
    return problems


def period_params(start: dt.date | None, end: dt.date | None) -> dict[str, str]:
    return {} if start is None or end is None else {"from": start.isoformat(), "to": end.isoformat()}


# --- the journal itself, as the agent reaches it ---------------------------------------------------

class DirectJournal:
    """The journal's on-demand API at its own base URL, called as the agent forwards a call
    (journal.yaml: "the suite calls the journal directly" for what the agent would refuse)."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.base = run["journal"]["base_url"].rstrip("/")
        self.http = evidence.client("sut")

    def get(self, path: str, oid: str | None, sender: str | None = PORTAL_MNEMONIC,
            params: Any = None, message_id: bool | str = True) -> httpx.Response:
        return self.request("GET", path, oid, sender, params, message_id)

    def request(self, method: str, path: str, oid: str | None, sender: str | None = PORTAL_MNEMONIC,
                params: Any = None, message_id: bool | str = True, json: Any = None) -> httpx.Response:
        """`message_id`: True sends a fresh UUID, False none, a string that value."""
        headers = {}
        if sender is not None:
            headers["X-Smev-Sender"] = sender
        if message_id:
            headers["X-Smev-Message-Id"] = message_id if isinstance(message_id, str) else str(uuid.uuid4())
        if oid is not None:
            headers["X-Esia-Oid"] = str(oid)
        try:
            return self.http.request(method, self.base + path, headers=headers, params=params, json=json)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"the journal did not answer {method} {path}: {exc}") from None

    def close(self) -> None:
        self.http.close()


def item_schema(section: str) -> dict[str, Any]:
    """journal.yaml's item schema of a diary section (its `$ref`s point into journal.yaml)."""
    return _item_schema(section)
