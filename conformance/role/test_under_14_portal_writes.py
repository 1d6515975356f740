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


def _young_linked_child(people, dataset, test_control, portal=None) -> dict:
    """A learner under 14 on the journal's date whose child ЕСИА account the journal has linked
    (the portal knows them by oid). Such children are scarce and other tests use them, so none is
    claimed: a conforming journal changes nothing here. The best fit is one no test has claimed,
    with a journal login, a parent's consent and a linked parent (to undo a wrongful change);
    `pristine` says whether the child is such a one (then their state can be checked after).
    Among equals, one whose consent the portal may notify at once (AUTH-08 stamps ahead of the
    wall clock; a consent about that child waits until the clock passed the stamps)."""
    today = journal_today(test_control)
    parents = linked_parents(people, dataset)

    def grade(p: dict) -> int | None:
        jp = people.of(p["oid"]) or {}
        record = jp.get("record_id")
        if not (jp.get("prelinked") and record in dataset.learners) or age_on(dataset.birth_date(record), today) >= 14:
            return None
        pristine = (p["oid"] not in people.claimed and jp.get("internal_login") and jp.get("internal_password")
                    and jp.get("consent_granted") and _parent_of(record, parents, dataset))
        return 0 if pristine else 1

    def waits(p: dict) -> bool:
        jp = people.of(p["oid"]) or {}
        return portal is not None and portal.consent_waits(str(p["oid"]), jp.get("record_id") or "")

    found = sorted((g, waits(p), p["oid"]) for p in people.esia.values()
                   if p.get("kind") == "learner" and p.get("account_type") == "child" and p.get("replaced_by") is None
                   and (g := grade(p)) is not None)
    if not found:
        raise EnvironmentProblem("the dataset has no learner under 14 whose child ЕСИА account the journal links")
    best, _, oid = found[0]
    jp = people.of(oid)
    return {**jp, "oid": oid, "pristine": best == 0, "parent_oid": _parent_of(jp["record_id"], parents, dataset)}


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
    if resp.status_code < 300:
        if child["pristine"]:       # put the issued password back, as the parent
            portal.post(path, child["parent_oid"], json={"password": child["internal_password"]})
        else:
            people.claimed.add(int(child["oid"]))   # no other test may rely on its password now
    assert resp.status_code in (403, 404), (
        f"a child under 14 (oid {child['oid']}, {child['record_id']}) setting their own journal password through "
        f"the portal got HTTP {resp.status_code} {resp.text[:160]} (a parent's act, ROLE-04; journal.yaml: 403)")
    login = child.get("internal_login")
    if login:
        answer, session = driver.sign_in(login, new)
        assert session is None, "the refused password signs the child in: it was stored all the same"
    if child["pristine"]:
        answer, session = driver.sign_in(login, child["internal_password"])
        assert session is not None, (f"after the refused change the child's own password no longer works: "
                                     f"{answer.describe()}")
        session.sign_out()


@pytest.mark.requirement("ROLE-02")
@pytest.mark.surface(journal_operation="postConsent", session="esia")
def test_a_child_under_14_cannot_revoke_their_own_consent_through_the_portal(run, portal, people, dataset,
                                                                           test_control):
    child = _young_linked_child(people, dataset, test_control, portal)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    notice = {"consent_id": str(uuid.uuid4()), "learner_id": child["record_id"], "action": "revoked",
              "changed_at": stamp.isoformat()}
    resp = portal.post("/api/v1/consents", child["oid"], json=notice)
    if resp.status_code < 300 and child["parent_oid"]:     # give the consent back, as the parent
        portal.post("/api/v1/consents", child["parent_oid"],
                    json={**notice, "consent_id": str(uuid.uuid4()), "action": "granted",
                          "changed_at": (stamp + dt.timedelta(seconds=1)).isoformat()})
    assert resp.status_code in (403, 404), (
        f"a consent revocation sent by the child under 14 themself (oid {child['oid']}) got HTTP "
        f"{resp.status_code} {resp.text[:160]} (only a linked parent gives or revokes it; journal.yaml: 403 "
        f"not_representative)")
    if child["pristine"]:           # its consent was given and no other test changed it
        landing = sign_in_anew(run, child["oid"])
        assert landing.signed_in, (f"after a refused revocation by the child, the child's ЕСИА sign-in is refused: "
                                   f"{landing.describe()}")
