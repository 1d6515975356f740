"""The run's world as every area's tests see it, built once per run: the dataset's families
(who represents whom, "parents of a learner" computed once) joined with the run's people (ЕСИА
oids, who is pre-linked in the journal), and the journal's clock.

Read from the run's dataset (`conformance.dataset`) and the personas (`conformance.people`);
nothing here knows a fixed oid or record id."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any, Iterator

from pathlib import Path

from conformance.dataset import typed_rows
from conformance.people import People


class World:
    """Families of the run's dataset and the oids of their members."""

    def __init__(self, directory: str | Path, people: People) -> None:
        self.organisation_of = {r["id"]: r["organisation_id"] for r in typed_rows(directory, "learners")}
        # learner id → representative ids, in dataset order
        self.representatives: dict[str, tuple[str, ...]] = {}
        for r in typed_rows(directory, "learner_representatives"):
            self.representatives[r["learner_id"]] = (*self.representatives.get(r["learner_id"], ()),
                                                     r["representative_id"])
        self.oid_of: dict[str, str] = {}          # journal record id → ЕСИА oid
        self.prelinked: set[str] = set()           # record ids pre-linked in the journal
        for oid, jp in people.journal.items():
            if jp.get("record_id"):
                self.oid_of[jp["record_id"]] = str(oid)
                if jp.get("prelinked"):
                    self.prelinked.add(jp["record_id"])
        for p in people.esia.values():              # personas the journal's view lacks
            if p.get("journal_id") and p.get("replaced_by") is None:
                self.oid_of.setdefault(p["journal_id"], str(p["oid"]))

    def parent_oids(self, learner_id: str, prelinked_only: bool = False) -> set[str]:
        """ЕСИА oids of the learner's representatives (only pre-linked ones with the flag)."""
        return {self.oid_of[r] for r in self.representatives.get(learner_id, ())
                if r in self.oid_of and (not prelinked_only or r in self.prelinked)}


_WORLDS: dict[tuple[str, int], World] = {}


def world(run: dict[str, Any], people: People) -> World:
    """The run's world (built on first use, then shared by every area)."""
    return world_of(run["dataset"]["directory"], people)


def world_of(directory: str | Path, people: People) -> World:
    """The world of the dataset in `directory` with these people (built once)."""
    key = (str(directory), id(people))
    if key not in _WORLDS:
        _WORLDS[key] = World(directory, people)
    return _WORLDS[key]


@contextmanager
def clock_restored(test_control: Any) -> Iterator[dict[str, Any]]:
    """The block may set or advance the journal's clock; its earlier state is put back after."""
    before = test_control.clock()
    try:
        yield before
    finally:
        if before.get("frozen"):
            test_control.set_clock(action="set", frozen=True, now=before["now"])
        elif not before.get("offset_seconds"):
            test_control.set_clock(action="real")
        else:
            real = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=before["offset_seconds"])
            test_control.set_clock(action="set", now=real.isoformat())


def journal_now(test_control: Any) -> dt.datetime:
    """The journal's current time (test-control clock), timezone-aware."""
    return dt.datetime.fromisoformat(test_control.clock()["now"].replace("Z", "+00:00"))
