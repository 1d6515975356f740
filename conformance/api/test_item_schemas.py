"""API-01: the items the journal answers conform to journal.yaml's item schemas.

test_contract's generated calls mostly ask periods in which the learner has no record, so they
rarely see an item. Here each diary section is asked, through the agent as the portal asks it,
for a day on which a learner of the dataset has a record of that section, and every item must
validate against the section's item schema (journal.yaml: the export table's columns, a few
display fields marked `x-extra`, vendor additions only as `x_…` properties, no other property).
"""
from __future__ import annotations

from typing import Any

import pytest

from conformance.api import _support as sup


def _validator(section: str):
    from jsonschema import Draft202012Validator

    doc = sup.standard()
    # the item schema as the root, with journal.yaml's components beside it for its `#/components/…` refs
    return Draft202012Validator({**sup.item_schema(section), "components": doc.get("components", {})})


@pytest.fixture(scope="module")
def ds(run) -> sup.Dataset:
    return sup.dataset(run["dataset"]["directory"])


@pytest.mark.requirement("API-01")
@pytest.mark.parametrize("section", [pytest.param(s, marks=pytest.mark.surface(journal_operation=sup.operation_of(s)))
                                     for s in sup.SECTIONS])
def test_items_of_a_day_with_records_conform_to_their_schema(portal, people, ds, section):
    fam, record = sup.first_family(people, ds, section, lambda r: True)
    day = record.get(sup.SECTIONS[section][1])
    resp = portal.get(f"/api/v1/learners/{fam.learner_id}/{section}", fam.parent_oid,
                      params=sup.period_params(day, day))
    assert resp.status_code == 200, (f"GET {section} of {fam.learner_id} for {day} as their parent through the "
                                     f"agent: HTTP {resp.status_code} {resp.text[:300]}")
    items: list[Any] = (resp.json() or {}).get("items") or []
    assert items, f"the {section} answer for {fam.learner_id} on {day} is empty, though the journal holds {record['id']}"
    validator = _validator(section)
    problems = [f"item {item.get('id') if isinstance(item, dict) else item!r}: {err.message} at "
                f"{'/'.join(map(str, err.absolute_path)) or 'the item'}"
                for item in items for err in validator.iter_errors(item)]
    assert not problems, (f"{section} items of {fam.learner_id} on {day} do not conform to journal.yaml "
                          f"({sup.operation_of(section)}): " + "; ".join(problems[:5]))
