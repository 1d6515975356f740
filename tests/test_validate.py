"""The reference ФЛК against the fixtures' strategies: clean records pass, every single-fault
record is reported with the planted rule at the planted column, file- and dataset-level
faults are found with their line."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.strategies import (
    FILE_FAULTS, Fault, broken_files, broken_records, duplicate_key_records, record_line,
    records_file, row_faults, valid_records,
)
from specs.tables import load_tables
from specs.validate import KeyStore, check_directory, check_file, check_row, load_rules

TABLES = load_tables()
ALL_FAULTS = [(t.name, f) for t in TABLES for f in row_faults(t)]


def test_fault_catalogue_covers_every_single_row_rule_the_checker_knows():
    planted = {f.rule for _, f in ALL_FAULTS}
    row_rules = {k for k, v in load_rules().items() if v["scope"] == "row" and k != "field_count"}
    assert planted == row_rules


@pytest.mark.parametrize("name", TABLES.names)
def test_valid_records_pass_every_row_rule(name):
    table = TABLES[name]

    @given(valid_records(table))
    def check(record):
        assert check_row(table, record) == []

    check()


@pytest.mark.parametrize("name,fault", ALL_FAULTS, ids=[f"{n}-{f}" for n, f in ALL_FAULTS])
@settings(max_examples=8)
@given(data=st.data())
def test_each_planted_fault_is_reported_alone_with_its_rule_and_column(name, fault, data):
    table = TABLES[name]
    record, planted = data.draw(broken_records(table, fault))
    found = check_row(table, record)
    assert [(c, r) for c, r, _ in found] == [(planted.column, planted.rule)], found


@pytest.mark.parametrize("name", ["learners", "organisations", "marks"])
def test_file_level_faults_are_reported(name):
    table = TABLES[name]

    @settings(max_examples=20)
    @given(broken_files(table))
    def check(case):
        data, fault, kind = case
        found = check_file(table, data)
        assert found and found[0].rule == fault.rule, (kind, found)

    check()
    assert len(FILE_FAULTS) == 7


@given(duplicate_key_records("marks"))
def test_a_repeated_primary_key_is_reported_on_the_second_line(case):
    records, fault = case
    found = [v for v in check_file(TABLES["marks"], records_file("marks", records)) if v.rule == "pk_unique"]
    assert [(v.line, v.column) for v in found] == [(3, fault.column)]


@given(valid_records("class_learners"))
def test_a_dangling_reference_is_reported_and_a_known_one_is_not(record):
    table = TABLES["class_learners"]
    keys = KeyStore()
    keys.add("classes", (record["class_id"],))
    found = check_file(table, records_file(table, [record]), keys=keys)
    assert [(v.rule, v.column, v.line) for v in found] == [("fk", "learner_id", 2)]
    keys.add("learners", (record["learner_id"],))
    assert check_file(table, records_file(table, [record]), keys=keys) == []


def test_messages_name_place_rule_and_mask_personal_values(tmp_path):
    table = TABLES["learners"]
    record = {c.name: None for c in table.columns}
    record.update(id="S-1", organisation_id="S-2", last_name="Петров", first_name="Пётр",
                  birth_date="2012-01-01", gender="1", snils="112-233-445 96",
                  create_datetime="2025-01-01 00:00:00", send_datetime="2025-01-01 00:00:00")
    (tmp_path / "learners.csv").write_bytes(records_file(table, [record]))
    counts, found = check_directory(tmp_path)
    assert counts == {"learners": 1}
    checksum, fk = sorted(found, key=lambda v: v.rule)
    assert checksum.value == "1************6"  # personal data masked
    text = checksum.message("ru")
    assert text.startswith("learners.csv:2 [snils]: checksum:") and "expected 95" in text
    assert fk.rule == "fk" and "no organisations record with id S-2" in fk.message()


def test_a_clean_file_has_no_violation():
    table = TABLES["subjects"]
    line = record_line(table, {"id": "S-1", "organisation_id": "S-2", "name": "Химия",
                               "create_datetime": "2025-01-01 00:00:00",
                               "send_datetime": "2025-01-01 00:00:01"})
    assert check_file(table, ("id;organisation_id;name;create_datetime;send_datetime\n" + line).encode()) == []
