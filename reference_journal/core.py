"""The journal's core: storage, clock, defects, event log, accounts, and the rules of who
may see and change what (ROLE-01…ROLE-05). No HTTP here; the API modules call it.

`Journal(settings)` is one journal. `journal.export` and `journal.auth` are the slots (None
until a later package provides them; see `reference_journal/__init__.py`).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from reference_journal import events as ev
from reference_journal.accounts import Account, Accounts, Sessions
from reference_journal.clock import Clock, zone
from reference_journal.config import Settings
from reference_journal.db import Database
from reference_journal.defects import DefectSwitch
from reference_journal.events import EventLog
from reference_journal.passwords import verify_password
from specs.tables import load_tables

SELF, CHILD, STAFF = "self", "child", "staff"


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class Journal:
    """One reference journal instance."""

    def __init__(self, settings: Settings | None = None, *, http_transport: Any = None) -> None:
        self.settings = settings or Settings()
        # Outgoing HTTP (ЕСИА, agent, showcase): an `httpx.AsyncBaseTransport` to use instead
        # of the network, e.g. an in-process mock in tests; None = real connections.
        self.http_transport = http_transport
        self.tables = load_tables()
        self.db = Database(self.settings.db, self.tables)
        self.clock = Clock(zone(self.settings.timezone), self.settings.clock_offset)
        self.defect_on = DefectSwitch(self.settings.defects)
        self.events = EventLog(self.db, self.clock)
        self.accounts = Accounts(self)
        self.sessions = Sessions(self)
        self.export: Any = None  # the export slot (reference_journal.export), if installed
        self.auth: Any = None    # the auth slot (reference_journal.auth), if installed
        self.ensure_admin()

    # -- administration ---------------------------------------------------------------------

    def ensure_admin(self) -> None:
        """Create (or re-key) the administrator/auditor account of the settings."""
        password = self.settings.admin_password
        if not password:
            return
        account = self.accounts.by_login(self.settings.admin_login)
        if account is None:
            self.accounts.create(self.settings.admin_login, password, "admin")
            self.events.record(ev.ACCOUNT_CREATE, "system", object=f"login:{self.settings.admin_login}",
                               details={"role": "admin", "source": "settings"})
        elif not verify_password(password, self.accounts.password_hash(account.id)):
            self.accounts.set_password(account.id, password)

    def reset(self, actor: str = "test-control") -> None:
        """Empty journal: no data, accounts, links, consents or sessions; clock released.
        The event log is kept."""
        self.db.wipe()
        self.clock.release()
        self.events.record(ev.RESET, actor)
        self.ensure_admin()

    # -- people ------------------------------------------------------------------------------

    def learner(self, learner_id: str) -> dict[str, Any] | None:
        return self.db.get("learners", learner_id)

    def person(self, account: Account) -> dict[str, Any] | None:
        if not account.person_table or not account.person_id:
            return None
        return self.db.get(account.person_table, account.person_id)

    def age(self, birth_date: str) -> int:
        birth, today = dt.date.fromisoformat(birth_date), self.clock.today()
        if self.defect_on("AGE_BY_BIRTH_YEAR"):
            return today.year - birth.year
        if self.defect_on("BIRTHDAY_COUNTED_NEXT_DAY"):
            return age_on(birth, today - dt.timedelta(days=1))
        return age_on(birth, today)

    def under_14(self, learner: dict[str, Any]) -> bool:
        return self.age(learner["birth_date"]) < 14

    def current_class(self, learner_id: str) -> dict[str, Any] | None:
        """The class the learner is in today, else the latest one."""
        today = self.clock.today().isoformat()
        return self.db.one(
            "SELECT c.id, c.name FROM class_learners cl JOIN classes c ON c.id = cl.class_id "
            "WHERE cl.learner_id = ? ORDER BY (cl.start_date <= ? AND (cl.end_date IS NULL OR cl.end_date >= ?)) DESC, "
            "cl.start_date DESC LIMIT 1", (learner_id, today, today))

    def children_of(self, representative_id: str) -> list[str]:
        return [r["learner_id"] for r in self.db.query(
            "SELECT learner_id FROM learner_representatives WHERE representative_id = ? ORDER BY learner_id",
            (representative_id,))]

    def representatives_of(self, learner_id: str) -> list[str]:
        return [r["representative_id"] for r in self.db.query(
            "SELECT representative_id FROM learner_representatives WHERE learner_id = ? ORDER BY representative_id",
            (learner_id,))]

    def learners_of(self, account: Account) -> list[tuple[dict[str, Any], str]]:
        """The learners the account sees as itself (`self`) or as a parent (`child`)."""
        found: list[tuple[dict[str, Any], str]] = []
        if account.person_table == "learners" and account.person_id:
            row = self.learner(account.person_id)
            if row:
                found.append((row, SELF))
        elif account.person_table == "representatives" and account.person_id:
            for learner_id in self.children_of(account.person_id):
                row = self.learner(learner_id)
                if row:
                    found.append((row, CHILD))
        return found

    def relation(self, account: Account | None, learner_id: str, allow_staff: bool = False) -> str | None:
        """How the account relates to the learner: self, child, staff (same school, when
        allowed) or None (ROLE-01, ROLE-05: an account without an approved person sees nothing)."""
        if account is None or not account.person_id or account.role is None:
            return None
        if account.person_table == "learners":
            return SELF if account.person_id == learner_id else None
        if account.person_table == "representatives":
            children = self.children_of(account.person_id)
            if learner_id in children:
                return CHILD
            if self.defect_on("FAMILY_CHECK_BY_PREFIX") and any(learner_id.startswith(c) for c in children):
                return CHILD
            if self.defect_on("PARENT_READS_ANY_CHILD") and self.learner(learner_id) is not None:
                return CHILD
            if self.defect_on("CLASSMATES_VISIBLE") and self._shares_class(account.person_id, learner_id):
                return CHILD
            return None
        if account.person_table == "staff" and allow_staff:
            staff, learner = self.db.get("staff", account.person_id), self.learner(learner_id)
            if staff and learner and staff["organisation_id"] == learner["organisation_id"]:
                return STAFF
        return None

    def _shares_class(self, representative_id: str, learner_id: str) -> bool:
        children = self.children_of(representative_id)
        if not children:
            return False
        marks = ", ".join("?" for _ in children)
        return self.db.one(
            f"SELECT 1 FROM class_learners a JOIN class_learners b ON a.class_id = b.class_id "
            f"WHERE a.learner_id IN ({marks}) AND b.learner_id = ? LIMIT 1", (*children, learner_id)) is not None

    def organisation_of(self, account: Account) -> str | None:
        """The school of a staff account (None for a journal-wide administrator)."""
        if account.person_table == "staff" and account.person_id:
            row = self.db.get("staff", account.person_id)
            return row["organisation_id"] if row else None
        return None

    # -- consent (AUTH-08) -------------------------------------------------------------------

    def consent_granted(self, learner_id: str) -> bool:
        """Whether a representative's consent to pass the child's data is in force."""
        row = self.db.one("SELECT granted FROM consent_state WHERE learner_id = ?", (learner_id,))
        return bool(row and row["granted"])

    def consent_changed_at(self, learner_id: str) -> dt.datetime | None:
        row = self.db.one("SELECT changed_at FROM consent_state WHERE learner_id = ?", (learner_id,))
        return ev.parse_utc(row["changed_at"]) if row else None

    def set_consent(self, learner_id: str, granted: bool, changed_at: dt.datetime, source: str,
                    consent_id: str | None = None) -> None:
        """Record the consent state of a learner (source: dataset or portal)."""
        self.db.execute(
            "INSERT INTO consent_state (learner_id, granted, changed_at, source, consent_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (learner_id) DO UPDATE SET granted = excluded.granted, changed_at = excluded.changed_at, "
            "source = excluded.source, consent_id = excluded.consent_id",
            (learner_id, 1 if granted else 0, ev.utc_text(changed_at), source, consent_id))

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the status page shows (no personal data)."""
        counts = {name: self.db.count(name) for name in ("organisations", "learners", "representatives",
                                                          "staff", "marks")}
        return {
            "dataset_id": self.db.meta("dataset_id"), "loaded_at": self.db.meta("loaded_at"),
            "counts": counts,
            "accounts": self.db.one("SELECT count(*) AS n FROM accounts")["n"],  # type: ignore[index]
            "clock": self.clock.state(), "defects": sorted(self.settings.defects),
            "auth": self.auth is not None, "export": self.export is not None,
        }
