"""Events for parents (NOTIF-01, NOTIF-02).

A teacher or school administrator creates two school events in the journal's own interface
(the driver), each for two learners of the school whose parents are linked to ЕСИА, and
test-control runs an export. Checked at mock ЕПГУ «Моё образование»:

- NOTIF-01: each event reaches the portal inbox (`/_admin/inbox`) as `created`, for exactly the
  parents of its learners (never the parents of a learner it does not concern), with its date,
  place (one event) or link (the other, held online) and learners as entered; every push respected `postNotification` (no refusal by the
  portal, no contract violation recorded by the agent). The portal's on-demand view of events
  (`getEvents`) shows an event to the parents of its learners and not to the parents of
  another learner of the same school.
- NOTIF-02: after one event is changed (new place and time) and the other cancelled, the next
  export pushes an `updated` notification with the new values and a `cancelled` one
  (status 2) to the same parents; a third, announced event that the administrator deletes
  reaches them as `cancelled` too.

One module-scoped scene with one export is shared by the NOTIF-01 tests; NOTIF-02 adds one.
Exports are `changes` of the event tables only (test-control `tables`), to keep them short.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from conformance.clients import PORTAL_MNEMONIC
from conformance.notif._support import Family, journal_now, portal_knows_people, staff_member
from conformance.verdicts import EnvironmentProblem

FMT = "%Y-%m-%d %H:%M:%S"
EVENT_TABLES = ("events", "event_learners")


def _inbox_for(epgu, event_id: str) -> list[dict[str, Any]]:
    return [n for n in epgu.get("/inbox") or [] if (n.get("event") or {}).get("id") == event_id]


def _violations(smev) -> list[dict[str, Any]]:
    return smev.get("/violations", params={"provider": PORTAL_MNEMONIC}) or []


def _export(test_control, epgu, smev) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Run a `changes` export; the job, the portal's answers to notifications, new violations."""
    seq = epgu.journal_seq()
    seen = {v.get("seq") for v in _violations(smev)}
    job = test_control.export("changes", tables=list(EVENT_TABLES))   # notifications follow the events' upload
    answers = epgu.journal_since(seq, path="/api/v1/notifications")
    violations = [v for v in _violations(smev) if v.get("seq") not in seen]
    return job, answers, violations


# answers the protocol expects a journal to recover from (portal.yaml): an oid unknown to the
# portal (resend without it), a notification_id clash (resend with a new one), portal failures
RECOVERABLE = {"unknown_recipient", "notification_conflict", "internal_error", "unavailable"}


def _refusals(answers: list[dict[str, Any]]) -> list[str]:
    """The portal's refusals of notifications that mean the journal broke the contract."""
    out = []
    for entry in answers:
        status = entry.get("status")
        code = (entry.get("note") or {}).get("error")
        if isinstance(status, int) and status >= 400 and status not in (500, 503) and code not in RECOVERABLE:
            out.append(f"HTTP {status} {code or ''}: {str(entry.get('note') or '')[:200]}")
    return out


@pytest.fixture(scope="module")
def scene(run, people, _driver, test_control, epgu, smev) -> dict[str, Any]:
    if _driver is None:
        pytest.skip("this check acts in the journal's own interface and the SUT declares no journal driver")
    staff, school = staff_member(run, people)
    family = Family(run, people)
    family.portal_known = portal_knows_people(run, epgu)
    candidates = [lid for lid in family.learners_with_linked_parent(school)
                  if family.parent_oids(lid, prelinked_only=True) & family.portal_known]
    taken: list[str] = []
    parents: set[str] = set()
    for learner_id in candidates:               # learners with no representative in common
        oids = family.parent_oids(learner_id)
        if oids & parents:
            continue
        taken.append(learner_id)
        parents |= oids
        if len(taken) == 5:
            break
    if len(taken) < 5:
        pytest.skip(f"the dataset's school {school} has fewer than 5 learners with a linked parent "
                    f"and no parent in common (found {len(taken)})")
    for learner_id in taken:                    # other tests must not pick these families as fresh
        for oid in family.parent_oids(learner_id):
            people.claimed.add(int(oid))
    answer, session = _driver.sign_in(staff["internal_login"], staff["internal_password"])
    assert session is not None, (f"a staff member ({staff['internal_login']}) could not sign in with the "
                                 f"journal's own login and password: {answer.describe()}")
    start = (journal_now(test_control) + dt.timedelta(days=10)).replace(hour=18, minute=0, second=0, microsecond=0)
    tag = uuid.uuid4().hex[:8]
    events = []
    # one event in a room, one online (NOTIF-01: "place/link")
    where = (("place", "кабинет 214"), ("link", f"https://olimp.example.ru/room/{tag}"))
    for n, (learners, kind, (key, value)) in enumerate(((taken[0:2], 1, where[0]), (taken[2:4], 2, where[1]))):
        fields = {"event_type": kind, "title": f"Conformance NOTIF {tag} #{n + 1}",
                  "start_datetime": (start + dt.timedelta(days=n)).strftime(FMT),
                  "end_datetime": (start + dt.timedelta(days=n, hours=1)).strftime(FMT),
                  key: value, "learners": sorted(learners)}
        created = session.add_event(**fields)
        assert created.ok and isinstance(created.data, dict) and created.data.get("id"), (
            f"a staff member could not create a school event in the journal: {created.describe()}")
        events.append({"id": created.data["id"], "fields": fields, "learners": sorted(learners)})
    job, answers, violations = _export(test_control, epgu, smev)
    return {"session": session, "family": family, "events": events, "outsider": taken[4], "job": job,
            "answers": answers, "violations": violations, "test_control": test_control}


def _check_delivery(epgu, family: Family, event: dict[str, Any], action: str) -> dict[str, Any]:
    """The newest inbox entry of `event` with `action`, after checking whom it was sent to."""
    received = [n for n in _inbox_for(epgu, event["id"]) if n.get("action") == action]
    assert received, (f"the portal inbox has no `{action}` notification for event {event['id']} after an export: "
                      f"the journal did not push it (NOTIF)")
    note = received[-1]
    expected_all = set().union(*(family.parent_oids(lid) for lid in event["learners"]))
    expected_linked = set().union(*(family.parent_oids(lid, prelinked_only=True) for lid in event["learners"]))
    expected_linked &= family.portal_known       # the portal refuses oids it does not know
    got = set(map(str, note.get("recipient_oids") or []))
    assert expected_linked <= got, (f"event {event['id']} ({action}) was not sent to every linked parent of its "
                                    f"learners: missing {sorted(expected_linked - got)}")
    assert got <= expected_all, (f"event {event['id']} ({action}) was sent to people who are not parents of its "
                                 f"learners: {sorted(got - expected_all)}")
    assert sorted(note.get("learner_ids") or []) == event["learners"], (
        f"event {event['id']} names learners {note.get('learner_ids')}, not the ones it concerns "
        f"{event['learners']}")
    return note


@pytest.mark.requirement("NOTIF-01")
@pytest.mark.surface(driver_operation="add_event", actor=["parent", "parent_other_family"])
def test_a_new_event_reaches_exactly_the_parents_concerned(scene, epgu):
    assert not scene["violations"], (f"the journal's notifications broke the portal's postNotification contract: "
                                      f"{scene['violations'][:3]}")
    refused = _refusals(scene["answers"])
    assert not refused, f"the portal refused the journal's notifications: {refused[:3]}"
    for event in scene["events"]:
        note = _check_delivery(epgu, scene["family"], event, "created")
        sent, fields = note.get("event") or {}, event["fields"]
        for name in ("event_type", "title", "start_datetime", "end_datetime", "place", "link"):
            if name not in fields:
                continue
            assert sent.get(name) == fields[name], (
                f"event {event['id']} reached the portal with {name} = {sent.get(name)!r}, "
                f"not {fields[name]!r} as entered in the journal")
        assert sent.get("status") == 1, f"a new event reached the portal with status {sent.get('status')!r}, not 1"


@pytest.mark.requirement("NOTIF-01")
@pytest.mark.surface(driver_operation="add_event", actor=["parent", "parent_other_family"])
def test_the_portal_shows_an_event_only_to_the_parents_concerned(scene, portal):
    family, event = scene["family"], scene["events"][0]
    day = event["fields"]["start_datetime"][:10]
    for learner_id in event["learners"]:
        parent = sorted(family.parent_oids(learner_id, prelinked_only=True))[0]
        resp = portal.section(parent, learner_id, "events", day, day)
        assert resp.status_code == 200, f"getEvents for a parent's own child answered HTTP {resp.status_code}"
        ids = [item.get("id") for item in resp.json().get("items", [])]
        assert event["id"] in ids, (f"the parent of {learner_id} does not see event {event['id']} that concerns "
                                    f"their child (getEvents {day})")
    outsider = scene["outsider"]
    parent = sorted(family.parent_oids(outsider, prelinked_only=True))[0]
    resp = portal.section(parent, outsider, "events", day, day)
    assert resp.status_code == 200, f"getEvents for a parent's own child answered HTTP {resp.status_code}"
    ids = [item.get("id") for item in resp.json().get("items", [])]
    assert event["id"] not in ids, (f"event {event['id']} for {event['learners']} is shown to the parent of "
                                    f"{outsider}, a learner it does not concern")


@pytest.mark.requirement("NOTIF-02")
@pytest.mark.surface(driver_operation=["change_event", "cancel_event"])
def test_a_changed_and_a_cancelled_event_are_pushed(scene, epgu, smev):
    session, test_control = scene["session"], scene["test_control"]
    changed, cancelled = scene["events"]
    start = dt.datetime.strptime(changed["fields"]["start_datetime"], FMT) + dt.timedelta(hours=1)
    update = {"place": "online", "link": "https://example.org/meeting", "start_datetime": start.strftime(FMT),
              "end_datetime": (start + dt.timedelta(hours=1)).strftime(FMT)}
    answer = session.change_event(changed["id"], **update)
    assert answer.ok, f"a staff member could not change an event: {answer.describe()}"
    answer = session.cancel_event(cancelled["id"])
    assert answer.ok, f"a staff member could not cancel an event: {answer.describe()}"
    _, answers, violations = _export(test_control, epgu, smev)
    assert not violations, f"the journal's notifications broke the postNotification contract: {violations[:3]}"
    refused = _refusals(answers)
    assert not refused, f"the portal refused the journal's notifications: {refused[:3]}"
    note = _check_delivery(epgu, scene["family"], changed, "updated")
    for name, value in update.items():
        assert (note.get("event") or {}).get(name) == value, (
            f"the change of event {changed['id']} reached the portal with {name} = "
            f"{(note.get('event') or {}).get(name)!r}, not {value!r}")
    note = _check_delivery(epgu, scene["family"], cancelled, "cancelled")
    assert (note.get("event") or {}).get("status") == 2, "a cancellation reached the portal without status 2"


@pytest.mark.requirement("NOTIF-02")
@pytest.mark.surface(driver_operation="delete_event")
def test_a_deleted_event_is_pushed_as_cancelled(scene, driver, epgu, smev):
    """An announced event the school deletes (the administrator removes its learners' links and the
    event, driver `delete_record`) is called off for the parents: the portal gets it as `cancelled`
    (project reading of NOTIF-02, specs/surfaces/notif.yaml)."""
    session, test_control = scene["session"], scene["test_control"]
    first = scene["events"][0]
    fields = {**first["fields"], "title": first["fields"]["title"] + " (deleted)"}
    created = session.add_event(**fields)
    assert created.ok and isinstance(created.data, dict) and created.data.get("id"), (
        f"a staff member could not create a school event in the journal: {created.describe()}")
    event = {"id": created.data["id"], "fields": fields, "learners": first["learners"]}
    _export(test_control, epgu, smev)
    if not [n for n in _inbox_for(epgu, event["id"]) if n.get("action") == "created"]:
        raise EnvironmentProblem(f"event {event['id']} never reached the portal as `created`, so its deletion "
                                 f"proves nothing (see NOTIF-01)")
    admin = driver.administrator()
    for learner_id in event["learners"]:
        answer = admin.delete_record("event_learners", {"event_id": event["id"], "learner_id": learner_id})
        assert answer.ok, f"the administrator could not delete the event's learner link: {answer.describe()}"
    answer = admin.delete_record("events", {"id": event["id"]})
    assert answer.ok, f"the administrator could not delete event {event['id']}: {answer.describe()}"
    _, answers, violations = _export(test_control, epgu, smev)
    assert not violations, f"the journal's notifications broke the postNotification contract: {violations[:3]}"
    assert not _refusals(answers), f"the portal refused the journal's notifications: {_refusals(answers)[:3]}"
    _check_delivery(epgu, scene["family"], event, "cancelled")
