"""The export table definitions: published tables as published, cross-references sound,
and the loader refusing inconsistent definitions with a message that names the problem."""
import re
import shutil
from pathlib import Path

import pytest
import yaml

import specs.tables as tables_module
from specs import CACHE_ENV, TABLES_DIR
from specs.tables import SpecError, load_tables

PROTOCOLS = Path(__file__).resolve().parents[2] / "shared" / "standard" / "PROTOCOLS.md"
PUBLISHED = ("address", "address_organisation", "telecom", "organisations")


def _published_from_protocols() -> dict[str, tuple[list[str], set[str]]]:
    """Column order and required set of the four public tables, read from PROTOCOLS.md §3.5."""
    if not PROTOCOLS.exists():
        pytest.skip(f"shared standard not found at {PROTOCOLS}")
    found = {}
    for line in PROTOCOLS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^`(\w+)` \(.*?–\s*(?:ordered fields: )?`([^`]+)`(.*)$", line)
        if not m or m.group(1) not in PUBLISHED:
            continue
        columns = [c.strip() for c in m.group(2).split(";")]
        rest = m.group(3)
        if "all required" in rest:
            required = set(columns)
        elif (ex := re.search(r"all except `([^`]+)`", rest)):
            required = set(columns) - {c.strip() for c in ex.group(1).split(",")}
        else:
            required = {c.strip() for c in re.search(r"[Rr]equired:? `([^`]+)`", rest).group(1).split(",")}
        found[m.group(1)] = (columns, required)
    assert set(found) == set(PUBLISHED), f"could not read all public tables from {PROTOCOLS}"
    return found


def test_published_tables_are_exactly_as_published():
    tables = load_tables()
    for name, (columns, required) in _published_from_protocols().items():
        table = tables[name]
        assert table.origin == "published"
        assert list(table.column_names) == columns, name
        assert {c.name for c in table.columns if c.required} == required, name


def test_published_primary_and_foreign_keys():
    tables = load_tables()
    assert tables["address_organisation"].primary_key == ("address_id", "organisation_id")
    assert tables["organisations"].column("partof_id").references == ("organisations", "id")
    for name in ("address", "telecom", "organisations"):
        assert tables[name].primary_key == ("id",)


def test_school_tables_of_the_standard_are_defined_and_marked_as_our_reading():
    tables = load_tables()
    school = {"learners", "representatives", "learner_representatives", "staff", "classes",
              "class_learners", "subjects", "academic_periods", "lessons", "marks", "attendance",
              "homework", "achievements", "events", "event_learners"}
    assert school <= set(tables.names)
    for name in set(tables.names) - set(PUBLISHED):
        assert tables[name].origin == "project", name
        assert "project reading" in tables[name].source


def test_every_table_ends_with_the_technical_datetimes():
    for table in load_tables():
        last = table.columns[-2:]
        assert [c.name for c in last] == ["create_datetime", "send_datetime"], table.name
        assert all(c.required and c.type == "datetime" for c in last), table.name


def test_export_order_puts_referenced_tables_first():
    tables = load_tables()
    order = tables.export_order()
    assert sorted(order) == sorted(tables.names)
    for table in tables:
        for column in table.foreign_keys:
            target = column.references[0]
            if target != table.name:
                assert order.index(target) < order.index(table.name), (table.name, column.name)


def test_personal_and_hashed_columns_are_declared_where_the_standard_needs_them():
    tables = load_tables()
    assert tables["learners"].column("snils").checksum == "snils"
    assert tables["learners"].column("document_hash").hashed == "streebog512"
    assert tables["organisations"].column("inn").checksum == "inn_legal"
    assert tables["organisations"].column("ogrn").checksum == "ogrn"
    assert tables["organisations"].column("kpp").checksum == "kpp"
    assert tables["learners"].column("last_name").personal


@pytest.fixture
def table_dir(tmp_path):
    for name in ("_enums.yaml", "_conventions.yaml", "organisations.yaml", "learners.yaml"):
        shutil.copy(TABLES_DIR / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_copy_of_valid_tables_loads(table_dir):
    assert set(load_tables(table_dir).names) == {"organisations", "learners"}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["columns"][0].pop("type"), "'type' is a required property"),
        (lambda d: d["columns"][6].update(enum="no_such_enum"), "unknown enum 'no_such_enum'"),
        (lambda d: d["columns"][1].update(references="schools.id"), "references unknown table 'schools'"),
        (lambda d: d["columns"][1].update(references="organisations.uid"), "unknown column organisations.uid"),
        (lambda d: d.update(primary_key=["uid"]), "primary key column 'uid' is not a column"),
        (lambda d: d["columns"].append(dict(d["columns"][0])), "duplicate column name"),
        (lambda d: d["columns"][0].update(type="text"), "is not one of"),
        (lambda d: d["columns"][2].update(pattern="(["), "pattern does not compile"),
        (lambda d: d.update(name="pupils"), "differs from the file name"),
    ],
)
def test_loader_refuses_inconsistent_definitions(table_dir, change, message):
    _edit(table_dir / "learners.yaml", change)
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        load_tables(table_dir)
    assert "learners" in str(info.value)


def test_unknown_table_lookup_lists_the_known_ones():
    with pytest.raises(KeyError, match="known tables: .*marks"):
        load_tables()["pupils"]


def test_enum_label_with_an_unquoted_comma_is_refused(table_dir):
    """`{ru: x, en: absent, excused}` is valid YAML with a third key; the loader names it."""
    path = table_dir / "_enums.yaml"
    text = path.read_text(encoding="utf-8").replace('en: "absent, sick"', "en: absent, sick")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r"attendance_status code 2: label must be .*quote labels"):
        load_tables(table_dir)


def test_the_schema_check_is_skipped_only_for_files_already_checked(table_dir, tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(CACHE_ENV, str(cache))
    calls = []
    real = tables_module._schema_errors
    monkeypatch.setattr(tables_module, "_schema_errors", lambda *a: (calls.append(a[2].name), real(*a)))
    load_tables(table_dir)
    assert sorted(calls) == ["learners.yaml", "organisations.yaml"]
    assert len(list((cache / "specs-checked").iterdir())) == 1
    calls.clear()
    load_tables(table_dir)                      # the same content: checked before
    assert calls == []
    _edit(table_dir / "learners.yaml", lambda d: d["columns"][0].pop("type"))
    with pytest.raises(SpecError, match="'type' is a required property"):
        load_tables(table_dir)                  # changed content: checked again, and refused
    assert len(list((cache / "specs-checked").iterdir())) == 1
    monkeypatch.setenv(CACHE_ENV, "off")        # no cache: checked every time, nothing written
    _edit(table_dir / "learners.yaml", lambda d: d["columns"][0].update(type="string"))
    calls.clear()
    load_tables(table_dir)
    load_tables(table_dir)
    assert len(calls) == 4
