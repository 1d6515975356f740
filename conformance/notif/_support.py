"""Dataset facts the NOTIF (and CRED) tests choose people and records by: the generated CSV
tables of the run (`run["dataset"]["directory"]`) joined with the people of the run. Nothing
here knows a fixed oid or record id."""
from __future__ import annotations

from typing import Any

from conformance.people import People
from conformance.verdicts import EnvironmentProblem
from conformance.dataset import records
from conformance.world import journal_now, world  # noqa: F401 - journal_now: the clock helper other areas import from here


def rows(run: dict[str, Any], table: str) -> list[dict[str, str | None]]:
    """The rows of one generated table, values as CSV text."""
    return list(records(run, table))


class Family:
    """Who represents whom (the run's world) and which oids the portal knows (set by a test)."""

    def __init__(self, run: dict[str, Any], people: People) -> None:
        self.world = world(run, people)
        self.organisation = self.world.organisation_of
        self.portal_known: set[str] = set()

    def parent_oids(self, learner_id: str, prelinked_only: bool = False) -> set[str]:
        return self.world.parent_oids(learner_id, prelinked_only)

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
