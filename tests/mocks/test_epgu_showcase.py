"""Mock ЕПГУ showcase core: the request lifecycle, sources, merges, persistence, SQL mode."""
from __future__ import annotations

import time
import uuid

import pytest

from epgu_helpers import DATAMART, ORG_COLUMNS, SENDER, csv_text, key_only, organisation
from mocks.epgu.showcase import (STAGES, UNAUTHORIZED_RU, Showcase, ShowcaseAuthError, ShowcaseInputError,
                                 UnknownRequest, status_codes)
from mocks.epgu.store import QueryFailed, QueryRefused, QueryTimeout

ZERO = {s: 0 for s in STAGES}


@pytest.fixture
def sc(tmp_path):
    showcase = Showcase(state_dir=tmp_path / "state", step=True)
    showcase.register_source(SENDER, [DATAMART])
    yield showcase
    showcase.close()


def submit(sc: Showcase, table: str, rows, op: str = "upload", source: str = SENDER) -> str:
    return sc.submit(DATAMART, table, op, csv_text(table, rows), source)


def names(sc: Showcase) -> dict[str, str]:
    return {r["id"]: r["name"] for r in sc.rows("organisations")[1]}


def test_status_walks_the_lifecycle_in_order(sc):
    rid = submit(sc, "organisations", [organisation("EZ1-ORG1")])
    assert uuid.UUID(rid).version == 4
    time.sleep(0.1)
    codes = [sc.status(rid)["code"]]
    assert codes == [0], "in step mode nothing moves on its own"
    while sc.step() is not None:
        codes.append(sc.status(rid)["code"])
    assert codes == [0, 1, 2, 6, 3]
    assert sc.status(rid) == {"code": 3, "description": status_codes()[3].ru}
    record = sc.request(rid)
    assert [h["code"] for h in record["history"]] == [-1, 0, 1, 2, 6, 3]
    assert record["rows"] == 1 and record["sha256"] and record["size"] > 0
    assert names(sc) == {"EZ1-ORG1": "МАОУ СОШ № 1"}


def test_status_descriptions_are_the_published_russian_titles():
    codes = status_codes()
    assert sorted(codes) == list(range(-1, 8))
    assert codes[0].ru == "Запрос буферизирован" and codes[7].ru == "Ошибки ФЛК"
    assert codes[5].ru == "Идентификатор запроса не обнаружен"
    assert {c for c, s in codes.items() if s.final} == {3, 4, 5, 7}


def test_worker_moves_requests_in_arrival_order_on_its_own(tmp_path):
    with Showcase(delays={s: 0.02 for s in STAGES}) as sc:
        sc.register_source(SENDER)
        first = submit(sc, "organisations", [organisation("EZ1-ORG1")])
        second = submit(sc, "organisations", [organisation("EZ1-ORG1", "Переименована")])
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            code = sc.status(first)["code"]
            if not seen or seen[-1] != code:
                seen.append(code)
            if code == 3:
                break
            time.sleep(0.002)
        order = [0, 1, 2, 6, 3]
        assert seen[-1] == 3 and seen == sorted(seen, key=order.index), seen
        assert sc.wait(second, 5)["code"] == 3
        assert names(sc) == {"EZ1-ORG1": "Переименована"}, "the later upload is applied last"
        h1, h2 = sc.request(first)["history"], sc.request(second)["history"]
        assert h1[-1]["at"] <= h2[-1]["at"], "a source's requests are applied in arrival order"


def test_a_file_with_any_flk_error_is_rejected_as_a_whole(sc):
    bad = organisation("EZ1-ORG2")
    bad[ORG_COLUMNS.index("ogrn")] = "1027700132196"          # wrong control digit
    rid = submit(sc, "organisations", [organisation("EZ1-ORG1"), bad])
    sc.run_pending()
    assert sc.status(rid)["code"] == 7
    assert sc.rows("organisations")[0] == 0, "nothing of the file is stored"
    report = sc.errors(rid)
    assert report["code"] == 7 and report["table"] == "organisations" and report["operation"] == "upload"
    assert report["total"] == 1 and not report["truncated"]
    (error,) = report["errors"]
    assert (error["rule"], error["line"], error["column"], error["file"]) == ("checksum", 3, "ogrn",
                                                                              "organisations.csv")
    assert error["message"]["ru"] and error["message"]["en"]
    assert sc.errors(rid, limit=1)["errors"] == report["errors"]


def test_unknown_ids_and_requests_of_other_sources(sc):
    assert sc.status(str(uuid.uuid4())) == {"code": 5, "description": status_codes()[5].ru}
    with pytest.raises(ShowcaseInputError) as exc:
        sc.status("not-a-uuid")
    assert exc.value.error == "bad_request_id" and exc.value.status == 400
    rid = submit(sc, "organisations", [organisation("EZ1-ORG1")])
    sc.register_source("OTHER01", [DATAMART])
    assert sc.status(rid, source="OTHER01")["code"] == 5
    assert sc.status(rid, source=SENDER)["code"] == 0
    with pytest.raises(UnknownRequest):
        sc.errors(rid, source="OTHER01")


def test_unknown_source_is_refused_with_the_published_text(sc):
    with pytest.raises(ShowcaseAuthError) as exc:
        submit(sc, "organisations", [organisation("EZ1-ORG1")], source="NOBODY")
    assert exc.value.status == 401 and exc.value.message == UNAUTHORIZED_RU
    with pytest.raises(ShowcaseAuthError):
        sc.submit(DATAMART, "organisations", "upload", b"x", "")
    sc.register_source("OTHER01", ["otherdm"])
    with pytest.raises(ShowcaseAuthError, match="may not write"):
        submit(sc, "organisations", [organisation("EZ1-ORG1")], source="OTHER01")
    with pytest.raises(ShowcaseInputError) as exc:
        sc.submit("nodm", "organisations", "upload", b"x", SENDER)
    assert exc.value.error == "unknown_datamart"
    assert sc.requests() == [], "refused uploads get no request"


@pytest.mark.parametrize("table,op,body,error", [
    ("pupils", "upload", b"x", "unknown_table"),
    ("..", "upload", b"x", "unknown_table"),
    ("../learners", "upload", b"x", "unknown_table"),
    ("organisations", "merge", b"x", "bad_operation"),
    ("organisations", "upload", b"", "empty_body"),
    ("organisations", "upload", "id;name\n\"Школа\"".encode("cp1251"), "bad_encoding"),
])
def test_input_that_never_reaches_the_lifecycle(sc, table, op, body, error):
    with pytest.raises(ShowcaseInputError) as exc:
        sc.submit(DATAMART, table, op, body, SENDER)
    assert exc.value.error == error and exc.value.status == 400
    assert exc.value.message.startswith("Ошибка входных данных")
    assert sc.requests() == []


def test_delete_removes_exactly_the_keyed_rows(sc):
    submit(sc, "organisations", [organisation(k) for k in ("EZ1-ORG1", "EZ1-ORG2", "EZ1-ORG3")])
    sc.run_pending()
    before = {r["id"]: r for r in sc.rows("organisations")[1]}
    rid = submit(sc, "organisations", [key_only("organisations", id="EZ1-ORG2"),
                                       key_only("organisations", id="EZ1-ABSENT")], op="delete")
    sc.run_pending()
    assert sc.status(rid)["code"] == 3
    after = {r["id"]: r for r in sc.rows("organisations")[1]}
    assert after == {k: before[k] for k in ("EZ1-ORG1", "EZ1-ORG3")}


def test_uploading_the_same_file_again_changes_nothing_and_a_change_upserts(sc):
    data = [organisation("EZ1-ORG1"), organisation("EZ1-ORG2")]
    submit(sc, "organisations", data)
    sc.run_pending()
    first = sc.checksum()
    rid = submit(sc, "organisations", data)
    sc.run_pending()
    assert sc.status(rid)["code"] == 3 and sc.checksum() == first
    submit(sc, "organisations", [organisation("EZ1-ORG2", "Новое имя")])
    sc.run_pending()
    assert names(sc) == {"EZ1-ORG1": "МАОУ СОШ № 1", "EZ1-ORG2": "Новое имя"}
    assert sc.checksum()["organisations"]["rows"] == 2 and sc.checksum() != first


def test_a_restart_keeps_data_sources_and_request_history(tmp_path):
    state = tmp_path / "state"
    with Showcase(state_dir=state, step=True) as sc:
        sc.register_source(SENDER, [DATAMART])
        ok = submit(sc, "organisations", [organisation("EZ1-ORG1")])
        sc.run_pending()
        bad = submit(sc, "organisations", [key_only("organisations", id="EZ1-ORG9")])
        sc.run_pending()
        history, report, checksum = sc.requests(), sc.errors(bad), sc.checksum()
    with Showcase(state_dir=state, step=True) as again:
        assert again.checksum() == checksum
        assert again.requests() == history
        assert again.status(ok)["code"] == 3 and again.status(bad)["code"] == 7
        assert again.errors(bad) == report
        assert again.sources()[0]["mnemonic"] == SENDER
        assert again.status(submit(again, "organisations", [organisation("EZ1-ORG2")]))["code"] == 0


def test_a_request_in_flight_resumes_after_a_restart_and_a_lost_body_fails(tmp_path):
    state = tmp_path / "state"
    with Showcase(state_dir=state, step=True) as sc:
        sc.register_source(SENDER, [DATAMART])
        resumed = submit(sc, "organisations", [organisation("EZ1-ORG1")])
        for _ in range(3):
            sc.step()
        assert sc.status(resumed)["code"] == 6
        lost = submit(sc, "organisations", [organisation("EZ1-ORG2")])
    (state / "spool" / f"{lost}.csv").unlink()
    with Showcase(state_dir=state, step=True) as again:
        assert again.status(resumed)["code"] == 2
        assert "resumed" in again.request(resumed)["history"][-1]["note"]
        assert again.status(lost)["code"] == 4 and "lost" in again.request(lost)["reason"]
        again.run_pending()
        assert again.status(resumed)["code"] == 3 and names(again) == {"EZ1-ORG1": "МАОУ СОШ № 1"}
        assert not list((state / "spool").iterdir()), "bodies leave the spool when final"


def test_lifecycle_faults_fail_and_stall_the_next_requests(sc):
    sc.add_fault("lifecycle", "fail")
    failed = submit(sc, "organisations", [organisation("EZ1-ORG1")])
    fine = submit(sc, "organisations", [organisation("EZ1-ORG1")])
    sc.run_pending()
    assert sc.status(failed)["code"] == 4 and "injected" in sc.request(failed)["reason"]
    assert sc.status(fine)["code"] == 3
    sc.add_fault("lifecycle", "stall")
    stalled = submit(sc, "organisations", [organisation("EZ1-ORG2")])
    behind = submit(sc, "organisations", [organisation("EZ1-ORG3")])
    sc.run_pending()
    assert (sc.status(stalled)["code"], sc.status(behind)["code"]) == (6, 0)
    assert sc.step() == (stalled, 6)
    sc.release(stalled)
    sc.run_pending()
    assert (sc.status(stalled)["code"], sc.status(behind)["code"]) == (3, 3)
    with pytest.raises(ValueError):
        sc.add_fault("lifecycle", "status")
    with pytest.raises(ValueError):
        sc.add_fault("upload", "stall")


def test_the_flk_fault_reports_the_first_record_of_a_clean_file_and_stores_nothing(sc):
    sc.add_fault("lifecycle", "flk")
    rows = [organisation("EZ1-ORG1"), organisation("EZ1-ORG2")]
    reported = submit(sc, "organisations", rows)
    sc.run_pending()
    assert sc.status(reported)["code"] == 7
    (finding,) = sc.errors(reported)["errors"]
    first_plain = next(c for c in ORG_COLUMNS if c != "id")
    assert (finding["line"], finding["column"], finding["rule"], finding["value"]) == (2, first_plain, "pattern", None)
    assert sc.rows("organisations")[0] == 0          # rejected as a whole, as a real report
    resent = submit(sc, "organisations", rows[1:])        # the journal holds the named record back
    sc.run_pending()
    assert sc.status(resent)["code"] == 3 and sc.rows("organisations")[0] == 1


def test_settings_are_validated(sc):
    with pytest.raises(ValueError, match="unknown setting"):
        sc.configure(colour="red")
    with pytest.raises(ValueError, match="delay"):
        sc.configure(delays={"6": -1})
    with pytest.raises(ValueError, match="portal_date"):
        sc.configure(portal_date="25.05.2026")
    assert sc.configure(delays={"6": 1.5}).delays == {"0": 0.05, "1": 0.05, "2": 0.05, "6": 1.5}


# --- SQL mode ---------------------------------------------------------------------------------

@pytest.fixture
def three_orgs(sc):
    submit(sc, "organisations", [organisation(k) for k in ("EZ1-ORG1", "EZ1-ORG2", "EZ1-ORG3")])
    sc.run_pending()
    return sc


def test_readonly_query_returns_rows_and_says_when_it_truncated(three_orgs):
    sc = three_orgs
    r = sc.execute_readonly("SELECT id, name FROM organisations ORDER BY id", [], maxrows=2, timeout_s=5)
    assert r.columns == ["id", "name"] and r.rows == [["EZ1-ORG1", "МАОУ СОШ № 1"], ["EZ1-ORG2", "МАОУ СОШ № 1"]]
    assert r.truncated
    r = sc.execute_readonly("SELECT count(*) AS n FROM showcase.organisations WHERE id <> ?", ["EZ1-ORG1"], 10, 5)
    assert r.rows == [[2]] and not r.truncated
    r = sc.execute_readonly("WITH o AS (SELECT id FROM organisations) SELECT count(*) FROM o", [], 10, 5)
    assert r.rows == [[3]]


@pytest.mark.parametrize("sql", [
    "DELETE FROM organisations",
    "UPDATE organisations SET name = 'x'",
    "SELECT 1; DROP TABLE organisations",
    "DROP TABLE organisations",
    "COPY organisations TO '/tmp/ezhd-leak.csv'",
    "ATTACH '/tmp/ezhd-other.duckdb' AS other",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM epgu_mock.requests",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM organisations WHERE id IN (SELECT request_id FROM epgu_mock.requests)",
    "PRAGMA database_list",
    "CHECKPOINT",
])
def test_readonly_query_never_writes_nor_leaves_the_showcase(three_orgs, sql):
    sc = three_orgs
    before = sc.checksum()
    with pytest.raises(QueryRefused):
        sc.execute_readonly(sql, [], 10, 5)
    assert sc.checksum() == before


def test_readonly_query_reports_bad_sql_and_stops_at_its_timeout(three_orgs):
    sc = three_orgs
    with pytest.raises(QueryFailed):
        sc.execute_readonly("SELEC id FROM organisations", [], 10, 5)
    with pytest.raises(QueryFailed):
        sc.execute_readonly("SELECT nope FROM organisations", [], 10, 5)
    sql = ("SELECT count(*) FROM organisations a, organisations b, organisations c, organisations d, "
           "organisations e, organisations f, organisations g, organisations h, organisations i, "
           "organisations j, organisations k, organisations l, organisations m, organisations n, "
           "organisations o, organisations p, organisations q, organisations r, organisations s "
           "WHERE a.name || b.name || c.name || s.name <> 'x'")
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        sc.execute_readonly(sql, [], 10, 0.3)
    assert time.monotonic() - started < 5
    assert sc.execute_readonly("SELECT count(*) FROM organisations", [], 10, 5).rows == [[3]]



def test_delays_run_side_by_side_and_other_sources_do_not_queue_behind_one(tmp_path):
    """Issue 15: one worker used to walk every request through its delays one at a time."""
    delay = 0.3
    with Showcase(delays={s: delay for s in STAGES}) as sc:
        sc.register_source(SENDER)
        sc.register_source("MNSV04")
        sc.wait(submit(sc, "organisations", [organisation("EZ2-ORG0")], source="MNSV04"), 30)  # warm up
        started = time.monotonic()
        mine = [submit(sc, "organisations", [organisation(f"EZ1-ORG{i}")]) for i in range(8)]
        other = submit(sc, "organisations", [organisation("EZ2-ORG1")], source="MNSV04")
        assert sc.wait(other, 10)["code"] == 3
        took = time.monotonic() - started
        assert took < 4 * delay + 1.5, f"another source's file waited behind these ({took:.1f} s)"
        assert all(sc.wait(rid, 10)["code"] == 3 for rid in mine)
        took = time.monotonic() - started
        assert took < 8 * 4 * delay, f"the delays of one source's files ran one by one ({took:.1f} s)"
        finished = [sc.request(rid)["history"][-1]["at"] for rid in mine]
        assert finished == sorted(finished), "a source's files are applied in arrival order"


def test_children_sent_right_after_their_parents_are_checked_against_them(tmp_path):
    from epgu_helpers import TABLES, dataset_dir

    with Showcase(delays={s: 0.01 for s in STAGES}) as sc:
        sc.register_source(SENDER)
        ids = {name: sc.submit(DATAMART, name, "upload", (dataset_dir() / f"{name}.csv").read_bytes(), SENDER)
               for name in TABLES.export_order()}
        codes = {name: sc.wait(rid, 120)["code"] for name, rid in ids.items()}
        assert set(codes.values()) == {3}, {n: sc.errors(ids[n], limit=3) for n, c in codes.items() if c != 3}


def test_a_small_file_of_another_source_is_not_held_behind_a_big_files_flk():
    from smev_helpers import ADDRESS

    header, row = ADDRESS.decode("utf-8").split("\n")[:2]
    big = ("\n".join([header, *(row.replace('"EZ1-A1"', f'"EZ1-R{i}"', 1) for i in range(200_000))])
           + "\n").encode("utf-8")
    with Showcase(delays={s: 0 for s in STAGES}) as sc:
        sc.register_source(SENDER)
        sc.register_source("MNSV04")
        sc.wait(submit(sc, "organisations", [organisation("EZ2-ORG0")], source="MNSV04"), 30)  # warm up
        large = sc.submit(DATAMART, "address", "upload", big, SENDER)
        while sc.status(large)["code"] != 6:
            time.sleep(0.01)
        small = submit(sc, "organisations", [organisation("EZ2-ORG1")], source="MNSV04")
        assert sc.wait(small, 30)["code"] == 3
        assert sc.status(large)["code"] == 6, "the small file waited for the big file's ФЛК"
        assert sc.wait(large, 60)["code"] == 3
