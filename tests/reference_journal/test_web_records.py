"""The administrator's record editor (`/web/api/v1/records/{table}`, the driver's add_record,
change_record, delete_record): any table of specs/tables, values checked against its column,
every change a change-log entry for the export, refused to anyone but the journal administrator."""
from __future__ import annotations

from test_web import ADMIN_PASSWORD, teacher_of


def test_change_delete_and_add_back_a_record(journal, world):
    client = journal()
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    row = world.rows["events"][0]
    key = {"id": row["id"]}
    resp = client.web("PATCH", "/records/events", admin, json={"key": key, "fields": {"title": "Исправлено"}})
    assert resp.status_code == 200, resp.text
    assert client.journal.db.get("events", row["id"])["title"] == "Исправлено"
    resp = client.web("DELETE", "/records/events", admin, json={"key": key})
    assert resp.status_code == 204, resp.text
    assert client.journal.db.get("events", row["id"]) is None
    ops = [(c["table_name"], c["operation"]) for c in client.journal.db.changes(client.journal.db.last_change_seq() - 2)]
    assert ops == [("events", "upsert"), ("events", "delete")]
    fields = {k: (None if v is None else str(v)) for k, v in row.items()}
    resp = client.web("POST", "/records/events", admin, json={"fields": fields})
    assert resp.status_code == 201, resp.text
    assert client.journal.db.get("events", row["id"]) is not None


def test_bad_records_are_refused_with_400_or_404(journal, world):
    client = journal()
    admin = client.sign_in("admin", ADMIN_PASSWORD)
    row = world.rows["events"][0]
    assert client.web("PATCH", "/records/nosuch", admin, json={"key": {"id": "x"}}).status_code == 404
    assert client.web("PATCH", "/records/events", admin,
                      json={"key": {"id": row["id"]}, "fields": {"nosuch": "1"}}).status_code == 400
    assert client.web("PATCH", "/records/events", admin,
                      json={"key": {"id": row["id"]}, "fields": {"id": "EZHD-2.X"}}).status_code == 400
    assert client.web("DELETE", "/records/events", admin, json={"key": {"id": "EZHD-9.NOSUCH"}}).status_code == 404


def test_only_the_journal_administrator_edits_records(journal, world):
    client = journal()
    _, child = world.parent(child_under_14=True)
    teacher = teacher_of(world, child)
    token = client.sign_in(teacher["internal_login"], teacher["internal_password"])
    row = world.rows["events"][0]
    resp = client.web("DELETE", "/records/events", token, json={"key": {"id": row["id"]}})
    assert resp.status_code == 403 and client.journal.db.get("events", row["id"]) is not None
