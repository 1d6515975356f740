"""SQL mode over a showcase loaded with the generated dataset: parameterised SELECTs return
typed rows, `maxrows` and the server cap truncate, a slow query times out, every attack is
refused with its reason and leaves the data unchanged, async requests are polled."""
from __future__ import annotations

import time
import uuid

import httpx
import pytest

from fixtures.dataset import Options, generate
from mocks.common.transports import SyncASGITransport
from mocks.epgu.showcase import Showcase
from mocks.smev import create_app
from smev_helpers import ATTACKS, BASE, FAST, SHOWCASE, SYSTEM, sql_form
from specs.csvio import read_table
from specs.tables import load_tables

TABLES = load_tables()
URL = f"/{SHOWCASE}/sql"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One showcase with the small dataset, shared by the module (SQL mode only reads)."""
    out = generate(Options(seed=1), tmp_path_factory.mktemp("smev-sql") / "dataset").out
    sc = Showcase(delays=dict(FAST))
    sc.register_source(SYSTEM)
    for table in TABLES.export_order():
        rid = sc.submit("myedu", table, "upload", (out / f"{table}.csv").read_bytes(), SYSTEM)
        assert sc.wait(rid, 60)["code"] == 3, sc.errors(rid)
    yield sc, out
    sc.close()


@pytest.fixture(scope="module")
def baseline(loaded):
    return loaded[0].checksum()["all"]


@pytest.fixture(scope="module")
def shared_http(loaded):
    """One agent for the attack matrix (it changes no settings)."""
    app = create_app(loaded[0])
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE, timeout=30) as client:
        yield client
    transport.close()


@pytest.fixture
def http(loaded):
    sc, _ = loaded
    app = create_app(sc)
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE, timeout=30) as client:
        client.app = app
        yield client
    transport.close()


def test_select_with_params_returns_typed_rows(http, loaded):
    sc, out = loaded
    marks = list(read_table(TABLES["marks"], out / "marks.csv"))
    learner = marks[0]["learner_id"]
    expected = sorted((m for m in marks if m["learner_id"] == learner), key=lambda m: (m["mark_date"], m["id"]))
    r = http.post(URL, **sql_form("SELECT m.id, m.value, m.mark_date, m.weight FROM marks m "
                                  "WHERE m.learner_id = ? ORDER BY m.mark_date, m.id", [learner]))
    assert r.status_code == 200, r.text
    body = r.json()
    uuid.UUID(r.headers["x-request-id"])
    assert body["columns"] == [{"name": "id", "type": "VARCHAR"}, {"name": "value", "type": "VARCHAR"},
                               {"name": "mark_date", "type": "DATE"}, {"name": "weight", "type": "BIGINT"}]
    assert body["row_count"] == len(expected) > 0 and body["truncated"] is False
    assert body["rows"][0] == [expected[0]["id"], expected[0]["value"],
                               expected[0]["mark_date"].isoformat(), expected[0]["weight"]]


def test_joins_ctes_and_date_params(http, loaded):
    sc, out = loaded
    r = http.post(URL, **sql_form(
        "WITH recent AS (SELECT * FROM showcase.marks WHERE mark_date BETWEEN ? AND ?) "
        "SELECT l.id, count(*) AS n FROM recent r JOIN learners l ON l.id = r.learner_id "
        "GROUP BY l.id ORDER BY n DESC, l.id LIMIT 3", ["2025-09-01", "2025-12-31"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["type"] for c in body["columns"]] == ["VARCHAR", "BIGINT"]
    assert 0 < body["row_count"] <= 3 and all(isinstance(row[1], int) for row in body["rows"])


def test_maxrows_and_server_cap_truncate(http):
    r = http.post(URL, **sql_form("SELECT id FROM marks ORDER BY id", maxrows=5))
    body = r.json()
    assert (body["row_count"], body["truncated"]) == (5, True)
    http.app.state.core.configure(sql_max_rows=3)
    body = http.post(URL, **sql_form("SELECT id FROM marks ORDER BY id", maxrows=5)).json()
    assert (body["row_count"], body["truncated"]) == (3, True)
    body = http.post(URL, **sql_form("SELECT id FROM learners WHERE id = ?", ["none"], maxrows=5)).json()
    assert (body["row_count"], body["truncated"], body["rows"]) == (0, False, [])


def test_slow_query_times_out(http):
    started = time.monotonic()
    r = http.post(URL, **sql_form("SELECT count(*) FROM marks a, marks b, marks c "
                                  "WHERE a.value || b.value || c.value = ?", ["zzz"], timeout=1))
    assert (r.status_code, r.json()["error"]) == (408, "query_timeout"), r.text
    assert time.monotonic() - started < 10
    assert http.post(URL, **sql_form("SELECT 1 AS one")).json()["rows"] == [[1]]


@pytest.mark.parametrize("sql,error", ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_attack_is_refused_over_http(shared_http, loaded, baseline, sql, error):
    sc, _ = loaded
    r = shared_http.post(URL, **sql_form(sql))
    if not sql.strip():
        error = "bad_parameter"              # an empty `sql` field is a form error over HTTP
    assert (r.status_code, r.json()["error"]) == (400, error), r.text
    assert r.json()["message"] and r.json()["message_en"]
    assert sc.checksum()["all"] == baseline


def test_injection_through_params_stays_a_value(http, loaded):
    sc, _ = loaded
    before = sc.counts()
    for value in ["x'; DROP TABLE showcase.marks; --", "' OR '1'='1", "1; DELETE FROM marks"]:
        r = http.post(URL, **sql_form("SELECT count(*) AS n FROM marks WHERE id = ?", [value]))
        assert r.status_code == 200 and r.json()["rows"] == [[0]], r.text
    assert sc.counts() == before and before["marks"] > 0


def test_query_errors_name_the_problem(http):
    r = http.post(URL, **sql_form("SELECT no_such_column FROM marks"))
    assert (r.status_code, r.json()["error"]) == (400, "unknown_column"), r.text
    assert "no_such_column" in r.json()["message_en"]


def test_version_mnemonic_and_form_are_checked(http):
    form = sql_form("SELECT 1")
    r = http.post(URL, data=form["data"])
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_version")
    r = http.post(URL, data=form["data"], headers={"Accept-Version": "2"})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_version")
    r = http.post("/NOBODY/sql", **form)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_mnemonic")
    r = http.post(URL, json={"sql": "SELECT 1"}, headers={"Accept-Version": "1"})
    assert (r.status_code, r.json()["error"]) == (400, "bad_parameter")
    r = http.post(URL, data=form["data"], headers={"Accept-Version": "1", "X-Request-Id": "nope"})
    assert (r.status_code, r.json()["error"]) == (400, "bad_parameter")
    rid = str(uuid.uuid4())
    r = http.post(URL, data=form["data"], headers={"Accept-Version": "1", "X-Request-Id": rid})
    assert r.status_code == 200 and r.headers["x-request-id"] == rid


def test_async_request_is_polled(http):
    rid = str(uuid.uuid4())
    r = http.post(URL, data=sql_form("SELECT id FROM learners ORDER BY id", async_request="true")["data"],
                  headers={"Accept-Version": "1", "X-Request-Id": rid})
    assert r.status_code == 202, r.text
    assert r.json() == {"request_id": rid}
    assert r.headers["location"] == f"/{SHOWCASE}/sql/requests/{rid}"
    again = http.post(URL, data=sql_form("SELECT 1", async_request="true")["data"],
                      headers={"Accept-Version": "1", "X-Request-Id": rid})
    assert again.status_code == 202 and again.json() == {"request_id": rid}   # not run twice
    deadline = time.monotonic() + 10
    while True:
        state = http.get(r.headers["location"], headers={"Accept-Version": "1"}).json()
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert state["status"] == "done", state
    assert state["result"]["row_count"] > 0 and state["result"]["columns"][0]["name"] == "id"
    failing = http.post(URL, data=sql_form("SELECT nope FROM learners", async_request="1")["data"],
                        headers={"Accept-Version": "1"})
    location = failing.headers["location"]
    for _ in range(500):
        state = http.get(location, headers={"Accept-Version": "1"}).json()
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.02)
    assert state["status"] == "failed" and state["error"]["error"] == "unknown_column"
    r = http.get(f"/{SHOWCASE}/sql/requests/{uuid.uuid4()}", headers={"Accept-Version": "1"})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_request")


@pytest.mark.parametrize("sql", ["DROP TABLE showcase.marks", "DELETE FROM showcase.marks",
                                 "SELECT 1; DELETE FROM showcase.marks",
                                 "SELECT * FROM read_csv('/etc/passwd')"])
def test_second_line_of_defence_the_showcase_cannot_write(loaded, baseline, sql):
    sc, _ = loaded
    with pytest.raises(Exception) as caught:
        sc.execute_readonly(sql, [], 10, 5.0)
    assert getattr(caught.value, "reason", None) in ("refused", "failed")
    assert sc.checksum()["all"] == baseline
