"""API-01 and API-08: the journal's answers through the agent conform to journal.yaml, and no
generated input produces a 5xx.

How: Schemathesis, as a library, generates calls of every read operation of journal.yaml
(`schemathesis.openapi.from_dict` of journal.yaml, `operation.as_strategy()` under Hypothesis `@given`) and
sends them to the agent's address of the journal (`portal.base`) as the portal does:
`X-Smev-Sender` of the portal and the `X-Esia-Oid` of a parent from the dataset; the learner
is the parent's child, another learner or an unknown one, the period generated or a real
month. Each answer must be no server error, with a status code, content type and body that
journal.yaml declares (`case.validate_response`). The agent checks every forwarded answer
against journal.yaml too; it must record no contract violation of the journal meanwhile.
Operations that change data (password, consent) are left to their own requirements.
"""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.api import _support as sup
from conformance.clients import PORTAL_MNEMONIC

# read operations of journal.yaml; Schemathesis itself loads only when these tests run (it is slow to import)
READS = [path for path, item in sup.standard()["paths"].items() if "get" in item]
EXAMPLES = 5


@pytest.fixture(scope="module")
def schema():
    import copy

    import schemathesis

    # from the document already parsed with libyaml (from_path parses it again, ~0.6 s); a copy,
    # since Schemathesis may annotate what it is given
    return schemathesis.openapi.from_dict(copy.deepcopy(sup.standard()))


def checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def world(people, run):
    ds = sup.dataset(run["dataset"]["directory"])
    fam, mark = sup.first_family(people, ds, "marks", lambda r: True)
    others = sorted({r["id"] for r in ds.rows("learners")} - {fam.learner_id})
    day = mark["mark_date"]
    month = {"from": day.replace(day=1).isoformat(),
             "to": (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1).isoformat()}
    month["to"] = (dt.date.fromisoformat(month["to"]) - dt.timedelta(days=1)).isoformat()
    return {"fam": fam, "others": others[:3], "unknown": fam.learner_id.split("-", 1)[0] + "-NOSUCH.1",
            "month": month}


@pytest.fixture(scope="module")
def session():
    import requests

    s = requests.Session()
    yield s
    s.close()


@pytest.mark.requirement("API-01", "API-08")
@pytest.mark.parametrize("path", [
    pytest.param(p, id=f"GET {p}", marks=pytest.mark.surface(journal_operation=sup.standard()["paths"][p]["get"]["operationId"]))
    for p in READS])
def test_answers_conform_to_journal_yaml(path, schema, portal, smev, run, world, session):
    """Generated calls through the agent: no 5xx, and every answer as journal.yaml declares it."""
    from schemathesis.core.failures import Failure, FailureGroup

    operation = schema[path]["GET"]
    fam = world["fam"]
    headers = {"X-Smev-Sender": PORTAL_MNEMONIC, "X-Esia-Oid": fam.parent_oid}
    has_learner = "{learner_id}" in operation.path
    has_period = any(p.name == "from" for p in operation.query)
    mnemonic = run["journal"]["mnemonic"]
    seq = max((v["seq"] for v in smev.get("/violations", params={"provider": mnemonic}) or []), default=0)

    learners = st.sampled_from([fam.learner_id, fam.learner_id, *world["others"], world["unknown"]])
    periods = st.sampled_from([None, world["month"]])

    def strategy(learner, period):
        kwargs = {"headers": headers}
        if has_learner:
            kwargs["path_parameters"] = {"learner_id": learner}
        if has_period and period is not None:
            kwargs["query"] = period
        return operation.as_strategy(**kwargs)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.tuples(learners, periods).flatmap(lambda lp: strategy(*lp)))
    def run_case(case):
        response = case.call(base_url=portal.base, session=session, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=checks())
        except (Failure, FailureGroup) as exc:
            pytest.fail(f"{operation.label} through the agent breaks journal.yaml:\n{exc}", pytrace=False)

    run_case()
    found = smev.get("/violations", params={"provider": mnemonic, "since": seq}) or []
    assert not found, (f"the agent recorded {len(found)} contract violations of the journal's answers: "
                       + "; ".join(f"{v['method']} {v['path']} {v['status']}: {v['message']}" for v in found[:5]))
