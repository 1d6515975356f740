"""The dataset's people for the tests: each ЕСИА persona (`personas.jsonl` of the generated
dataset, what mock ЕСИА holds) with the journal's view of the same person (`personas.jsonl` of
the test-control zip: record, prelinked, roles). Tests choose people by facts, never by a
fixed oid, so any seed works."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from conformance.verdicts import EnvironmentProblem

# ЕСИА scenarios that change how a sign-in ends (fixtures.personas / fixtures.bundle)
SIGN_IN_SCENARIOS = {"mismatch:birthDate", "mismatch:name", "mismatch:snils", "unconfirmed_adult",
                     "consent_pending", "reissued", "no_snils", "turns_14"}


@dataclass
class People:
    esia: dict[int, dict[str, Any]]
    journal: dict[str, dict[str, Any]]       # ЕСИА oid (string) → the journal's persona
    claimed: set[int] = field(default_factory=set)   # handed out with fresh=True

    @classmethod
    def load(cls, run: dict[str, Any]) -> "People":
        ds = run["dataset"]
        try:
            lines = Path(ds["esia_personas"]).read_text(encoding="utf-8").splitlines()
            esia = {p["oid"]: p for p in map(json.loads, lines) if p}
            journal = {p["esia"]["oid"]: p for p in json.loads(Path(ds["journal_personas"]).read_text("utf-8"))
                       if p.get("esia")}
        except (OSError, ValueError, KeyError) as exc:
            raise EnvironmentProblem(f"cannot read the dataset's personas: {exc}") from None
        return cls(esia, journal)

    def of(self, oid: int | str) -> dict[str, Any] | None:
        return self.journal.get(str(oid))

    def pick(self, kind: str, *tags: str, prelinked: bool | None = None, account_type: str | None = None,
             under_14: bool | None = None, where: Callable[[dict[str, Any]], bool] = lambda p: True,
             fresh: bool = False) -> dict[str, Any]:
        """An ЕСИА persona of `kind` with every one of `tags` (without tags: none of the sign-in
        scenarios) and the facts asked for. `fresh`: one no other test of the run was handed
        with `fresh` (for tests that change the person's data or account)."""
        for p in self.esia.values():
            if fresh and p["oid"] in self.claimed:
                continue
            scenario = set(p.get("scenario") or [])
            if p.get("kind") != kind or p.get("replaced_by") is not None:
                continue
            if (tags and not set(tags) <= scenario) or (not tags and scenario & SIGN_IN_SCENARIOS):
                continue
            if account_type is not None and p.get("account_type") != account_type:
                continue
            jp = self.of(p["oid"])
            if jp is None:
                continue
            if prelinked is not None and jp.get("prelinked") != prelinked:
                continue
            if under_14 is not None and kind == "learner" and (_age(jp) < 14) != under_14:
                continue
            if where(p):
                if fresh:
                    self.claimed.add(p["oid"])
                return json.loads(json.dumps(p))
        raise EnvironmentProblem(f"the dataset has no {kind} {list(tags)} prelinked={prelinked} "
                                 f"account_type={account_type}")

    def confirmed_parent(self, prelinked: bool = True) -> dict[str, Any]:
        return self.pick("representative", prelinked=prelinked, account_type="confirmed")


def _age(journal_persona: dict[str, Any], on: dt.date | None = None) -> int:
    """Age in whole years on `on`, by default today: the journal under test lives on the real
    date (tests that move its clock put it back), not on the dataset's as-of date, so a child
    the dataset made 13 may be 14 by now."""
    born = dt.date.fromisoformat(journal_persona["birth_date"])
    on = on or dt.date.today()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
