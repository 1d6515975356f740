"""Helpers of the EXP tests: the dataset's tables, what the showcase holds, the export channel
the journal uses and fault injection on it, and a teacher's session in the journal.

Everything here reads the generated dataset (CSV files of `run["dataset"]["directory"]`) and
the mocks' admin APIs; the journal is reached only through test-control and the driver."""
from __future__ import annotations

import functools

import time
import uuid
from typing import Any

import pytest

from conformance.browser import Browser
from conformance.clients import MockAdmin, pauses
from conformance.driver import JournalDriver, UserSession
from conformance.people import People
from conformance.verdicts import EnvironmentProblem
from conformance.dataset import records, tables
from specs import showcase_statuses as status
from specs import OPENAPI_DIR, load_yaml
from specs.tables import Table
from specs.values import check_value

EDU_UPLOAD, SHOWCASE = "edu-upload", "showcase"
OK, FAILED, FLK = (status.code(k) for k in ("SUCCESSFULLY_PROCESSED", "FAILED_PROCESSING", "FLC_ERROR"))
MAX_ROWS = 1_000_000

Record = dict[str, "str | None"]




# --- the dataset -------------------------------------------------------------------------------

def dataset(run: dict[str, Any], name: str) -> tuple[Record, ...]:
    """The dataset's records of a table (texts as in the export CSV); () when it has none."""
    return records(run, name)


def key_of(table: Table, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple("" if row.get(k) is None else str(row[k]) for k in table.primary_key)


# --- the showcase --------------------------------------------------------------------------------

def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def showcase_select(epgu: MockAdmin, table: str, columns: tuple[str, ...], where: str = "",
                    params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a showcase table (the named columns), through the mock's read-only SQL."""
    sql = f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_quote(table)}{where}"
    result = epgu.post("/query", json={"sql": sql, "params": params or [], "maxrows": MAX_ROWS, "timeout": 30})
    if result.get("truncated"):
        raise EnvironmentProblem(f"the showcase's answer for {table} was truncated")
    return [dict(zip(result["columns"], row)) for row in result["rows"]]


def showcase_keys(epgu: MockAdmin, name: str) -> set[tuple[str, ...]]:
    table = tables()[name]
    return {key_of(table, r) for r in showcase_select(epgu, name, table.primary_key)}


def showcase_rows(epgu: MockAdmin, name: str, column: str, value: str) -> list[dict[str, Any]]:
    """Every stored row of `name` whose `column` equals `value` (all columns)."""
    table = tables()[name]
    return showcase_select(epgu, name, table.column_names, f" WHERE {_quote(column)} = ?", [value])


def requests_since(epgu: MockAdmin, seq: int, table: str | None = None) -> list[dict[str, Any]]:
    """Upload requests the showcase registered after request number `seq`, oldest first."""
    params: dict[str, Any] = {"limit": 100_000}
    if table:
        params["table"] = table
    return [r for r in epgu.get("/requests", params=params) or [] if r["seq"] > seq]


def settled_since(epgu: MockAdmin, seq: int, table: str | None = None, timeout: float = 15.0
                  ) -> list[dict[str, Any]]:
    """`requests_since`, once the showcase has finished processing them (or `timeout` passed):
    a journal that does not wait for the final status may finish its job before the showcase
    does, and the verdict is about what the showcase ends up with."""
    deadline, waits = time.monotonic() + timeout, pauses()
    while True:
        found = requests_since(epgu, seq, table)
        if all(r.get("final", r["code"] in status.final_codes()) for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(next(waits))


def export_changes(test_control: Any, epgu: MockAdmin, tables: list[str] | None = None) -> dict[str, Any]:
    """An incremental export (test-control, scope `changes`), asserted done, and waited for until
    the showcase has settled every request it made; the job."""
    before = last_request_seq(epgu)
    job = test_control.export(scope="changes", **({"tables": tables} if tables else {}))
    assert job["state"] == "done", f"the incremental export failed: {job.get('error')!r}"
    settled_since(epgu, before)
    return job


def fresh_copy(table: Table, record: Record) -> Record | None:
    """A copy of `record` under a new key the journal does not hold (single-column keys whose
    lengthened value is still valid under specs/tables; None otherwise)."""
    if len(table.primary_key) != 1:
        return None
    (name,) = table.primary_key
    new = f"{record[name]}Z{uuid.uuid4().hex[:6].upper()}"
    if check_value(table.column(name), new, tables().conventions) is not None:
        return None
    return {**record, name: new}


def last_request_seq(epgu: MockAdmin) -> int:
    return max((r["seq"] for r in epgu.get("/requests", params={"limit": 100_000}) or []), default=0)


def describe_requests(found: list[dict[str, Any]]) -> str:
    return "; ".join(f"#{r['seq']} {r['table']} {r['operation']} → {r['code']} ({r.get('key')})" for r in found) \
        or "none"


# --- the export channel ------------------------------------------------------------------------

def channel_of(job: dict[str, Any], run: dict[str, Any]) -> str:
    """The channel the journal exported through (its job's uploads; else its declaration)."""
    used = {u.get("channel") for u in job.get("uploads") or []}
    if len(used) == 1:
        return used.pop()
    declared = ((run.get("sut") or {}).get("agent") or {}).get("channels") or [EDU_UPLOAD]
    return declared[0]


def upload_path(run: dict[str, Any], channel: str, table: str, operation: str = "upload") -> str:
    """The path the journal sends a file of `table` to (as the mock journals record it)."""
    mnemonic = run["journal"]["mnemonic"]
    if channel == SHOWCASE:
        datamart = ((run.get("sut") or {}).get("agent") or {}).get("datamart") or "myedu"
        return f"/v2/datamarts/{datamart}/tables/{table}/{operation}"
    # the agent's path names the «Моё образование» service, not the datamart (edu-upload.yaml q8)
    return _edu_upload_path().format(mnemonic=mnemonic, version="v1", table=table)


@functools.lru_cache(maxsize=1)
def _edu_upload_path() -> str:
    """The agent's per-table upload path template, as specs/openapi/edu-upload.yaml states it."""
    doc = load_yaml(OPENAPI_DIR / "edu-upload.yaml")
    return next(p for p in doc["paths"] if p.endswith("/csv/{table}"))


def upload_mock(channel: str, smev: MockAdmin, epgu: MockAdmin) -> MockAdmin:
    """The mock that receives the journal's files on this channel."""
    return epgu if channel == SHOWCASE else smev


def sends(mock: MockAdmin, seq: int, path: str, method: str = "POST") -> list[dict[str, Any]]:
    """The journal's sends to `path` the mock recorded after journal entry `seq`."""
    return [e for e in mock.journal_since(seq, path) if e.get("path") == path and e.get("method") == method
            and e.get("endpoint") != "admin"]


def body_digest(entry: dict[str, Any]) -> str | None:
    """The SHA-256 of a sent body as every mock's request journal records it
    (mocks/common/journal.py); None when the entry has none."""
    return entry.get("body_sha256")


def resent_unchanged(sends: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sends after the first whose body has the first one's SHA-256: the refused file sent
    again as it was. A corrected file of the same size is not among them."""
    refused = body_digest(sends[0]) if sends else None
    if refused is None:
        raise EnvironmentProblem("the mock's request journal holds no SHA-256 of the refused file's body")
    return [s for s in sends[1:] if body_digest(s) == refused]


def export_with_references(test_control: Any, epgu: MockAdmin, names: Any, scope: str = "full") -> dict[str, Any]:
    """Export the tables `names` now, with the tables they reference (transitively) that the
    showcase does not hold yet, so its reference checks find their targets: the finished job."""
    held = epgu.get("/tables") or {}
    wanted, todo = set(names), list(names)
    while todo:
        for column in tables()[todo.pop()].foreign_keys:
            target = column.references[0]
            if target not in wanted and not held.get(target):
                wanted.add(target)
                todo.append(target)
    return test_control.export(scope, tables=[t for t in tables().export_order() if t in wanted])


# --- a teacher in the journal --------------------------------------------------------------------

def staff_organisation(run: dict[str, Any], staff_id: str) -> str | None:
    for s in dataset(run, "staff"):
        if s["id"] == staff_id:
            return s["organisation_id"]
    return None


def pick_teacher(people: People, run: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A prelinked teacher who signs in without a scenario, and their school."""
    def teacher(p: dict[str, Any]) -> bool:
        jp = people.of(p["oid"]) or {}
        return "teacher" in (jp.get("roles") or []) and bool(staff_organisation(run, jp.get("record_id", "")))

    persona = people.pick("staff", prelinked=True, account_type="confirmed", where=teacher)
    return persona, staff_organisation(run, people.of(persona["oid"])["record_id"]) or ""


def teacher_or_skip(run: dict[str, Any], people: People, driver: JournalDriver | None, what: str
                    ) -> tuple[Browser, UserSession, str]:
    """`teacher_session`, or the test SKIPPED when the SUT has no driver (or it lacks an operation)."""
    if driver is None:
        pytest.skip(f"{what} in the journal's own interface and the SUT declares no journal driver")
    try:
        return teacher_session(run, people, driver)
    except NotImplementedError as exc:
        pytest.skip(f"the journal driver does not implement {exc}")


def teacher_session(run: dict[str, Any], people: People, driver: JournalDriver
                    ) -> tuple[Browser, UserSession, str]:
    """(browser, the teacher's journal session, their school) — close the browser after."""
    persona, school = pick_teacher(people, run)
    browser = Browser(run)
    browser.esia_admin("DELETE", "/faults")
    landing = browser.sign_in(persona["oid"])
    if not landing.signed_in:
        browser.close()
        raise EnvironmentProblem(f"a teacher could not sign in through ЕСИА: {landing.describe()}")
    return browser, driver.session(browser), school


def base_mark(run: dict[str, Any], school: str) -> Record:
    """A dataset mark of a learner of `school`: the fields a new mark can copy."""
    return _of_school(run, school, "marks")


def _of_school(run: dict[str, Any], school: str, table: str) -> Record:
    learners = {r["id"] for r in dataset(run, "learners") if r["organisation_id"] == school}
    for r in dataset(run, table):
        if r["learner_id"] in learners:
            return dict(r)
    raise EnvironmentProblem(f"the dataset has no {table} record of a learner of {school}")


def base_achievement(run: dict[str, Any], school: str) -> Record:
    """A dataset achievement of a learner of `school`: the fields a new one can copy."""
    return _of_school(run, school, "achievements")


def achievement_fields(record: Record) -> dict[str, Any]:
    """The driver's fields of an achievement from its CSV texts (codes as numbers)."""
    out: dict[str, Any] = {"title": f"{record.get('title') or 'Достижение'} (EXP-03 conformance)"[:1000],
                           "achievement_date": record["achievement_date"]}
    for name in ("category", "level", "result"):
        out[name] = int(record[name])
    if record.get("subject_id"):
        out["subject_id"] = record["subject_id"]
    return out


MARK_FIELDS = ("subject_id", "period_id", "lesson_id", "mark_type", "grade_system", "value", "weight",
               "mark_date", "control_form", "comment")


def mark_fields(record: Record) -> dict[str, Any]:
    """The driver's fields of a mark from its CSV texts (integers as numbers when they are)."""
    table = tables()["marks"]
    out: dict[str, Any] = {}
    for name in MARK_FIELDS:
        text = record.get(name)
        if text is None:
            continue
        if table.column(name).type == "integer":
            try:
                out[name] = int(text)
                continue
            except ValueError:
                pass
        out[name] = text
    return out

