"""Fault injection for the next N requests of an endpoint (upload, openapi, sql): 5xx, a delay
beyond the client's patience, a dropped connection, and duplicate delivery — which the
showcase and a journal must absorb (idempotence)."""
from __future__ import annotations

import time

import httpx
import pytest

from mocks.common.transports import SyncASGITransport
from mocks.smev import create_app
from smev_helpers import (ADDRESS, BASE, JOURNAL, JOURNAL_BASE, LEARNER, SHOWCASE, FakeJournal,
                          multipart_url, octet, portal_headers, sql_form, table_url)
from smev_helpers import showcase  # noqa: F401  (fixture)

MARKS = f"/{JOURNAL}/ezhd/api/v1/learners/{LEARNER}/marks"
PERIOD = {"from": "2025-09-01", "to": "2025-09-30"}


@pytest.fixture
def env(showcase):
    journal = FakeJournal()
    app = create_app(showcase, transport=httpx.ASGITransport(app=journal.app()))
    core = app.state.core
    core.register_provider(JOURNAL, JOURNAL_BASE)
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE, timeout=30) as http:
        yield core, http, journal
    transport.close()


def fault(http, **spec) -> dict:
    r = http.post("/_admin/faults", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


def test_address_file_is_valid(env, showcase):
    core, http, _ = env
    assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
    assert showcase.counts()["address"] == 2


def test_status_fault_for_the_next_n_uploads(env, showcase):
    core, http, _ = env
    fault(http, endpoint="upload", kind="status", status=503, count=2)
    for _ in range(2):
        r = http.post(table_url("address"), **octet(ADDRESS))
        assert (r.status_code, r.json()["error"], r.headers["retry-after"]) == (503, "internal_error", "1")
        assert "x-request-id" not in r.headers
    assert showcase.requests() == [] and showcase.counts()["address"] == 0
    assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
    assert http.get("/_admin/faults").json() == []
    entries = core.journal.read(path="/MNSV03/")
    assert [e["status"] for e in entries] == [503, 503, 200]
    assert entries[0]["fault"]["kind"] == "status"


def test_a_503_fault_carries_the_retry_after_asked_for(env, showcase):
    _, http, _ = env
    fault(http, endpoint="upload", kind="status", status=503, retry_after=7)
    assert http.post(table_url("address"), **octet(ADDRESS)).headers["retry-after"] == "7"
    r = http.post("/_admin/faults", json={"endpoint": "upload", "kind": "status", "status": 503, "retry_after": "soon"})
    assert r.status_code == 400 and "retry_after" in r.json()["message"]


def test_duplicate_upload_is_submitted_twice_and_stays_idempotent(env, showcase):
    core, http, _ = env
    fault(http, endpoint="upload", kind="duplicate")
    r = http.post(table_url("address"), **octet(ADDRESS))
    assert r.status_code == 200, r.text
    ids = [i.strip() for i in r.headers["x-request-id"].split(",")]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert [showcase.status(i)["code"] for i in ids] == [3, 3]
    assert showcase.counts()["address"] == 2
    before = showcase.checksum()
    fault(http, endpoint="upload", kind="duplicate")
    r = http.post(multipart_url(), files=[("files", ("address.csv", ADDRESS))])
    assert r.status_code == 200 and len(r.headers["x-request-id"].split(",")) == 2
    assert showcase.checksum() == before
    fault(http, endpoint="upload", kind="duplicate")
    r = http.request("DELETE", table_url("address"), **octet(ADDRESS))
    assert r.status_code == 200 and showcase.counts()["address"] == 0


def test_duplicate_forward_reaches_the_provider_twice(env):
    core, http, journal = env
    fault(http, endpoint="openapi", kind="duplicate")
    r = http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert r.status_code == 200 and r.json()["items"]
    assert len(journal.seen) == 2
    assert journal.seen[0]["headers"]["x-smev-message-id"] == journal.seen[1]["headers"]["x-smev-message-id"]
    http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert len(journal.seen) == 3


def test_drop_closes_without_an_answer_and_the_mock_goes_on(env, showcase):
    core, http, journal = env
    fault(http, endpoint="openapi", kind="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(MARKS, params=PERIOD, headers=portal_headers())
    assert journal.seen == []
    assert http.get(MARKS, params=PERIOD, headers=portal_headers()).status_code == 200
    entry = core.journal.read(path=f"/{JOURNAL}/")[-2]
    assert entry["status"] is None and entry["fault"]["kind"] == "drop"


def test_drop_after_processing_loses_only_the_answer(env, showcase):
    core, http, _ = env
    fault(http, endpoint="upload", kind="drop", when="after")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(table_url("address"), **octet(ADDRESS))
    assert showcase.counts()["address"] == 2          # it was stored; a retry is harmless
    assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
    assert showcase.counts()["address"] == 2


def test_timeout_fault_delays_the_answer(env):
    core, http, _ = env
    fault(http, endpoint="sql", kind="timeout", seconds=0.4)
    started = time.monotonic()
    r = http.post(f"/{SHOWCASE}/sql", **sql_form("SELECT 1 AS one"))
    assert time.monotonic() - started >= 0.4
    assert r.status_code == 200 and r.json()["rows"] == [[1]]
    started = time.monotonic()
    http.post(f"/{SHOWCASE}/sql", **sql_form("SELECT 1 AS one"))
    assert time.monotonic() - started < 0.4


def test_sql_status_fault_and_fault_validation(env):
    core, http, _ = env
    fault(http, endpoint="sql", kind="status", status=504)
    r = http.post(f"/{SHOWCASE}/sql", **sql_form("SELECT 1"))
    assert (r.status_code, r.json()["error"]) == (504, "upstream_timeout")
    for bad in ({"endpoint": "sql", "kind": "duplicate"}, {"endpoint": "esia", "kind": "status"},
                {"endpoint": "upload", "kind": "explode"}, {"endpoint": "upload", "kind": "status", "count": 0},
                {"endpoint": "upload", "kind": "drop", "when": "later"},
                {"endpoint": "upload", "kind": "status", "status": 200}):
        r = http.post("/_admin/faults", json=bad)
        assert r.status_code == 400 and r.json()["message"], bad
    fault(http, endpoint="upload", kind="status", count=3)
    assert http.get("/_admin/faults").json()[0]["count"] == 3
    assert http.delete("/_admin/faults").status_code == 204
    assert http.get("/_admin/faults").json() == []
