"""API-09: the on-demand methods answer only calls that arrive through the agent with the
portal's identity; any other caller is refused with 403 `caller_not_portal`.

How: the same call a parent's portal session makes is sent through the agent under every
other mnemonic registered at the agent (mock ПОДД admin `/mnemonics`): the agent forwards it
with that sender, and the journal must refuse it (403 with journal.yaml's Error). Without a
sender the agent itself refuses; so the journal is also called at its own base URL with no
sender and with a foreign one. The portal's own call is the control: it must succeed.
"""
from __future__ import annotations

import pytest

from conformance.api import _support as sup
from conformance.clients import PORTAL_MNEMONIC
from conformance.verdicts import EnvironmentProblem

MONTH = {"from": "2025-09-01", "to": "2025-09-30"}


@pytest.fixture(scope="module")
def fam(people, run) -> sup.Family:
    ds = sup.dataset(run["dataset"]["directory"])
    found, _ = sup.first_family(people, ds, "marks", lambda r: True)
    return found


def refused(resp, what: str) -> None:
    assert resp.status_code == 403, (f"{what}: HTTP {resp.status_code}, the journal must refuse a caller that "
                                     f"is not the portal with 403: {resp.text[:300]}")
    problem = sup.error_problem(resp)
    assert problem is None, f"{what}: {problem}"
    assert resp.json()["error"] == "caller_not_portal", f"{what}: error {resp.json()['error']!r}, expected caller_not_portal"


@pytest.mark.requirement("API-09")
@pytest.mark.surface(actor=["portal", "other_caller"])
def test_other_senders_through_the_agent_are_refused(portal, smev, fam):
    """Every registered mnemonic other than the portal's, through the agent: 403 from the journal."""
    path = f"/api/v1/learners/{fam.learner_id}/marks"
    control = portal.get(path, fam.parent_oid, params=MONTH)
    assert control.status_code == 200, (f"the portal's own call failed, so refusals prove nothing: "
                                        f"HTTP {control.status_code} {control.text[:200]}")
    others = sorted(m["mnemonic"] for m in smev.get("/mnemonics") or [] if m["mnemonic"] != PORTAL_MNEMONIC)
    assert others, "the agent has no mnemonic other than the portal's to call with"
    reached = 0
    for sender in others:
        seq = smev.journal_seq()
        resp = portal.get(path, fam.parent_oid, params=MONTH, sender=sender)
        if not any("forward_url" in str(e) for e in smev.journal_since(seq)) and resp.status_code == 403:
            continue   # the agent refused this sender itself: nothing reached the journal
        reached += 1
        refused(resp, f"GET marks through the agent as {sender}")
    if not reached:
        raise EnvironmentProblem(f"the agent forwarded none of {others}: nothing was asked of the journal")


def _operations() -> list[tuple[str, str, str]]:
    """(operationId, method, path template) of every operation of journal.yaml."""
    return [(op["operationId"], method.upper(), path) for path, item in sup.standard()["paths"].items()
            for method, op in item.items() if isinstance(op, dict) and "operationId" in op]


def _callers() -> list[tuple[str | None, str]]:
    """Callers that are not the portal, each with its look-alike kind: none, a foreign system,
    mnemonics sharing the portal's prefix, the portal's mnemonic in another case. (Padding is
    not tried: HTTP itself strips a header value's surrounding blanks, so " EPGU" is the portal.)"""
    p = PORTAL_MNEMONIC
    return [(None, "no X-Smev-Sender"), ("SOMEONE", "a foreign system"),
            (p + "_RVD", "a mnemonic sharing the portal's prefix"), (p + "X", "a mnemonic sharing the portal's prefix"),
            (p[:-1], "a prefix of the portal's mnemonic"),
            (p.lower(), "the portal's mnemonic in lower case"), (p.capitalize(), "the portal's mnemonic, capitalised")]


def _body(operation: str, fam: sup.Family) -> dict | None:
    """A valid body for the operations that take one (journal.yaml schemas), so only the caller
    is wrong."""
    if operation == "setLearnerPassword":
        return {"password": "Zq7!wPx2#Lm9"}
    if operation == "postConsent":
        return {"consent_id": "2f0c8f1e-7a52-4b8e-9d0f-3c2a1b4e5d6f", "action": "granted",
                "changed_at": "2025-09-02T13:00:29+03:00", "learner_id": fam.learner_id}
    return None


@pytest.mark.requirement("API-09")
@pytest.mark.parametrize("operation,method,template", [
    pytest.param(*op, id=op[0], marks=pytest.mark.surface(journal_operation=op[0], actor="other_caller",
                                                          lookalike=["mnemonic_prefix", "case_and_padding"]))
    for op in _operations()])
def test_calls_without_the_portal_identity_are_refused(portal, run, fam, operation, method, template):
    """Every operation of journal.yaml, called at the journal's own URL by each caller that is not
    the portal (none, foreign, look-alike mnemonics): 403 `caller_not_portal`."""
    path = template.replace("{learner_id}", fam.learner_id)
    params = MONTH if "{learner_id}" in template and method == "GET" else None
    journal = sup.DirectJournal(run)
    try:
        for sender, kind in _callers():
            resp = journal.request(method, path, fam.parent_oid, sender=sender, params=params,
                                   json=_body(operation, fam))
            refused(resp, f"{operation} ({method} {template}) with X-Smev-Sender {sender!r} ({kind})")
    finally:
        journal.close()

