"""The test-control API (specs/openapi/test-control.yaml): token, dataset loading and its
refusals, lossless storage, clock, reset, health, and the export slot seam."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from reference_journal import spec
from rj_helpers import TOKEN
from specs.csvio import dumps


def tc_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code and body["message"]
    return body


def rezip(bundle: bytes, change) -> bytes:
    """The bundle with entries changed by `change(name, data) -> data | None` (None drops it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info.filename))
            if data is not None:
                dst.writestr(info.filename, data)
    return out.getvalue()


def load(client, body: bytes, ctype: str = "application/zip"):
    return client.tc("POST", "/dataset", content=body, headers={"Content-Type": ctype})


def test_every_operation_but_health_needs_the_token(journal):
    client = journal()
    calls = [("POST", "/dataset"), ("POST", "/export"), ("GET", "/export/x"), ("GET", "/clock"),
             ("POST", "/clock"), ("POST", "/reset")]
    for method, path in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            resp = client.request(method, f"/test-control/v1{path}", headers=headers)
            tc_error(resp, 401, "unauthorized")
            assert resp.headers["WWW-Authenticate"] == "Bearer"
    health = client.get("/test-control/v1/health").json()
    assert spec.problems("test-control.yaml", "Health", health) == [] and health["status"] == "ok"


def test_no_configured_token_refuses_everything(journal):
    client = journal(test_control_token=None)
    for headers in ({"Authorization": "Bearer "}, {"Authorization": "Bearer None"}, {}):
        assert client.get("/test-control/v1/clock", headers=headers).status_code == 401


def test_loaded_dataset_is_stored_losslessly(journal, world):
    client = journal()
    j = client.journal
    with zipfile.ZipFile(io.BytesIO(world.bundle)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for table in j.tables:
            original = zf.read(f"tables/{table.name}.csv").decode("utf-8")
            again = dumps(table, (j.db.to_typed(table, r) for r in j.db.rows(table.name)), j.tables)
            assert again == original, table.name
    assert {name: j.db.count(name) for name in manifest["tables"]} == {n: t["rows"] for n, t in manifest["tables"].items()}
    accounts = j.db.one("SELECT count(*) AS n FROM accounts WHERE person_id IS NOT NULL")["n"]
    assert accounts == len({(p["kind"], p["record_id"]) for p in world.personas})
    hashes = [r["password_hash"] for r in j.db.query("SELECT password_hash FROM accounts WHERE password_hash IS NOT NULL "
                                                     "AND person_id IS NOT NULL")]
    # the dataset's test accounts at their own cost, the administrator at the journal's
    assert hashes and all(h.startswith(f"scrypt${j.settings.dataset_scrypt_n}$") for h in hashes)
    admin = j.db.one("SELECT password_hash FROM accounts WHERE login = ?", (j.settings.admin_login,))
    assert admin["password_hash"].startswith(f"scrypt${j.settings.scrypt_n}$")
    assert j.settings.dataset_scrypt_n != j.settings.scrypt_n
    prelinked = {p["esia"]["oid"] for p in world.personas if p["prelinked"]}
    linked = {r["esia_oid"] for r in j.db.query("SELECT esia_oid FROM accounts WHERE esia_oid IS NOT NULL")}
    assert linked == prelinked
    assert j.db.changes()[-1]["seq"] == sum(t["rows"] for t in manifest["tables"].values())


def test_load_answer_and_event(journal, world):
    client = journal(load=False)
    resp = load(client, world.bundle)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert spec.problems("test-control.yaml", "DatasetLoaded", body) == []
    assert body["dataset_id"] == "ezhd-seed5-small" and body["personas"] == len(world.personas)
    assert [e["event"] for e in client.event_log()][-1] == "dataset_load"


def bad_csv(name, data):
    if name == "tables/marks.csv":
        lines = data.decode().split("\n")
        fields = lines[3].split(";")
        fields[10] = '"25.05.2026"'
        lines[3] = ";".join(fields)
        return "\n".join(lines).encode()
    return data


@pytest.mark.parametrize("body, ctype, status, code, field_or_file", [
    (b"not a zip at all", "application/zip", 400, "invalid_dataset", None),
    (b"PK\x03\x04", "application/json", 400, "invalid_dataset", None),
    ("drop-manifest", "application/zip", 400, "invalid_dataset", None),
    ("bad-manifest", "application/zip", 400, "invalid_dataset", "manifest.json"),
    ("missing-file", "application/zip", 400, "invalid_dataset", "tables/events.csv"),
    ("checksum", "application/zip", 400, "invalid_dataset", "tables/subjects.csv"),
    ("unknown-table", "application/zip", 422, "dataset_refused", "manifest.json"),
    ("bad-persona", "application/zip", 400, "invalid_dataset", "personas.jsonl"),
])
def test_load_refusals(journal, world, body, ctype, status, code, field_or_file):
    client = journal()
    if body == "drop-manifest":
        body = rezip(world.bundle, lambda n, d: None if n == "manifest.json" else d)
    elif body == "bad-manifest":
        body = rezip(world.bundle, lambda n, d: json.dumps({**json.loads(d), "format": "other"}).encode()
                     if n == "manifest.json" else d)
    elif body == "missing-file":
        body = rezip(world.bundle, lambda n, d: None if n == "tables/events.csv" else d)
    elif body == "checksum":
        body = rezip(world.bundle, lambda n, d: d + b"\n" if n == "tables/subjects.csv" else d)
    elif body == "unknown-table":
        def add_table(n, d):
            if n != "manifest.json":
                return d
            m = json.loads(d)
            m["tables"]["grades"] = {"file": "tables/grades.csv", "rows": 0, "sha256": "0" * 64}
            return json.dumps(m).encode()
        body = rezip(world.bundle, add_table)
    elif body == "bad-persona":
        body = rezip(world.bundle, lambda n, d: d.replace(b'"kind":"staff"', b'"kind":"janitor"') if n == "personas.jsonl" else d)
        body = fix_checksums(body)
    before = client.journal.db.count("marks")
    resp = tc_error(load(client, body, ctype), status, code)
    if field_or_file:
        assert field_or_file in {d.get("file") for d in resp["details"]}, resp
    assert client.journal.db.count("marks") == before  # nothing changed


def fix_checksums(body: bytes) -> bytes:
    import hashlib

    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    for info in [*manifest["tables"].values(), manifest["personas"]]:
        info["sha256"] = hashlib.sha256(files[info["file"]]).hexdigest()
    return rezip(body, lambda n, d: json.dumps(manifest).encode() if n == "manifest.json" else d)


def test_bad_value_names_file_line_and_column_and_keeps_data(journal, world):
    client = journal()
    body = fix_checksums(rezip(world.bundle, bad_csv))
    err = tc_error(load(client, body), 400, "invalid_dataset")
    (detail,) = err["details"]
    assert detail["file"] == "tables/marks.csv" and detail["line"] == 4 and detail["field"] == "mark_date"
    assert client.journal.db.count("marks") == len(world.rows["marks"])
    assert client.journal.db.meta("dataset_id") == "ezhd-seed5-small"


def test_persona_of_an_unknown_record_is_refused(journal, world):
    client = journal()
    body = fix_checksums(rezip(world.bundle, lambda n, d: d.replace(b'"record_id":"EZHD-0001.LRN1"',
                                                                     b'"record_id":"EZHD-0001.LRN999"')
                                if n == "personas.jsonl" else d))
    err = tc_error(load(client, body), 422, "dataset_refused")
    assert any("LRN999" in d["message"] for d in err["details"])


def test_reset_empties_all_but_the_event_log(journal, world):
    client = journal()
    parent, _ = world.parent(child_under_14=True)
    client.sign_in(parent["internal_login"], parent["internal_password"])
    before = len(client.event_log())
    assert client.tc("POST", "/reset").status_code == 204
    j = client.journal
    assert all(j.db.count(t) == 0 for t in j.tables.names)
    assert j.db.query("SELECT login FROM accounts") == [{"login": "admin"}]
    assert j.db.one("SELECT count(*) AS n FROM sessions")["n"] == 0
    assert [e["event"] for e in client.event_log()[before:]] == ["reset", "account_create"]  # admin re-created
    assert client.tc("GET", "/clock").json()["frozen"] is False
    assert client.tc("POST", "/reset").status_code == 204  # idempotent


def test_clock_set_advance_real(journal):
    client = journal()
    state = client.tc("GET", "/clock").json()
    assert spec.problems("test-control.yaml", "ClockState", state) == []
    assert state["now"] == "2026-05-25T10:00:00+03:00" and state["frozen"] is True
    state = client.tc("POST", "/clock", json={"action": "advance", "seconds": 86400}).json()
    assert state["now"] == "2026-05-26T10:00:00+03:00"
    running = client.tc("POST", "/clock", json={"action": "set", "now": "2030-01-01T00:00:00Z"}).json()
    assert running["frozen"] is False and running["now"].startswith("2030-01-01T03:00")
    real = client.tc("POST", "/clock", json={"action": "real"}).json()
    assert real["offset_seconds"] == 0 and not real["frozen"]


@pytest.mark.parametrize("body", [{}, {"action": "set"}, {"action": "advance"}, {"action": "advance", "seconds": -1},
                                  {"action": "set", "now": "2030-01-01T00:00:00"}, {"action": "stop"},
                                  {"action": "real", "extra": 1}])
def test_clock_bad_bodies(journal, body):
    tc_error(journal().tc("POST", "/clock", json=body), 400, "invalid_body")


def test_export_without_the_slot_is_501_after_checking_the_body(journal):
    client = journal()
    tc_error(client.tc("POST", "/export", json={"scope": "period"}), 400, "invalid_body")
    tc_error(client.tc("POST", "/export", json={"scope": "full", "tables": ["grades"]}), 400, "invalid_body")
    tc_error(client.tc("POST", "/export", json={"scope": "period", "from": "2024-09-01", "to": "2025-09-02"}),
             400, "invalid_body")
    body = tc_error(client.tc("POST", "/export", json={"scope": "changes"}), 501, "not_implemented")
    assert "reference_journal.export" in body["message"]
    assert "reference_journal.export" in tc_error(client.tc("GET", "/export/job1"), 501, "not_implemented")["message"]


class FakeExporter:
    """A stand-in export slot: records calls (the real one comes with the export package)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.running = False

    async def start(self, request):
        self.calls.append(("start", request))
        return "job-1"

    def job(self, job_id):
        return {"job_id": job_id, "state": "done", "scope": "changes", "created_at": "2026-05-25T10:00:00+03:00",
                "uploads": []} if job_id == "job-1" else None

    def busy(self):
        return self.running

    def reset(self):
        self.calls.append(("reset", None))

    def clock_advanced(self, seconds):
        self.calls.append(("clock", seconds))


def test_export_slot_seam(journal):
    client = journal()
    fake = client.journal.export = FakeExporter()
    resp = client.tc("POST", "/export", json={"scope": "full"})
    assert resp.status_code == 202 and resp.json() == {"job_id": "job-1"}
    assert resp.headers["Location"] == "/test-control/v1/export/job-1"
    assert client.tc("GET", "/export/job-1").json()["state"] == "done"
    tc_error(client.tc("GET", "/export/job-2"), 404, "unknown_job")
    client.tc("POST", "/clock", json={"action": "advance", "seconds": 60})
    fake.running = True
    tc_error(client.tc("POST", "/export", json={"scope": "full"}), 409, "busy")
    tc_error(client.tc("POST", "/reset"), 409, "busy")
    tc_error(load(client, b"PK"), 409, "busy")
    fake.running = False
    assert client.tc("POST", "/reset").status_code == 204
    assert [c[0] for c in fake.calls] == ["start", "clock", "reset"]
