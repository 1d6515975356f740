"""The export CSV conventions: exact bytes written, round trip, and clear refusals on read."""
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.strategies import valid_rows
from specs import csvio
from specs.csvio import CsvFormatError, dumps, read_table
from specs.tables import load_tables

TABLES = load_tables()


def _learner(**over):
    row = dict(
        id="SCH1-17", organisation_id="SCH1-1", last_name='Иванова "мл."', first_name="Анна",
        middle_name=None, birth_date=dt.date(2013, 2, 28), gender=2, snils=None, document_hash=None,
        create_datetime=dt.datetime(2025, 9, 1, 8, 0, 5), send_datetime=dt.datetime(2025, 9, 1, 9, 0),
    )
    row.update(over)
    return row


def test_writer_follows_the_published_conventions_byte_for_byte():
    text = dumps(TABLES["learners"], [_learner(), _learner(id="SCH1-18", first_name="Ан\tна\x07")])
    assert text == (
        "id;organisation_id;last_name;first_name;middle_name;birth_date;gender;snils;document_hash;"
        "create_datetime;send_datetime\n"
        '"SCH1-17";"SCH1-1";"Иванова ""мл.""";"Анна";;"2013-02-28";"2";;;"2025-09-01 08:00:05";"2025-09-01 09:00:00"\n'
        '"SCH1-18";"SCH1-1";"Иванова ""мл.""";"Анна";;"2013-02-28";"2";;;"2025-09-01 08:00:05";"2025-09-01 09:00:00"'
    )  # no trailing newline, control characters removed, optional empty as nothing


def test_an_empty_required_value_is_written_as_two_quotes_and_booleans_as_python_does():
    table = TABLES["organisations"]
    line = csvio.format_record(table, {"id": "R-1", "active": True, "name": None})
    fields = line.split(";")
    names = list(table.column_names)
    assert fields[names.index("name")] == '""'          # required, empty
    assert fields[names.index("okpo")] == ""            # optional, empty
    assert fields[names.index("active")] == '"True"'


def test_files_are_utf8_without_bom(tmp_path):
    path = tmp_path / "learners.csv"
    assert csvio.write_table(TABLES["learners"], [_learner()], path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"id;") and "Иванова".encode() in raw and not raw.endswith(b"\n")


@pytest.mark.parametrize("name", TABLES.names)
def test_round_trip_of_any_valid_rows(name):
    table = TABLES[name]

    @given(st.lists(valid_rows(table), max_size=4))
    def check(rows):
        assert list(read_table(table, dumps(table, rows).encode())) == rows

    check()


def test_reader_accepts_a_trailing_newline_and_unquoted_values():
    table = TABLES["subjects"]
    data = "id;organisation_id;name;create_datetime;send_datetime\nS-1;S-2;Физика;2025-09-01 08:00:00;2025-09-01 08:00:00\n"
    [row] = read_table(table, data.encode())
    assert row["name"] == "Физика" and row["create_datetime"] == dt.datetime(2025, 9, 1, 8)


@pytest.mark.parametrize(
    "data,rule,line,message",
    [
        (b"", "header", 1, "header line is missing"),
        ("\ufeffid;organisation_id;name;create_datetime;send_datetime\n".encode(), "encoding", 1, "byte-order mark"),
        ("id;organisation_id;name;create_datetime;send_datetime\n\"S-1\";\"S-2\";\"Физика\"".encode("cp1251"),
         "encoding", None, "not UTF-8"),
        (b"id,organisation_id,name,create_datetime,send_datetime\n", "header", 1, "not separated by ';'"),
        (b"organisation_id;id;name;create_datetime;send_datetime\n", "header", 1, "out of order"),
        (b"id;organisation_id;create_datetime;send_datetime\n", "header", 1, "missing name"),
        (b'id;organisation_id;name;create_datetime;send_datetime\n"S-1";"S-2"\n', "field_count", 2, "2 fields"),
        (b'id;organisation_id;name;create_datetime;send_datetime\n"S-1";"S-2";"A";"2025-09-01";"2025-09-01 08:00:00"',
         "type", 2, "expected datetime as 2025-09-01 08:30:00"),
    ],
)
def test_reader_refuses_broken_files_naming_rule_and_line(data, rule, line, message):
    with pytest.raises(CsvFormatError) as info:
        list(read_table(TABLES["subjects"], data))
    assert info.value.rule == rule and info.value.line == line
    assert message in str(info.value)
