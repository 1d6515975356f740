"""The two slots later packages fill: ЕСИА sign-in (`reference_journal.auth`) and export to
the showcase (`reference_journal.export`). See `reference_journal/__init__.py` for the
contract; this module only finds and starts them.

A slot is a module (or package) with one factory:

    reference_journal/auth.py:    def create_auth(journal: Journal) -> AuthSlot
    reference_journal/export.py:  def create_exporter(journal: Journal) -> ExportSlot

A missing module leaves the slot empty (the journal still runs; test-control export answers
501). A module that exists but fails to import is an error, not a silent fallback.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, Awaitable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from starlette.routing import BaseRoute

    from reference_journal.core import Journal

AUTH_MODULE = "reference_journal.auth"
EXPORT_MODULE = "reference_journal.export"


@runtime_checkable
class AuthSlot(Protocol):
    """ЕСИА sign-in (AUTH-01…AUTH-13).

    `routes` are mounted at the app root before the journal's own (e.g. `/auth/esia/login`,
    `/auth/esia/callback`, sign-in pages). On success it opens a session with
    `journal.sessions.open(account_id, method="esia", ip=..., extra={...})` and links
    accounts with `journal.accounts.link_esia(...)`; it refuses children without consent via
    `journal.consent_granted(learner_id)`; it checks its defects with `journal.defect_on(ID)`.
    `logout_url(session)` gives ЕСИА's logout URL for a session it opened (AUTH-11), or None.
    """

    routes: Sequence["BaseRoute"]

    def logout_url(self, session: Mapping[str, Any]) -> str | None: ...

    def status(self) -> Mapping[str, Any]: ...


@runtime_checkable
class ExportSlot(Protocol):
    """Export to the showcase and event notifications (EXP-01…EXP-08, NOTIF-01/02).

    Methods may be plain or `async`. `start(request)` starts a job for an `ExportRequest` of
    test-control.yaml (already validated) and returns its id; `job(id)` returns an
    `ExportJob` dict or None; `busy()` says whether a job runs (test-control answers 409 then);
    `reset()` drops pending work (test-control reset and dataset load); `clock_advanced(s)`
    runs scheduled work that became due when the test clock moved. It reads rows with
    `journal.db.rows(table)` / `journal.db.to_typed(...)`, increments with
    `journal.db.changes(after_seq)`, marks rows sent with `journal.db.mark_sent(...)`, and logs
    uploads with `journal.events.record(events.UPLOAD, ...)`.
    """

    def start(self, request: Mapping[str, Any]) -> str | Awaitable[str]: ...

    def job(self, job_id: str) -> Mapping[str, Any] | None | Awaitable[Mapping[str, Any] | None]: ...

    def busy(self) -> bool | Awaitable[bool]: ...

    def reset(self) -> None | Awaitable[None]: ...

    def clock_advanced(self, seconds: int) -> None | Awaitable[None]: ...


def _load(module_name: str, factory: str, journal: "Journal") -> Any:
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        return None
    module = importlib.import_module(module_name)
    return getattr(module, factory)(journal)


def load_auth(journal: "Journal") -> AuthSlot | None:
    return _load(AUTH_MODULE, "create_auth", journal)


def load_export(journal: "Journal") -> ExportSlot | None:
    return _load(EXPORT_MODULE, "create_exporter", journal)
