"""The state and behaviour of the mock ПОДД agent, with no HTTP in it.

`AgentCore` holds the registered mnemonics (the systems that upload through the agent, the
showcase answering SQL mode), the providers of OpenAPI mode (mnemonic → base URL + spec),
the showcase the uploads go to, queued faults, the request journal, the contract violations
of providers, the asynchronous SQL requests, and a log of uploads. The HTTP layer (`app.py`)
parses requests, calls one method and renders what it returns; every refusal is an
`AgentError`.

Our readings where the sources are silent are listed in specs/README.md («Mock ПОДД agent»).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mocks.common.body import Body, check_utf8
from mocks.common.faults import Fault, FaultQueue
from mocks.common.journal import RequestJournal
from mocks.smev import sql as sqlmode
from mocks.smev.errors import AgentError
from mocks.smev.openapi_mode import ProviderSpec, Violation, load_spec, spec_path
from specs import validate as flk
from specs.showcase_statuses import code as status_code
from specs.tables import TableSet, load_tables

MNEMONIC_RE = re.compile(r"^[A-Z0-9_]{2,32}$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
KINDS = ("system", "consumer", "showcase")
ENDPOINTS = ("upload", "openapi", "sql")
FAULT_KINDS = ("status", "timeout", "drop", "duplicate")
UPLOAD_VERSIONS = ("v1",)
SQL_VERSIONS = ("1",)
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "decimal": "DOUBLE", "boolean": "BOOLEAN",
             "date": "DATE", "time": "TIME", "datetime": "TIMESTAMP"}
BOM = b"\xef\xbb\xbf"
FLK_ERRORS, FAILED, NOT_FOUND = (status_code(key) for key in
                                 ("FLC_ERROR", "FAILED_PROCESSING", "REQUEST_ID_NOT_FOUND"))
INLINE_SUBMIT_BYTES = 64 * 1024   # bodies up to this size are submitted on the event loop


@dataclass
class Settings:
    """Tunables; every default is our reading (specs/README.md, «Mock ПОДД agent»)."""
    systems: tuple[str, ...] = ("MNSV03",)   # system mnemonics registered at start and on reset
    consumers: tuple[str, ...] = ("EPGU",)   # consumers (callers only) registered likewise
    showcase_mnemonic: str = "MYEDU_RVD"     # the SQL-mode provider (agent-sql.yaml example)
    datamart: str = "myedu"                  # showcase datamart the upload channel writes to
    default_sender: str | None = None        # X-Smev-Sender asserted when a consumer sends none
    max_body: int = 100 * 1024 * 1024        # edu-upload request cap (q14): larger → 400 too_large
    max_files: int = 50                      # files per multipart request (q14)
    flk_wait: float = 120.0                  # seconds to wait for the showcase's ФЛК verdict
    forward_timeout: float = 300.0           # agent → provider (smev_agent_client's 300 s)
    forward_max_body: int = 10 * 1024 * 1024
    validate_responses: bool = True
    sql_max_body: int = 1024 * 1024
    sql_max_rows: int = 100_000              # server cap on maxrows
    sql_max_timeout: int = 300               # server cap on timeout (s)
    sql_default_rows: int = 10_000
    sql_default_timeout: int = 30
    sql_result_ttl: float = 3600.0           # async results are kept this long
    fault_delay: float = 30.0                # a `timeout` fault without `seconds` waits this long
    admin_max_body: int = 16 * 1024 * 1024
    journal_size: int = 10_000
    journal_body_limit: int = 64 * 1024      # JSON bodies up to this size are journalled
    violations_size: int = 10_000
    uploads_size: int = 1_000

    def public(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["systems"] = list(self.systems)
        out["consumers"] = list(self.consumers)
        return out

    def validate(self) -> None:
        for name in ("systems", "consumers"):
            if not all(isinstance(m, str) and MNEMONIC_RE.match(m) for m in getattr(self, name)):
                raise ValueError(f"{name} must be mnemonics matching [A-Z0-9_]{{2,32}}")
        for name in ("showcase_mnemonic",) + (("default_sender",) if self.default_sender else ()):
            if not isinstance(getattr(self, name), str) or not MNEMONIC_RE.match(getattr(self, name)):
                raise ValueError(f"{name} must match [A-Z0-9_]{{2,32}}")
        for name in ("max_body", "max_files", "forward_max_body", "sql_max_body", "sql_max_rows",
                     "sql_max_timeout", "sql_default_rows", "sql_default_timeout", "admin_max_body",
                     "journal_size", "journal_body_limit", "violations_size", "uploads_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        for name in ("flk_wait", "forward_timeout", "sql_result_ttl", "fault_delay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 86400:
                raise ValueError(f"{name} must be a number of seconds in 0..86400")
        if not isinstance(self.validate_responses, bool):
            raise ValueError("validate_responses must be true or false")


@dataclass
class Provider:
    """A system reached in OpenAPI mode at `/{mnemonic}/{prefix}/...`."""
    mnemonic: str
    base_url: str
    spec: ProviderSpec
    prefix: str
    title: str | None = None
    transport: Any = None        # an httpx.AsyncBaseTransport; None = the app's default

    def public(self) -> dict[str, Any]:
        return {"mnemonic": self.mnemonic, "base_url": self.base_url, "spec": self.spec.path.name,
                "spec_path": str(self.spec.path), "prefix": self.prefix, "title": self.title,
                "in_process": self.transport is not None}


@dataclass
class UploadFile:
    """One file of an upload: its `body` is bytes in memory or, when large, its spool file."""
    file_name: str
    table: str
    body: Body

    @classmethod
    def of(cls, file_name: str, table: str, data: bytes) -> "UploadFile":
        return cls(file_name, table, Body.of(data))


@dataclass
class UploadOutcome:
    status: int
    request_ids: list[str]
    error: AgentError | None = None
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SqlJob:
    request_id: str
    mnemonic: str
    created: float
    status: str = "queued"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id, "status": self.status}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


def file_violation(f: "UploadFile", rule: str, detail: str) -> dict[str, Any]:
    """A file-level ФЛК violation in edu-upload.yaml's `FlkViolation` shape (no line, no column)."""
    name = f.file_name if re.fullmatch(r"[a-z][a-z0-9_]{0,62}\.csv", f.file_name or "") else f"{f.table}.csv"
    out = flk.Violation(f.table, rule, detail, file=name).as_dict()
    out["message"] = dict(flk.load_rules()[rule]["message"])
    return out


def upload_error(error: str, ru: str, en: str, details: list[dict[str, Any]] | None = None,
                 status: int = 400) -> AgentError:
    return AgentError(status, error, ru, en, details)


class AgentCore:
    """All state of one mock agent. Thread-safe (one lock); blocking calls (showcase waits,
    queries) run off the event loop."""

    def __init__(self, showcase: Any = None, settings: Settings | None = None,
                 tables: TableSet | None = None, **overrides: Any) -> None:
        self.settings = dataclasses.replace(settings or Settings(), **overrides)
        self.settings.systems = tuple(self.settings.systems)
        self.settings.consumers = tuple(self.settings.consumers)
        self.settings.validate()
        self.tables = tables or load_tables()
        self.owns_showcase = showcase is None
        if showcase is None:
            from mocks.epgu.showcase import Showcase
            showcase = Showcase()
        self.showcase = showcase
        self._lock = threading.RLock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="smev-sql")
        self.sql_columns = {t.name: [(c.name, SQL_TYPES.get(c.type, "VARCHAR")) for c in t.columns]
                            for t in self.tables}
        self._reset_state()

    # --- housekeeping -----------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self.mnemonics: dict[str, dict[str, Any]] = {}
            self.providers: dict[str, Provider] = {}
            self.faults = FaultQueue(ENDPOINTS, FAULT_KINDS)
            self.journal = RequestJournal(self.settings.journal_size)
            self.violations: collections.deque[dict[str, Any]] = collections.deque(
                maxlen=self.settings.violations_size)
            self._violation_seq = 0
            self.uploads: collections.deque[dict[str, Any]] = collections.deque(
                maxlen=self.settings.uploads_size)
            self.sql_jobs: dict[str, SqlJob] = {}
        for m in self.settings.systems:
            self.register_mnemonic(m, "system")
        for m in self.settings.consumers:
            self.register_mnemonic(m, "consumer")
        self.register_mnemonic(self.settings.showcase_mnemonic, "showcase")

    def reset(self, showcase: bool | None = None) -> None:
        """Forget registrations, providers, faults, journal, violations and SQL requests (not
        settings); reset the showcase too when it is the agent's own (or `showcase=True`)."""
        if showcase if showcase is not None else self.owns_showcase:
            self.showcase.reset()
        self._reset_state()

    def configure(self, **changes: Any) -> Settings:
        names = {f.name for f in dataclasses.fields(Settings)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name in ("systems", "consumers"):
            if name in changes:
                changes[name] = tuple(changes[name])
        candidate = dataclasses.replace(self.settings, **changes)
        candidate.validate()
        with self._lock:
            self.settings = candidate
        return self.settings

    def spool_dir(self) -> Path | None:
        """Where the HTTP layer spools large upload bodies: the showcase's own spool when it
        keeps one on disk (so a body reaches it by a link), else the system's temp directory."""
        return getattr(self.showcase, "spool_dir", None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.owns_showcase:
            self.showcase.close()

    # --- mnemonics and providers ------------------------------------------------------------

    def register_mnemonic(self, mnemonic: str, kind: str = "system", title: str | None = None) -> dict[str, Any]:
        """Register a system (a journal: it may upload and call providers), a consumer (it may
        call providers, e.g. the portal) or the showcase (SQL mode). A system is registered
        with the showcase as a source too."""
        if not isinstance(mnemonic, str) or not MNEMONIC_RE.match(mnemonic):
            raise ValueError("mnemonic must match [A-Z0-9_]{2,32}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if kind == "system" and not self.showcase.is_source(mnemonic):
            self.showcase.register_source(mnemonic, [self.settings.datamart])
        entry = {"mnemonic": mnemonic, "kind": kind, "title": title}
        with self._lock:
            self.mnemonics[mnemonic] = entry
        return dict(entry)

    def remove_mnemonic(self, mnemonic: str) -> bool:
        with self._lock:
            return self.mnemonics.pop(mnemonic, None) is not None

    def mnemonic(self, mnemonic: str, kind: str) -> dict[str, Any] | None:
        entry = self.mnemonics.get(mnemonic)
        return entry if entry is not None and entry["kind"] == kind else None

    def register_provider(self, mnemonic: str, base_url: str, spec: str | Path | None = None,
                          prefix: str | None = None, title: str | None = None,
                          transport: Any = None) -> Provider:
        """Forward `/{mnemonic}/{prefix}/…` to `base_url` + the rest, checked against `spec`
        (a file of specs/openapi or a path; default journal.yaml). The prefix defaults to the
        one the spec's server entry for the agent shows (`ezhd`, `myedu`)."""
        if not isinstance(mnemonic, str) or not MNEMONIC_RE.match(mnemonic):
            raise ValueError("mnemonic must match [A-Z0-9_]{2,32}")
        if not isinstance(base_url, str) or not re.match(r"^https?://[^/\s]+", base_url):
            raise ValueError("base_url must be an http(s) URL")
        loaded = load_spec(spec_path(spec))
        chosen = loaded.prefix if prefix is None else str(prefix).strip("/")
        if chosen and (not re.fullmatch(r"[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*", chosen)
                       or any(part in (".", "..") for part in chosen.split("/"))):
            raise ValueError("prefix must be path segments like ezhd or myedu")
        provider = Provider(mnemonic, base_url.rstrip("/"), loaded, chosen, title, transport)
        with self._lock:
            self.providers[mnemonic] = provider
        return provider

    def remove_provider(self, mnemonic: str) -> bool:
        with self._lock:
            return self.providers.pop(mnemonic, None) is not None

    def provider(self, mnemonic: str) -> Provider:
        found = self.providers.get(mnemonic)
        if found is None:
            raise AgentError(404, "unknown_mnemonic",
                             f"мнемоника «{mnemonic[:40]}» не зарегистрирована у агента как поставщик",
                             f"mnemonic {mnemonic[:40]!r} is not a provider registered at the agent")
        return found

    def sender(self, asserted: str | None) -> str:
        """The mnemonic the agent asserts in `X-Smev-Sender`: the consumer's own header when it
        names a registered system, consumer or provider, else `default_sender`."""
        name = asserted or self.settings.default_sender
        if not name:
            raise AgentError(403, "unknown_sender",
                             "вызывающая система не определена: передайте X-Smev-Sender с "
                             "зарегистрированной мнемоникой",
                             "the calling system is not identified: send X-Smev-Sender with a "
                             "registered mnemonic (or set default_sender)")
        if name not in self.mnemonics and name not in self.providers:
            raise AgentError(403, "unknown_sender",
                             f"мнемоника отправителя «{name[:40]}» не зарегистрирована у агента",
                             f"sender mnemonic {name[:40]!r} is not registered at the agent")
        return name

    # --- faults, journal, violations --------------------------------------------------------

    def add_fault(self, endpoint: str, kind: str, count: int = 1, **params: Any) -> Fault:
        """Queue a fault for the next `count` requests of `endpoint` (upload, openapi, sql):
        `status` (answer `status`, default 500), `timeout` (wait `seconds`, default
        `fault_delay`, then answer as usual), `drop` (close the connection with no answer;
        `when: after` processes the request first), `duplicate` (upload: submit each file
        twice; openapi: forward twice)."""
        if kind == "duplicate" and endpoint == "sql":
            raise ValueError("duplicate delivery applies to upload and openapi only")
        if kind == "timeout" and not float(params.get("seconds") or 0):
            params["seconds"] = self.settings.fault_delay
        if kind == "drop":
            params.setdefault("when", "before")
            if params["when"] not in ("before", "after"):
                raise ValueError("when must be before or after")
        return self.faults.add(endpoint, kind, count, **params)

    def take_fault(self, endpoint: str) -> Fault | None:
        return self.faults.take(endpoint)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self.journal.record(entry)

    def add_violations(self, provider: str, found: Iterable[Violation],
                       message_id: str | None = None) -> int:
        n = 0
        with self._lock:
            for v in found:
                self._violation_seq += 1
                self.violations.append({"seq": self._violation_seq,
                                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                        "provider": provider, "message_id": message_id,
                                        **dataclasses.asdict(v)})
                n += 1
        return n

    def read_violations(self, since: int = 0, provider: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(v) for v in self.violations
                    if v["seq"] > since and (provider is None or v["provider"] == provider)]

    def clear_violations(self) -> None:
        with self._lock:
            self.violations.clear()

    # --- edu-upload -------------------------------------------------------------------------

    def table_of(self, file_name: str) -> str:
        """The table a multipart file is for: `{table}.csv` or `myedu_{table}.csv`."""
        base = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1]
        match = re.fullmatch(r"([a-z][a-z0-9_]{0,62})\.csv", base)
        if match is None:
            raise upload_error("bad_file_name",
                               f"имя файла «{base[:80]}» должно быть «{{таблица}}.csv»",
                               "a multipart file name must be '{table}.csv' (or 'myedu_{table}.csv')")
        stem = match.group(1)
        if stem not in self.tables and stem.startswith("myedu_") and stem[6:] in self.tables:
            stem = stem[6:]
        if stem not in self.tables:
            raise self.unknown_table(stem)
        return stem

    def unknown_table(self, table: str) -> AgentError:
        known = ", ".join(self.tables.names)
        return upload_error("unknown_table", f"таблица не входит в выгрузку; известны: {known}",
                            f"not an export table; known: {known}")

    def check_upload_target(self, mnemonic: str, version: str) -> None:
        if self.mnemonic(mnemonic, "system") is None:
            raise upload_error("unknown_mnemonic",
                               f"мнемоника «{mnemonic[:40]}» не зарегистрирована у агента",
                               f"mnemonic {mnemonic[:40]!r} is not registered at the agent")
        if version not in UPLOAD_VERSIONS:
            raise upload_error("unsupported_version", f"версия API «{version[:16]}» не поддерживается; "
                               "известна v1", f"API version {version[:16]!r} is not supported; v1 is known")

    def upload(self, mnemonic: str, version: str, operation: str, files: list[UploadFile],
               duplicate: bool = False) -> UploadOutcome:
        """Submit the files to the showcase (parents first for upload, children first for
        delete), wait for the ФЛК verdict, and answer as edu-upload.yaml states: 200, 400
        `flk_failed` with the violations, 500 when the showcase failed to process."""
        submitted = self.submit_upload(mnemonic, version, operation, files, duplicate)
        return self.verdict(mnemonic, operation, submitted, wait=True)

    def submit_upload(self, mnemonic: str, version: str, operation: str, files: list[UploadFile],
                      duplicate: bool = False) -> list[tuple[UploadFile, str]]:
        """The first half of `upload`: check the files and submit them; (file, request id)."""
        self.check_upload_target(mnemonic, version)
        if not files:
            raise upload_error("invalid_request", "нет файлов: передайте их в поле files",
                               "no files: send them in the multipart field 'files'")
        seen: set[str] = set()
        for f in files:
            if f.table not in self.tables:
                raise self.unknown_table(f.table)
            if f.table in seen:
                raise upload_error("bad_file_name", f"таблица {f.table} передана дважды",
                                   f"table {f.table} is sent twice: one file per table")
            seen.add(f.table)
            if not f.body.size:
                raise upload_error("empty_body", f"файл {f.table}.csv пуст", f"file {f.table}.csv is empty",
                                   [file_violation(f, "header", "the file is empty: no header line")])
            if f.body.head(len(BOM)) == BOM:
                raise upload_error("bad_encoding", f"файл {f.table}.csv начинается с BOM",
                                   f"file {f.table}.csv starts with a byte-order mark",
                                   [file_violation(f, "encoding", "UTF-8 without a byte-order mark is required")])
            try:
                check_utf8(f.body.content)
            except UnicodeDecodeError as exc:
                raise upload_error("bad_encoding", f"файл {f.table}.csv не в кодировке UTF-8",
                                   f"file {f.table}.csv is not UTF-8",
                                   [file_violation(f, "encoding", f"not UTF-8 at byte {exc.start}: {exc.reason}")]
                                   ) from None
        order = list(self.tables.export_order())
        if operation == "delete":
            order.reverse()
        files = sorted(files, key=lambda f: order.index(f.table))
        submitted: list[tuple[UploadFile, str]] = []
        for f in files:
            for _ in range(2 if duplicate else 1):
                submitted.append((f, self._submit(mnemonic, operation, f)))
        return submitted

    def submits_at_once(self, mnemonic: str, files: list[UploadFile]) -> bool:
        """Whether `submit_upload` may run on the event loop: every body is in memory and
        small, and the source is known (so nothing is written to the store, nothing waits for
        the store's lock). A thread hop costs more than such a submission."""
        return (sum(f.body.size for f in files) <= INLINE_SUBMIT_BYTES
                and all(f.body.path is None for f in files) and self.showcase.is_source(mnemonic))

    def verdict_reads_store(self, submitted: list[tuple[UploadFile, str]]) -> bool:
        """Whether `verdict` reads a ФЛК report from the store (so it runs on a thread)."""
        return any(self.showcase.status(rid)["code"] == FLK_ERRORS for _, rid in submitted)

    def step_mode(self) -> bool:
        return bool(getattr(getattr(self.showcase, "settings", None), "step", False))

    async def until_final(self, submitted: list[tuple[UploadFile, str]]) -> None:
        """Wait (at most `flk_wait`) until every submitted request is final, holding no thread:
        the showcase calls back when it ends a request (nothing is waited for in step mode)."""
        if self.step_mode() or not submitted:
            return
        loop = asyncio.get_running_loop()

        def done(future: asyncio.Future) -> None:
            if not future.done():
                future.set_result(None)
        futures = []
        for _, rid in submitted:
            future = loop.create_future()
            self.showcase.on_final(rid, lambda f=future: loop.call_soon_threadsafe(done, f))
            futures.append(future)
        await asyncio.wait(futures, timeout=self.settings.flk_wait)

    def _submit(self, mnemonic: str, operation: str, f: UploadFile) -> str:
        from mocks.epgu.showcase import ShowcaseError
        if not self.showcase.is_source(mnemonic):     # a shared showcase reset on its own
            self.showcase.register_source(mnemonic, [self.settings.datamart])
        try:
            return self.showcase.submit(self.settings.datamart, f.table, operation, f.body.content,
                                        mnemonic, f.file_name, utf8_checked=True,  # checked in upload()
                                        sha256=f.body.sha256)
        except ShowcaseError as exc:
            known = ("empty_body", "bad_encoding", "unknown_table", "too_large")
            code = exc.error if exc.error in known else "invalid_request"
            if exc.status == 401:
                code = "unknown_mnemonic"
            raise upload_error(code, f"{f.table}.csv: {exc.message}", f"{f.table}.csv: {exc.message_en}") from None

    def verdict(self, mnemonic: str, operation: str, submitted: list[tuple[UploadFile, str]],
                wait: bool = False) -> UploadOutcome:
        """The second half of `upload`: the answer from the submitted requests' statuses (with
        `wait`, after waiting for each to be final, at most `flk_wait` in all)."""
        step_mode = self.step_mode()
        deadline = time.monotonic() + self.settings.flk_wait
        files: list[dict[str, Any]] = []
        for f, rid in submitted:
            if step_mode or not wait:
                status = self.showcase.status(rid)
            else:
                status = self.showcase.wait(rid, max(0.0, deadline - time.monotonic()))
            files.append({"file": f.file_name, "table": f.table, "bytes": f.body.size,
                          "request_id": rid, "code": status["code"]})
        ids = [entry["request_id"] for entry in files]
        codes = [entry["code"] for entry in files]
        outcome = UploadOutcome(200, ids, files=files)
        if FAILED in codes or NOT_FOUND in codes:
            bad = [e["file"] for e in files if e["code"] in (FAILED, NOT_FOUND)]
            outcome = UploadOutcome(500, ids, upload_error(
                "internal_error", f"витрина не смогла обработать {', '.join(bad)}",
                f"the showcase failed to process {', '.join(bad)}", status=500), files)
        elif FLK_ERRORS in codes:
            details: list[dict[str, Any]] = []
            total = 0
            failed = []
            for entry in files:
                if entry["code"] != FLK_ERRORS or entry["file"] in failed:
                    continue
                failed.append(entry["file"])
                report = self.showcase.errors(entry["request_id"], limit=1000)
                total += int(report.get("total", 0))
                for err in report.get("errors", []):
                    if len(details) < 1000:
                        details.append({**err, "file": entry["file"]})
            outcome = UploadOutcome(400, ids, upload_error(
                "flk_failed", f"{total} нарушени(й/я) ФЛК в {', '.join(failed)}",
                f"{total} violation(s) of the format-logical control in {', '.join(failed)}",
                details), files)
        with self._lock:
            self.uploads.append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "mnemonic": mnemonic, "operation": operation,
                                 "status": outcome.status, "files": files})
        return outcome

    # --- SQL mode ---------------------------------------------------------------------------

    def check_sql_target(self, mnemonic: str, accept_version: str | None) -> None:
        if self.mnemonic(mnemonic, "showcase") is None:
            raise AgentError(404, "unknown_mnemonic",
                             f"мнемоника «{mnemonic[:40]}» не зарегистрирована у агента как витрина",
                             f"mnemonic {mnemonic[:40]!r} is not a showcase registered at the agent")
        if accept_version not in SQL_VERSIONS:
            shown = "не передан" if accept_version is None else f"«{accept_version[:16]}»"
            raise AgentError(400, "unsupported_version",
                             f"заголовок Accept-Version {shown}; поддерживается 1",
                             f"header Accept-Version is {accept_version!r}; 1 is supported",
                             [{"field": "Accept-Version", "message": "must be 1"}])

    def sql(self, mnemonic: str, accept_version: str | None, request_id: str | None,
            body: bytes, content_type: str) -> tuple[int, dict[str, Any], str]:
        """Run (or queue) a query: `(status, body, request id)`."""
        self.check_sql_target(mnemonic, accept_version)
        if request_id is not None and not UUID_RE.match(request_id):
            raise AgentError(400, "bad_parameter", "X-Request-Id должен быть UUID",
                             "X-Request-Id must be a UUID", [{"field": "X-Request-Id", "message": "not a UUID"}])
        rid = (request_id or str(uuid.uuid4())).lower()
        req = sqlmode.parse_form(body, content_type, default_timeout=self.settings.sql_default_timeout,
                                 default_maxrows=self.settings.sql_default_rows)
        checked = sqlmode.check_query(req.sql, len(req.params), self.sql_columns)
        if not req.async_request:
            return 200, self._execute(checked, req), rid
        self._expire_jobs()
        with self._lock:
            job = self.sql_jobs.get(rid)
            if job is None:
                job = self.sql_jobs[rid] = SqlJob(rid, mnemonic, time.monotonic())
                self._pool.submit(self._run_job, job, checked, req)
        return 202, {"request_id": rid}, rid

    def _execute(self, checked: sqlmode.CheckedQuery, req: sqlmode.SqlRequest) -> dict[str, Any]:
        maxrows = min(req.maxrows, self.settings.sql_max_rows)
        timeout = min(req.timeout, self.settings.sql_max_timeout)
        try:
            result = self.showcase.execute_readonly(checked.sql, list(req.params), maxrows, float(timeout))
        except Exception as exc:
            raise self._query_error(exc, timeout) from None
        return sqlmode.format_result(result.columns, result.rows, result.truncated)

    @staticmethod
    def _query_error(exc: Exception, timeout: float) -> AgentError:
        reason = getattr(exc, "reason", None)
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        if reason == "timeout" or isinstance(exc, TimeoutError):
            return AgentError(408, "query_timeout", f"запрос выполнялся дольше {timeout:g} с и прерван",
                              f"query exceeded timeout of {timeout:g} s")
        if reason == "refused":
            return sqlmode.refused("not_select", f"запрос отклонён витриной: {text}",
                                   f"the showcase refused the query: {text}")
        if reason == "failed":
            low = text.lower()
            if "column" in low and ("not found" in low or "does not have" in low):
                code = "unknown_column"
            elif "table" in low and ("does not exist" in low or "not found" in low):
                code = "unknown_table"
            elif "parser error" in low or "syntax error" in low:
                code = "syntax_error"
            else:
                code = "bad_parameter"
            return sqlmode.refused(code, f"запрос не выполнен: {text}", f"the query failed: {text}")
        return AgentError(500, "internal_error", "внутренняя ошибка агента при выполнении запроса",
                          f"internal error while running the query: {type(exc).__name__}")

    def _run_job(self, job: SqlJob, checked: sqlmode.CheckedQuery, req: sqlmode.SqlRequest) -> None:
        job.status = "running"
        try:
            job.result = self._execute(checked, req)
            job.status = "done"
        except AgentError as exc:
            job.error = exc.body()
            job.status = "failed"
        except Exception as exc:  # never lose a job silently
            job.error = {"error": "internal_error", "message": "внутренняя ошибка агента",
                         "message_en": f"internal error: {type(exc).__name__}", "details": []}
            job.status = "failed"

    def _expire_jobs(self) -> None:
        limit = time.monotonic() - self.settings.sql_result_ttl
        with self._lock:
            for rid in [rid for rid, j in self.sql_jobs.items()
                        if j.created < limit and j.status in ("done", "failed")]:
                del self.sql_jobs[rid]

    def sql_request(self, mnemonic: str, accept_version: str | None, request_id: str) -> dict[str, Any]:
        """`SqlRequestState` of an asynchronous query."""
        self.check_sql_target(mnemonic, accept_version)
        self._expire_jobs()
        job = self.sql_jobs.get(str(request_id).lower())
        if job is None or job.mnemonic != mnemonic:
            raise AgentError(404, "unknown_request", f"запрос {str(request_id)[:40]} не найден или устарел",
                             f"request {str(request_id)[:40]} is unknown or has expired")
        return job.public()
