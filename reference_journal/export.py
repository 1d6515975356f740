"""The export slot: uploads to the «Моё образование» showcase (EXP-01…EXP-08) and event
notifications for parents (NOTIF-01/02). `create_exporter(journal)` is the factory
`slots.py` looks for.

**Channel** (`Settings.export_channel`, EXP-01): `edu-upload` sends one CSV per table and
operation to the ПОДД agent, `POST|DELETE {agent_url}/{journal_mnemonic}/myedu/api/edu-upload/v1/csv/{table}`
(`application/octet-stream`); the agent answers when the showcase has decided (200, 400
with the ФЛК report, 500). `showcase` sends to the regional showcase,
`POST {showcase_url}/v2/datamarts/{showcase_datamart}/tables/{table}/upload|delete`
(`text/csv`, `X-Smev-Sender: journal_mnemonic`), and polls
`GET /v2/requests/{id}/status` until a final code; on 7 it reads `/v2/requests/{id}/errors`.

**Files** (EXP-02): `specs/tables/_conventions.yaml` through `specs.csvio`; values come from
storage, which keeps the export text form (so a loaded dataset is sent byte for byte, except
`send_datetime`). `create_datetime` is the record's own (the job's time when missing);
`send_datetime` is the job's time on the journal clock, never earlier than `create_datetime`.
Columns marked `hashed` (`document_hash`) are sent as ГОСТ Р 34.11-2012/512 digests: the
journal stores the digest; a value that is not one is hashed before sending, never sent in
clear (EXP-08). Uploads go parents first, deletes children first (`TableSet.export_order`).

**What is sent** (EXP-03…EXP-05). `changes`: per table, the change log after that table's
cursor — the current row of every upserted key, the deleted row of every key whose last
change is a delete — plus rows held back earlier for a missing parent (`fk`). `full`: every
row of every academic year, plus the pending deletes. `period`: rows dated in `from…to`
(tables without a date: all rows); cursors untouched. A table's cursor moves only when all
its files reached a final verdict, so nothing is lost and nothing is applied twice (uploads
are upserts by key, deletes idempotent; a retry resends the same bytes).

**Verdicts** (EXP-06). A transport error, 408/425/429/5xx or status 4/5 (or no final status
within `export_status_timeout`) → the same file again after `export_retry_base × 2^(n−1)`
seconds (at least `Retry-After`, at most `export_retry_max`), up to `export_max_attempts`
sends. ФЛК errors (status 7, or the agent's 400 `flk_failed` with details) → the journal fixes
what it owns (the technical datetimes), holds back the rows it cannot fix (table
`export_held`, one `upload` event with their keys and rules; they go again when changed, or
at every export for a missing parent) and resends the rest. A file-level violation, a
truncated report or any other 4xx is reported and not resent; 401 (`unknown_source_system`),
an unknown mnemonic, or a file with no answer at all by its last attempt stops the job.

**Notifications** (NOTIF-01/02, portal.yaml): after the files of a job that includes `events`
(scopes `changes` and `full`), each event that changed since the last push — or, in `full`,
each event from today on — goes to `POST {agent_url}/{portal_mnemonic}/myedu/api/v1/notifications`
as `created`, `updated` or `cancelled` (status 2, or the event deleted), with its learners
(`event_learners`) and the ЕСИА oids of their representatives who linked ЕСИА. Past events
never announced are not pushed. The `notification_id` is kept across retries; an unchanged
event is not pushed again (`export_notified`).

**Schedule** (EXP-04): a `changes` export every `export_interval` seconds of the journal's
clock — a background loop when served (`startup`), and `clock_advanced` when test-control
moves the clock (it waits for that export).

**Jobs**: `ExportJob` of test-control.yaml with, besides the required fields, per-table
counts (`tables`), the pushed notifications and the share of records without SNILS
(`report`, EXP-07). Every file sent and every notification is an `upload` event in the
journal's event log (no values, no secrets).

**Defects** (`implemented_in = export` in defects.py): `EXPORT_SKIPS_TABLE` (events and
event_learners never sent), `EXPORT_DATES_RU_FORMAT` and `HASHED_FIELD_IN_CLEAR` (the
formatter), `EXPORT_CHILD_BEFORE_PARENT` (alphabetical order), `EXPORT_DELETED_MARK` (no delete
files), `INCREMENT_SKIPS_UPDATES` (keys changed before the cursor dropped from increments),
`FORGET_RETROSPECTIVE_YEARS` (rows of earlier academic years filtered out of every export),
`NO_RETRY_ON_503`, `RETRY_ONLY_ON_503`, `DELETE_NOT_RETRIED`, `NO_STATUS_POLLING`, `RETRY_ON_400` (the verdict loop), `HASH_NOT_NORMALISED` (the formatter), `SCHEDULE_RUNS_ONCE` (the schedule), `EVENTS_NOT_PUSHED`
(no notifications).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import httpx

from reference_journal import events as ev
from specs import showcase_statuses
from specs.csvio import format_header, join_record
from specs.hashing import HASH_RE, normalise_document, streebog512
from specs.tables import Table, TableSet
from specs.values import strip_control

SHOWCASE, EDU_UPLOAD = "showcase", "edu-upload"
UPLOAD, DELETE = "upload", "delete"
OK_CODE, FAILED_CODE, UNKNOWN_CODE, FLK_CODE = (showcase_statuses.code(k) for k in (
    "SUCCESSFULLY_PROCESSED", "FAILED_PROCESSING", "REQUEST_ID_NOT_FOUND", "FLC_ERROR"))
FINAL_CODES = (3, 4, 5, 7)
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
HTTP_TIMEOUT = 330.0        # above the agent's 120 s ФЛК wait and smev_agent_client's 300 s
EDU_UPLOAD_VERSION = "v1"
MAX_REPORT = 1000           # violations a report lists at most (showcase.yaml, edu-upload.yaml)
MAX_JOBS = 200
MAX_FILE_BYTES = 50 * 1024 ** 2   # a file is split above this (the showcase refuses 100 MB)
PAGE = 5000                 # rows read from storage at a time
TECHNICAL = ("create_datetime", "send_datetime")
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
_ISO_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS export_held (
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    rules TEXT NOT NULL,
    columns TEXT,
    request_id TEXT,
    held_at TEXT NOT NULL,
    PRIMARY KEY (table_name, row_key, operation)
);
CREATE TABLE IF NOT EXISTS export_notified (
    event_id TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'refused')),
    event_json TEXT NOT NULL,
    learners TEXT NOT NULL,
    recipients TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""
CURSOR = "export.cursor."            # meta keys: export.cursor.<table>, export.cursor.notifications
NOTIFICATIONS = "notifications"

# Rows of the current academic year (:label = "2025/2026", :ystart/:yend its first and last
# day) and rows of a period (:start, :end), per table that has a date (SQLite). Tables not
# listed have no date: every row belongs to every year and period.
_DATED = {
    "lessons": "lesson_date BETWEEN {a} AND {b}",
    "attendance": "lesson_date BETWEEN {a} AND {b}",
    "marks": "mark_date BETWEEN {a} AND {b}",
    "homework": "due_date BETWEEN {a} AND {b}",
    "achievements": "achievement_date BETWEEN {a} AND {b}",
    "events": "substr(start_datetime, 1, 10) BETWEEN {a} AND {b}",
    "event_learners": "event_id IN (SELECT id FROM events WHERE substr(start_datetime, 1, 10) BETWEEN {a} AND {b})",
}
YEAR_FILTER = {
    **{k: v.format(a=":ystart", b=":yend") for k, v in _DATED.items()},
    "classes": "academic_year = :label",
    "academic_periods": "academic_year = :label",
    "class_learners": "class_id IN (SELECT id FROM classes WHERE academic_year = :label)",
}
PERIOD_FILTER = {
    **{k: v.format(a=":start", b=":end") for k, v in _DATED.items()},
    "classes": "substr(academic_year, 1, 4) || '-09-01' <= :end AND substr(academic_year, 6, 4) || '-08-31' >= :start",
    "academic_periods": "start_date <= :end AND end_date >= :start",
    "class_learners": "start_date <= :end AND (end_date IS NULL OR end_date >= :start)",
}


def academic_year(day: dt.date) -> dict[str, str]:
    """The academic year (1 Sep – 31 Aug) holding `day`: label, start and end."""
    first = day.year if day.month >= 9 else day.year - 1
    return {"label": f"{first}/{first + 1}", "start": f"{first}-09-01", "end": f"{first + 1}-08-31"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key_text(key: Iterable[Any]) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def _ru_date(text: str) -> str:
    """`YYYY-MM-DD[ rest]` → `DD.MM.YYYY[ rest]` (the EXPORT_DATES_RU_FORMAT defect)."""
    m = _ISO_DAY.match(text)
    return f"{m.group(3)}.{m.group(2)}.{m.group(1)}{text[10:]}" if m else text


def hashed_value(text: str) -> str:
    """A value for a `hashed` column: kept when it already is a ГОСТ Р 34.11-2012/512 digest,
    else the digest of the value normalised as a document (letters and digits, upper case)."""
    return text if HASH_RE.match(text) else streebog512(normalise_document(text, ""))


Key = tuple[Any, ...]
Changes = tuple[set[Key], dict[Key, dict[str, Any]]]   # keys to upload, deleted keys → deleted row


class Borrowed(httpx.AsyncBaseTransport):
    """The journal's injected transport, not closed with a per-job client."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


# --- files ---------------------------------------------------------------------------------

@dataclass
class Outgoing:
    """One file: a table, an operation, its records (field texts in column order) and the
    primary key of each record (record i is line i + 2 of the file)."""

    table: Table
    operation: str
    keys: list[tuple[Any, ...]]
    records: list[list[str | None]]
    tables: TableSet
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.lines) != len(self.records):
            self.lines = [join_record(self.table, r, self.tables) for r in self.records]

    def body(self) -> bytes:
        header = format_header(self.table, self.tables)
        return self.tables.conventions.line_terminator.join([header, *self.lines]).encode("utf-8")

    def without(self, drop: set[int], fixes: Mapping[int, Mapping[str, str]]) -> "Outgoing":
        names = self.table.column_names
        keys, records = [], []
        for i, (key, rec) in enumerate(zip(self.keys, self.records)):
            if i in drop:
                continue
            rec = list(rec)
            for column, text in fixes.get(i, {}).items():
                rec[names.index(column)] = text
            keys.append(key)
            records.append(rec)
        return Outgoing(self.table, self.operation, keys, records, self.tables)


@dataclass
class Verdict:
    """What became of one send: `ok`, `retry` (transient), `flk` (violations to work on),
    `refused` (final, reported) or `fatal` (stops the job)."""

    kind: str
    http_status: int | None = None
    request_id: str | None = None
    status_code: int | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    retry_after: float | None = None
    error: str | None = None
    agent_ids: str | None = None     # the agent's X-Request-Id (informative; edu-upload.yaml)


@dataclass
class Delivery:
    ok: bool
    sent: list[tuple[Any, ...]] = field(default_factory=list)
    held: int = 0
    error: str | None = None


class JobStopped(Exception):
    """The job cannot go on (the showcase does not accept this source, no channel)."""


class Exporter:
    """The export slot of one journal (see the module docstring)."""

    def __init__(self, journal: Any) -> None:
        self.j = journal
        self.tables: TableSet = journal.tables
        self.jobs: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[Any] | None = None
        self._scheduler: asyncio.Task[Any] | None = None
        self._mark: dt.datetime | None = None       # journal time of the last (scheduled) run
        self._scheduled_runs = 0                     # exports the schedule started
        self.max_file_bytes = MAX_FILE_BYTES
        self._tls: Any = None                        # httpx's TLS context, made once (see _client)
        with journal.db.lock:
            journal.db.conn.executescript(SCHEMA)

    # -- the slot protocol ---------------------------------------------------------------------

    async def start(self, request: Mapping[str, Any], actor: str = "test-control") -> str:
        job_id = f"exp-{uuid.uuid4().hex[:16]}"
        job: dict[str, Any] = {
            "job_id": job_id, "state": "queued", "scope": request["scope"],
            "created_at": self.j.clock.iso(), "finished_at": None, "uploads": [], "error": None,
            "channel": self.j.settings.export_channel, "actor": actor,
            "tables": {}, "notifications": [], "report": {},
        }
        for name in ("tables", "from", "to"):
            if name in request:
                job["request_" + name] = request[name]
        self.jobs[job_id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.pop(next(iter(self.jobs)))
        if request["scope"] != "period":
            self._mark = self.j.clock.now()
        if actor == "scheduler":
            self._scheduled_runs += 1
        self._task = asyncio.get_running_loop().create_task(self._run(job, dict(request)))
        return job_id

    def job(self, job_id: str) -> dict[str, Any] | None:
        found = self.jobs.get(job_id)
        return json.loads(json.dumps(found)) if found is not None else None

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def reset(self) -> None:
        """Forget cursors, held rows and notification state (the journal is emptied next)."""
        if self.busy():
            assert self._task is not None
            self._task.cancel()
            try:
                await self._task
            except BaseException:  # noqa: BLE001 - the job records its own end
                pass
        db = self.j.db
        with db.transaction():
            db.execute("DELETE FROM export_held")
            db.execute("DELETE FROM export_notified")
            db.execute("DELETE FROM meta WHERE key LIKE ?", (CURSOR + "%",))
        self._mark = None
        self._scheduled_runs = 0

    async def clock_advanced(self, seconds: int) -> None:
        """Run the scheduled incremental export if the moved clock made it due (and wait)."""
        if self.j.defect_on("SCHEDULE_NEVER_RUNS") or self._schedule_spent():
            return
        if self.busy():
            await asyncio.wait({self._task})  # type: ignore[arg-type]
        now = self.j.clock.now()
        if self._mark is None or self._mark > now:
            self._mark = now - dt.timedelta(seconds=seconds)
        if (now - self._mark).total_seconds() >= self.j.settings.export_interval:
            await self.start({"scope": "changes"}, actor="scheduler")
            await asyncio.wait({self._task})  # type: ignore[arg-type]

    def _schedule_spent(self) -> bool:
        """The SCHEDULE_RUNS_ONCE defect: the timer is not re-armed after its first run."""
        return self._scheduled_runs > 0 and self.j.defect_on("SCHEDULE_RUNS_ONCE")

    async def startup(self) -> None:
        self._scheduler = asyncio.get_running_loop().create_task(self._schedule())

    async def shutdown(self) -> None:
        for task in (self._scheduler, self._task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except BaseException:  # noqa: BLE001
                    pass

    async def _schedule(self) -> None:
        """The journal's own schedule while it is served (real time passing)."""
        while True:
            await asyncio.sleep(min(30.0, float(self.j.settings.export_interval)))
            try:
                now = self.j.clock.now()
                if self._mark is None or self._mark > now:
                    self._mark = now
                elif self.j.defect_on("SCHEDULE_NEVER_RUNS") or self._schedule_spent():
                    continue
                elif (now - self._mark).total_seconds() >= self.j.settings.export_interval and not self.busy():
                    await self.start({"scope": "changes"}, actor="scheduler")
            except Exception:  # noqa: BLE001 - the schedule outlives any one failure
                pass

    # -- a job ----------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        transport = getattr(self.j, "http_transport", None)
        kwargs: dict[str, Any] = {"timeout": HTTP_TIMEOUT}
        if transport is not None:
            kwargs["transport"] = Borrowed(transport)
        else:   # a client per job; its TLS context (the CA bundle loaded, ~20 ms) made once
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            kwargs["verify"] = self._tls
        return httpx.AsyncClient(**kwargs)

    def _order(self, names: Iterable[str], operation: str) -> list[str]:
        wanted = set(names)
        if self.j.defect_on("EXPORT_CHILD_BEFORE_PARENT"):
            return sorted(wanted)
        order = [n for n in self.tables.export_order() if n in wanted]
        return order[::-1] if operation == DELETE else order

    async def _run(self, job: dict[str, Any], request: dict[str, Any]) -> None:
        job["state"] = "running"
        stamp = self.j.clock.stamp()
        try:
            self._check_channel()
            requested = list(request.get("tables") or self.tables.names)
            names = requested
            if self.j.defect_on("EXPORT_SKIPS_TABLE"):
                names = [n for n in names if n not in ("events", "event_learners")]
            upto = self.j.db.last_change_seq()
            changes = {} if request["scope"] == "period" else await asyncio.to_thread(self._changes, names, upto)
            job["report"] = await asyncio.to_thread(self._snils_report, names)
            outcome: dict[str, bool] = {n: True for n in names}
            async with self._client() as client:
                for operation in (UPLOAD, DELETE):
                    for name in self._order(names, operation):
                        counts = job["tables"].setdefault(name, {"upload": 0, "delete": 0, "held": 0, "failed": 0})
                        files = self._files(name, operation, request, changes.get(name), stamp)
                        while (out := await asyncio.to_thread(next, files, None)) is not None:
                            done = await self._deliver(client, job, out, stamp)
                            counts[operation] += len(done.sent)
                            counts["held"] += done.held
                            if not done.ok:
                                counts["failed"] += 1
                                outcome[name] = False
                            elif done.sent:
                                await asyncio.to_thread(self._sent, out.table, operation, done.sent, stamp)
                if request["scope"] != "period":
                    for name in names:
                        if outcome[name]:
                            self.j.db.set_meta(CURSOR + name, str(upto))
                if ("events" in requested and request["scope"] != "period"
                        and not self.j.defect_on("EVENTS_NOT_PUSHED")):
                    await self._notify(client, job, request["scope"], upto, stamp)
            job["state"] = "done"
        except JobStopped as exc:
            job["state"], job["error"] = "failed", str(exc)
        except asyncio.CancelledError:
            job["state"], job["error"] = "failed", "cancelled (reset or shutdown)"
            raise
        except Exception as exc:  # noqa: BLE001 - a job ends, the journal goes on
            job["state"], job["error"] = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            job["finished_at"] = self.j.clock.iso()
            sent = {n: c for n, c in job["tables"].items() if any(c.values())}
            self.j.events.record(ev.UPLOAD, job["actor"], outcome=ev.SUCCESS if job["state"] == "done" else ev.FAILURE,
                                 object=f"export_job:{job['job_id']}",
                                 details={"scope": job["scope"], "state": job["state"], "channel": job["channel"],
                                          "tables": sent, "notifications": len(job["notifications"]),
                                          "error": job["error"]})

    def _check_channel(self) -> None:
        s = self.j.settings
        if s.export_channel == SHOWCASE and not (s.showcase_url or "").startswith(("http://", "https://")):
            raise JobStopped("export_channel is showcase but showcase_url is not an http(s) URL")

    # -- what to send ---------------------------------------------------------------------------

    def _files(self, name: str, operation: str, request: Mapping[str, Any],
               changes: Changes | None, stamp: str) -> Iterator[Outgoing]:
        """The files of one table and operation, each at most `max_file_bytes` (one file
        unless the table is very large), built as they are sent."""
        table = self.tables[name]
        fmt = self._formatter(table, stamp)
        if operation == DELETE:
            if self.j.defect_on("EXPORT_DELETED_MARK") or not changes:
                return
            if self.j.defect_on("DELETES_FOR_MARKS_ONLY") and name != "marks":
                return
            rows: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]] = iter(changes[1].items())
        else:
            rows = self._rows(table, request, changes)
        keys: list[tuple[Any, ...]] = []
        records: list[list[str | None]] = []
        lines: list[str] = []
        size = len(format_header(table, self.tables).encode("utf-8"))
        for key, row in rows:
            rec = fmt(row)
            line = join_record(table, rec, self.tables)
            length = len(line.encode("utf-8")) + 1
            if keys and size + length > self.max_file_bytes:
                yield Outgoing(table, operation, keys, records, self.tables, lines)
                keys, records, lines = [], [], []
                size = len(format_header(table, self.tables).encode("utf-8"))
            keys.append(key)
            records.append(rec)
            lines.append(line)
            size += length
        if keys:
            yield Outgoing(table, operation, keys, records, self.tables, lines)

    def _rows(self, table: Table, request: Mapping[str, Any],
              changes: Changes | None) -> Iterator[tuple[Key, dict[str, Any]]]:
        """(key, stored row) to upload: the scope's rows, read in pages (the database lock is
        not held while files travel)."""
        name, scope = table.name, request["scope"]
        conds: list[str] = []
        params: dict[str, Any] = {}
        if scope == "period" and name in PERIOD_FILTER:
            conds.append(f"({PERIOD_FILTER[name]})")
            params.update(start=request["from"], end=request["to"])
        if self.j.defect_on("FORGET_RETROSPECTIVE_YEARS") and name in YEAR_FILTER:
            year = academic_year(self.j.clock.today())
            conds.append(f"({YEAR_FILTER[name]})")
            params.update(label=year["label"], ystart=year["start"], yend=year["end"])
        wanted: set[tuple[Any, ...]] | None = None
        if scope == "changes":
            wanted = set(changes[0]) if changes else set()
            wanted |= self._held_for_retry(name)
            if self.j.defect_on("INCREMENT_SKIPS_UPDATES"):
                wanted -= self._existed_before(name, wanted)
            if not wanted:
                return
        where = "".join(f" AND {c}" for c in conds)
        after = 0
        while True:
            page = self.j.db.query(f"SELECT rowid AS rowid__, * FROM {_quote(name)} WHERE rowid > :after__{where} "
                                   f"ORDER BY rowid LIMIT {PAGE}", {**params, "after__": after})
            if not page:
                return
            after = page[-1]["rowid__"]
            for row in page:
                key = tuple(row[k] for k in table.primary_key)
                if wanted is None or key in wanted:
                    yield key, row

    def _changes(self, names: list[str], upto: int) -> dict[str, Changes]:
        """Per table since its cursor: keys whose last change is an upsert (and that still
        exist — checked when the rows are read), and deleted keys with their deleted row."""
        cursors = {n: int(self.j.db.meta(CURSOR + n) or 0) for n in names}
        if not cursors:
            return {}
        last: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {n: {} for n in names}
        marks = ", ".join("?" for _ in names)
        for entry in self.j.db.query(f"SELECT * FROM change_log WHERE seq > ? AND seq <= ? AND table_name IN ({marks}) "
                                     f"ORDER BY seq", (min(cursors.values()), upto, *names)):
            name = entry["table_name"]
            if name not in cursors or entry["seq"] <= cursors[name]:
                continue
            last[name][tuple(json.loads(entry["row_key"]))] = entry
        out: dict[str, Changes] = {}
        for name, entries in last.items():
            upserts = {k for k, e in entries.items() if e["operation"] == "upsert"}
            deletes = {k: json.loads(e["row_json"]) for k, e in entries.items()
                       if e["operation"] == "delete" and e["row_json"]}
            out[name] = (upserts, deletes)
        return out

    def _existed_before(self, name: str, keys: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """Keys changed before the table's cursor (updates rather than inserts)."""
        cursor = int(self.j.db.meta(CURSOR + name) or 0)
        old = {tuple(json.loads(r["row_key"])) for r in self.j.db.query(
            "SELECT DISTINCT row_key FROM change_log WHERE table_name = ? AND seq <= ?", (name, cursor))}
        return keys & old

    def _held_for_retry(self, name: str) -> set[tuple[Any, ...]]:
        """Rows held back for a parent the showcase lacked: tried again every export."""
        return {tuple(json.loads(r["row_key"])) for r in self.j.db.query(
            "SELECT row_key FROM export_held WHERE table_name = ? AND operation = 'upload' "
            "AND (',' || rules || ',') LIKE '%,fk,%'", (name,))}

    def _formatter(self, table: Table, stamp: str) -> Callable[[Mapping[str, Any]], list[str | None]]:
        """Stored row → field texts: the conventions' forms, technical datetimes of this send,
        hashed columns hashed (and the export defects of EXP-02/EXP-08)."""
        conv = self.tables.conventions
        ru = self.j.defect_on("EXPORT_DATES_RU_FORMAT")
        clear = self.j.defect_on("HASHED_FIELD_IN_CLEAR") and "snils" in table.column_names
        unnormalised = self.j.defect_on("HASH_NOT_NORMALISED")
        true_text, false_text = conv.true_text, conv.false_text
        columns = table.columns

        def texts(row: Mapping[str, Any]) -> list[str | None]:
            create = row.get("create_datetime")
            create = create if create not in (None, "") else stamp
            out: list[str | None] = []
            for c in columns:
                if c.name == "create_datetime":
                    value: Any = create
                elif c.name == "send_datetime":
                    value = create if _DATETIME.match(str(create)) and str(create) > stamp else stamp
                else:
                    value = row.get(c.name)
                if value is None:
                    out.append(None)
                    continue
                kind = c.type
                if kind == "boolean":
                    text = true_text if value in (1, True, "1", true_text) else false_text
                elif kind == "string":
                    text = strip_control(str(value))
                else:
                    text = str(value)
                if c.hashed and text:
                    text = streebog512(text) if unnormalised and not HASH_RE.match(text) else hashed_value(text)
                    if clear and row.get("snils"):
                        text = str(row["snils"])
                if ru and kind in ("date", "datetime"):
                    text = _ru_date(text)
                out.append(text)
            return out

        return texts

    def _sent(self, table: Table, operation: str, keys: list[Key], stamp: str) -> None:
        """Rows the showcase took: their `send_datetime` (uploads); nothing of them is held
        back any more (uploads and deletes)."""
        if operation == UPLOAD:
            self.j.db.mark_sent(table.name, keys, stamp)
        with self.j.db.transaction():
            self.j.db.conn.executemany("DELETE FROM export_held WHERE table_name = ? AND row_key = ?",
                                       ((table.name, _key_text(k)) for k in keys))

    def _snils_report(self, names: list[str]) -> dict[str, Any]:
        """EXP-07: the share of learners and staff without SNILS."""
        report: dict[str, Any] = {}
        for name in ("learners", "staff"):
            if name in names and "snils" in self.tables[name].column_names:
                row = self.j.db.one(f"SELECT count(*) AS n, sum(snils IS NULL OR snils = '') AS missing "
                                    f"FROM {_quote(name)}")
                n, missing = int(row["n"] or 0), int(row["missing"] or 0)  # type: ignore[index]
                report[name] = {"rows": n, "without_snils": missing,
                                "share": round(missing / n, 4) if n else 0.0}
        return {"snils_missing": report} if report else {}

    # -- sending one file -----------------------------------------------------------------------

    async def _deliver(self, client: httpx.AsyncClient, job: dict[str, Any], out: Outgoing,
                       stamp: str) -> Delivery:
        """Send a file until it has a final verdict: retried when transient, corrected and
        resent after ФЛК errors, reported when refused."""
        s = self.j.settings
        held = 0
        attempt = 0
        while True:
            attempt += 1
            body = out.body()
            entry = {"table": out.table.name, "operation": out.operation, "channel": s.export_channel,
                     "rows": len(out.keys), "attempt": attempt, "sent_at": self.j.clock.iso(),
                     "http_status": None, "request_id": None, "status_code": None}
            job["uploads"].append(entry)
            if s.export_channel == SHOWCASE:
                verdict = await self._send_showcase(client, out, body, entry)
            else:
                verdict = await self._send_agent(client, out, body)
            entry["http_status"] = verdict.http_status
            entry["request_id"] = verdict.request_id
            entry["status_code"] = verdict.status_code
            entry["outcome"] = verdict.kind
            if verdict.error:
                entry["error"] = verdict.error
            if verdict.agent_ids:
                entry["showcase_request_ids"] = verdict.agent_ids
            self._log_send(job, entry)
            if verdict.kind == "ok":
                return Delivery(True, list(out.keys), held)
            if verdict.kind == "fatal":
                raise JobStopped(verdict.error or "the showcase refused this source system")
            last = attempt >= s.export_max_attempts
            if verdict.kind in ("flk", "refused") and self.j.defect_on("RETRY_ON_400"):
                if last:
                    return Delivery(False, [], held, verdict.error)
                entry["retry_in"] = self._backoff(attempt, None)
                await asyncio.sleep(entry["retry_in"])
                continue
            if verdict.kind == "refused" or (verdict.kind == "flk" and self.j.defect_on("FLK_REPORT_ENDS_FILE")):
                return Delivery(False, [], held, verdict.error)
            if verdict.kind == "retry":
                if self.j.defect_on("NO_RETRY_ON_503"):
                    return Delivery(False, [], held, verdict.error)
                if verdict.http_status != 503 and self.j.defect_on("RETRY_ONLY_ON_503"):
                    return Delivery(False, [], held, verdict.error)
                if out.operation == DELETE and self.j.defect_on("DELETE_NOT_RETRIED"):
                    return Delivery(False, [], held, verdict.error)
                if last:
                    if verdict.status_code is None and verdict.http_status in (None, *TRANSIENT_HTTP):
                        # the agent or showcase is not answering: the other files would fare
                        # no better; the next run sends them (cursors did not move)
                        raise JobStopped(f"{out.table.name}.csv: no answer after {attempt} attempts "
                                         f"({verdict.error}); the job stops")
                    return Delivery(False, [], held, verdict.error)
                entry["retry_in"] = self._backoff(attempt, verdict.retry_after)
                await asyncio.sleep(entry["retry_in"])
                continue
            # ФЛК errors: fix what the journal owns, hold back the rest, send again
            fixed, hold, why = self._correct(out, verdict.violations, verdict.truncated, stamp)
            if why is not None:
                entry["error"] = why
                return Delivery(False, [], held, why)
            if hold:
                held += len(hold)
                await asyncio.to_thread(self._hold, out, hold, verdict)
            if fixed is None or not fixed.keys:
                return Delivery(True, [], held)
            if last:
                return Delivery(False, [], held, "ФЛК errors remained after the last attempt")
            out = fixed

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self.j.settings
        delay = min(s.export_retry_max, s.export_retry_base * 2 ** (attempt - 1))
        if self.j.defect_on("RETRY_WITHOUT_BACKOFF"):
            delay = s.export_retry_base
        if retry_after is not None and not self.j.defect_on("RETRY_IGNORES_RETRY_AFTER"):
            delay = max(delay, min(retry_after, s.export_retry_max))
        return delay

    @staticmethod
    def _retry_after(resp: httpx.Response) -> float | None:
        value = resp.headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    def _headers(self) -> dict[str, str]:
        return {"X-Smev-Sender": self.j.settings.journal_mnemonic}

    async def _send_agent(self, client: httpx.AsyncClient, out: Outgoing, body: bytes) -> Verdict:
        s = self.j.settings
        url = (f"{s.agent_url}/{s.journal_mnemonic}/myedu/api/edu-upload/{EDU_UPLOAD_VERSION}"
               f"/csv/{out.table.name}")
        try:
            resp = await client.request("POST" if out.operation == UPLOAD else "DELETE", url, content=body,
                                        headers={"Content-Type": "application/octet-stream"})
        except httpx.TransportError as exc:
            return Verdict("retry", error=f"transport: {type(exc).__name__}")
        ids = resp.headers.get("x-request-id") or None   # informative only (edu-upload.yaml)
        if resp.status_code == 200:
            return Verdict("ok", 200, None, OK_CODE, agent_ids=ids)
        data = _json(resp)
        code = data.get("error") if isinstance(data, dict) else None
        if resp.status_code == 400 and code == "flk_failed":
            details = [d for d in data.get("details") or [] if isinstance(d, dict)]
            return Verdict("flk", 400, None, FLK_CODE, details, truncated=len(details) >= MAX_REPORT or not details,
                           error=str(data.get("message", ""))[:300], agent_ids=ids)
        if resp.status_code == 400 and code == "unknown_mnemonic":
            return Verdict("fatal", 400, error=f"the agent does not know mnemonic {s.journal_mnemonic}")
        if resp.status_code == 500:                          # the showcase failed processing (4)
            return Verdict("retry", 500, None, FAILED_CODE, error="failed processing", agent_ids=ids)
        if resp.status_code in TRANSIENT_HTTP:
            return Verdict("retry", resp.status_code, retry_after=self._retry_after(resp),
                           error=f"HTTP {resp.status_code}")
        return Verdict("refused", resp.status_code, error=f"HTTP {resp.status_code} {code or ''}".strip(),
                       agent_ids=ids)

    async def _send_showcase(self, client: httpx.AsyncClient, out: Outgoing, body: bytes,
                             entry: dict[str, Any]) -> Verdict:
        s = self.j.settings
        base = (s.showcase_url or "").rstrip("/")
        url = f"{base}/v2/datamarts/{s.showcase_datamart}/tables/{out.table.name}/{out.operation}"
        try:
            resp = await client.post(url, content=body,
                                     headers={**self._headers(), "Content-Type": "text/csv; charset=utf-8"})
        except httpx.TransportError as exc:
            return Verdict("retry", error=f"transport: {type(exc).__name__}")
        if resp.status_code == 401:
            return Verdict("fatal", 401, error="the showcase does not accept this source system (401)")
        if resp.status_code in TRANSIENT_HTTP:
            return Verdict("retry", resp.status_code, retry_after=self._retry_after(resp),
                           error=f"HTTP {resp.status_code}")
        if resp.status_code != 200:
            data = _json(resp)
            code = data.get("error") if isinstance(data, dict) else None
            return Verdict("refused", resp.status_code, error=f"HTTP {resp.status_code} {code or ''}".strip())
        rid = resp.text.strip().strip('"').lower()
        if not _UUID.match(rid):
            return Verdict("refused", 200, error="the answer is not a request id")
        entry["request_id"] = rid
        if self.j.defect_on("NO_STATUS_POLLING"):
            return Verdict("ok", 200, rid)
        code = await self._poll(client, base, rid, entry)
        if code == OK_CODE:
            return Verdict("ok", 200, rid, code)
        if code == FLK_CODE:
            report = await self._report(client, base, rid)
            if report is None:
                return Verdict("refused", 200, rid, code, error="status 7 and no ФЛК report")
            errors = [e for e in report.get("errors") or [] if isinstance(e, dict)]
            return Verdict("flk", 200, rid, code, errors, truncated=bool(report.get("truncated")) or not errors,
                           error=f"{report.get('total', len(errors))} ФЛК violation(s)")
        if code is None:
            return Verdict("retry", 200, rid, entry.get("status_code"), error="no final status in time")
        return Verdict("retry", 200, rid, code, error=f"status {code}")

    async def _poll(self, client: httpx.AsyncClient, base: str, rid: str, entry: dict[str, Any]) -> int | None:
        """Poll the status until a final code (None when `export_status_timeout` passes)."""
        s = self.j.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.export_status_timeout
        misses = 0
        while True:
            try:
                resp = await client.get(f"{base}/v2/requests/{rid}/status", headers=self._headers())
                data = _json(resp) if resp.status_code == 200 else None
            except httpx.TransportError:
                data = None
            code = data.get("code") if isinstance(data, dict) else None
            if isinstance(code, int) and not isinstance(code, bool):
                entry["status_code"] = code
                if code in FINAL_CODES:
                    return code
                misses = 0
                wait = s.export_poll_interval
            else:
                misses += 1
                wait = self._backoff(misses, None)
            if loop.time() + wait > deadline:
                return None
            await asyncio.sleep(wait)

    async def _report(self, client: httpx.AsyncClient, base: str, rid: str) -> dict[str, Any] | None:
        for attempt in range(1, self.j.settings.export_max_attempts + 1):
            try:
                resp = await client.get(f"{base}/v2/requests/{rid}/errors", params={"limit": MAX_REPORT},
                                        headers=self._headers())
            except httpx.TransportError:
                resp = None
            if resp is not None and resp.status_code == 200:
                data = _json(resp)
                return data if isinstance(data, dict) else None
            if resp is not None and resp.status_code not in TRANSIENT_HTTP:
                return None
            await asyncio.sleep(self._backoff(attempt, None))
        return None

    def _correct(self, out: Outgoing, violations: list[dict[str, Any]], truncated: bool,
                 stamp: str) -> tuple[Outgoing | None, dict[int, list[dict[str, Any]]], str | None]:
        """(the file to send again, rows held back by index, or why the file cannot be fixed).

        The journal fixes only what it owns: an empty `create_datetime` becomes the time of
        this send, a `send_datetime` before `create_datetime` becomes `create_datetime`. Any
        other violation holds its row back. A file-level violation or a truncated report means
        the file is broken as a whole."""
        if truncated:
            return None, {}, "ФЛК report truncated or empty: the file is broken as a whole; not resent"
        by_row: dict[int, list[dict[str, Any]]] = {}
        for v in violations:
            line = v.get("line")
            if not isinstance(line, int) or line < 2 or line - 2 >= len(out.keys):
                return None, {}, f"file-level ФЛК violation ({v.get('rule')}): not resent"
            by_row.setdefault(line - 2, []).append(v)
        names = out.table.column_names
        own = "create_datetime" in names and "send_datetime" in names
        at = {c: names.index(c) for c in TECHNICAL if c in names}
        now = _ru_date(stamp) if self.j.defect_on("EXPORT_DATES_RU_FORMAT") else stamp
        fixes: dict[int, dict[str, str]] = {}
        hold: dict[int, list[dict[str, Any]]] = {}
        for i, found in by_row.items():
            rec = out.records[i]
            fix: dict[str, str] = {}
            if own and all(v.get("column") in TECHNICAL and v.get("rule") in ("required", "order") for v in found):
                create = rec[at["create_datetime"]] or now
                if create != rec[at["create_datetime"]]:
                    fix["create_datetime"] = create
                if any(v.get("rule") == "order" for v in found) and rec[at["send_datetime"]] != create:
                    fix["send_datetime"] = create
            if fix:
                fixes[i] = fix
            else:
                hold[i] = found
        return out.without(set(hold), fixes), hold, None

    def _hold(self, out: Outgoing, hold: Mapping[int, list[dict[str, Any]]], verdict: Verdict) -> None:
        now = self.j.clock.iso()
        rows = []
        for i, found in hold.items():
            rules = sorted({str(v.get("rule")) for v in found})
            columns = sorted({str(v.get("column")) for v in found if v.get("column")})
            rows.append((out.table.name, _key_text(out.keys[i]), out.operation, ",".join(rules),
                         ",".join(columns), verdict.request_id, now))
        with self.j.db.transaction():
            self.j.db.conn.executemany(
                "INSERT INTO export_held (table_name, row_key, operation, rules, columns, request_id, held_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (table_name, row_key, operation) DO UPDATE SET "
                "rules = excluded.rules, columns = excluded.columns, request_id = excluded.request_id, "
                "held_at = excluded.held_at", rows)
        if not self.j.defect_on("UPLOAD_FAILURE_NOT_LOGGED"):
            self.j.events.record(ev.UPLOAD, "exporter", outcome=ev.FAILURE, object=f"{out.table.name}.csv",
                                 details={"operation": out.operation, "held": len(rows),
                                          "rows": [{"key": r[1], "rules": r[3], "columns": r[4]} for r in rows[:20]],
                                          "request_id": verdict.request_id,
                                          "note": "held back until corrected; the rest is sent again"})

    def _log_send(self, job: dict[str, Any], entry: dict[str, Any]) -> None:
        if entry["outcome"] != "ok" and self.j.defect_on("UPLOAD_FAILURE_NOT_LOGGED"):
            return
        shown = ("operation", "channel", "rows", "attempt", "http_status", "request_id", "status_code",
                 "outcome", "error")
        self.j.events.record(ev.UPLOAD, job["actor"], outcome=ev.SUCCESS if entry["outcome"] == "ok" else ev.FAILURE,
                             object=f"{entry['table']}.csv",
                             details={"job": job["job_id"], **{k: entry.get(k) for k in shown}})

    def held(self) -> list[dict[str, Any]]:
        """Rows held back after ФЛК errors (for tests and the status of the job)."""
        return self.j.db.query("SELECT * FROM export_held ORDER BY table_name, row_key")

    # -- event notifications (NOTIF-01/02) ------------------------------------------------------

    async def _notify(self, client: httpx.AsyncClient, job: dict[str, Any], scope: str, upto: int,
                      stamp: str) -> None:
        pending = await asyncio.to_thread(self._plan_notifications, scope, upto, stamp)
        complete = True
        for note in pending:
            if not await self._push(client, job, note):
                complete = False
        if complete:
            self.j.db.set_meta(CURSOR + NOTIFICATIONS, str(upto))

    def _plan_notifications(self, scope: str, upto: int, stamp: str) -> list[dict[str, Any]]:
        db = self.j.db
        cursor = int(db.meta(CURSOR + NOTIFICATIONS) or 0)
        today = self.j.clock.today().isoformat()
        ids: set[str] = set()
        for entry in db.query("SELECT table_name, row_key FROM change_log WHERE seq > ? AND seq <= ? "
                              "AND table_name IN ('events', 'event_learners')", (cursor, upto)):
            ids.add(json.loads(entry["row_key"])[0])
        if scope == "full":
            ids |= {r["id"] for r in db.query("SELECT id FROM events WHERE substr(start_datetime, 1, 10) >= ?",
                                               (today,))}
        ids |= {r["event_id"] for r in db.query("SELECT event_id FROM export_notified WHERE state = 'pending'")}
        events_table = self.tables["events"]
        notes = []
        for event_id in sorted(ids):
            prev = db.one("SELECT * FROM export_notified WHERE event_id = ?", (event_id,))
            # the portal knows the event once a `created` was delivered (later pushes are updates)
            announced = prev is not None and (prev["state"] == "delivered" or prev["action"] != "created")
            row = db.get("events", event_id)
            if row is None:
                if self.j.defect_on("EVENT_DELETION_NOT_PUSHED"):
                    continue
                if not announced or (prev["action"] == "cancelled" and prev["state"] == "delivered"):
                    continue
                event = {**json.loads(prev["event_json"]), "status": 2}
                learners, recipients, action = json.loads(prev["learners"]), json.loads(prev["recipients"]), "cancelled"
            else:
                event = db.to_json(events_table, row)
                if self.j.defect_on("EVENT_LINK_NOT_NOTIFIED"):
                    event.pop("link", None)
                create = event.get("create_datetime") or stamp
                event["create_datetime"] = create
                event["send_datetime"] = create if _DATETIME.match(str(create)) and str(create) > stamp else stamp
                learners = [r["learner_id"] for r in db.query(
                    "SELECT learner_id FROM event_learners WHERE event_id = ? ORDER BY learner_id", (event_id,))]
                recipients = self._recipients(learners)
                if not announced:
                    if event["status"] == 2 or str(event["start_datetime"])[:10] < today:
                        continue
                    action = "created"
                else:
                    action = "cancelled" if event["status"] == 2 else "updated"
            if not learners or not recipients:
                continue
            content = {"action": action, "event": {k: v for k, v in event.items() if k != "send_datetime"},
                       "learners": learners, "recipients": recipients}
            digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            if prev is not None and prev["digest"] == digest and prev["state"] != "pending":
                continue
            same = prev is not None and prev["digest"] == digest
            note = {"notification_id": prev["notification_id"] if same else str(uuid.uuid4()),
                    "action": action, "event": event, "learner_ids": learners, "recipient_oids": recipients}
            db.execute(
                "INSERT INTO export_notified (event_id, notification_id, digest, action, state, event_json, "
                "learners, recipients, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?) "
                "ON CONFLICT (event_id) DO UPDATE SET notification_id = excluded.notification_id, "
                "digest = excluded.digest, action = excluded.action, state = 'pending', "
                "event_json = excluded.event_json, learners = excluded.learners, "
                "recipients = excluded.recipients, updated_at = excluded.updated_at",
                (event_id, note["notification_id"], digest, action, json.dumps(event, ensure_ascii=False),
                 json.dumps(learners), json.dumps(recipients), self.j.clock.iso()))
            notes.append(note)
        return notes

    def _recipients(self, learners: list[str]) -> list[str]:
        """ЕСИА oids of the learners' representatives who linked ЕСИА (the portal knows its
        users by oid; unlinked parents cannot be addressed)."""
        if not learners:
            return []
        marks = ", ".join("?" for _ in learners)
        return [r["esia_oid"] for r in self.j.db.query(
            f"SELECT DISTINCT a.esia_oid FROM learner_representatives lr JOIN accounts a "
            f"ON a.person_table = 'representatives' AND a.person_id = lr.representative_id "
            f"WHERE lr.learner_id IN ({marks}) AND a.esia_oid IS NOT NULL ORDER BY a.esia_oid", learners)]

    async def _push(self, client: httpx.AsyncClient, job: dict[str, Any], note: dict[str, Any]) -> bool:
        """Deliver one notification; True when it reached a final answer."""
        s = self.j.settings
        url = f"{s.agent_url}/{s.portal_mnemonic}/myedu/api/v1/notifications"
        event_id = note["event"]["id"]
        record = {"event_id": event_id, "action": note["action"], "notification_id": note["notification_id"],
                  "recipients": len(note["recipient_oids"]), "http_status": None, "attempt": 0, "outcome": None}
        job["notifications"].append(record)
        attempt, state, final = 0, "pending", False
        while True:
            attempt += 1
            record["attempt"] = attempt
            try:
                resp = await client.post(url, json=note, headers=self._headers())
                status, data = resp.status_code, _json(resp)
                retry_after = self._retry_after(resp)
            except httpx.TransportError as exc:
                status, data, retry_after = None, None, None
                record["error"] = f"transport: {type(exc).__name__}"
            record["http_status"] = status
            code = data.get("error") if isinstance(data, dict) else None
            if status == (200 if self.j.defect_on("NOTIFICATION_ONLY_200_DELIVERED") else 202):
                state, final = "delivered", True
                record["duplicate"] = bool(isinstance(data, dict) and data.get("duplicate"))
                break
            if status == 422 and code == "unknown_recipient" and attempt < s.export_max_attempts:
                unknown = {str(d.get("message")) for d in (data.get("details") or []) if isinstance(d, dict)}
                keep = [o for o in note["recipient_oids"] if o not in unknown]
                if keep and len(keep) < len(note["recipient_oids"]):
                    note = {**note, "recipient_oids": keep}
                    record["recipients"] = len(keep)
                    continue
            if status == 409 and attempt < s.export_max_attempts:
                note = {**note, "notification_id": str(uuid.uuid4())}
                record["notification_id"] = note["notification_id"]
                continue
            if status is None or status in TRANSIENT_HTTP:
                if attempt < s.export_max_attempts:
                    await asyncio.sleep(self._backoff(attempt, retry_after))
                    continue
                break                                   # stays pending: the next job tries again
            state, final = "refused", True
            record["error"] = f"HTTP {status} {code or ''}".strip()
            break
        record["outcome"] = state
        self.j.db.execute("UPDATE export_notified SET state = ?, notification_id = ?, recipients = ? "
                          "WHERE event_id = ?", (state, note["notification_id"],
                                                 json.dumps(note["recipient_oids"]), event_id))
        self.j.events.record(ev.UPLOAD, job["actor"], outcome=ev.SUCCESS if state == "delivered" else ev.FAILURE,
                             object=f"notification:{event_id}",
                             details={"job": job["job_id"], "action": note["action"], "state": state,
                                      "notification_id": note["notification_id"], "http_status": record["http_status"],
                                      "recipients": len(note["recipient_oids"]), "attempt": attempt})
        return final


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def create_exporter(journal: Any) -> Exporter:
    """The export slot (`reference_journal.slots.load_export`)."""
    return Exporter(journal)
