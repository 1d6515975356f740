"""Depersonalised fields are computed by the journal, and never sent in clear (EXP-08).

The dataset already holds digests, so a journal could pass by copying them. Here the journal
administrator enters a document number in clear (the driver's `change_record`, into the column
specs/tables marks `hashed`) for one learner and one representative; after the next
incremental export the showcase must hold exactly the ГОСТ Р 34.11-2012/512 digest the suite
computes itself from the same series and number (specs/hashing.py: letters and digits, upper
case), and the clear number must appear in no column of the showcase's table. The original
values are put back at the end."""
from __future__ import annotations

import random
from typing import Any, Iterator

import pytest

from conformance.exp import _support as sup
from conformance.verdicts import EnvironmentProblem
from specs.hashing import document_hash

_HASHED = [(t.name, c.name) for t in sup.tables() for c in t.columns if c.hashed]


def _document(rng: random.Random, name: str) -> tuple[str, str]:
    """A series and number: a birth certificate for learners, a passport for everyone else."""
    if name == "learners":
        return f"{rng.choice(['I', 'II', 'IV'])}-{rng.choice('АБВГДЕЖИКЛМНОПРСТУФХЦЧШЭЮЯ')}" \
               f"{rng.choice('АБВГДЕЖИКЛМНОПРСТУФХЦЧШЭЮЯ')}", f"{rng.randrange(10**6):06d}"
    return f"{rng.randrange(100):02d} {rng.randrange(100):02d}", f"{rng.randrange(10**6):06d}"


@pytest.fixture(scope="module")
def entered(full_export, run, _driver, test_control, epgu) -> Iterator[dict[str, dict[str, Any]]]:
    if _driver is None:
        pytest.skip("documents are entered through the journal's driver and the SUT declares none")
    admin = _driver.administrator()
    rng = random.Random(str(run["dataset"].get("seed", "exp-08")))
    done: dict[str, dict[str, Any]] = {}
    try:
        for name, column in _HASHED:
            table = sup.tables()[name]
            record = next((r for r in sup.dataset(run, name) if r.get(column)), None)
            if record is None:
                continue
            series, number = _document(rng, name)
            key = {k: record[k] or "" for k in table.primary_key}
            answer = admin.change_record(name, key, **{column: f"{series} {number}"})
            if not answer.ok:
                raise EnvironmentProblem(f"the administrator could not enter a document for {name} {key}: "
                                         f"{answer.describe()}")
            done[name] = {"key": key, "column": column, "old": record[column], "series": series, "number": number}
        sup.export_changes(test_control, epgu)
        for name, entry in done.items():
            table = sup.tables()[name]
            (pk,) = table.primary_key
            entry["rows"] = sup.showcase_rows(epgu, name, pk, entry["key"][pk])
        yield done
    finally:
        for name, entry in done.items():
            admin.change_record(name, entry["key"], **{entry["column"]: entry["old"]})
        if done:
            test_control.export(scope="changes")


def _of(entered, name):
    if name not in entered:
        pytest.skip(f"the dataset holds no {name} record with a document")
    return entered[name]


@pytest.mark.requirement("EXP-08")
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.surface(table=n))
                                  for n, _ in _HASHED])
def test_the_journal_hashes_a_document_it_was_given_in_clear(entered, name):
    e = _of(entered, name)
    expected = document_hash(e["series"], e["number"])
    stored = [r.get(e["column"]) for r in e["rows"]]
    assert stored == [expected], (
        f"{name} {e['key']}: the document «{e['series']} {e['number']}» was entered in the journal; the showcase "
        f"holds {[str(v)[:24] + '…' for v in stored] or 'no row'} in {e['column']}, not its ГОСТ Р 34.11-2012/512 "
        f"digest {expected[:24]}… (letters and digits of series and number, upper case)")


@pytest.mark.requirement("EXP-08")
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.surface(table=n))
                                  for n, _ in _HASHED])
def test_the_document_number_is_nowhere_in_clear(entered, epgu, name):
    e = _of(entered, name)
    table = sup.tables()[name]
    texts = [t for t in (e["number"], f"{e['series']} {e['number']}") if t]
    leaks = []
    for column in table.columns:
        if column.type != "string":
            continue
        for text in texts:
            where = f' WHERE CAST("{column.name}" AS VARCHAR) LIKE ?'
            found = sup.showcase_select(epgu, name, table.primary_key, where, [f"%{text}%"])
            if found:
                leaks.append(f"{column.name} of {len(found)} row(s) holds {text!r}")
    assert not leaks, f"the document number entered for {name} {e['key']} reached the showcase in clear: " + \
        "; ".join(leaks)
