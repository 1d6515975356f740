"""The portal's consent notifications as journal.yaml states them (AUTH-08, `postConsent`).

Each test takes a child under 14 whose linked parent has consented (the child signs in), sends
notifications as the portal would, checks the child's ЕСИА sign-in, and grants the consent
again at the end:
- the later change wins by `changed_at`, not by arrival: a grant stamped before a revocation
  that arrives after it leaves the child refused;
- idempotent by `consent_id`: the same notification again is 204 and changes nothing; the same
  id with other content is 409 `consent_conflict` and changes nothing;
- the child may be named by `learner_id`, `child_oid` or `child_snils` (at least one), each alone;
- a `changed_at` that is not an RFC 3339 date-time is 400 with journal.yaml's Error, and changes
  nothing."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterator

import pytest

from conformance.api._support import DirectJournal, error_problem
from conformance.auth._support import CONSENT_TYPE, linked_parent, sign_in_anew
from conformance.dataset import records
from conformance.verdicts import EnvironmentProblem

CHILD_REFERENCES = ("learner_id", "child_oid", "child_snils")


class Timeline:
    """`changed_at` stamps that only grow (whole seconds, never behind the wall clock), so one
    test's restoring grant is never newer than the next test's revocation."""

    def __init__(self) -> None:
        self.last = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.children: set[str] = set()     # every reference of each child the stamps were about

    def next(self) -> dt.datetime:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.last = max(now, self.last + dt.timedelta(seconds=1))
        return self.last


@pytest.fixture(scope="module")
def clock(portal) -> Iterator[Timeline]:
    line = Timeline()
    yield line
    # later tests stamp with the wall clock: the portal's next consent about one of these children
    # waits until it passed the last stamp here
    portal.consents_stamped_until(line.last, line.children)


def _child(run, people, clock: Timeline) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """A consenting child under 14 with a linked parent, and the child's references (noted on
    `clock`: its stamps are about this child)."""
    snils = {r["id"]: r.get("snils") for r in records(run, "learners")}
    child = people.pick("learner", prelinked=True, account_type="child", under_14=True,
                        where=lambda p: p.get("consent") == "granted" and p["oid"] not in people.claimed
                        and linked_parent(people, p) is not None
                        and snils.get(people.of(p["oid"])["record_id"]))
    record = people.of(child["oid"])["record_id"]
    refs = {"learner_id": record, "child_oid": str(child["oid"]), "child_snils": snils[record]}
    clock.children.update(refs.values())
    before = sign_in_anew(run, child["oid"])
    if not before.signed_in:
        raise EnvironmentProblem(f"the consenting child {child['oid']} cannot sign in before the test: "
                                 f"{before.describe()}")
    return child, linked_parent(people, child), refs


def _send(portal, parent, refs: dict[str, str], action: str, when: dt.datetime | str, *,
          by: tuple[str, ...] = ("learner_id",), consent_id: str | None = None):
    body = {"consent_id": consent_id or str(uuid.uuid4()), "action": action, "consent_type": CONSENT_TYPE,
            "changed_at": when if isinstance(when, str) else when.isoformat(timespec="seconds"),
            **{k: refs[k] for k in by}}
    return portal.post("/api/v1/consents", parent["oid"], json=body), body


def _accepted(resp, what: str) -> None:
    assert resp.status_code == 204, f"{what}: HTTP {resp.status_code} {resp.text[:300]}"


def _signs_in(run, child) -> bool:
    return sign_in_anew(run, child["oid"]).signed_in


def _restore(portal, parent, refs, clock: Timeline) -> None:
    _send(portal, parent, refs, "granted", clock.next())


@pytest.mark.requirement("AUTH-08")
@pytest.mark.surface(actor="learner_under_14", timing="consent_out_of_order")
def test_the_later_change_wins_not_the_later_arrival(run, people, portal, clock):
    child, parent, refs = _child(run, people, clock)
    now = clock.next()
    try:
        _accepted(_send(portal, parent, refs, "revoked", now)[0], "a revocation")
        assert not _signs_in(run, child), "the child still signs in after the parent revoked the consent"
        stale, _ = _send(portal, parent, refs, "granted", now - dt.timedelta(hours=1))
        assert stale.status_code < 500, f"a late notification was answered HTTP {stale.status_code}"
        assert not _signs_in(run, child), (
            "a grant stamped an hour BEFORE the parent's revocation arrived after it, and the journal let the child "
            "in: consent notifications must be applied by changed_at, the later change winning")
    finally:
        _restore(portal, parent, refs, clock)
    assert _signs_in(run, child), "the child cannot sign in after the parent consented again"


@pytest.mark.requirement("AUTH-08")
@pytest.mark.surface(actor="learner_under_14", timing="consent_replayed")
def test_a_repeated_notification_changes_nothing_and_a_conflicting_one_is_409(run, people, portal, clock):
    child, parent, refs = _child(run, people, clock)
    now = clock.next()
    try:
        first, body = _send(portal, parent, refs, "revoked", now)
        _accepted(first, "a revocation")
        again = portal.post("/api/v1/consents", parent["oid"], json=body)
        _accepted(again, "the same notification sent again (idempotent by consent_id)")
        assert not _signs_in(run, child), "the child signs in after a revocation was delivered twice"
        conflicting, _ = _send(portal, parent, refs, "granted", clock.next(),
                               consent_id=body["consent_id"])
        assert conflicting.status_code == 409 and conflicting.json().get("error") == "consent_conflict", (
            f"a notification reusing consent_id {body['consent_id']} with other content was answered HTTP "
            f"{conflicting.status_code} {conflicting.text[:200]}, not 409 consent_conflict")
        assert not _signs_in(run, child), ("a conflicting notification (same consent_id, action granted) was "
                                           "applied: the child signs in although the consent stays revoked")
    finally:
        _restore(portal, parent, refs, clock)
    assert _signs_in(run, child), "the child cannot sign in after the parent consented again"


@pytest.mark.requirement("AUTH-08")
@pytest.mark.parametrize("reference", [pytest.param(r, marks=pytest.mark.surface(
    actor="learner_under_14", child_reference=r)) for r in CHILD_REFERENCES])
def test_the_child_may_be_named_by_any_one_reference(run, people, portal, clock, reference):
    child, parent, refs = _child(run, people, clock)
    now = clock.next()
    try:
        revoked, _ = _send(portal, parent, refs, "revoked", now, by=(reference,))
        _accepted(revoked, f"a revocation naming the child by {reference} only")
        assert not _signs_in(run, child), (f"the parent revoked the consent naming the child by {reference} "
                                           f"({refs[reference]}) only, and the child still signs in")
        granted, _ = _send(portal, parent, refs, "granted", clock.next(), by=(reference,))
        _accepted(granted, f"a grant naming the child by {reference} only")
        assert _signs_in(run, child), f"the parent consented naming the child by {reference}; the child is refused"
    finally:
        _restore(portal, parent, refs, clock)


@pytest.mark.requirement("AUTH-08")
@pytest.mark.surface(actor="learner_under_14", answer_error="malformed_parameter")
def test_a_malformed_changed_at_is_400_and_changes_nothing(run, people, portal, clock):
    """The agent refuses such a body itself, so it is sent to the journal's base URL as the agent
    would forward it (journal.yaml: what the agent refuses, the suite sends directly)."""
    child, parent, refs = _child(run, people, clock)
    journal = DirectJournal(run)
    try:
        for bad in ("2026-13-01T10:00:00+03:00", "01.09.2026 10:00", "2026-09-01T10:00:00", "now"):
            body = {"consent_id": str(uuid.uuid4()), "action": "revoked", "consent_type": CONSENT_TYPE,
                    "changed_at": bad, "learner_id": refs["learner_id"]}
            resp = journal.request("POST", "/api/v1/consents", parent["oid"], json=body)
            assert resp.status_code == 400, (f"changed_at {bad!r} (not an RFC 3339 date-time with an offset) was "
                                             f"answered HTTP {resp.status_code} {resp.text[:200]}, not 400")
            problem = error_problem(resp)
            assert problem is None, f"changed_at {bad!r}: the refusal is not journal.yaml's Error: {problem}"
    finally:
        journal.close()
    assert _signs_in(run, child), "a refused notification revoked the consent: the child is refused"
