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


@pytest.mark.requirement("API-09")
def test_calls_without_the_portal_identity_are_refused(portal, run, fam):
    """Without `X-Smev-Sender` or with a foreign one, called at the journal's own URL: 403; the
    agent refuses a call with no sender too."""
    path = f"/api/v1/learners/{fam.learner_id}/marks"
    journal = sup.DirectJournal(run)
    try:
        refused(journal.get(path, fam.parent_oid, sender=None, params=MONTH), "GET marks with no X-Smev-Sender")
        for sender in ("MYEDU_RVD", "SOMEONE"):
            refused(journal.get(path, fam.parent_oid, sender=sender, params=MONTH),
                    f"GET marks with X-Smev-Sender {sender!r}")
    finally:
        journal.close()
    via = portal.get(path, fam.parent_oid, params=MONTH, sender=None)
    assert via.status_code in (401, 403), f"GET marks through the agent with no sender: HTTP {via.status_code}"
