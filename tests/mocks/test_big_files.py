"""Big files through the stand (issue 15): a body past the spool threshold goes from the socket
to the showcase's spool on disk and is stored whole and once, or, refused, stores nothing and
leaves no file; the agent holds no copy of it in memory; one source's files of one table are
applied in the order they reached the showcase."""
from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc

import duckdb
import httpx
import pytest

from mocks.environment import Environment
from mocks.epgu.flk import SHOWCASE_SCHEMA, ensure_showcase_schema
from mocks.epgu.showcase import STAGES, Showcase
from mocks.epgu.store import DB_FILE
from mocks.smev.app import create_app as agent_app
from smev_helpers import ADDRESS

ROWS = 12_000            # ~2.4 MB: past the 1 MiB threshold, small enough for the default run
HEADER, ROW = ADDRESS.decode("utf-8").split("\n")[:2]


def address_csv(n: int, prefix: str, postal: str = "170100") -> bytes:
    """An `address` file of `n` valid rows with ids `{prefix}0`.."""
    row = ROW.replace('"170100"', f'"{postal}"')
    return ("\n".join([HEADER, *(row.replace('"EZ1-A1"', f'"{prefix}{i}"', 1) for i in range(n))]) + "\n").encode()


@pytest.fixture(scope="module")
def stand(tmp_path_factory):
    with Environment(("smev", "epgu"), state_dir=tmp_path_factory.mktemp("state")) as env:
        env.showcase.configure(delays={s: 0 for s in STAGES})
        yield env


def upload(stand: Environment, channel: str, body: bytes) -> tuple[int, dict]:
    """Send `body` through `channel` and wait for the showcase's verdict: (code, agent answer)."""
    if channel == "agent":
        r = httpx.post(f"{stand.urls['smev']}/MNSV03/myedu/api/edu-upload/v1/csv/address", content=body,
                       headers={"Content-Type": "application/octet-stream"}, timeout=120)
        rid = r.headers["X-Request-Id"]
        return stand.showcase.wait(rid, 120)["code"], (r.json() if r.content else {})
    if not stand.showcase.is_source("MNSV03"):
        stand.showcase.register_source("MNSV03", ["myedu"])
    r = httpx.post(f"{stand.urls['epgu']}/v2/datamarts/myedu/tables/address/upload", content=body,
                   headers={"Content-Type": "text/csv", "X-Smev-Sender": "MNSV03"}, timeout=120)
    assert r.status_code == 200, r.text
    return stand.showcase.wait(r.text.strip(), 120)["code"], {}


def stored(stand: Environment, prefix: str) -> tuple[int, int]:
    rows = stand.showcase.execute_readonly(
        "SELECT count(*), count(DISTINCT id) FROM address WHERE starts_with(id, ?)", [prefix]).rows
    return rows[0][0], rows[0][1]


def spool_files(stand: Environment) -> list[str]:
    stand.showcase.flush()
    return sorted(p.name for p in stand.showcase.spool_dir.iterdir())


@pytest.mark.parametrize("channel", ["agent", "showcase"])
def test_a_big_file_is_stored_whole_once_and_as_sent(stand, channel):
    prefix = f"BIG{channel}-"
    body = address_csv(ROWS, prefix)
    assert len(body) > 2 * 2**20
    assert upload(stand, channel, body)[0] == 3
    assert stored(stand, prefix) == (ROWS, ROWS)
    with Showcase(delays={s: 0 for s in STAGES}) as reference:      # the same bytes, in memory
        reference.register_source("MNSV03", ["myedu"])
        assert reference.wait(reference.submit("myedu", "address", "upload", body, "MNSV03"), 120)["code"] == 3
        assert _rows_digest(reference, prefix) == _rows_digest(stand.showcase, prefix)
    changed = address_csv(ROWS, prefix, postal="170101")               # the same keys again: upserted
    assert upload(stand, channel, changed)[0] == 3
    assert stored(stand, prefix) == (ROWS, ROWS)
    assert stand.showcase.execute_readonly(
        "SELECT count(*) FROM address WHERE starts_with(id, ?) AND postal_code = '170101'", [prefix]).rows[0][0] == ROWS
    digests = [r["sha256"] for r in stand.showcase.requests(table="address") if r["source"] == "MNSV03"
               and r["size"] == len(body)][-2:]
    assert digests == [hashlib.sha256(body).hexdigest(), hashlib.sha256(changed).hexdigest()]
    assert spool_files(stand) == [], "no body is left on disk once the request is final"


def _rows_digest(sc: Showcase, prefix: str) -> str:
    sql = "SELECT md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY id)) FROM address t WHERE starts_with(id, ?)"
    return sc.execute_readonly(sql, [prefix]).rows[0][0]


def test_a_refused_big_file_stores_nothing_and_leaves_no_file(stand):
    prefix = "BADBIG-"
    body = address_csv(ROWS, prefix)
    last = body.rstrip(b"\n").rsplit(b"\n", 1)[1]
    flk_fault = body.replace(last, last.replace(b'"2";"4"', b'"9";"4"', 1))       # use_address out of its enum
    code, answer = upload(stand, "agent", flk_fault)
    assert code == 7 and answer["error"] == "flk_failed"
    assert [(d["line"], d["column"]) for d in answer["details"]] == [(ROWS + 1, "use_address")]
    requests_before = len(stand.showcase.requests())
    not_utf8 = body[:-20] + b"\xff" + body[-19:]
    r = httpx.post(f"{stand.urls['smev']}/MNSV03/myedu/api/edu-upload/v1/csv/address", content=not_utf8,
                   headers={"Content-Type": "application/octet-stream"}, timeout=120)
    assert (r.status_code, r.json()["error"]) == (400, "bad_encoding")
    assert f"byte {len(body) - 20}" in r.json()["details"][0]["detail"]
    assert len(stand.showcase.requests()) == requests_before, "a body that is not UTF-8 is never submitted"
    assert stored(stand, prefix) == (0, 0)
    assert spool_files(stand) == []


def test_the_agent_holds_no_copy_of_a_big_body_in_memory():
    """The body goes from the request to the spool file and to DuckDB's reader: Python never
    holds it whole (tracemalloc counts Python's allocations, not DuckDB's)."""
    body = address_csv(4 * ROWS, "MEM-")                              # ~10 MB
    showcase = Showcase(delays={s: 0 for s in STAGES})               # in memory: a big body still on disk
    app = agent_app(showcase)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as http:
            return await http.post("/MNSV03/myedu/api/edu-upload/v1/csv/address", content=body,
                                   headers={"Content-Type": "application/octet-stream"}, timeout=120)
    try:
        tracemalloc.start()
        r = asyncio.run(send())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        app.state.core.close()
        showcase.close()
    assert r.status_code == 200, r.text
    assert peak < len(body) / 3, f"Python held {peak} bytes at once for a {len(body)}-byte body"


def test_one_sources_files_of_a_table_are_applied_in_the_order_they_arrived(stand):
    """Concurrent uploads of one key by one source: the stored value is that of the file the
    showcase received last (the highest request sequence), whatever order they finish in."""
    def version(i: int) -> bytes:
        return address_csv(3, "ORD-", postal=f"17{i:04d}")

    async def send(i: int) -> str:
        body = version(i)
        async with httpx.AsyncClient(timeout=120) as http:
            r = await http.post(f"{stand.urls['smev']}/MNSV03/myedu/api/edu-upload/v1/csv/address", content=body,
                                headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 200, r.text
            return r.headers["X-Request-Id"]

    async def many() -> list[str]:
        return await asyncio.gather(*(send(i) for i in range(12)))
    ids = asyncio.run(many())
    records = sorted((stand.showcase.request(rid) for rid in ids), key=lambda r: r["seq"])
    assert [r["code"] for r in records] == [3] * 12
    assert sorted(records, key=lambda r: r["updated_at"]) == records, \
        "files of one source and table end in the order they arrived"
    by_digest = {hashlib.sha256(version(i)).hexdigest(): f"17{i:04d}" for i in range(12)}
    postal = stand.showcase.execute_readonly(
        "SELECT DISTINCT postal_code FROM address WHERE starts_with(id, 'ORD-')").rows
    assert postal == [[by_digest[records[-1]["sha256"]]]], "the file that arrived last is what is stored"


def test_a_state_directory_whose_tables_declare_a_key_is_migrated(tmp_path):
    """Showcase tables used to declare their primary key; such a database opens with its rows
    kept, without the key, and an upload still replaces a stored row."""
    (tmp_path / "spool").mkdir()
    con = duckdb.connect(str(tmp_path / DB_FILE))
    ensure_showcase_schema(con)
    cols = [r[0] for r in con.execute(f"DESCRIBE {SHOWCASE_SCHEMA}.address").fetchall()]
    con.execute(f"INSERT INTO {SHOWCASE_SCHEMA}.address (id, city) VALUES ('OLD-0', 'Тверь')")
    con.close()
    with Showcase(state_dir=tmp_path, delays={s: 0 for s in STAGES}) as sc:
        assert sc.rows("address")[0] == 1
        keyed = sc.store.select("SELECT count(*) AS n FROM duckdb_constraints() WHERE schema_name = ? "
                                "AND constraint_type = 'PRIMARY KEY'", [SHOWCASE_SCHEMA])[0]["n"]
        assert keyed == 0 and [c for c in sc.rows("address")[1][0]] == cols
        sc.register_source("MNSV03", ["myedu"])
        assert sc.wait(sc.submit("myedu", "address", "upload", address_csv(2, "OLD-"), "MNSV03"), 60)["code"] == 3
        assert sc.rows("address")[0] == 2 and sc.rows("address", where={"id": "OLD-0"})[1][0]["postal_code"] == "170100"


def test_request_records_reach_the_store_without_blocking_and_survive_a_restart(tmp_path):
    with Showcase(state_dir=tmp_path, delays={s: 0 for s in STAGES}) as sc:
        sc.register_source("MNSV03", ["myedu"])
        ids = [sc.submit("myedu", "address", "upload", address_csv(2, f"REC{i}-"), "MNSV03") for i in range(20)]
        for rid in ids:
            assert sc.wait(rid, 60)["code"] == 3
        started = time.monotonic()
        sc.flush()
        assert time.monotonic() - started < 10
    stray = [tmp_path / "spool" / f"{ids[0]}.csv", tmp_path / "spool" / "ezhd-body-cut.part"]
    for path in stray:                  # a final request's body, a body cut off by a kill
        path.write_bytes(b"x")
    with Showcase(state_dir=tmp_path, start=False) as again:
        assert [again.request(rid)["code"] for rid in ids] == [3] * 20
        assert [h["code"] for h in again.request(ids[0])["history"]][-1] == 3
        assert not any(path.exists() for path in stray), "bodies no request needs are removed on opening"
