"""Dataset facts the NOTIF (and CRED) tests choose people and records by: the generated CSV
tables of the run (`run["dataset"]["directory"]`) joined with the people of the run. Nothing
here knows a fixed oid or record id."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from conformance.people import People
from conformance.verdicts import EnvironmentProblem
from conformance.dataset import records


def rows(run: dict[str, Any], table: str) -> list[dict[str, str | None]]:
    """The rows of one generated table, values as CSV text."""
    return list(records(run, table))


class Family:
    """Who represents whom, by record id and by ЕСИА oid (from the dataset and the personas)."""

    def __init__(self, run: dict[str, Any], people: People) -> None:
        self.organisation = {r["id"]: r["organisation_id"] for r in rows(run, "learners")}
        self.reps_of: dict[str, set[str]] = defaultdict(set)          # learner id → representative ids
        for r in rows(run, "learner_representatives"):
            self.reps_of[r["learner_id"]].add(r["representative_id"])
        self.portal_known: set[str] = set()                            # oids the portal knows (set by a test)
        self.oid_of: dict[str, str] = {}                               # journal record id → ЕСИА oid
        self.prelinked: set[str] = set()                               # record ids pre-linked in the journal
        for oid, jp in people.journal.items():
            if jp.get("record_id"):
                self.oid_of[jp["record_id"]] = str(oid)
                if jp.get("prelinked"):
                    self.prelinked.add(jp["record_id"])
        for p in people.esia.values():                                 # personas the journal view lacks
            if p.get("journal_id") and p.get("replaced_by") is None:
                self.oid_of.setdefault(p["journal_id"], str(p["oid"]))

    def parent_oids(self, learner_id: str, prelinked_only: bool = False) -> set[str]:
        """ЕСИА oids of the learner's representatives (only pre-linked ones with the flag)."""
        return {self.oid_of[r] for r in self.reps_of.get(learner_id, ())
                if r in self.oid_of and (not prelinked_only or r in self.prelinked)}

    def learners_with_linked_parent(self, organisation_id: str) -> list[str]:
        return sorted(lid for lid, org in self.organisation.items()
                      if org == organisation_id and self.parent_oids(lid, prelinked_only=True))


def staff_member(run: dict[str, Any], people: People) -> tuple[dict[str, Any], str]:
    """A teacher or school administrator with an internal login and password, and their school."""
    schools = {r["id"]: r["organisation_id"] for r in rows(run, "staff")}
    for jp in people.journal.values():
        roles = set(jp.get("roles") or ())
        if (jp.get("kind") == "staff" and roles & {"teacher", "school_admin"} and jp.get("internal_login")
                and jp.get("internal_password") and schools.get(jp.get("record_id"))):
            return jp, schools[jp["record_id"]]
    raise EnvironmentProblem("the dataset has no teacher or school administrator with an internal login")


def portal_knows_people(run: dict[str, Any], epgu) -> set[str]:
    """The oids mock ЕПГУ knows (certify loads the dataset's ЕСИА personas into it, as the
    real portal knows every ЕСИА user); none known is a setup problem."""
    known = {str(p.get("oid")) for p in epgu.get("/personas") or []}
    if not known:
        raise EnvironmentProblem("mock ЕПГУ knows none of the dataset's people; the run did not load "
                                 f"{run['dataset']['esia_personas']} into it")
    return known


def journal_now(test_control) -> dt.datetime:
    """The journal's current time (test-control clock)."""
    return dt.datetime.fromisoformat(test_control.clock()["now"].replace("Z", "+00:00"))
