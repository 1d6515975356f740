"""Children under 14 (AUTH-08): until a linked parent has consented to passing the child's
personal data, the child's ЕСИА sign-in is refused; once the parent consents (the portal's
postConsent, through the agent) it succeeds, and after the parent revokes the consent it is
refused again. ЕСИА itself lets the children through (their consent to the client is granted at
mock ЕСИА), so only the journal's own consent state decides."""
from __future__ import annotations

import datetime as dt

import pytest

from conformance.auth._support import linked_parent, post_consent, sign_in_anew
from conformance.people import SIGN_IN_SCENARIOS
from conformance.verdicts import EnvironmentProblem


def _consent(portal, parent, learner_id: str, action: str, when: dt.datetime) -> None:
    resp = post_consent(portal, parent["oid"], learner_id, action, when)
    assert resp.status_code == 204, (f"the journal did not accept the parent's consent ({action}) from the portal: "
                                     f"HTTP {resp.status_code} {resp.text[:300]}")


@pytest.mark.requirement("AUTH-08")
@pytest.mark.surface(actor="learner_under_14")
def test_a_child_signs_in_only_after_the_parents_consent(run, people, portal, esia):
    # only the missing consent may stand in the way (a child may also lack SNILS in ЕСИА)
    child = people.pick("learner", "consent_pending", fresh=True, under_14=True,
                        where=lambda p: linked_parent(people, p) is not None
                        and set(p.get("scenario") or ()) & SIGN_IN_SCENARIOS == {"consent_pending"})
    parent = linked_parent(people, child)
    record = people.of(child["oid"])["record_id"]
    # ЕСИА itself lets the child through (consent to the client at ЕСИА); the journal has none
    grant = {"child_oid": int(child["oid"]), "client_id": run["journal"]["client_id"]}
    esia.post("/consents", json={**grant, "action": "grant"})
    try:
        landing = sign_in_anew(run, child["oid"])
        assert not landing.signed_in, f"a child without parental consent got a session: {landing.describe()}"
        assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
        _consent(portal, parent, record, "granted", dt.datetime.now(dt.timezone.utc))
        landing = sign_in_anew(run, child["oid"])
        assert landing.signed_in, f"the child cannot sign in after the parent consented: {landing.describe()}"
    finally:
        esia.post("/consents", json={**grant, "action": "revoke"})


@pytest.mark.requirement("AUTH-08")
@pytest.mark.surface(actor="learner_under_14", timing="consent_cycle")
def test_a_revoked_consent_refuses_the_child_again(run, people, portal):
    # not `fresh`: the consent is granted again at the end; a child others changed is passed over
    child = people.pick("learner", prelinked=True, account_type="child", under_14=True,
                        where=lambda p: p.get("consent") == "granted" and p["oid"] not in people.claimed
                        and linked_parent(people, p) is not None)
    parent = linked_parent(people, child)
    record = people.of(child["oid"])["record_id"]
    before = sign_in_anew(run, child["oid"])
    if not before.signed_in:
        raise EnvironmentProblem(f"the consenting child {child['oid']} cannot sign in before the test: "
                                 f"{before.describe()}")
    now = dt.datetime.now(dt.timezone.utc)
    _consent(portal, parent, record, "revoked", now)
    try:
        landing = sign_in_anew(run, child["oid"])
        assert not landing.signed_in, (f"the child still signs in after the parent revoked the consent: "
                                       f"{landing.describe()}")
        assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
    finally:
        _consent(portal, parent, record, "granted", now + dt.timedelta(seconds=1))
    again = sign_in_anew(run, child["oid"])
    assert again.signed_in, (f"the parent granted the consent again, and the child still cannot sign in: "
                             f"{again.describe()}")
    again = sign_in_anew(run, child["oid"])
    assert again.signed_in, f"the child cannot sign in after the parent consented again: {again.describe()}"
