"""The vectorised ФЛК (`mocks.epgu.flk`) against the reference (`specs.validate`): every
single-fault kind of the strategies gives the same rule, line, column and value; file-level
faults, duplicate keys, references to stored and given rows, the exact path for what
DuckDB's reader numbers differently, staged tables for the showcase, and a file big
enough to be read by several threads."""
from __future__ import annotations

import random

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import fixtures.dataset
from fixtures.strategies import (broken_files, broken_records, duplicate_key_records, records_file,
                                 row_faults, valid_records)
from mocks.epgu import flk
from mocks.epgu.flk import FlkEngine, FlkUsageError, check_files, ensure_showcase_schema, table_for_file
from specs.csvio import format_header
from specs.tables import load_tables
from specs.validate import KeyStore, check_directory, check_file, load_rules

TABLES = load_tables()
PATHS = ("python", "fast", "numbered", "staged", "exact")   # python: the rules in Python (small files)


@pytest.fixture(scope="module")
def engine():
    return FlkEngine()


def findings(errors):
    return [(e.rule, e.line, e.column, e.value) for e in errors]


def reference(table, data, keys=None):
    return [(v.rule, v.line, v.column, v.value) for v in check_file(TABLES[table], data, keys=keys)]


# -- every single-row fault, compared with the reference -----------------------------------------

CHUNK = 8
FAULT_GROUPS = [(t.name, i) for t in TABLES for i in range(0, len(row_faults(t)), CHUNK)]


def faulty_file(table: str, first: int):
    """A file with one record for each of up to CHUNK single-row faults of the table (from the
    `first`), valid records between them: (bytes, [(line, fault)])."""
    faults = row_faults(table)[first:first + CHUNK]

    def build(drawn):
        broken, valid = drawn
        records, planted = [], []
        for i, (record, fault) in enumerate(broken):
            if i < len(valid):
                records.append(valid[i])
            records.append(record)
            planted.append((len(records) + 1, fault))
        return records_file(table, records), planted

    return st.tuples(st.tuples(*[broken_records(table, f) for f in faults]),
                     st.lists(valid_records(table), max_size=2)).map(build)


@pytest.mark.parametrize("name,first", FAULT_GROUPS, ids=[f"{n}-{i}" for n, i in FAULT_GROUPS])
def test_every_planted_fault_gets_the_reference_verdict(engine, name, first):
    # No shrinking: each example is a whole file through DuckDB, and a failure already shows
    # the file and the two verdicts side by side.
    @settings(max_examples=max(3, settings().max_examples // 8),
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(faulty_file(name, first), st.sampled_from(PATHS))
    def check(case, path):
        data, planted = case
        result = engine.check(data, name, stored_schema=None, _path=path)
        assert findings(result.errors) == reference(name, data)
        assert result.error_count == len(result.errors)
        if path != "python":        # the small-file path (cheap) on every example too
            assert findings(engine.check(data, name, stored_schema=None, _path="python").errors) == \
                findings(result.errors)
        for line, fault in planted:   # and each planted fault as the strategy names it
            at_line = [(e.column, e.rule) for e in result.errors if e.line == line and e.rule != "pk_unique"]
            assert at_line == [(fault.column, fault.rule)], (line, fault, result.errors)

    check()


def test_the_fault_groups_cover_every_fault_of_every_table():
    covered = sum(len(row_faults(n)[i:i + CHUNK]) for n, i in FAULT_GROUPS)
    assert covered == sum(len(row_faults(t)) for t in TABLES) > 100


def test_the_catalogue_names_every_rule_the_engine_reports():
    rules = set(load_rules())
    from mocks.epgu.flk_sql import FIELD_RULES
    assert set(FIELD_RULES) | {"order", "fk", "pk_unique", "field_count", "header", "encoding"} <= rules


# -- clean data ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return fixtures.dataset.generate(fixtures.dataset.Options(seed=5), tmp_path_factory.mktemp("flk") / "ds").out


def test_a_generated_dataset_is_clean_and_every_reference_resolves(dataset_dir):
    paths = sorted(dataset_dir.glob("*.csv"))
    results = check_files(paths)
    assert [r.table for r in results] == [t for t in TABLES.export_order() if (dataset_dir / f"{t}.csv").exists()]
    assert all(r.ok for r in results), [e.text("en") for r in results for e in r.errors][:5]
    assert all(not r.notes for r in results)
    counts, violations = check_directory(dataset_dir)
    assert violations == []
    assert {r.table: r.rows for r in results} == counts


def test_a_lone_child_file_names_the_references_it_could_not_check(dataset_dir):
    [result] = check_files([dataset_dir / "marks.csv"])
    assert result.ok
    assert len(result.notes) == 5 and all("not checked" in n for n in result.notes)
    assert any(n.startswith("learner_id → learners.id") for n in result.notes)


def test_a_dangling_reference_in_a_directory_is_found(dataset_dir, tmp_path):
    for path in dataset_dir.glob("*.csv"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    lines = (tmp_path / "learners.csv").read_bytes().split(b"\n")
    gone = lines.pop(5)                      # a learner the marks still refer to
    (tmp_path / "learners.csv").write_bytes(b"\n".join(lines))
    learner = gone.split(b";")[0].strip(b'"').decode()
    results = {r.table: r for r in check_files(sorted(tmp_path.glob("*.csv")))}
    marks = [e for e in results["marks"].errors if e.rule == "fk"]
    assert marks and {e.column for e in marks} == {"learner_id"} and {e.value for e in marks} == {learner}
    _, violations = check_directory(tmp_path, max_errors=100_000)
    ref = sorted((v.file, v.line, v.column) for v in violations if v.rule == "fk")
    ours = sorted((r.file, e.line, e.column) for r in results.values() for e in r.errors if e.rule == "fk")
    assert ours == ref


# -- file-level faults ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["learners", "organisations", "marks", "address_organisation"])
def test_file_level_faults_get_the_reference_rule(engine, name):
    @settings(max_examples=14)
    @given(broken_files(name))
    def check(case):
        data, fault, kind = case
        result = engine.check(data, name, stored_schema=None)
        ref = check_file(TABLES[name], data)
        assert result.errors and result.errors[0].rule == fault.rule == ref[0].rule, (kind, result.errors)
        if ref[0].line is not None:
            assert result.errors[0].line == ref[0].line
        assert result.rows == 0 or kind == "field_count"
        assert not result.ok

    check()


@pytest.mark.parametrize("data,rule,line", [
    (b"\xef\xbb\xbf" + b"id;organisation_id;name;create_datetime;send_datetime\n", "encoding", 1),
    (b"id,organisation_id,name,create_datetime,send_datetime\n", "header", 1),
    (b"", "header", 1),
    (b'"S-1";"S-2";"X";"2025-01-01 00:00:00";"2025-01-01 00:00:00"\n', "header", 1),
    (b"id;organisation_id;name;create_datetime;send_datetime\n"
     b'"S-1";"S-2";"\xd0";"2025-01-01 00:00:00";"2025-01-01 00:00:00"\n', "encoding", 2),
    (b"id;organisation_id;name;create_datetime;send_datetime\n" + b'"S-1";"S-2"\n', "field_count", 2),
    # a record cut short, then a byte that is not UTF-8: the encoding is what is reported
    (b"id;organisation_id;name;create_datetime;send_datetime\n" + b'"S-1";"S-2"\n'
     b'"S-3";"S-2";"\xd0";"2025-01-01 00:00:00";"2025-01-01 00:00:00"\n', "encoding", 3),
])
def test_a_broken_file_is_reported_once_at_its_line(engine, data, rule, line):
    result = engine.check(data, "subjects", stored_schema=None)
    assert [(e.rule, e.line) for e in result.errors] == [(rule, line)]
    assert result.error_count == 1 and result.staged is None
    assert reference("subjects", data)[0][0] == rule


def test_an_encoding_error_names_the_byte_like_the_reference(engine):
    data = b"id;organisation_id;name;create_datetime;send_datetime\n" + b'"S-1";"S-2";"\xe6"'
    [error] = engine.check(data, "subjects", stored_schema=None).errors
    [ref] = check_file(TABLES["subjects"], data)
    assert error.message == ref.detail and error.line == 2


# -- records the reader must number the way csv does --------------------------------------------

H = "id;organisation_id;name;create_datetime;send_datetime"
R = '"S-{}";"S-0";"{}";"2025-01-01 00:00:00";"2025-01-01 00:00:01"'


@pytest.mark.parametrize("text", [
    H + "\n" + R.format(1, "x") + "\n\n",                                    # two final newlines
    H + "\n" + R.format(1, "x") + "\n\n" + R.format(2, "y"),                 # a blank line
    H + "\n" + R.format(1, "Хи\nмия") + "\n" + R.format(1, "y"),             # a value over two lines
    H + "\n" + R.format(1, "a\n\nb") + "\n" + R.format(2, "y") + "\n" + R.format(2, "z"),
    (H + "\n" + R.format(1, "x") + "\n" + R.format(2, "y")).replace("\n", "\r\n"),
    H + "\n" + R.format(1, "x") + "\r" + R.format(1, "y"),                   # a bare CR
    H + "\n" + R.format(1, "x").replace('"S-1"', ' "S-1"'),                 # a space before a quote
    H + "\n" + R.format(1, "a; b").replace('"S-1"', ' "S-1"'),              # ... and "; " inside
    H + "\n" + R.format(1, "x").replace(';"x"', ';  "x"'),                  # two spaces after ;
    H + "\n" + R.format(1, "x").replace('"x"', '"x" ') + "\n" + R.format(2, "y"),
    H + "\n" + R.format(1, "x").replace('"S-1"', '"S-1"x'),
    H + "\n" + '"S-1;"S-2";"x";"2025-01-01 00:00:00";"2025-01-01 00:00:01"' + "\n" + R.format(3, "y"),
    H + "\n" + 'S-1;S-0;"a ""b"" c";2025-01-01 00:00:00;2025-01-01 00:00:01',  # unquoted, escaped
    H + "\n" + '"S-1";"S-0";"a;b";"2025-01-01 00:00:00";"2025-01-01 00:00:01"',
    H + "\n" + R.format(1, "x" * 131_073) + "\n" + R.format(1, "y"),         # over csv's field limit
    H + "\n" + R.format(1, "x") + "\n" + R.format(2, "y") + ';"extra"\n' + R.format(1, "z"),
])
def test_lines_are_numbered_as_the_reference_numbers_them(engine, text):
    data = text.encode()
    ref = reference("subjects", data)
    for path in PATHS:
        got = findings(engine.check(data, "subjects", stored_schema=None, _path=path).errors)
        assert [(r, c, v) for r, _, c, v in got] == [(r, c, v) for r, _, c, v in ref], (path, got, ref)
        # the reference cannot name the line of broken quoting; the engine always does
        assert all(gl == rl or rl is None for (_, gl, _, _), (_, rl, _, _) in zip(got, ref)), (path, got, ref)
        assert all(gl is not None for _, gl, _, _ in got)


def test_a_joined_scan_out_of_file_order_is_caught_and_numbered_again(store, monkeypatch):
    """A scan joined with stored keys numbers records by its row order, which DuckDB does not
    promise to keep through a join: every reported line is checked against the primary key
    read again, and a mismatch reads the file with numbers."""
    original = flk._Run.scan_sql

    def shuffled(self, *args, **kwargs):
        sql = original(self, *args, **kwargs)
        return sql if kwargs.get("numbered", True) else f"SELECT * FROM ({sql}) ORDER BY h"
    monkeypatch.setattr(flk._Run, "scan_sql", shuffled)
    store.execute("INSERT INTO showcase.organisations (id) VALUES ('S-0')")
    rows = [R.format(i, "x") for i in range(40)] + [R.format(3, "dup")]
    rows[17] = rows[17].replace("2025-01-01 00:00:01", "2025-02-30 00:00:01")
    data = "\n".join([H, *rows]).encode()
    result = FlkEngine(store).check(data, "subjects", _path="fast")
    keys = KeyStore()
    keys.add("organisations", ("S-0",))
    assert findings(result.errors) == reference("subjects", data, keys)
    assert [(e.rule, e.line) for e in result.errors] == [("type", 19), ("pk_unique", 42)]


class _Recording:
    """A connection that keeps the SQL it runs."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_scan_without_joins_reports_from_itself_without_reading_the_file_again():
    """One table read with no join keeps the file's order (DuckDB documents it), so the scan
    carries the keys and the flagged fields and the file is read once for its records."""
    con = _Recording(duckdb.connect())
    rows = [R.format(i, "x") for i in range(40)] + [R.format(3, "dup")]
    rows[17] = rows[17].replace("2025-01-01 00:00:01", "2025-02-30 00:00:01")
    data = "\n".join([H, *rows]).encode()
    result = FlkEngine(con).check(data, "subjects", stored_schema=None, _path="fast")
    assert findings(result.errors) == reference("subjects", data)
    assert [(e.rule, e.line, e.value) for e in result.errors] == [
        ("type", 19, "2025-02-30 00:00:01"), ("pk_unique", 42, None)]
    reads = [sql for sql in con.sql if "read_csv(" in sql and "delim=';'" in sql]
    assert len(reads) == 1, reads


def test_the_exact_path_is_taken_only_when_needed(engine):
    plain = (H + "\n" + R.format(1, "x") + "\n" + R.format(2, 'a ""b"" c')).encode()
    assert engine.check(plain, "subjects", stored_schema=None).path == "fast"
    multi = (H + "\n" + R.format(1, "a\nb")).encode()
    assert engine.check(multi, "subjects", stored_schema=None).path == "exact"


# -- keys and references -------------------------------------------------------------------------

@given(duplicate_key_records("marks"))
def test_a_repeated_primary_key_is_reported_on_the_second_line(engine, case):
    records, fault = case
    data = records_file("marks", records)
    found = [e for e in engine.check(data, "marks", stored_schema=None).errors if e.rule == "pk_unique"]
    assert [(e.line, e.column) for e in found] == [(3, fault.column)]


def test_duplicate_keys_are_found_across_hash_partitions(engine, monkeypatch):
    monkeypatch.setattr(flk, "_PK_PARTITION_ROWS", 7)
    table = TABLES["address_organisation"]
    rows = [{"address_id": f"A-{i}", "organisation_id": f"O-{i % 3}", "create_datetime": "2025-01-01 00:00:00",
             "send_datetime": "2025-01-01 00:00:00"} for i in range(40)]
    rows.insert(30, dict(rows[4]))
    rows.insert(35, dict(rows[4]))
    data = records_file(table, rows)
    result = engine.check(data, table.name, stored_schema=None, _path="fast")
    assert findings(result.errors) == reference(table.name, data)
    assert [e.line for e in result.errors] == [32, 37]


@pytest.fixture
def store():
    con = duckdb.connect()
    ensure_showcase_schema(con)
    yield con
    con.close()


@given(valid_records("class_learners"), st.sampled_from(["python", "fast"]))
@settings(max_examples=10)
def test_references_resolve_against_stored_rows(record, path):
    con = duckdb.connect()
    ensure_showcase_schema(con)
    engine = FlkEngine(con)
    data = records_file("class_learners", [record])
    con.execute("INSERT INTO showcase.classes (id) VALUES (?)", [record["class_id"]])
    result = engine.check(data, "class_learners", _path=path)
    assert [(e.rule, e.column, e.line, e.value) for e in result.errors] == \
           [("fk", "learner_id", 2, record["learner_id"])]
    keys = KeyStore()
    keys.add("classes", (record["class_id"],))
    assert findings(result.errors) == reference("class_learners", data, keys)
    con.execute("INSERT INTO showcase.learners (id) VALUES (?)", [record["learner_id"]])
    assert engine.check(data, "class_learners", _path=path).ok
    assert engine.check(data, "class_learners", stored_schema=None, _path=path).notes
    con.close()


@pytest.mark.parametrize("path", ["python", "fast"])
def test_a_self_reference_must_point_to_an_earlier_record(engine, store, tmp_path, path):
    data = fixtures_org_file().encode()
    expected = [("fk", 3, "partof_id")]
    assert findings(engine.check(data, "organisations", stored_schema=None, _path=path).errors) == \
        reference("organisations", data) == []
    (tmp_path / "organisations.csv").write_bytes(data)      # checked together: as a directory
    [result] = check_files([tmp_path / "organisations.csv"])
    assert findings(result.errors) == reference("organisations", data, KeyStore())
    assert [(e.rule, e.line, e.column) for e in result.errors] == expected
    stored = FlkEngine(store).check(data, "organisations", _path=path)   # the showcase: stored and earlier rows
    assert [(e.rule, e.line, e.column) for e in stored.errors] == expected
    store.execute("INSERT INTO showcase.organisations (id) VALUES ('R-3')")
    assert FlkEngine(store).check(data, "organisations", _path=path).ok


def fixtures_org_file() -> str:
    """Three organisations: the second points to the third (later: an error), the third to
    the first (earlier: fine)."""
    head = format_header(TABLES["organisations"])
    row = ('"R-{id}";"x";"1026200769650";;"6229769654";"622901001";"True";"75204";"13";"2300223";'
           '"61401000000";"61701000";"Школа";{parent};"Иванов И. И.";"Директор";"+7 (4912) 63-79-96";'
           '"2024-08-26 15:02:00";"2026-05-25 23:00:00"')
    return "\n".join([head, row.format(id=1, parent=""), row.format(id=2, parent='"R-3"'),
                      row.format(id=3, parent='"R-1"')])


def test_found_references_skip_the_key_format_test_only_when_the_keys_pass_it(store):
    engine = FlkEngine(store)
    store.execute("INSERT INTO showcase.classes (id) VALUES ('C-1'), ('bad key')")
    store.execute("INSERT INTO showcase.learners (id) SELECT 'L-' || i FROM range(3) t(i)")
    lines = [H.replace("id;organisation_id;name", "class_id;learner_id;start_date").replace(
        ";create_datetime", ";end_date;create_datetime")]
    lines += [f'"{c}";"L-{0 if i == 2 else i % 3}";"2025-09-01";;"2025-01-01 00:00:00";"2025-01-01 00:00:00"'
              for i, c in enumerate(["C-1", "bad key", "C-1", "C-9"])]
    data = "\n".join(lines).encode()
    keys = KeyStore()
    for table, key in [("classes", "C-1"), ("classes", "bad key")] + [("learners", f"L-{i}") for i in range(3)]:
        keys.add(table, (key,))
    for path in ("python", "fast"):
        result = engine.check(data, "class_learners", _path=path)
        assert [(e.rule, e.line, e.column) for e in result.errors] == [
            ("key_format", 3, "class_id"), ("pk_unique", 4, "class_id"), ("fk", 5, "class_id")]
        assert findings(result.errors) == reference("class_learners", data, keys)


# -- delete, staging, limits, messages ---------------------------------------------------------------

def test_delete_checks_only_the_key(engine):
    text = "\n".join([H, '"S-1";;"";"garbage";', '"bad";"x";"y";"z";"w"', '"S-1";;;;'])
    result = engine.check(text.encode(), "subjects", stored_schema=None, operation="delete")
    assert [(e.rule, e.line, e.column) for e in result.errors] == [("key_format", 3, "id"), ("pk_unique", 4, "id")]
    with pytest.raises(FlkUsageError):
        engine.check(text.encode(), "subjects", operation="merge")


def test_a_kept_staged_table_holds_the_records_in_spec_order(store):
    engine = FlkEngine(store)
    data = (H + "\n" + R.format(2, "x") + "\n" + R.format(1, "y")).encode()
    result = engine.check(data, "subjects", keep_staged=True, stored_schema=None)
    assert result.staged and result.ok
    cols = [r[0] for r in store.execute(f'DESCRIBE "{result.staged}"').fetchall()]
    assert cols == list(TABLES["subjects"].column_names)
    assert store.execute(f'SELECT id, name FROM "{result.staged}"').fetchall() == [("S-2", "x"), ("S-1", "y")]
    store.execute(f'INSERT INTO showcase.subjects SELECT * FROM "{result.staged}"')
    engine.drop_staged(result)
    assert result.staged is None
    assert not [n for (n,) in store.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]


def test_a_clean_small_file_is_read_once_without_a_log_of_refused_lines(store):
    """Each upload of a small file used to make, read and drop DuckDB's tables of refused lines;
    a clean one now needs none, and a broken one is read again with them, to the same findings."""
    con = _Recording(store)
    engine = FlkEngine(con)
    clean = "\n".join([H, *(R.format(i, "x") for i in range(5))]).encode()
    assert engine.check(clean, "subjects", stored_schema=None, keep_staged=True).ok
    assert not [sql for sql in con.sql if "store_rejects" in sql]
    broken = "\n".join([H, R.format(1, "x"), '"S-2";"S-0"', R.format(3, "y")]).encode()
    result = engine.check(broken, "subjects", stored_schema=None)
    assert findings(result.errors) == reference("subjects", broken)
    assert [(e.rule, e.line) for e in result.errors] == [("field_count", 3)]


def test_a_large_file_kept_on_disk_is_kept_as_a_view_over_it(store, tmp_path):
    """A large clean file the caller keeps on disk is not copied into DuckDB: the kept result
    is a view reading the same records from it (the same as a staged table of its bytes)."""
    engine = FlkEngine(store)
    rows = [R.format(i, "x") for i in range(flk._PYTHON_MAX_LINES + 10)]
    path = tmp_path / "subjects.csv"
    path.write_bytes("\n".join([H, *rows]).encode())
    on_disk = engine.check(path, "subjects", keep_staged=True, stored_schema=None)
    copied = engine.check(path.read_bytes(), "subjects", keep_staged=True, stored_schema=None)
    assert on_disk.ok and on_disk.staged.startswith(flk.STAGED_VIEW_PREFIX)
    assert not copied.staged.startswith(flk.STAGED_VIEW_PREFIX)
    assert store.execute(f'SELECT * FROM "{on_disk.staged}"').fetchall() == \
        store.execute(f'SELECT * FROM "{copied.staged}"').fetchall()
    assert [r[0] for r in store.execute(f'DESCRIBE "{on_disk.staged}"').fetchall()] == \
        list(TABLES["subjects"].column_names)
    engine.drop_staged(on_disk)
    engine.drop_staged(copied)
    assert not store.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
    assert not store.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()


def test_a_merge_leaves_the_connection_keeping_insertion_order(tmp_path):
    """The merge inserts without keeping the rows' order, on the ФЛК's own connection; the
    ФЛК numbers lines by that order, so the setting is put back after a merge (upload or delete,
    through a view over the file) and after a failed one."""
    from mocks.epgu.store import Store

    store = Store(TABLES)
    try:
        cur = store.con.cursor()
        engine = FlkEngine(cur)
        path = tmp_path / "subjects.csv"
        path.write_bytes("\n".join([H, *(R.format(i, "x") for i in range(600))]).encode())
        keeps = "SELECT current_setting('preserve_insertion_order')"
        for _ in range(2):                              # a first upload, then one replacing it
            result = engine.check(path, "subjects", keep_staged=True, stored_schema=None)
            assert store.merge("subjects", result.staged, "upload", con=cur, drop=True) == 600
            assert cur.execute(keeps).fetchone()[0] is True
        assert store.con.execute("SELECT count(*), count(DISTINCT id) FROM showcase.subjects").fetchone() == (600, 600)
        gone = engine.check(path, "subjects", keep_staged=True, stored_schema=None, operation="delete")
        assert gone.staged.startswith(flk.STAGED_VIEW_PREFIX)
        assert store.merge("subjects", gone.staged, "delete", con=cur, drop=True) == 600
        assert store.con.execute("SELECT count(*) FROM showcase.subjects").fetchone() == (0,)
        assert cur.execute(keeps).fetchone()[0] is True
        with pytest.raises(duckdb.Error):
            store.merge("subjects", flk.STAGED_VIEW_PREFIX + "gone", "upload", con=cur)
        assert cur.execute(keeps).fetchone()[0] is True
    finally:
        store.close()


def test_max_errors_limits_the_list_not_the_count(engine):
    rows = [R.format(i, "x").replace("2025-01-01 00:00:01", "2025-13-01 00:00:01") for i in range(30)]
    data = "\n".join([H, *rows]).encode()
    result = engine.check(data, "subjects", stored_schema=None, max_errors=7)
    assert len(result.errors) == 7 and result.error_count == 30
    assert [e.line for e in result.errors] == list(range(2, 9))


def test_personal_values_are_masked_and_messages_speak_both_languages(engine):
    table = TABLES["learners"]
    record = {c.name: None for c in table.columns}
    record.update(id="S-1", organisation_id="S-2", last_name="Петров", first_name="Пётр",
                  birth_date="2012-01-01", gender="1", snils="112-233-445 96",
                  create_datetime="2025-01-01 00:00:00", send_datetime="2025-01-01 00:00:00")
    [error] = engine.check(records_file(table, [record]), "learners", stored_schema=None, file_name="l.csv").errors
    assert (error.rule, error.value) == ("checksum", "1************6")
    assert error.text("ru").startswith("l.csv:2 [snils]: checksum: неверная контрольная сумма")
    assert "expected 95" in error.text("en") and error.to_dict()["detail"] == error.message


def test_the_showcase_schema_is_idempotent_and_keyed(store):
    ensure_showcase_schema(store)
    cols = store.execute("SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_schema = 'showcase' AND table_name = 'marks' ORDER BY ordinal_position").fetchall()
    assert [c for c, _ in cols] == list(TABLES["marks"].column_names) and {t for _, t in cols} == {"VARCHAR"}
    store.execute("INSERT INTO showcase.subjects (id, organisation_id) VALUES ('S-1', 'O-1')")
    with pytest.raises(duckdb.ConstraintException):
        store.execute("INSERT INTO showcase.subjects (id, organisation_id) VALUES ('S-1', 'O-2')")


def test_inputs_bytes_text_and_paths(engine, tmp_path):
    text = H + "\n" + R.format(1, "x")
    path = tmp_path / "rdm_subjects.csv"
    path.write_text(text, encoding="utf-8")
    for data in (text.encode(), text, path, str(path)):
        assert engine.check(data, "subjects", stored_schema=None).ok
    assert table_for_file(path) == "subjects" and table_for_file("myedu_marks.csv") == "marks"
    assert table_for_file("data.csv") is None
    with pytest.raises(FlkUsageError):
        engine.check(tmp_path / "missing.csv", "subjects")
    with pytest.raises(FlkUsageError):
        engine.check(text, "no_such_table")


# -- a file read by several threads --------------------------------------------------------------

def test_a_large_file_keeps_its_line_numbers_through_the_joins(tmp_path):
    """Line numbers come from the reader's row order before any join; a file of a few hundred
    thousand records is read in parallel chunks, so a lost order would show here."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_flk", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_flk.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    path, db = tmp_path / "marks.csv", tmp_path / "store.duckdb"
    bench.generate(path, 150_000, db, faults=False)
    lines = path.read_bytes().split(b"\n")
    rng = random.Random(4)
    planted = sorted(rng.sample(range(3, 150_002), 6))
    for i, line in enumerate(planted):
        fields = lines[line - 1].split(b";")
        if i % 3 == 0:
            fields[9] = b'"11"'                       # weight above its range
        elif i % 3 == 1:
            fields[1] = b'"EZHD-0001.LRN999999999"'   # a learner not stored
        else:
            fields[0] = lines[1].split(b";")[0]       # the first record's key again
        lines[line - 1] = b";".join(fields)
    path.write_bytes(b"\n".join(lines))
    con = duckdb.connect(str(db), read_only=True)
    result = FlkEngine(con).check(path, "marks")
    con.close()
    assert result.path == "fast" and result.rows == 150_000
    assert [(e.line, e.rule) for e in result.errors] == [
        (line, ("range", "fk", "pk_unique")[i % 3]) for i, line in enumerate(planted)]
