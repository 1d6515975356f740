"""Deletions and corrections of every table reach the showcase (EXP-03).

A journal that sends deletes for one table only still breaks the rule, so every table the
journal holds records of is tried. The journal administrator (the driver's `delete_record`
and `change_record`) deletes, in each table, one record no other record refers to (the
journal keeps its integrity), and corrects another: a column that is neither key nor
reference, to a different value valid under specs/tables. One incremental export
(test-control, scope `changes`) must then remove the first from the showcase and replace the
second (one row, the new value). A table whose every record is referred to (organisations,
learners, subjects, …) gets a record of its own first (a copy of one with a new key, exported
before), and that one is deleted. Link tables whose columns are all key or reference cannot be
corrected, only deleted. Every record is restored at the end (added again, value set
back) and exported again, so later tests see the dataset unchanged."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from conformance.exp import _support as sup
from conformance.verdicts import EnvironmentProblem
from specs.tables import Column, Table
from specs.values import check_value

_TABLES = [t.name for t in sup.tables()]
_STAMPS = ("create_datetime", "send_datetime")     # set by the journal when it writes a record
_VARIED = ("string", "integer", "date")


def _correctable(column: Column, table: Table) -> bool:
    return not (column.key or column.references or column.hashed or column.name in table.primary_key
                or column.name in _STAMPS) and (column.type in _VARIED or bool(column.enum))


_CORRECTABLE = [t.name for t in sup.tables() if any(_correctable(c, t) for c in t.columns)]


def _referenced(run) -> dict[tuple[str, str], set[str]]:
    """(table, column) -> the values other records of the dataset refer to."""
    out: dict[tuple[str, str], set[str]] = {}
    for table in sup.tables():
        for column in table.foreign_keys:
            values = {r[column.name] for r in sup.dataset(run, table.name) if r.get(column.name)}
            out.setdefault(column.references, set()).update(values)   # type: ignore[arg-type]
    return out


def _leaf(run, table: Table, referenced) -> sup.Record | None:
    """A record of `table` no other record of the dataset refers to."""
    targets = [(c, referenced[(table.name, c)]) for c in table.column_names if (table.name, c) in referenced]
    for r in sup.dataset(run, table.name):
        if all(r.get(c) not in values for c, values in targets):
            return r
    return None


def _candidates(column: Column, value: str) -> list[str]:
    if column.enum:
        return [str(code) for code in column.enum.codes]
    if column.type == "integer":
        number = int(value)
        return [str(number + 1), str(number - 1)]
    if column.type == "date":
        day = dt.date.fromisoformat(value[:10])
        return [(day - dt.timedelta(days=1)).isoformat(), (day + dt.timedelta(days=1)).isoformat()]
    if column.type == "string":
        return ["Исправлено", "Corrected", value[:-1] + ("1" if value[-1:] != "1" else "2"), value + "1"]
    return []


def _correction(table: Table, record: sup.Record) -> tuple[str, str] | None:
    """(column, new text) for a column of `record` that is neither key, reference nor hashed."""
    conventions = sup.tables().conventions
    for column in table.columns:
        value = record.get(column.name)
        if not _correctable(column, table) or not value:
            continue
        for text in _candidates(column, value):
            if text != value and check_value(column, text, conventions) is None:
                return column.name, text
    return None


def _key(table: Table, record: sup.Record) -> dict[str, str]:
    return {k: record[k] or "" for k in table.primary_key}


def _stored(epgu, table: Table, key: dict[str, str]) -> list[dict[str, Any]]:
    where = " WHERE " + " AND ".join(f'CAST("{k}" AS VARCHAR) = ?' for k in key)
    return sup.showcase_select(epgu, table.name, table.column_names, where, list(key.values()))


@pytest.fixture(scope="module")
def edits(full_export, run, _driver, test_control, epgu) -> Iterator[dict[str, dict[str, Any]]]:
    """Per table: what was deleted and corrected, and what the showcase holds after the export."""
    if _driver is None:
        pytest.skip("records are changed through the journal's driver and the SUT declares none")
    admin = _driver.administrator()
    referenced = _referenced(run)
    done: dict[str, dict[str, Any]] = {}
    added: list[tuple[str, dict[str, str]]] = []
    leaves: dict[str, sup.Record] = {}
    try:
        for table in sup.tables():
            records = sup.dataset(run, table.name)
            leaf = _leaf(run, table, referenced) if records else None
            fresh = sup.fresh_copy(table, records[0]) if records and leaf is None else None
            if fresh is not None:
                answer = admin.add_record(table.name, **{k: v for k, v in fresh.items() if v is not None})
                if not answer.ok:
                    raise EnvironmentProblem(f"the administrator could not add a {table.name} record "
                                             f"{_key(table, fresh)}: {answer.describe()}")
                added.append((table.name, _key(table, fresh)))
                leaf = fresh
            if leaf is not None:
                leaves[table.name] = leaf
        if added:
            sup.export_changes(test_control, epgu)
            for name, key in added:
                if not _stored(epgu, sup.tables()[name], key):
                    raise EnvironmentProblem(f"a {name} record added for the delete check ({key}) never reached "
                                             f"the showcase, so its delete proves nothing (see EXP-04)")
        for table in sup.tables():
            if not sup.dataset(run, table.name):
                continue
            entry: dict[str, Any] = {}
            leaf = leaves.get(table.name)
            others = [r for r in sup.dataset(run, table.name) if r is not leaf]
            fix = next(((r, c) for r in others for c in [_correction(table, r)] if c), None)
            if fix:
                record, (column, new) = fix
                answer = admin.change_record(table.name, _key(table, record), **{column: new})
                if not answer.ok:
                    raise EnvironmentProblem(f"the administrator could not correct {table.name} "
                                             f"{_key(table, record)} ({column}={new!r}): {answer.describe()}")
                entry["corrected"] = {"key": _key(table, record), "column": column, "old": record[column], "new": new}
            if leaf is not None:
                answer = admin.delete_record(table.name, _key(table, leaf))
                if not answer.ok:
                    raise EnvironmentProblem(f"the administrator could not delete {table.name} "
                                             f"{_key(table, leaf)}: {answer.describe()}")
                entry["deleted"] = {"key": _key(table, leaf), "record": leaf,
                                    "own": (table.name, _key(table, leaf)) in added}
            done[table.name] = entry
        sup.export_changes(test_control, epgu)
        for name, entry in done.items():
            table = sup.tables()[name]
            for what in ("corrected", "deleted"):
                if what in entry:
                    entry[what]["after"] = _stored(epgu, table, entry[what]["key"])
        yield done
    finally:
        for name, entry in done.items():
            if "deleted" in entry and not entry["deleted"]["own"]:
                admin.add_record(name, **{k: v for k, v in entry["deleted"]["record"].items() if v is not None})
            if "corrected" in entry:
                c = entry["corrected"]
                admin.change_record(name, c["key"], **{c["column"]: c["old"]})
        if done or added:
            sup.export_changes(test_control, epgu)


def _of(edits, name: str, what: str) -> dict[str, Any]:
    if name not in edits:
        pytest.skip(f"the dataset holds no {name} records")
    if what not in edits[name]:
        pytest.skip(f"no {name} record could be {what} without breaking the journal's references or specs")
    return edits[name][what]


@pytest.mark.requirement("EXP-03")
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.surface(table=n, table_operation="delete"))
                                  for n in _TABLES])
def test_a_deleted_record_leaves_the_showcase(edits, name):
    deleted = _of(edits, name, "deleted")
    assert not deleted["after"], (
        f"the {name} record {deleted['key']} was deleted in the journal, but after the next incremental "
        f"export the showcase still holds it: no delete of {name} was sent")


@pytest.mark.requirement("EXP-03")
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.surface(table=n, table_operation="correction"))
                                  for n in _CORRECTABLE])
def test_a_corrected_record_is_replaced(edits, name):
    c = _of(edits, name, "corrected")
    values = [None if r.get(c["column"]) is None else str(r[c["column"]]) for r in c["after"]]
    assert values == [c["new"]], (
        f"the {name} record {c['key']} was corrected in the journal ({c['column']}: {c['old']!r} → {c['new']!r}), "
        f"but after the next incremental export the showcase holds {values or 'no row'} for it")
