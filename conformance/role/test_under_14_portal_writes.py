"""A learner under 14 may only view — through the portal too (ROLE-02).

The journal's on-demand methods that write (journal.yaml: `setLearnerPassword`, `postConsent`)
reach it through the agent with the signed-in user's `X-Esia-Oid`. A child under 14 signed in to
«Моё образование» with a child account must not write through them either: setting their own
journal password is a parent's act (ROLE-04), and the consent to pass a child's data is given
or revoked by a linked parent (AUTH-08), never by the child. Each attempt must be refused with a
4xx and change nothing: the child's password still works, the child still signs in through ЕСИА.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from conformance.auth._support import sign_in_anew
from conformance.role._support import age_on, journal_today, linked_parents
from conformance.verdicts import EnvironmentProblem


def _young_linked_child(people, dataset, test_control) -> dict:
    """A learner of 12 or under on the journal's date whose child ЕСИА account the journal has
    linked, with a journal login, a parent's consent on record and a linked parent to put things
    back. Such children are scarce and other tests change them, so one no test has claimed is
    taken without claiming it: a conforming journal changes nothing here, and a change is undone
    through the parent."""
    today = journal_today(test_control)
    parents = linked_parents(people, dataset)

    def fits(p: dict) -> bool:
        jp = people.of(p["oid"]) or {}
        record = jp.get("record_id")
        if (p["oid"] in people.claimed or not (jp.get("prelinked") and jp.get("internal_login")
                                                 and jp.get("internal_password") and record in dataset.learners)):
            return False
        if age_on(dataset.birth_date(record), today) > 12:
            return False
        return bool(jp.get("consent_granted") and _parent_of(record, parents, dataset))

    try:
        persona = people.pick("learner", prelinked=True, account_type="child", where=fits)
    except EnvironmentProblem:
        raise EnvironmentProblem("the dataset has no linked child account of a learner of 12 or under "
                                 "with a consenting linked parent") from None
    jp = people.of(persona["oid"])
    return {**jp, "oid": persona["oid"], "parent_oid": _parent_of(jp["record_id"], parents, dataset)}


def _parent_of(record: str, parents: dict[str, str], dataset) -> str | None:
    return next((oid for oid, rep in sorted(parents.items()) if rep in dataset.parents_of.get(record, ())), None)


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(journal_operation="setLearnerPassword", session="esia")
def test_a_child_under_14_cannot_set_their_own_password_through_the_portal(portal, people, dataset, test_control,
                                                                          driver):
    child = _young_linked_child(people, dataset, test_control)
    new = f"Kid{uuid.uuid4().hex[:8]}!4"
    path = f"/api/v1/learners/{child['record_id']}/password"
    resp = portal.post(path, child["oid"], json={"password": new})
    if resp.status_code < 300:     # put the issued password back, as the parent
        portal.post(path, child["parent_oid"], json={"password": child["internal_password"]})
    assert resp.status_code in (403, 404), (
        f"a child under 14 (oid {child['oid']}, {child['record_id']}) setting their own journal password through "
        f"the portal got HTTP {resp.status_code} {resp.text[:160]} (a parent's act, ROLE-04; journal.yaml: 403)")
    answer, session = driver.sign_in(child["internal_login"], child["internal_password"])
    assert session is not None, (f"after the refused change the child's own password no longer works: "
                                 f"{answer.describe()}")
    session.sign_out()
    answer, session = driver.sign_in(child["internal_login"], new)
    assert session is None, "the refused password signs the child in: it was stored all the same"


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(journal_operation="postConsent", session="esia")
def test_a_child_under_14_cannot_revoke_their_own_consent_through_the_portal(run, portal, people, dataset,
                                                                           test_control):
    child = _young_linked_child(people, dataset, test_control)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    notice = {"consent_id": str(uuid.uuid4()), "learner_id": child["record_id"], "action": "revoked",
              "changed_at": stamp.isoformat()}
    resp = portal.post("/api/v1/consents", child["oid"], json=notice)
    if resp.status_code < 300:     # give the consent back, as the parent
        portal.post("/api/v1/consents", child["parent_oid"],
                    json={**notice, "consent_id": str(uuid.uuid4()), "action": "granted",
                          "changed_at": (stamp + dt.timedelta(seconds=1)).isoformat()})
    assert resp.status_code in (403, 404), (
        f"a consent revocation sent by the child under 14 themself (oid {child['oid']}) got HTTP "
        f"{resp.status_code} {resp.text[:160]} (only a linked parent gives or revokes it; journal.yaml: 403 "
        f"not_representative)")
    landing = sign_in_anew(run, child["oid"])
    assert landing.signed_in, (f"after a refused revocation by the child, the child's ЕСИА sign-in is refused: "
                               f"{landing.describe()}")
