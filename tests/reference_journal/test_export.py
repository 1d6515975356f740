"""The export slot against the mocks in-process (EXP-01…EXP-08, NOTIF-01/02): full and
incremental exports through both channels, retries, ФЛК rejections, the schedule, event
notifications, and every export defect of the catalogue made visible."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from reference_journal import export as export_module
from reference_journal.defects import CATALOGUE, EXPORT
from reference_journal.export import Exporter, Outgoing, academic_year, hashed_value
from rj_export import (MNEMONIC, TABLES, Bench, copy_state, export, journal_on, key_of, stored_rows,
                       uploads_of)
from rj_helpers import World
from specs.csvio import iter_records
from specs.hashing import HASH_RE, document_hash

STAMP = "2026-05-25 10:00:00"          # NOW on the journal clock, as record datetimes
CHANNELS = ("edu-upload", "showcase")
BAD_ORG = "EZHD-0002.ORG1"             # a school no other organisation is part of


def sent_datetime(create: str | None) -> str:
    return create if create and create > STAMP else STAMP


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def personas(world: World) -> list[dict[str, Any]]:
    text = (world.directory / "personas.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def exported(world: World, portal, personas, tmp_path_factory) -> dict[str, Any]:
    """A journal holding the dataset after one full export through the agent, and the
    showcase it filled (both saved, so tests start from copies)."""
    base = tmp_path_factory.mktemp("exported")
    db, state = base / "journal.sqlite", base / "showcase"
    db.write_bytes(world.template.read_bytes())
    bench = Bench(personas, state_dir=state)
    client = journal_on(bench, portal, db)
    job = export(client, scope="full")
    client.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    client.close()
    client.journal.db.close()
    bench.close()
    return {"db": db, "state": state, "job": job}


@pytest.fixture
def make(world: World, portal, personas, tmp_path: Path, request: pytest.FixtureRequest):
    """`make(*defects, exported_state=False, channel=..., **settings)` → (journal client,
    bench): a fresh journal with the dataset and an empty showcase, or copies of the pair
    `exported` left."""
    opened: list[tuple[Any, Bench]] = []

    def build(*defects: str, exported_state: bool = False, channel: str = "edu-upload", **changes: Any):
        where = tmp_path / f"s{len(opened)}"
        if exported_state:
            exported = request.getfixturevalue("exported")
            db, state = copy_state(exported["db"], exported["state"], where)
            bench = Bench(personas, state_dir=state)
        else:
            where.mkdir()
            db = where / "journal.sqlite"
            db.write_bytes(world.template.read_bytes())
            bench = Bench(personas)
        client = journal_on(bench, portal, db, *defects, channel=channel, **changes)
        opened.append((client, bench))
        return client, bench

    yield build
    for client, bench in opened:
        client.close()
        client.journal.db.close()
        bench.close()


def dataset_rows(world: World, table: str) -> dict[tuple[Any, ...], dict[str, str | None]]:
    path = world.directory / f"{table}.csv"
    return {key_of(table, rec): rec for _, rec in iter_records(TABLES[table], path, TABLES)}


def teacher_token(client, world: World, learner_id: str) -> str:
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == learner_id)
    staff = {r["id"] for r in world.rows["staff"] if r["organisation_id"] == org}
    teacher = next(p for p in world.personas if p["kind"] == "staff" and p["record_id"] in staff
                   and "teacher" in p["roles"] and p["internal_login"])
    return client.sign_in(teacher["internal_login"], teacher["internal_password"])


def plant_bad_ogrn(client) -> None:
    """A wrong OGRN check digit, written straight into storage (no change-log entry)."""
    client.journal.db.execute("UPDATE organisations SET ogrn = '1026200114545' WHERE id = ?", (BAD_ORG,))


def add_event(client, world: World, event_id: str = "EZHD-0001.EVTX1", **changes: Any) -> dict[str, Any]:
    """An event tomorrow for a child of a parent linked to ЕСИА (as the school's staff would
    enter it); returns the event row, the child and the parent persona."""
    parent, child = world.parent(child_under_14=True)
    org = next(r["organisation_id"] for r in world.rows["learners"] if r["id"] == child)
    j = client.journal
    row = {"id": event_id, "organisation_id": org, "event_type": 1, "title": "Родительское собрание",
           "start_datetime": "2026-05-26 18:00:00", "end_datetime": "2026-05-26 19:00:00", "place": "каб. 214",
           "link": None, "status": 1, "create_datetime": STAMP, "send_datetime": None, **changes}
    j.db.upsert("events", row, STAMP)
    j.db.upsert("event_learners", {"event_id": event_id, "learner_id": child, "create_datetime": STAMP,
                                   "send_datetime": None}, STAMP)
    return {"row": row, "child": child, "parent": parent}


# --- full export ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_full_export_puts_every_table_in_the_showcase(channel, make, exported, world):
    if channel == "edu-upload":          # the module fixture did exactly this; look at its result
        client, bench = make(exported_state=True)
        job = exported["job"]
    else:
        client, bench = make(channel=channel)
        job = export(client, scope="full")
    assert job["state"] == "done" and job["error"] is None and job["scope"] == "full"
    assert job["finished_at"] and job["created_at"].startswith("2026-05-25T10:00:00")
    assert all(u["outcome"] == "ok" and u["attempt"] == 1 and u["channel"] == channel for u in job["uploads"])
    order = TABLES.export_order()
    sent = [u["table"] for u in job["uploads"]]
    assert sent == [t for t in order if t in sent], "parents before children (EXP-02)"
    assert set(sent) == set(TABLES.names) and all(u["operation"] == "upload" for u in job["uploads"])
    if channel == "showcase":
        assert all(re.fullmatch(r"[0-9a-f-]{36}", u["request_id"]) and u["status_code"] == 3 for u in job["uploads"])
    requests = bench.requests()
    assert len(requests) == len(TABLES.names) and all(r["code"] == 3 for r in requests), "one request per file"
    for table in TABLES.names:
        expected = dataset_rows(world, table)
        got = {key_of(table, r): r for r in bench.rows(table)}
        assert set(got) == set(expected), table
        assert job["tables"][table]["upload"] == len(expected)
        for key, rec in expected.items():
            row = got[key]
            assert row["send_datetime"] == sent_datetime(rec["create_datetime"]), (table, key)
            assert {**row, "send_datetime": None} == {**rec, "send_datetime": None}, (table, key)
    # the journal records when it sent each row
    assert {r["send_datetime"] for r in stored_rows(client, "organisations")} == {STAMP}
    # retrospective data (EXP-05): last academic year's marks are there too
    assert any(r["mark_date"] < "2025-09-01" for r in bench.rows("marks"))
    # depersonalised columns are digests, never a clear value (EXP-08)
    for table in ("learners", "representatives"):
        for row in bench.rows(table):
            assert row["document_hash"] is None or HASH_RE.match(row["document_hash"])
    # EXP-07: the share of records without SNILS is reported
    learners = job["report"]["snils_missing"]["learners"]
    assert learners["rows"] == 36 and learners["without_snils"] == sum(
        1 for r in world.rows["learners"] if not r["snils"])
    # every file is in the event log, without values
    log = [e for e in client.event_log() if e["event"] == "upload" and (e["object"] or "").endswith(".csv")]
    assert len(log) == len(TABLES.names) and all(e["outcome"] == "success" for e in log)
    assert all(set(e["details"]) >= {"job", "rows", "channel", "attempt"} for e in log)
    # nothing changed since: the next incremental export sends nothing
    assert export(client, scope="changes")["uploads"] == []


def test_period_scope_sends_the_dated_rows_of_the_period(make):
    client, bench = make()
    job = export(client, scope="period", **{"from": "2024-09-01", "to": "2025-08-31"},
                 tables=["organisations", "academic_periods", "events"])
    assert job["state"] == "done" and all(u["outcome"] == "ok" for u in job["uploads"])
    assert {r["academic_year"] for r in bench.rows("academic_periods")} == {"2024/2025"}
    starts = [r["start_datetime"] for r in bench.rows("events")]
    assert starts and "2024-09-01" <= min(starts) and max(starts) < "2025-09-01"
    assert len(starts) < client.journal.db.count("events")
    assert bench.count("organisations") == 3              # a table without dates: every row
    # a period export moves no cursor: the next incremental export still sends everything
    job = export(client, scope="changes", tables=["organisations", "academic_periods"])
    assert bench.count("academic_periods") == client.journal.db.count("academic_periods")
    assert job["tables"]["academic_periods"]["upload"] == client.journal.db.count("academic_periods")


def test_stored_clear_value_is_hashed_on_export(make):
    client, bench = make()
    learner = next(iter(stored_rows(client, "learners")))
    client.journal.db.execute("UPDATE learners SET document_hash = ? WHERE id = ?", ("45 10 №123456", learner["id"]))
    export(client, scope="full", tables=["organisations", "learners"])
    row = next(r for r in bench.rows("learners") if r["id"] == learner["id"])
    assert row["document_hash"] == document_hash("45 10", "123456")
    assert hashed_value(row["document_hash"]) == row["document_hash"]


# --- increments and deletes (EXP-03, EXP-04) ------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_increment_sends_the_change_and_the_delete(channel, make, world):
    client, bench = make(exported_state=True, channel=channel)
    marks = [m for m in stored_rows(client, "marks") if m["value"] in ("3", "4")]
    changed, deleted = marks[0], next(m for m in marks[1:] if m["learner_id"] == marks[0]["learner_id"])
    token = teacher_token(client, world, changed["learner_id"])
    new_value = "5" if changed["value"] != "5" else "4"
    assert client.web("PATCH", f"/marks/{changed['id']}", token, json={"value": new_value}).status_code == 200
    assert client.web("DELETE", f"/marks/{deleted['id']}", token).status_code == 204
    before = bench.count("marks")
    job = export(client, scope="changes")
    assert job["state"] == "done"
    assert [(u["table"], u["operation"], u["rows"], u["outcome"]) for u in job["uploads"]] == [
        ("marks", "upload", 1, "ok"), ("marks", "delete", 1, "ok")]
    stored = {r["id"]: r for r in bench.rows("marks")}
    assert stored[changed["id"]]["value"] == new_value
    assert deleted["id"] not in stored and len(stored) == before - 1
    assert client.journal.db.get("marks", changed["id"])["send_datetime"] == STAMP
    # idempotent: nothing new, nothing sent again
    assert export(client, scope="changes")["uploads"] == []
    assert bench.count("marks") == before - 1


def test_scheduled_export_follows_the_journal_clock(make, world):
    client, bench = make(exported_state=True, export_interval=900)
    mark = next(m for m in stored_rows(client, "marks") if m["value"] == "4")
    token = teacher_token(client, world, mark["learner_id"])
    assert client.web("PATCH", f"/marks/{mark['id']}", token, json={"value": "5"}).status_code == 200
    assert client.tc("POST", "/clock", json={"action": "advance", "seconds": 899}).status_code == 200
    assert bench.rows("marks") and next(r for r in bench.rows("marks") if r["id"] == mark["id"])["value"] == "4"
    assert client.tc("POST", "/clock", json={"action": "advance", "seconds": 1}).status_code == 200
    assert next(r for r in bench.rows("marks") if r["id"] == mark["id"])["value"] == "5"   # EXP-04
    scheduled = [e for e in client.event_log() if e["event"] == "upload" and e["actor"] == "scheduler"]
    assert scheduled and scheduled[-1]["details"]["scope"] == "changes"


def test_reset_forgets_what_was_sent(make):
    client, bench = make(exported_state=True)
    assert export(client, scope="changes", tables=["organisations"])["uploads"] == []
    assert client.journal.db.meta("export.cursor.organisations") is not None
    assert client.tc("POST", "/reset").status_code == 204
    assert client.journal.db.count("organisations") == 0
    assert client.journal.db.meta("export.cursor.organisations") is None
    assert client.journal.db.query("SELECT * FROM export_notified") == []


# --- retries (EXP-06) -----------------------------------------------------------------------------

FAULTS = {
    "showcase-503": ("showcase", lambda b: b.showcase.add_fault("upload", "status", count=2, status=503)),
    "showcase-drop": ("showcase", lambda b: b.showcase.add_fault("upload", "drop", count=2)),
    "showcase-status-4": ("showcase", lambda b: b.showcase.add_fault("lifecycle", "fail", count=2)),
    "agent-503": ("edu-upload", lambda b: b.agent.add_fault("upload", "status", count=2, status=503)),
    "agent-500": ("edu-upload", lambda b: b.agent.add_fault("upload", "status", count=2, status=500)),
    "agent-drop-after": ("edu-upload", lambda b: b.agent.add_fault("upload", "drop", count=2, when="after")),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_transient_failures_are_retried_with_backoff_without_duplicates(fault, make):
    channel, inject = FAULTS[fault]
    client, bench = make(channel=channel)
    inject(bench)
    job = export(client, scope="full", tables=["organisations"])
    ups = uploads_of(job, "organisations")
    assert [u["attempt"] for u in ups] == [1, 2, 3]
    assert [u["outcome"] for u in ups] == ["retry", "retry", "ok"]
    assert ups[1]["retry_in"] >= ups[0]["retry_in"] > 0
    if fault.endswith("503"):
        assert ups[0]["http_status"] == 503 and ups[0]["retry_in"] == pytest.approx(0.02)  # Retry-After, capped
    elif "drop" in fault and channel == "showcase":
        assert ups[0]["http_status"] is None and ups[1]["retry_in"] == pytest.approx(2 * ups[0]["retry_in"])
    requests = bench.requests("organisations")
    assert len({r["sha256"] for r in requests}) == 1, "the same file every time"
    assert bench.count("organisations") == 3 == client.journal.db.count("organisations")
    assert job["tables"]["organisations"] == {"upload": 3, "delete": 0, "held": 0, "failed": 0}


def test_a_request_that_stays_unfinished_is_sent_again(make):
    client, bench = make(channel="showcase", export_status_timeout=0.5)
    bench.showcase.add_fault("lifecycle", "stall", seconds=0.6)
    job = export(client, scope="full", tables=["organisations"])
    ups = uploads_of(job, "organisations")
    assert [(u["outcome"], u["status_code"]) for u in ups][0] == ("retry", 6)
    assert ups[-1]["outcome"] == "ok" and ups[-1]["status_code"] == 3
    assert bench.count("organisations") == 3
    assert len({r["sha256"] for r in bench.requests("organisations")}) == 1


def test_an_unreachable_agent_stops_the_job_and_nothing_is_lost(make):
    client, bench = make()
    bench.agent.add_fault("upload", "status", count=4, status=503)
    job = export(client, scope="changes", tables=["organisations", "academic_periods"])
    assert job["state"] == "failed" and "organisations.csv" in job["error"]
    assert [u["attempt"] for u in job["uploads"]] == [1, 2, 3, 4]          # export_max_attempts
    assert bench.count("organisations") == 0
    job = export(client, scope="changes", tables=["organisations", "academic_periods"])
    assert job["state"] == "done" and bench.count("academic_periods") == 20


def test_unknown_source_stops_the_job(make):
    client, _ = make(channel="showcase", journal_mnemonic="NOBODY01")
    job = export(client, scope="full", tables=["organisations"])
    assert job["state"] == "failed" and "401" in job["error"]
    assert [u["attempt"] for u in job["uploads"]] == [1]
    client, _ = make(journal_mnemonic="NOBODY01")
    job = export(client, scope="full", tables=["organisations"])
    assert job["state"] == "failed" and "NOBODY01" in job["error"]


# --- ФЛК rejection (EXP-02, EXP-06) -----------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_flk_rejection_holds_the_bad_row_and_resends_the_rest(channel, make):
    client, bench = make(channel=channel)
    plant_bad_ogrn(client)
    job = export(client, scope="full", tables=["organisations"])
    assert job["state"] == "done"
    first, second = uploads_of(job, "organisations")
    assert first["outcome"] == "flk" and first["status_code"] == 7 and first["rows"] == 3
    assert first["http_status"] == (400 if channel == "edu-upload" else 200)
    assert second["outcome"] == "ok" and second["rows"] == 2 and second["attempt"] == 2
    assert {r["id"] for r in bench.rows("organisations")} == {"EZHD-0000.ORG1", "EZHD-0001.ORG1"}
    held = client.journal.export.held()
    assert [(h["table_name"], json.loads(h["row_key"]), h["rules"], h["columns"]) for h in held] == [
        ("organisations", [BAD_ORG], "checksum", "ogrn")]
    assert job["tables"]["organisations"] == {"upload": 2, "delete": 0, "held": 1, "failed": 0}
    logged = [e for e in client.event_log() if e["event"] == "upload" and e["outcome"] == "failure"
              and e["details"].get("held")]
    assert logged and logged[-1]["details"]["rows"][0]["key"] == json.dumps([BAD_ORG])
    # corrected in the journal: the next increment sends it, and nothing is held any more
    row = client.journal.db.get("organisations", BAD_ORG)
    client.journal.db.upsert("organisations", {**row, "ogrn": "1026200114544"}, STAMP)
    job = export(client, scope="changes", tables=["organisations"])
    assert [(u["rows"], u["outcome"]) for u in job["uploads"]] == [(1, "ok")]
    assert bench.count("organisations") == 3 and client.journal.export.held() == []


def test_missing_parent_is_held_and_retried_when_the_parent_arrives(make):
    client, bench = make()
    job = export(client, scope="full", tables=["academic_periods"])     # no organisations yet
    assert uploads_of(job, "academic_periods")[0]["outcome"] == "flk"
    assert bench.count("academic_periods") == 0
    assert {h["rules"] for h in client.journal.export.held()} == {"fk"}
    export(client, scope="changes", tables=["organisations", "academic_periods"])
    assert bench.count("academic_periods") == client.journal.db.count("academic_periods")
    assert client.journal.export.held() == []


def test_what_cannot_be_corrected_is_reported_not_resent(make):
    client, _ = make()
    exporter: Exporter = client.journal.export
    table = TABLES["organisations"]
    blank = [None] * (len(table.columns) - 3)
    later = "2026-05-26 08:00:00"
    out = Outgoing(table, "upload", [("A-1",), ("A-2",), ("A-3",), ("A-4",)],
                   [["A-1", *blank, None, STAMP], ["A-2", *blank, later, STAMP],
                    ["A-3", *blank, STAMP, STAMP], ["A-4", *blank, "25.05.2026 10:00:00", STAMP]], TABLES)
    fixed, hold, why = exporter._correct(out, [{"line": None, "rule": "header"}], False, STAMP)
    assert fixed is None and "file-level" in why
    assert exporter._correct(out, [{"line": 2, "rule": "type"}], True, STAMP)[2].startswith("ФЛК report truncated")
    assert "file-level" in exporter._correct(out, [{"line": 9, "rule": "type"}], False, STAMP)[2]
    # the technical datetimes the journal owns are fixed; anything else is held back
    fixed, hold, why = exporter._correct(out, [
        {"line": 2, "column": "create_datetime", "rule": "required"},
        {"line": 3, "column": "send_datetime", "rule": "order"},
        {"line": 4, "column": "ogrn", "rule": "checksum"},
        {"line": 5, "column": "create_datetime", "rule": "type"}], False, STAMP)
    assert why is None and sorted(hold) == [2, 3] and fixed.keys == [("A-1",), ("A-2",)]
    assert [r[-2:] for r in fixed.records] == [[STAMP, STAMP], [later, later]]


# --- notifications (NOTIF-01/02) ---------------------------------------------------------------------

def test_events_are_pushed_to_the_portal_for_the_parents_concerned(make, world):
    client, bench = make(exported_state=True)
    added = add_event(client, world)
    oid = str(added["parent"]["esia"]["oid"])
    bench.showcase.add_fault("notifications", "status", count=1, status=503)
    job = export(client, scope="changes")
    assert {(u["table"], u["rows"]) for u in job["uploads"]} == {("events", 1), ("event_learners", 1)}
    [note] = job["notifications"]
    assert note["action"] == "created" and note["outcome"] == "delivered" and note["attempt"] == 2
    [got] = bench.portal.inbox()
    assert got["notification_id"] == note["notification_id"] and got["sender"] == MNEMONIC
    assert got["learner_ids"] == [added["child"]] and oid in got["recipient_oids"]
    assert got["event"]["title"] == "Родительское собрание" and got["event"]["place"] == "каб. 214"
    assert got["event"]["start_datetime"] == "2026-05-26 18:00:00"
    # the portal gets each change once (NOTIF-02), and nothing when nothing changed
    assert export(client, scope="changes")["notifications"] == []
    row = added["row"]
    client.journal.db.upsert("events", {**row, "place": "актовый зал"}, STAMP)
    assert [n["action"] for n in export(client, scope="changes")["notifications"]] == ["updated"]
    client.journal.db.upsert("events", {**row, "status": 2}, STAMP)
    assert [n["action"] for n in export(client, scope="changes")["notifications"]] == ["cancelled"]
    assert [(n["action"], n["event"]["place"], n["event"]["status"]) for n in bench.portal.inbox()] == [
        ("created", "каб. 214", 1), ("updated", "актовый зал", 1), ("cancelled", "каб. 214", 2)]
    assert [n["action"] for n in export(client, scope="full", tables=["events"])["notifications"]] == []


def test_recipients_unknown_to_the_portal_are_dropped(make, world):
    client, bench = make(exported_state=True)
    added = add_event(client, world)
    child, oid = added["child"], str(added["parent"]["esia"]["oid"])
    other = next(r["representative_id"] for r in world.rows["learner_representatives"]
                 if r["learner_id"] == child and r["representative_id"] != added["parent"]["record_id"])
    client.journal.db.execute("UPDATE accounts SET esia_oid = '1999999999' WHERE person_table = 'representatives' "
                              "AND person_id = ?", (other,))
    [note] = export(client, scope="changes")["notifications"]
    assert (note["outcome"], note["attempt"], note["recipients"]) == ("delivered", 2, 1)
    assert [n["recipient_oids"] for n in bench.portal.inbox()] == [[oid]]


def test_past_and_unaddressed_events_are_not_pushed(make, world):
    client, bench = make(exported_state=True)
    add_event(client, world, "EZHD-0001.EVTX2", start_datetime="2026-05-20 18:00:00",
              end_datetime="2026-05-20 19:00:00")
    job = export(client, scope="changes")
    assert job["notifications"] == [] and bench.portal.inbox() == []


# --- the export defects: each visible, each absent without it ------------------------------------------

def probe_skips_table(make) -> bool:
    client, bench = make()
    export(client, scope="full", tables=["organisations", "learners", "events", "event_learners"])
    return bench.count("events") < client.journal.db.count("events")


def probe_dates_ru(make) -> bool:
    client, bench = make()
    export(client, scope="full", tables=["organisations"])
    return bench.count("organisations") < 3


def probe_child_before_parent(make) -> bool:
    client, bench = make()
    export(client, scope="full", tables=["academic_periods", "organisations"])
    return bench.requests()[0]["table"] == "academic_periods" or bench.count("academic_periods") < 20


def _mark_change(make, world, delete: bool) -> bool:
    client, bench = make(exported_state=True)
    mark = next(m for m in stored_rows(client, "marks") if m["value"] == "4")
    token = teacher_token(client, world, mark["learner_id"])
    if delete:
        assert client.web("DELETE", f"/marks/{mark['id']}", token).status_code == 204
    else:
        assert client.web("PATCH", f"/marks/{mark['id']}", token, json={"value": "2"}).status_code == 200
    export(client, scope="changes", tables=["marks"])
    found = [r for r in bench.rows("marks") if r["id"] == mark["id"]]
    return bool(found) if delete else found[0]["value"] != "2"


def probe_deleted_mark(make, world) -> bool:
    return _mark_change(make, world, delete=True)


def probe_skips_updates(make, world) -> bool:
    return _mark_change(make, world, delete=False)


def probe_forgets_years(make) -> bool:
    client, bench = make()
    export(client, scope="full", tables=["organisations", "academic_periods"])
    last_year = academic_year(dt.date(2025, 5, 25))["label"]
    return not any(r["academic_year"] == last_year for r in bench.rows("academic_periods"))


def probe_no_retry(make) -> bool:
    client, bench = make()
    bench.agent.add_fault("upload", "status", count=1, status=503)
    export(client, scope="full", tables=["organisations"])
    return bench.count("organisations") < 3


def probe_no_polling(make) -> bool:
    """The journal takes an upload as done although the showcase rejected it."""
    client, bench = make(channel="showcase")
    plant_bad_ogrn(client)
    job = export(client, scope="full", tables=["organisations"])
    codes = {r["request_id"]: r["code"] for r in bench.requests("organisations")}
    return any(u["outcome"] == "ok" and codes.get(u["request_id"]) != 3 for u in job["uploads"])


def probe_retry_on_400(make) -> bool:
    """A rejected file is sent again unchanged."""
    client, bench = make()
    plant_bad_ogrn(client)
    export(client, scope="full", tables=["organisations"])
    digests = [r["sha256"] for r in bench.requests("organisations")]
    return len(digests) != len(set(digests))


def probe_flk_report_ends_file(make) -> bool:
    """After a ФЛК report the rest of the file is never sent again."""
    client, bench = make()
    plant_bad_ogrn(client)
    export(client, scope="full", tables=["organisations"])
    return not any(r["code"] == 3 for r in bench.requests("organisations"))


def probe_hashed_in_clear(make) -> bool:
    client, bench = make()
    export(client, scope="full", tables=["organisations", "learners"])
    rejected = [r for r in bench.requests("learners") if r["code"] == 7]
    clear = [e for r in rejected for e in bench.showcase.errors(r["request_id"])["errors"]
             if e["column"] == "document_hash" and e["rule"] == "hash"]
    stored = [r["document_hash"] for r in bench.rows("learners") if r["document_hash"]]
    return bool(clear) or not all(HASH_RE.match(v) for v in stored)


def probe_events_not_pushed(make, world) -> bool:
    client, bench = make(exported_state=True)
    add_event(client, world)
    export(client, scope="changes")
    return bench.portal.inbox() == []


def probe_event_link_not_notified(make, world) -> bool:
    client, bench = make(exported_state=True)
    link = "https://olimp.example.ru/room/1"
    add_event(client, world, place=None, link=link)
    export(client, scope="changes")
    return [n["event"].get("link") for n in bench.portal.inbox()] != [link]


def probe_notification_only_200_delivered(make, world) -> bool:
    """An event announced to the portal, then cancelled: no cancellation reaches the portal."""
    client, bench = make(exported_state=True)
    added = add_event(client, world)
    export(client, scope="changes")
    client.journal.db.upsert("events", {**added["row"], "status": 2}, STAMP)
    export(client, scope="changes")
    return [n["action"] for n in bench.portal.inbox()] != ["created", "cancelled"]


def probe_event_deletion_not_pushed(make, world) -> bool:
    """An event announced to the portal, then deleted: no cancellation reaches the portal."""
    client, bench = make(exported_state=True)
    added = add_event(client, world)
    export(client, scope="changes")
    client.journal.db.delete("event_learners", (added["row"]["id"], added["child"]), STAMP)
    client.journal.db.delete("events", (added["row"]["id"],), STAMP)
    export(client, scope="changes")
    return [n["action"] for n in bench.portal.inbox()] != ["created", "cancelled"]


def probe_retry_without_backoff(make) -> bool:
    """Two 500s: the second pause is not longer than the first."""
    client, bench = make()
    bench.agent.add_fault("upload", "status", count=2, status=500)
    ups = uploads_of(export(client, scope="full", tables=["organisations"]), "organisations")
    return ups[1]["retry_in"] <= ups[0]["retry_in"]


def probe_ignores_retry_after(make) -> bool:
    """A 503 asking for more than the first back-off step is retried sooner."""
    client, bench = make()
    bench.agent.add_fault("upload", "status", count=1, status=503)
    ups = uploads_of(export(client, scope="full", tables=["organisations"]), "organisations")
    return ups[0]["retry_in"] < 0.02 - 1e-9       # Retry-After 1 s, capped at export_retry_max (FAST)


def probe_deletes_for_marks_only(make, world) -> bool:
    """A deleted achievement stays in the showcase."""
    client, bench = make(exported_state=True)
    ach = stored_rows(client, "achievements")[0]
    token = teacher_token(client, world, ach["learner_id"])
    assert client.web("DELETE", f"/achievements/{ach['id']}", token).status_code == 204
    export(client, scope="changes", tables=["achievements"])
    return any(r["id"] == ach["id"] for r in bench.rows("achievements"))


def probe_schedule_never_runs(make, world) -> bool:
    """The journal's clock passes its interval and no scheduled export sends the change."""
    client, bench = make(exported_state=True, export_interval=900)
    mark = next(m for m in stored_rows(client, "marks") if m["value"] == "4")
    token = teacher_token(client, world, mark["learner_id"])
    assert client.web("PATCH", f"/marks/{mark['id']}", token, json={"value": "5"}).status_code == 200
    assert client.tc("POST", "/clock", json={"action": "advance", "seconds": 900}).status_code == 200
    return next(r for r in bench.rows("marks") if r["id"] == mark["id"])["value"] != "5"


def probe_schedule_runs_once(make, world) -> bool:
    """The first period's change is sent on schedule, the second period's is not."""
    client, bench = make(exported_state=True, export_interval=900)
    mark = next(m for m in stored_rows(client, "marks") if m["value"] == "4")
    token = teacher_token(client, world, mark["learner_id"])
    for value in ("5", "3"):
        assert client.web("PATCH", f"/marks/{mark['id']}", token, json={"value": value}).status_code == 200
        assert client.tc("POST", "/clock", json={"action": "advance", "seconds": 900}).status_code == 200
    return next(r for r in bench.rows("marks") if r["id"] == mark["id"])["value"] != "3"


def probe_retry_only_on_503(make) -> bool:
    """A 502 from the agent ends the file instead of a retry."""
    client, bench = make()
    bench.agent.add_fault("upload", "status", count=1, status=502)
    ups = uploads_of(export(client, scope="full", tables=["organisations"]), "organisations")
    return len(ups) == 1


def probe_delete_not_retried(make, world) -> bool:
    """A delete answered 503 once is given up: the deleted achievement stays in the showcase."""
    client, bench = make(exported_state=True)
    ach = stored_rows(client, "achievements")[0]
    token = teacher_token(client, world, ach["learner_id"])
    assert client.web("DELETE", f"/achievements/{ach['id']}", token).status_code == 204
    bench.agent.add_fault("upload", "status", count=1, status=503)
    export(client, scope="changes", tables=["achievements"])
    return any(r["id"] == ach["id"] for r in bench.rows("achievements"))


def probe_upload_failure_not_logged(make) -> bool:
    """A file the showcase failed to process leaves no failure record."""
    client, bench = make()
    plant_bad_ogrn(client)
    export(client, scope="full", tables=["organisations"])
    return not any(e["event"] == "upload" and e["outcome"] == "failure" for e in client.event_log())


def probe_hash_not_normalised(make) -> bool:
    """A document entered as typed is not exported as the standard's digest of it."""
    client, bench = make()
    row = stored_rows(client, "learners")[0]
    client.journal.db.upsert("learners", {**row, "document_hash": "II-аб 123456"}, STAMP)
    export(client, scope="full", tables=["organisations", "learners"])
    return [r["document_hash"] for r in bench.rows("learners") if r["id"] == row["id"]] != [
        document_hash("II-АБ", "123456")]


PROBES: dict[str, Callable[..., bool]] = {
    "EXPORT_SKIPS_TABLE": probe_skips_table,
    "EXPORT_DATES_RU_FORMAT": probe_dates_ru,
    "EXPORT_CHILD_BEFORE_PARENT": probe_child_before_parent,
    "EXPORT_DELETED_MARK": probe_deleted_mark,
    "INCREMENT_SKIPS_UPDATES": probe_skips_updates,
    "FORGET_RETROSPECTIVE_YEARS": probe_forgets_years,
    "NO_RETRY_ON_503": probe_no_retry,
    "NO_STATUS_POLLING": probe_no_polling,
    "RETRY_ON_400": probe_retry_on_400,
    "FLK_REPORT_ENDS_FILE": probe_flk_report_ends_file,
    "HASHED_FIELD_IN_CLEAR": probe_hashed_in_clear,
    "EVENTS_NOT_PUSHED": probe_events_not_pushed,
    "EVENT_LINK_NOT_NOTIFIED": probe_event_link_not_notified,
    "DELETE_NOT_RETRIED": probe_delete_not_retried,
    "NOTIFICATION_ONLY_200_DELIVERED": probe_notification_only_200_delivered,
    "EVENT_DELETION_NOT_PUSHED": probe_event_deletion_not_pushed,
    "RETRY_WITHOUT_BACKOFF": probe_retry_without_backoff,
    "RETRY_IGNORES_RETRY_AFTER": probe_ignores_retry_after,
    "DELETES_FOR_MARKS_ONLY": probe_deletes_for_marks_only,
    "SCHEDULE_NEVER_RUNS": probe_schedule_never_runs,
    "UPLOAD_FAILURE_NOT_LOGGED": probe_upload_failure_not_logged,
    "HASH_NOT_NORMALISED": probe_hash_not_normalised,
    "SCHEDULE_RUNS_ONCE": probe_schedule_runs_once,
    "RETRY_ONLY_ON_503": probe_retry_only_on_503,
}


def test_every_export_defect_has_a_probe_and_a_switch():
    ids = {d.id for d in CATALOGUE.values() if d.implemented_in == EXPORT}
    assert set(PROBES) == ids and len(ids) == 24
    source = Path(export_module.__file__).read_text(encoding="utf-8")
    assert set(re.findall(r'defect_on\("([A-Z0-9_]+)"\)', source)) == ids


@pytest.mark.parametrize("defect_id", sorted(PROBES))
def test_export_defect_is_observable(defect_id, make, world):
    probe = PROBES[defect_id]
    needs_world = "world" in probe.__code__.co_varnames[:probe.__code__.co_argcount]

    def run(*defects: str) -> bool:
        def with_defects(*more: str, **kw: Any):
            return make(*defects, *more, **kw)
        return probe(with_defects, world) if needs_world else probe(with_defects)

    assert run() is False, f"{defect_id}: the conforming journal looks broken"
    assert run(defect_id) is True, f"{defect_id}: the defect is not visible"


def test_a_large_table_is_split_into_files(make):
    client, bench = make()
    client.journal.export.max_file_bytes = 4000
    job = export(client, scope="full", tables=["organisations", "learners"])
    files = uploads_of(job, "learners")
    assert len(files) > 2 and all(u["outcome"] == "ok" for u in files)
    assert sum(u["rows"] for u in files) == 36 == bench.count("learners")
    assert job["tables"]["learners"]["upload"] == 36
