"""The regional showcase (РВД) core of mock ЕПГУ, with no HTTP in it.

`Showcase` accepts one CSV file per request (`submit`), answers a request id at once and
walks the request through the status codes of PROTOCOLS.md §3.3 on its own clock:

    -1 (writing the body to the buffer, inside `submit`) → 0 buffered → 1 waiting for the
    delta → 2 processing → 6 ФЛК → 3 success | 7 ФЛК errors;   4 = processing failed

A worker thread moves the requests, each stage lasting `Settings.delays[stage]` seconds;
the delays of all requests run side by side, and a request leaves 6 (its ФЛК, then its
merge) only when every earlier request of its source is final. So one source's files are
checked and applied in arrival order across tables (a journal that uploads parents before
children without waiting has its children checked against stored parents), while other
sources' files never queue behind a source's delays (specs/README.md, "Showcase ordering").
ФЛК and merges run one at a time (one DuckDB writer). In step mode (`Settings.step`) nothing moves on its own: `step()` advances the
oldest unfinished request by one stage, `run_pending()` finishes them all.

At 6 the ФЛК (`flk.FlkEngine`) checks the file against the specs and the stored data. A
file with any violation is rejected as a whole (7; the report is at `errors()`); a clean
file is merged in one transaction: `upload` replaces rows by primary key, `delete` removes
exactly the keyed rows (absent keys are no error). Uploading the same file again changes
nothing. An unexpected failure while processing gives 4, as does the `fail` fault.

State (data, requests with their history and ФЛК reports, sources) lives in DuckDB
(`store.Store`), in `state_dir` when given; the uploaded bodies wait in `state_dir/spool`.
A `Showcase` reopened on the same directory keeps everything and resumes requests that
were in flight: they re-enter at 2 (processing) and their ФЛК runs again; a request whose
body is gone ends in 4.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import heapq
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from mocks.common.body import check_utf8
from mocks.common.faults import Fault, FaultQueue
from mocks.common.journal import RequestJournal
from mocks.epgu.flk import SHOWCASE_SCHEMA, FlkEngine, FlkResult
from mocks.epgu.store import DB_FILE, QueryResult, Store
from specs.showcase_statuses import Status, final_codes, statuses
from specs.tables import TableSet, load_tables
from specs.validate import load_rules

DATAMART_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SENDER_RE = re.compile(r"^[A-Z0-9_]{2,32}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OPERATIONS = ("upload", "delete")
STAGES = ("0", "1", "2", "6")          # stages that last `Settings.delays[stage]` seconds
TRANSIENT = (-1, 1, 2, 6)   # not written to the store: a request in flight resumes from 0 or 2 anyway
RECORD_BATCH_SECONDS = 0.2  # request records gather this long before one statement writes them

# Fault endpoints of the HTTP layer and of the lifecycle, and their kinds.
HTTP_ENDPOINTS = ("upload", "status", "errors", "notifications", "overview", "page",
                  "journal_login", "password_reset")
HTTP_FAULTS = ("status", "delay", "drop")
LIFECYCLE_FAULTS = ("fail", "stall", "flk")

UNAUTHORIZED_RU = "Идентификатор Системы-источника не допустимый или подпись ошибочная"
BAD_INPUT_RU = "Ошибка входных данных"


# The status codes as `specs/openapi/showcase.yaml` states them (read in specs, once).
StatusCode, status_codes = Status, statuses


def status_body(code: int) -> dict[str, Any]:
    return {"code": code, "description": status_codes()[code].ru}


def now_iso() -> str:
    """UTC now as 2026-01-31T12:00:00.000000Z (isoformat: a third of strftime's CPU)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


# --- errors ----------------------------------------------------------------------------------

class ShowcaseError(Exception):
    """A refusal: HTTP `status`, ApiError `error` code, Russian `message`, English `message_en`."""

    status = 400
    error = "invalid_request"

    def __init__(self, message_en: str, *, error: str | None = None, status: int | None = None,
                 message: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        if error:
            self.error = error
        if status:
            self.status = status
        self.message = message or f"{BAD_INPUT_RU}: {message_en}"
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "message_en": self.message_en,
                "details": self.details}


class ShowcaseInputError(ShowcaseError):
    """Input that never reaches the lifecycle (400 «Ошибка входных данных», 413 too large)."""


class ShowcaseAuthError(ShowcaseError):
    """Unknown or inadmissible source system (401, not to be retried)."""

    status = 401
    error = "unknown_source_system"

    def __init__(self, message_en: str) -> None:
        super().__init__(message_en, message=UNAUTHORIZED_RU)


class UnknownRequest(ShowcaseError):
    status = 404
    error = "unknown_request"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no request {request_id} of this source system",
                         message=f"Запрос {request_id} этой системы-источника не найден")


# --- settings --------------------------------------------------------------------------------

def _default_delays() -> dict[str, float]:
    return {stage: 0.05 for stage in STAGES}


@dataclass
class Settings:
    """Tunables of the showcase and the portal (one mock, one settings object)."""
    datamarts: list[str] = field(default_factory=lambda: ["myedu"])   # known showcase mnemonics
    delays: dict[str, float] = field(default_factory=_default_delays)  # seconds per stage 0/1/2/6
    step: bool = False                    # True: nothing moves until step() / POST /_admin/step
    max_body: int = 100 * 1024 * 1024     # upload cap (showcase.yaml: 100 MB); larger → 413
    admin_max_body: int = 256 * 1024 * 1024
    portal_max_body: int = 1024 * 1024    # notifications, portal forms
    max_errors: int = 1000                # ФЛК violations kept per request
    db_memory_mib: int = 192              # DuckDB's memory limit; beyond, it spills to disk
    journal_size: int = 10_000
    # portal side
    agent_url: str = "http://127.0.0.1:8090"   # the ПОДД agent; "" = never call the journal
    journal_mnemonic: str = "MNSV03"           # {agent_url}/{journal_mnemonic}/ezhd/api/v1/...
    portal_mnemonic: str = "EPGU"              # X-Smev-Sender of the portal's calls
    journal_timeout: float = 10.0
    portal_date: str | None = None             # "today" of the portal (YYYY-MM-DD); None = real date
    portal_days_back: int = 30                 # default overview period: today - back … today + ahead
    portal_days_ahead: int = 14

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if not isinstance(self.datamarts, list) or not all(
                isinstance(d, str) and DATAMART_RE.match(d) for d in self.datamarts):
            raise ValueError("datamarts must be a list of mnemonics matching [A-Za-z0-9_-]{1,64}")
        if not isinstance(self.delays, dict) or set(self.delays) - set(STAGES):
            raise ValueError(f"delays must map stages {', '.join(STAGES)} to seconds")
        for stage, seconds in self.delays.items():
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 3600:
                raise ValueError(f"delay of stage {stage} must be a number of seconds in 0..3600")
        for name in ("max_body", "admin_max_body", "portal_max_body", "max_errors", "journal_size",
                     "db_memory_mib"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer")
        if self.db_memory_mib < 64:
            raise ValueError("db_memory_mib must be at least 64 (MiB)")
        if not isinstance(self.step, bool):
            raise ValueError("step must be true or false")
        for name in ("journal_mnemonic", "portal_mnemonic"):
            if not isinstance(getattr(self, name), str) or not SENDER_RE.match(getattr(self, name)):
                raise ValueError(f"{name} must match [A-Z0-9_]{{2,32}}")
        if not isinstance(self.agent_url, str) or (self.agent_url and not re.match(r"^https?://", self.agent_url)):
            raise ValueError("agent_url must be an http(s) URL or empty")
        if self.portal_date is not None:
            try:
                dt.date.fromisoformat(str(self.portal_date))
            except ValueError:
                raise ValueError("portal_date must be YYYY-MM-DD or null") from None
        for name in ("journal_timeout",):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number")
        for name in ("portal_days_back", "portal_days_ahead"):
            if not isinstance(getattr(self, name), int) or not 0 <= getattr(self, name) <= 366:
                raise ValueError(f"{name} must be an integer in 0..366")


# --- requests --------------------------------------------------------------------------------

@dataclass
class UploadRequest:
    request_id: str
    seq: int
    source: str
    datamart: str
    table_name: str
    operation: str
    file_name: str | None
    size: int
    sha256: str
    created_at: str
    code: int = -1
    updated_at: str = ""
    rows: int | None = None
    error_count: int = 0
    reason: str | None = None
    fault: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # runtime only
    next_at: float = 0.0
    stall_until: float | None = None

    def persisted(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "request_id", "seq", "source", "datamart", "table_name", "operation", "file_name",
            "size", "sha256", "code", "created_at", "updated_at", "rows", "error_count", "reason",
            "fault", "history")}

    def public(self) -> dict[str, Any]:
        out = self.persisted()
        out["table"] = out.pop("table_name")
        out["description"] = status_codes()[self.code].ru
        out["key"] = status_codes()[self.code].key
        out["final"] = status_codes()[self.code].final
        out["stalled"] = self.stall_until is not None
        return out


# --- the order of work -----------------------------------------------------------------------

class _Schedule:
    """Which request a worker moves next, without a pass over every request in flight.

    The rules: a request may move once its stage's delay is over (`next_at`); a request leaves
    6 (its ФЛК and merge) only when it is the oldest unfinished request of its source and is
    not stalled; of those ready, the one with the least (when its source last left 6, taken as
    0 for a request before 6; when it fell due) goes first, so sources take turns at the ФЛК.
    A request a thread is moving is not offered.
    Kept by the lifecycle (under the showcase's lock): `add` a new request, `moved` after each
    transition or release, `take` for a worker. Stale heap entries are skipped (`_version`)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._timers: list[tuple[float, int, int, UploadRequest]] = []    # (due, seq, version, rec)
        self._ready: list[tuple[float, float, int, int, UploadRequest]] = []  # (served, at, seq, version, rec)
        self._by_source: dict[str, collections.deque[UploadRequest]] = {}   # unfinished, oldest first
        self._version: dict[str, int] = {}
        self.live = 0

    def oldest(self) -> UploadRequest | None:
        """The unfinished request that arrived first (step mode moves it)."""
        return min((line[0] for line in self._by_source.values()), key=lambda r: r.seq, default=None)

    def add(self, rec: UploadRequest) -> None:
        """A new unfinished request (in order of arrival)."""
        self._by_source.setdefault(rec.source, collections.deque()).append(rec)
        self.live += 1
        self._offer(rec)

    def moved(self, rec: UploadRequest, final: bool) -> None:
        """After `rec` changed (a transition, a release): offer it again, or forget it when final."""
        if not final:
            self._offer(rec)
            return
        line = self._by_source.get(rec.source)
        if not line or rec not in line:
            return
        head = line[0] is rec
        if head:
            line.popleft()
        else:
            line.remove(rec)
        self.live -= 1
        self._version.pop(rec.request_id, None)
        if not line:
            del self._by_source[rec.source]
        elif head:
            self._offer(line[0])           # the source's next file may leave 6 now

    def _offer(self, rec: UploadRequest) -> None:
        version = self._version.get(rec.request_id, 0) + 1
        self._version[rec.request_id] = version
        due = rec.next_at
        if rec.code == 6:
            line = self._by_source.get(rec.source)
            if not line or line[0] is not rec:
                return                     # offered when the files before it are final
            if rec.stall_until is not None:
                if rec.stall_until == math.inf:
                    return                 # offered again by `release`
                due = max(due, rec.stall_until)
        heapq.heappush(self._timers, (due, rec.seq, version, rec))

    def take(self, now: float, served: dict[str, float], busy: set[str]
             ) -> tuple[UploadRequest | None, float]:
        """(the request to move now, or None; seconds until the next may be due, at most 0.5)."""
        timers, ready, versions = self._timers, self._ready, self._version
        while timers and timers[0][0] <= now:
            _, seq, version, rec = heapq.heappop(timers)
            if versions.get(rec.request_id) != version:
                continue
            if rec.code == 6 and rec.stall_until is not None and rec.stall_until > now:
                self._offer(rec)           # stalled longer than it was due
                continue
            heapq.heappush(ready, (served.get(rec.source, 0.0) if rec.code == 6 else 0.0,
                                   rec.next_at, seq, version, rec))
        best = None
        while ready:
            entry = heapq.heappop(ready)
            rec = entry[4]
            if versions.get(rec.request_id) == entry[3] and rec.request_id not in busy:
                versions[rec.request_id] = entry[3] + 1      # taken: offered again by `moved`
                best = rec
                break
        while timers and versions.get(timers[0][3].request_id) != timers[0][2]:
            heapq.heappop(timers)
        return best, max(min(0.5, timers[0][0] - now) if timers else 0.5, 0.0)


# --- the core --------------------------------------------------------------------------------

class Showcase:
    """The regional showcase: sources, upload requests and their lifecycle, stored data.

    `Showcase(state_dir=None, settings=None, workers=2, **overrides)`; `start=False` starts
    no worker thread (`Settings.step` idles them). Close it (`close()`) to stop the worker and the database."""

    def __init__(self, state_dir: Path | str | None = None, settings: Settings | None = None, *,
                 tables: TableSet | None = None, start: bool = True, workers: int = 2,
                 **overrides: Any) -> None:
        self.settings = settings or Settings()
        if overrides:
            self.settings = dataclasses.replace(self.settings, **overrides)
        self.settings.validate()
        self.tables = tables or load_tables()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.spool_dir: Path | None = None         # uploaded bodies on disk (None: in memory)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.spool_dir = self.state_dir / "spool"
            self.spool_dir.mkdir(exist_ok=True)
        self._scratch: Path | None = None            # large bodies of an in-memory showcase
        self.store = Store(self.tables, self.state_dir / DB_FILE if self.state_dir else None,
                           memory_mib=self.settings.db_memory_mib)
        self.flk = FlkEngine(con=self.store.con, tables=self.tables)
        self.faults = FaultQueue(HTTP_ENDPOINTS + ("lifecycle",), HTTP_FAULTS + LIFECYCLE_FAULTS)
        self.journal = RequestJournal(self.settings.journal_size)
        self._cond = threading.Condition()
        self._requests: dict[str, UploadRequest] = {}
        self._schedule = _Schedule()              # the unfinished requests; what moves next
        self._bodies: dict[str, bytes] = {}       # spool of an in-memory showcase
        self._sources: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._closed = False
        self._busy: set[str] = set()              # requests a thread is moving now
        self._served: dict[str, float] = {}       # source → when its last file was checked
        self._waiters: dict[str, list[Callable[[], None]]] = {}   # request → called when final
        # Request records reach the store through one writer thread, in batches, outside the
        # lifecycle's lock: `_unsaved` holds the latest record of each request not yet written.
        self._unsaved: dict[str, dict[str, Any]] = {}
        self._saving = threading.Condition()        # guards `_unsaved` (held briefly)
        self._write_lock = threading.Lock()         # held while a batch is written, and by reset()
        self._generation = 0                        # bumped by reset(): older batches are dropped
        self._flush_now = False                     # flush() asks the writer not to wait for more
        self._load()
        self._writer = threading.Thread(target=self._write_records, name="epgu-records", daemon=True)
        self._writer.start()
        self._workers: list[threading.Thread] = []
        if start:
            for i in range(max(1, int(workers))):
                worker = threading.Thread(target=self._run, name=f"epgu-showcase-{i}", daemon=True)
                worker.start()
                self._workers.append(worker)

    # -- lifecycle of the object ----------------------------------------------------------

    def _load(self) -> None:
        for s in self.store.load_sources():
            self._sources[s["mnemonic"]] = s
        resumed: set[str] = set()
        for row in self.store.load_requests():
            rec = UploadRequest(**row)
            rec.history = rec.history or []
            self._requests[rec.request_id] = rec
            self._seq = max(self._seq, rec.seq)
            if not status_codes()[rec.code].final:
                if not self._spool_path(rec.request_id) or not self._spool_path(rec.request_id).exists():
                    self._set(rec, 4, reason="the request body was lost when the mock restarted")
                    continue
                # the store keeps 0 and final codes only (TRANSIENT): every request in flight re-enters 2
                self._set(rec, 2, note="resumed after a restart; ФЛК runs again")
                rec.next_at = time.monotonic()
                self._schedule.add(rec)
                resumed.add(rec.request_id)
        self._resumed = len(resumed)
        if self.spool_dir is not None:         # bodies no request in flight needs (never recorded, final)
            for leftover in self.spool_dir.iterdir():
                if leftover.stem not in resumed or leftover.suffix != ".csv":
                    leftover.unlink(missing_ok=True)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=10)
        with self._saving:
            self._saving.notify_all()
        self._writer.join(timeout=30)
        self._call_waiters(list(self._waiters))
        self.store.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "Showcase":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def configure(self, **changes: Any) -> Settings:
        unknown = [k for k in changes if not hasattr(self.settings, k)]
        if unknown:
            raise ValueError(f"unknown setting {', '.join(unknown)}; known: "
                             f"{', '.join(f.name for f in dataclasses.fields(Settings))}")
        if "delays" in changes and isinstance(changes["delays"], dict):
            changes["delays"] = {**self.settings.delays, **{str(k): v for k, v in changes["delays"].items()}}
        candidate = dataclasses.replace(self.settings, **changes)
        candidate.validate()
        if candidate.db_memory_mib != self.settings.db_memory_mib:
            self.store.set_memory_limit(candidate.db_memory_mib)
        with self._cond:
            self.settings = candidate
            self._cond.notify_all()
        return self.settings

    def reset(self) -> None:
        """Forget data, requests, sources, portal state, faults and the journal (not settings)."""
        with self._cond:
            for rid in list(self._requests):
                self._drop_body(rid)
            self._requests.clear()
            self._schedule.clear()
            self._sources.clear()
            waiting = list(self._waiters)
        with self._write_lock:                 # no record of a forgotten request is written later
            with self._saving:
                self._unsaved.clear()
                self._generation += 1
            self.store.clear_showcase()
            self.store.clear_meta()
        self._call_waiters(waiting)
        self.faults.clear()
        self.journal.clear()

    # -- sources ------------------------------------------------------------------------------

    def register_source(self, mnemonic: str, datamarts: Iterable[str] | None = None,
                        title: str | None = None) -> dict[str, Any]:
        """Register a source system (journal) allowed to upload to `datamarts` (default: all
        known). New datamarts become known."""
        if not isinstance(mnemonic, str) or not SENDER_RE.match(mnemonic):
            raise ValueError("mnemonic must match [A-Z0-9_]{2,32}")
        marts = list(datamarts) if datamarts is not None else list(self.settings.datamarts)
        if not marts or not all(isinstance(d, str) and DATAMART_RE.match(d) for d in marts):
            raise ValueError("datamarts must be a non-empty list of mnemonics matching [A-Za-z0-9_-]{1,64}")
        entry = {"mnemonic": mnemonic, "datamarts": sorted(set(marts)), "title": title,
                 "created_at": now_iso()}
        self.store.save_source(mnemonic, entry["datamarts"], title, entry["created_at"])
        with self._cond:
            self._sources[mnemonic] = entry
        return entry

    def remove_source(self, mnemonic: str) -> bool:
        with self._cond:
            found = self._sources.pop(mnemonic, None) is not None
        if found:
            self.store.delete_source(mnemonic)
        return found

    def sources(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(s) for s in sorted(self._sources.values(), key=lambda s: s["mnemonic"])]

    def is_source(self, mnemonic: str | None) -> bool:
        return bool(mnemonic) and mnemonic in self._sources

    def known_datamarts(self) -> set[str]:
        with self._cond:
            return set(self.settings.datamarts) | {d for s in self._sources.values() for d in s["datamarts"]}

    def is_known_datamart(self, datamart: str) -> bool:
        """`datamart in known_datamarts()`, without building the set on every upload."""
        if datamart in self.settings.datamarts:
            return True
        with self._cond:
            return any(datamart in s["datamarts"] for s in self._sources.values())

    def authenticate(self, sender: str | None, datamart: str | None = None) -> str:
        """The source mnemonic of `X-Smev-Sender`; `ShowcaseAuthError` (401) when missing or
        unknown, or when it may not write to `datamart` (a known datamart of others)."""
        if not sender:
            raise ShowcaseAuthError("X-Smev-Sender is missing: the source system is not identified")
        source = self._sources.get(sender)
        if source is None:
            raise ShowcaseAuthError(f"source system {sender[:40]!r} is not registered")
        if datamart is not None and datamart not in source["datamarts"] and self.is_known_datamart(datamart):
            raise ShowcaseAuthError(f"source system {sender!r} may not write to datamart {datamart!r}")
        return sender

    # -- submit and status ------------------------------------------------------------------

    def check_target(self, datamart: str, table: str, operation: str) -> None:
        """`ShowcaseInputError` for an unknown operation, datamart or table (path traversal
        and odd names included)."""
        if operation not in OPERATIONS:
            raise ShowcaseInputError(f"operation must be upload or delete, not {operation[:40]!r}",
                                     error="bad_operation")
        if not DATAMART_RE.match(datamart or "") or not self.is_known_datamart(datamart):
            raise ShowcaseInputError(f"datamart {datamart[:64]!r} is not known to this showcase",
                                     error="unknown_datamart",
                                     details=[{"field": "datamart", "message": "known: " + ", ".join(
                                         sorted(self.known_datamarts()))}])
        if not TABLE_RE.match(table or "") or table not in self.tables:
            why = ("a table name is lower-case letters, digits and _ (no path)"
                   if not TABLE_RE.match(table or "") else f"not part of datamart {datamart!r}")
            raise ShowcaseInputError(f"table {table[:64]!r}: {why}", error="unknown_table",
                                     details=[{"field": "table", "message": "known: " + ", ".join(self.tables.names)}])

    def submit(self, datamart: str, table: str, operation: str, data: bytes | Path, source: str,
               file_name: str | None = None, *, utf8_checked: bool = False, sha256: str | None = None) -> str:
        """Accept one CSV file for the lifecycle; returns the request id (a UUID string).

        `data` is the body, or a file holding it (a large body spooled by the HTTP layer):
        the showcase links or copies that file into its spool and never reads it into memory.

        Raises `ShowcaseAuthError` for an unknown source and `ShowcaseInputError` for a bad
        target, an empty body, a body over `max_body` or a body that is not UTF-8 — those
        never get a request id. Everything else (BOM, delimiter, header, values) is ФЛК:
        the request ends in 7 with the report at `errors()`. `utf8_checked`: the caller (the
        agent) has already decoded the body, so it is not decoded again; `sha256`: the
        caller's digest of it, computed while reading."""
        self.authenticate(source, datamart)
        self.check_target(datamart, table, operation)
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        if not size:
            raise ShowcaseInputError("the body is empty: send the CSV file", error="empty_body")
        if size > self.settings.max_body:
            raise ShowcaseInputError(f"the body is larger than {self.settings.max_body} bytes",
                                     error="too_large", status=413)
        try:
            if not utf8_checked:
                check_utf8(data)
        except UnicodeDecodeError as exc:
            raise ShowcaseInputError(f"the body is not UTF-8 (byte {exc.start}: {exc.reason})",
                                     error="bad_encoding") from None
        rid = str(uuid.uuid4())
        rec = UploadRequest(rid, 0, source, datamart, table, operation, file_name, size,
                            sha256 or _sha256(data), now_iso())
        fault = self.faults.take("lifecycle", LIFECYCLE_FAULTS)
        if fault is not None:
            rec.fault = {"kind": fault.kind, "seconds": fault.seconds}
        self._set(rec, -1, register=True)
        self._write_body(rid, data)
        with self._cond:
            # arrival is when the body is buffered: the sequence number and the queue's order
            # are given together, so one source's files are processed in the order of `seq`
            self._seq += 1
            rec.seq = self._seq
            rec.next_at = time.monotonic() + self.settings.delays.get("0", 0.0)
            self._set(rec, 0)
            self._schedule.add(rec)
            self._cond.notify_all()
        return rid

    def _get(self, request_id: str) -> UploadRequest | None:
        if not isinstance(request_id, str) or not UUID_RE.match(request_id):
            raise ShowcaseInputError(f"request id {str(request_id)[:64]!r} is not a UUID", error="bad_request_id")
        return self._requests.get(request_id)

    def status(self, request_id: str, source: str | None = None) -> dict[str, Any]:
        """`{"code", "description"}`; 5 for an unknown id or a request of another source."""
        rec = self._get(request_id)
        if rec is None or (source is not None and rec.source != source):
            return status_body(5)
        return status_body(rec.code)

    def request(self, request_id: str) -> dict[str, Any]:
        """The full record of a request (admin view); `KeyError` if unknown."""
        rec = self._get(request_id)
        if rec is None:
            raise KeyError(request_id)
        return rec.public()

    def requests(self, source: str | None = None, table: str | None = None,
                 code: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self._cond:
            recs = sorted(self._requests.values(), key=lambda r: r.seq)
        out = [r.public() for r in recs if (source is None or r.source == source)
               and (table is None or r.table_name == table) and (code is None or r.code == code)]
        return out[-limit:] if limit else out

    def errors(self, request_id: str, source: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """The ФЛК report of a request (`FlkReport` of showcase.yaml); `UnknownRequest` for an
        unknown id or a request of another source."""
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ShowcaseInputError("limit must be an integer in 1..10000", error="invalid_request")
        rec = self._get(request_id)
        if rec is None or (source is not None and rec.source != source):
            raise UnknownRequest(request_id)
        listed = self.store.load_errors(request_id, limit) if rec.error_count else []
        return {"request_id": rec.request_id, "datamart": rec.datamart, "table": rec.table_name,
                "operation": rec.operation, "code": rec.code, "total": rec.error_count,
                "truncated": rec.error_count > len(listed), "errors": listed}

    def wait(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the request is final (or `timeout` passes); its status then."""
        done = threading.Event()
        self.on_final(request_id, done.set)
        done.wait(timeout)
        return self.status(request_id)

    def on_final(self, request_id: str, callback: Callable[[], None]) -> None:
        """Call `callback()` (from whichever thread ends it) once the request is final, or is
        forgotten by a reset; at once when it already is. A waiter costs nothing until then."""
        with self._cond:
            rec = self._get(request_id)
            if rec is not None and not status_codes()[rec.code].final:
                self._waiters.setdefault(request_id, []).append(callback)
                return
        callback()

    def _call_waiters(self, request_ids: Iterable[str]) -> None:
        with self._cond:
            callbacks = [cb for rid in request_ids for cb in self._waiters.pop(rid, [])]
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()

    def release(self, request_id: str) -> dict[str, Any]:
        """End a `stall` fault: the request leaves 6 at its next step."""
        rec = self._get(request_id)
        if rec is None:
            raise KeyError(request_id)
        with self._cond:
            rec.stall_until = None
            if rec.fault and rec.fault.get("kind") == "stall":
                rec.fault = {**rec.fault, "released": True}
            if rec.request_id not in self._busy:
                self._moved(rec)
            self._cond.notify_all()
        return rec.public()

    # -- faults, journal -------------------------------------------------------------------

    def add_fault(self, endpoint: str, kind: str, count: int = 1, **params: Any) -> Fault:
        """Queue a fault for the next `count` requests. HTTP endpoints take `status` (answer
        `status`, default 500), `delay` (`seconds`) or `drop` (the connection closes with no
        complete answer); `lifecycle` takes `fail` (end in 4) or `stall` (stay in 6 for
        `seconds`, 0 = until released)."""
        if endpoint == "lifecycle" and kind not in LIFECYCLE_FAULTS:
            raise ValueError(f"lifecycle faults are {', '.join(LIFECYCLE_FAULTS)}")
        if endpoint != "lifecycle" and kind in LIFECYCLE_FAULTS:
            raise ValueError(f"{kind} is a lifecycle fault (endpoint lifecycle)")
        return self.faults.add(endpoint, kind, count, **params)

    def take_fault(self, endpoint: str, kinds: Iterable[str] = HTTP_FAULTS) -> Fault | None:
        return self.faults.take(endpoint, tuple(kinds))

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self.journal.record(entry)

    # -- data ---------------------------------------------------------------------------------

    def rows(self, table: str, limit: int = 100, offset: int = 0,
             where: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
        if table not in self.tables:
            raise KeyError(table)
        return self.store.rows(table, limit, offset, where)

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def checksum(self) -> dict[str, Any]:
        return self.store.checksum()

    def execute_readonly(self, sql: str, params: list[Any] | None = None, maxrows: int = 1000,
                         timeout_s: float = 30.0) -> QueryResult:
        """SQL mode of the ПОДД agent: one SELECT over the showcase tables (unqualified names
        resolve to schema `showcase`), never a write; see `Store.execute_readonly`."""
        return self.store.execute_readonly(sql, params, maxrows, timeout_s)

    # -- the lifecycle --------------------------------------------------------------------------

    def _set(self, rec: UploadRequest, code: int, *, reason: str | None = None, note: str | None = None,
             register: bool = False) -> None:
        with self._cond:
            if not register and self._requests.get(rec.request_id) is not rec:
                return                                  # forgotten by reset()
            rec.code = code
            rec.updated_at = now_iso()
            if reason is not None:
                rec.reason = reason
            step = {"code": code, "at": rec.updated_at}
            if note or reason:
                step["note"] = note or reason
            rec.history.append(step)
            if register:
                self._requests[rec.request_id] = rec
            if code not in TRANSIENT:
                record = rec.persisted()
                record["history"] = list(record["history"])
                with self._saving:
                    self._unsaved[rec.request_id] = record
                    self._saving.notify()
            self._cond.notify_all()
        if status_codes()[code].final:
            self._call_waiters([rec.request_id])

    def _write_records(self) -> None:
        """The writer thread: every record not yet in the store, written in one statement per
        batch, outside the lifecycle's lock (a request's final record follows its merge, so a
        restart re-runs at most a request whose data is already stored: the same upsert)."""
        while True:
            with self._saving:
                while not self._unsaved and not self._closed:
                    self._saving.wait(1.0)
                if not self._unsaved and self._closed:
                    return
                # a statement costs milliseconds whatever its size: let a batch gather
                until = time.monotonic() + RECORD_BATCH_SECONDS
                while not self._closed and not self._flush_now and time.monotonic() < until:
                    self._saving.wait(max(0.0, until - time.monotonic()))
                batch, self._unsaved, self._flush_now = list(self._unsaved.values()), {}, False
                generation = self._generation
            with self._write_lock:
                if generation != self._generation:
                    continue
                try:
                    self.store.save_requests(batch)
                except Exception:           # a closed store at shutdown; never stop the writer
                    if self._closed:
                        return
                    time.sleep(0.1)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every request record is written to the store."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._saving:
                pending = bool(self._unsaved)
                if pending:
                    self._flush_now = True
                    self._saving.notify()
            if not pending:
                with self._write_lock:         # a batch being written ends first
                    with self._saving:
                        if not self._unsaved:
                            return
            time.sleep(0.005)

    def _spool_path(self, request_id: str) -> Path | None:
        return self.spool_dir / f"{request_id}.csv" if self.spool_dir is not None else None

    def _write_body(self, request_id: str, data: bytes | Path) -> None:
        path = self._spool_path(request_id)
        if path is None and isinstance(data, bytes):
            self._bodies[request_id] = data
            return
        if path is None:                       # an in-memory showcase keeps a large body on disk too
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="ezhd-showcase-spool-"))
            path = self._scratch / f"{request_id}.csv"
            self._bodies[request_id] = path
        tmp = path.with_suffix(".part")
        if isinstance(data, Path):
            _link_or_copy(data, tmp)
        else:
            tmp.write_bytes(data)
        tmp.replace(path)

    def _body(self, request_id: str) -> bytes | Path | None:
        path = self._spool_path(request_id)
        if path is None:
            return self._bodies.get(request_id)
        return path if path.exists() else None

    def _drop_body(self, request_id: str) -> None:
        path = self._spool_path(request_id)
        if path is None:
            found = self._bodies.pop(request_id, None)
            if isinstance(found, Path):
                found.unlink(missing_ok=True)
        else:
            path.unlink(missing_ok=True)

    def pending(self) -> int:
        with self._cond:
            return self._schedule.live

    def _moved(self, rec: UploadRequest) -> None:
        """After a transition (or a release) of `rec`: tell the schedule. Call with `_cond` held."""
        if self._requests.get(rec.request_id) is rec:       # (not forgotten by reset())
            self._schedule.moved(rec, rec.code in final_codes())

    def step(self) -> tuple[str, int] | None:
        """Advance the oldest unfinished request by one stage, ignoring delays (a stalled
        request stays in 6); returns (request id, its code now) or None when idle."""
        with self._cond:
            rec = self._schedule.oldest()
        if rec is None:
            return None
        self._advance(rec)
        return rec.request_id, rec.code

    def run_pending(self, max_steps: int = 100_000) -> int:
        """Step until no request can move (idle, or the head is stalled); the steps taken."""
        steps = 0
        while steps < max_steps:
            with self._cond:
                rec = self._schedule.oldest()
            if rec is None:
                break
            before = (rec.request_id, rec.code)
            self._advance(rec)
            steps += 1
            if (rec.request_id, rec.code) == before:
                break
        return steps

    def _run(self) -> None:
        # Each worker checks files on its own DuckDB connection (a cursor of the store's), so
        # the ФЛК of different sources runs side by side; the compiled rule programs are shared.
        engine = FlkEngine(con=self.store.con.cursor(), tables=self.tables)
        engine._programs = self.flk._programs
        try:
            while True:
                with self._cond:
                    if self._closed:
                        return
                    if self.settings.step:
                        self._cond.wait(0.5)
                        continue
                    now = time.monotonic()
                    rec, wait_for = self._schedule.take(now, self._served, self._busy)
                    if rec is None:
                        self._cond.wait(wait_for or 0.01)
                        continue
                    self._busy.add(rec.request_id)
                    if rec.code == 6:
                        self._served[rec.source] = now
                try:
                    self._transition(rec, engine)
                except Exception:       # _transition ends a request in 4 itself; never stop the worker
                    time.sleep(0.05)
                finally:
                    with self._cond:
                        self._busy.discard(rec.request_id)
                        self._moved(rec)
                        self._cond.notify_all()
        finally:
            engine.con.close()

    def _advance(self, rec: UploadRequest) -> None:
        """One transition of the request at the head of the queue (step mode), on the store's
        own connection; waits while a worker is moving it."""
        with self._cond:
            while rec.request_id in self._busy:
                self._cond.wait(0.5)
            self._busy.add(rec.request_id)
        try:
            if not status_codes()[rec.code].final:
                with self.store.lock:
                    self._transition(rec, self.flk)
        finally:
            with self._cond:
                self._busy.discard(rec.request_id)
                self._moved(rec)
                self._cond.notify_all()

    def _transition(self, rec: UploadRequest, engine: FlkEngine) -> None:
        delays = self.settings.delays
        now = time.monotonic()
        try:
            if rec.code in (-1, 0):
                rec.next_at = now + delays.get("1", 0.0)
                self._set(rec, 1)
            elif rec.code == 1:
                if rec.fault and rec.fault.get("kind") == "fail":
                    self._finish(rec, 4, reason="processing failed (injected fault)")
                    return
                rec.next_at = now + delays.get("2", 0.0)
                self._set(rec, 2)
            elif rec.code == 2:
                if rec.fault and rec.fault.get("kind") == "stall" and not rec.fault.get("released"):
                    seconds = float(rec.fault.get("seconds") or 0)
                    rec.stall_until = time.monotonic() + seconds if seconds > 0 else math.inf
                rec.next_at = time.monotonic() + delays.get("6", 0.0)
                self._set(rec, 6)
            elif rec.code == 6:
                if rec.stall_until is not None:
                    if rec.stall_until > time.monotonic():
                        return
                    rec.stall_until = None
                body = self._body(rec.request_id)
                if body is None:
                    self._finish(rec, 4, reason="the request body is missing")
                    return
                result = engine.check(body, rec.table_name, file_name=f"{rec.table_name}.csv",
                                      stored_schema=SHOWCASE_SCHEMA, operation=rec.operation,
                                      max_errors=self.settings.max_errors, keep_staged=True)
                try:
                    self._decide(rec, result, engine)
                finally:
                    engine.drop_staged(result)         # (the merge drops it itself)
        except Exception as exc:       # anything unexpected: the request fails, the mock goes on
            self._finish(rec, 4, reason=f"processing failed: {type(exc).__name__}: {str(exc)[:300]}")

    def _decide(self, rec: UploadRequest, result: FlkResult, engine: FlkEngine) -> None:
        """Store the ФЛК report (7) or merge the staged rows (3). The `flk` fault turns a clean
        file with records into a report naming its first record (see `_injected`)."""
        injected = result.ok and result.rows > 0 and bool(rec.fault) and rec.fault.get("kind") == "flk"
        if not result.ok or injected:
            errors = [self._violation(rec, e) for e in result.errors] if not injected else [self._injected(rec)]
            self.store.save_errors(rec.request_id, errors)
            rec.error_count = max(int(result.error_count), len(errors))
            rec.rows = result.rows
            self._finish(rec, 7)
            return
        if result.staged is None:
            raise RuntimeError("the ФЛК kept no staged rows for a clean file")
        rec.rows = self.store.merge(rec.table_name, result.staged, rec.operation, con=engine.con, drop=True)
        result.staged = None
        self._finish(rec, 3)

    def _finish(self, rec: UploadRequest, code: int, reason: str | None = None) -> None:
        self._drop_body(rec.request_id)
        rec.stall_until = None
        self._set(rec, code, reason=reason)

    def _injected(self, rec: UploadRequest) -> dict[str, Any]:
        """The `flk` fault's finding: the first record's first column that is not a key breaks
        the `pattern` rule (value not shown). As a real report, it names a line and a column the
        journal can hold back and send the rest without."""
        spec = self.store.table(rec.table_name)
        column = next((c for c in spec.column_names if c not in spec.primary_key), spec.column_names[0])
        return self._violation(rec, {"rule": "pattern", "line": 2, "column": column, "value": None,
                                     "detail": f"{column} breaks the pattern rule (injected fault `flk`)"})

    def _violation(self, rec: UploadRequest, error: Any) -> dict[str, Any]:
        """A ФЛК error as `FlkViolation` of showcase.yaml (the catalogue message in ru/en)."""
        d = error.to_dict() if hasattr(error, "to_dict") else dict(error)
        rule = str(d.get("rule", ""))
        catalogue = load_rules().get(rule, {}).get("message") or {"ru": rule, "en": rule}
        detail = d.get("detail", d.get("message"))
        if isinstance(detail, dict):
            detail = detail.get("en") or next(iter(detail.values()), "")
        line = d.get("line")
        return {"file": f"{rec.table_name}.csv", "table": rec.table_name,
                "line": int(line) if line is not None else None, "column": d.get("column"),
                "rule": rule, "detail": str(detail or ""), "value": d.get("value"),
                "message": {"ru": catalogue["ru"], "en": catalogue["en"]}}


def _sha256(data: bytes | Path) -> str:
    if isinstance(data, Path):
        with open(data, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    return hashlib.sha256(data).hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes a hard link to `source` (same file system), else a copy made by the
    kernel (no pass through Python's memory)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
