"""The dataset generator: valid identifiers, reproducibility, a round trip through the export
CSV, a clean reference ФЛК, and a world whose ЕСИА personas match the journal's records
except where a scenario tag says they deliberately do not."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from fixtures import identifiers
from fixtures.calendar import age_on
from fixtures.dataset import MANIFEST_FILE, PERSONAS_FILE, Options, generate, generate_small
from fixtures.personas import BIRTH_CERTIFICATE, PASSPORT, SCENARIOS
from specs.checksums import check_inn_legal, check_inn_person, check_kpp, check_ogrn, check_snils
from specs.csvio import read_table, write_table
from specs.hashing import document_hash
from specs.tables import load_tables
from specs.validate import check_directory

TABLES = load_tables()
SEED = 1
AS_OF = Options().as_of


@pytest.fixture(scope="module")
def small():
    return generate_small(SEED)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return generate(Options(seed=SEED), tmp_path_factory.mktemp("dataset") / "out")


def by_id(rows, key="id"):
    return {row[key]: row for row in rows}


def parse_esia_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d.%m.%Y").date()


# -- identifiers --------------------------------------------------------------------------------

def test_every_generated_identifier_passes_its_checksum(small):
    for name in ("learners", "representatives", "staff"):
        for row in small.rows[name]:
            if row["snils"] is not None:
                assert check_snils(row["snils"]) is None, row
    for row in small.rows["organisations"]:
        assert check_inn_legal(row["inn"]) is None
        assert check_ogrn(row["ogrn"]) is None
        assert check_kpp(row["kpp"]) is None
    for persona in small.personas:
        if "snils" in persona:
            assert check_snils(persona["snils"]) is None, persona


@pytest.mark.parametrize("make,check", [
    (identifiers.snils, check_snils),
    (identifiers.inn_legal, check_inn_legal),
    (identifiers.inn_person, check_inn_person),
    (identifiers.ogrn, check_ogrn),
    (identifiers.kpp, check_kpp),
], ids=["snils", "inn_legal", "inn_person", "ogrn", "kpp"])
def test_identifiers_on_request_are_valid_or_deliberately_invalid(make, check):
    rng = random.Random(SEED)
    for _ in range(300):
        assert check(make(rng)) is None
        assert check(make(rng, valid=False)) is not None


def test_identifiers_are_unique_across_people_and_organisations(small):
    people = [r for t in ("learners", "representatives", "staff") for r in small.rows[t]]
    snils = [r["snils"] for r in people if r["snils"]]
    assert len(snils) == len(set(snils))
    hashes = [r["document_hash"] for t in ("learners", "representatives") for r in small.rows[t]]
    assert len(hashes) == len(set(hashes))
    for column in ("inn", "ogrn"):
        values = [r[column] for r in small.rows["organisations"]]
        assert len(values) == len(set(values))


# -- reproducibility and the files --------------------------------------------------------------

def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_identical_files_whatever_the_number_of_workers(written, tmp_path):
    again = generate(Options(seed=SEED), tmp_path / "again", workers=2)
    assert _files(again.out) == _files(written.out)


def test_another_seed_gives_other_files(written, tmp_path):
    other = _files(generate(Options(seed=SEED + 1), tmp_path / "other").out)
    mine = _files(written.out)
    for name in ("learners.csv", "marks.csv", PERSONAS_FILE):
        assert other[name] != mine[name]


def test_files_hold_the_in_memory_rows(small, written):
    for name in TABLES.export_order():
        assert list(read_table(TABLES[name], written.out / f"{name}.csv")) == small.rows[name], name
    lines = (written.out / PERSONAS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == small.personas


@pytest.mark.parametrize("name", TABLES.export_order())
def test_round_trip_through_the_export_csv(small, tmp_path, name):
    table = TABLES[name]
    rows = small.rows[name]
    assert rows, f"{name} is empty"
    for row in rows:
        assert tuple(row) == table.column_names
    write_table(table, rows, tmp_path / f"{name}.csv")
    assert list(read_table(table, tmp_path / f"{name}.csv")) == rows


def test_the_reference_flk_finds_no_violation(written):
    counts, violations = check_directory(written.out)
    assert [v.message() for v in violations] == []
    assert counts == written.manifest["tables"]


def test_manifest_describes_the_files(written):
    manifest = json.loads((written.out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest == written.manifest
    assert (manifest["seed"], manifest["size"], manifest["as_of"], manifest["years"]) == (
        SEED, "small", AS_OF.isoformat(), 2)
    assert set(manifest["files"]) == {f"{n}.csv" for n in TABLES.export_order()} | {PERSONAS_FILE}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((written.out / name).read_bytes()).hexdigest() == digest
    lines = (written.out / PERSONAS_FILE).read_text(encoding="utf-8").splitlines()
    assert manifest["personas"] == len(lines)
    assert not [p for p in written.out.parent.iterdir() if p.name.startswith(".")]


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown size"):
        Options(size="huge")
    with pytest.raises(ValueError, match="years"):
        Options(years=0)


# -- the world ----------------------------------------------------------------------------------

def test_ages_cover_children_teenagers_and_turning_14_in_the_period(small):
    period_start = dt.date(AS_OF.year - 2, 9, 1)
    births = [row["birth_date"] for row in small.rows["learners"]]
    assert any(age_on(b, AS_OF) < 14 for b in births)
    assert any(14 <= age_on(b, AS_OF) <= 17 for b in births)
    assert any(age_on(b, period_start) < 14 <= age_on(b, AS_OF) for b in births)


def test_learners_move_up_a_grade_each_year(small):
    classes = by_id(small.rows["classes"])
    grades = defaultdict(dict)
    for link in small.rows["class_learners"]:
        school_class = classes[link["class_id"]]
        grades[link["learner_id"]][school_class["academic_year"]] = school_class["grade_level"]
        assert school_class["name"][:-1] == str(school_class["grade_level"])
    years = sorted({c["academic_year"] for c in classes.values()})
    assert len(years) == 2
    for learner, per_year in grades.items():
        if len(per_year) == 2:
            assert per_year[years[1]] == per_year[years[0]] + 1, learner


def test_marks_cover_two_academic_years_with_period_and_year_marks(small):
    periods = by_id(small.rows["academic_periods"])
    seen = defaultdict(set)
    for mark in small.rows["marks"]:
        seen[periods[mark["period_id"]]["academic_year"]].add(mark["mark_type"])
        if mark["grade_system"] == 2:
            assert mark["value"] in ("зч", "нз")
        else:
            assert mark["value"] in ("2", "3", "4", "5")
        assert (mark["lesson_id"] is None) == (mark["mark_type"] != 1)
    assert len(seen) == 2
    retrospective = min(seen)
    assert seen[retrospective] == {1, 2, 3}  # current, period and year marks of a finished year


def test_lessons_are_on_school_days_and_records_stop_at_as_of(small):
    lessons = by_id(small.rows["lessons"])
    assert all(row["lesson_date"].weekday() < 5 for row in lessons.values())
    assert not any(row["lesson_date"].month in (6, 7, 8) for row in lessons.values())
    for name in ("marks", "attendance", "homework"):
        for row in small.rows[name]:
            if row.get("lesson_id"):
                lesson = lessons[row["lesson_id"]]
                assert lesson["lesson_date"] <= AS_OF and lesson["status"] == 1
    statuses = {row["status"] for row in small.rows["attendance"]}
    assert statuses <= {1, 2, 3, 4, 5} and len(statuses) >= 4
    assert all((row["minutes_late"] is not None) == (row["status"] == 4) for row in small.rows["attendance"])


def test_learners_add_achievements_only_from_14(small):
    learners = by_id(small.rows["learners"])
    added = defaultdict(int)
    for row in small.rows["achievements"]:
        added[row["added_by"]] += 1
        if row["added_by"] == 2:
            assert age_on(learners[row["learner_id"]]["birth_date"], row["achievement_date"]) >= 14
    assert added[1] and added[2]


def test_representatives_include_shared_parents_and_guardians(small):
    links = small.rows["learner_representatives"]
    children = defaultdict(set)
    for link in links:
        children[link["representative_id"]].add(link["learner_id"])
    per_learner = defaultdict(int)
    for link in links:
        per_learner[link["learner_id"]] += 1
    assert set(per_learner) == {row["id"] for row in small.rows["learners"]}
    assert set(per_learner.values()) <= {1, 2}
    assert any(len(kids) > 1 for kids in children.values())
    assert {link["relation"] for link in links} >= {1, 2}


def test_a_share_of_learners_has_no_snils(small):
    without = [row for row in small.rows["learners"] if row["snils"] is None]
    assert 0 < len(without) < len(small.rows["learners"]) / 5


# -- ЕСИА personas ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def personas(small):
    grouped = defaultdict(list)
    for persona in small.personas:
        grouped[persona["journal_id"]].append(persona)
    return grouped


def test_personas_have_unique_oids_in_order_and_known_tags(small):
    oids = [p["oid"] for p in small.personas]
    assert oids == sorted(oids) and len(set(oids)) == len(oids)
    assert all(isinstance(oid, int) for oid in oids)
    for persona in small.personas:
        assert set(persona["scenario"]) <= set(SCENARIOS), persona["scenario"]
        assert persona["kind"] in ("learner", "representative", "staff", "organisation")


def test_every_person_and_organisation_has_a_persona(small, personas):
    for kind, table in (("learner", "learners"), ("representative", "representatives"),
                        ("staff", "staff"), ("organisation", "organisations")):
        for row in small.rows[table]:
            assert [p["kind"] for p in personas[row["id"]]] in ([kind], [kind, kind]), row["id"]


def _current(persona_list):
    """The account in use: the re-issued one when a child account was replaced."""
    return next(p for p in persona_list if "replaced_by" not in p)


def test_persons_match_the_journal_unless_a_mismatch_is_tagged(small, personas):
    for table in ("learners", "representatives", "staff"):
        for row in small.rows[table]:
            persona = _current(personas[row["id"]])
            tags = persona["scenario"]
            assert (persona["lastName"] == row["last_name"]) != ("mismatch:name" in tags)
            assert persona["firstName"] == row["first_name"]
            assert persona.get("middleName") == row["middle_name"]
            assert (persona.get("snils") == row["snils"]) != ("mismatch:snils" in tags)
            assert ("snils" not in persona) == ("no_snils" in tags) == (row["snils"] is None)
            if table != "staff":
                birth = parse_esia_date(persona["birthDate"])
                assert (birth == row["birth_date"]) != ("mismatch:birthDate" in tags)
                assert persona["gender"] == ("M" if row["gender"] == 1 else "F")
                doc = persona["docs"][0]
                assert document_hash(doc["series"], doc["number"]) == row["document_hash"]
    tags = [t for p in small.personas for t in p["scenario"]]
    for tag in ("mismatch:name", "mismatch:birthDate", "mismatch:snils", "no_snils"):
        assert tag in tags


def test_documents_follow_age(small, personas):
    for row in small.rows["learners"]:
        doc = _current(personas[row["id"]])["docs"][0]
        assert doc["type"] == (BIRTH_CERTIFICATE if age_on(row["birth_date"], AS_OF) < 14 else PASSPORT)
    for row in small.rows["representatives"]:
        assert personas[row["id"]][0]["docs"][0]["type"] == PASSPORT


def test_kids_and_parents_follow_learner_representatives(small, personas):
    expected_kids = defaultdict(set)
    expected_parents = defaultdict(set)
    for link in small.rows["learner_representatives"]:
        parent = personas[link["representative_id"]][0]
        expected_kids[parent["oid"]].add(_current(personas[link["learner_id"]])["oid"])
        expected_parents[link["learner_id"]].add(parent["oid"])
    for row in small.rows["representatives"]:
        persona = personas[row["id"]][0]
        assert sorted(persona["kids"]) == sorted(expected_kids[persona["oid"]])
    for row in small.rows["learners"]:
        for persona in personas[row["id"]]:
            assert sorted(persona["parents"]) == sorted(expected_parents[row["id"]])


def test_account_levels_follow_age_and_confirmation(small, personas):
    learners = by_id(small.rows["learners"])
    for persona in small.personas:
        if persona["kind"] == "organisation":
            assert persona["trusted"] and persona["account_type"] == "confirmed"
            continue
        level, account, tags = persona["level"], persona["account_type"], persona["scenario"]
        assert account in {"KD": ("child",), "PR": ("confirmed",), "P": ("standard", "simplified")}[level]
        assert persona["trusted"] == (level == "PR")
        assert (level == "P") == ("unconfirmed_adult" in tags)
        if level == "KD":
            under_14 = age_on(learners[persona["journal_id"]]["birth_date"], AS_OF) < 14
            assert under_14 or "replaced_by" in persona
            assert persona["consent"] in ("granted", "pending")
        else:
            assert "consent" not in persona
    consents = [p.get("consent") for p in small.personas]
    assert "pending" in consents and "granted" in consents
    unconfirmed = [p for p in small.personas if "unconfirmed_adult" in p["scenario"]]
    assert {p["kind"] for p in unconfirmed} == {"learner", "representative"}
    for persona in unconfirmed:
        if persona["kind"] == "learner":
            assert age_on(learners[persona["journal_id"]]["birth_date"], AS_OF) >= 14


def test_a_child_turning_14_gets_a_new_account_with_the_same_snils(small, personas):
    by_oid = {p["oid"]: p for p in small.personas}
    reissued = [p for p in small.personas if "reissued_from" in p]
    assert reissued
    learners = by_id(small.rows["learners"])
    for persona in reissued:
        old = by_oid[persona["reissued_from"]]
        assert old["oid"] != persona["oid"] and old["replaced_by"] == persona["oid"]
        assert old["journal_id"] == persona["journal_id"]
        assert (old["level"], persona["level"]) == ("KD", "PR")
        assert old["snils"] == persona["snils"] == learners[persona["journal_id"]]["snils"]
        assert "turns_14" in old["scenario"] and "turns_14" in persona["scenario"]
        birth = learners[persona["journal_id"]]["birth_date"]
        assert age_on(birth, dt.date(AS_OF.year - 2, 9, 1)) < 14 <= age_on(birth, AS_OF)


def test_staff_roles_and_organisation_accounts(small, personas):
    organisations = by_id(small.rows["organisations"])
    for row in small.rows["staff"]:
        (persona,) = personas[row["id"]]
        (role,) = persona["roles"]
        org = personas[row["organisation_id"]][0]
        assert (role["oid"], role["ogrn"], role["position"]) == (org["oid"], org["ogrn"], row["position"])
        assert persona["level"] == "PR"
    for org_id, row in organisations.items():
        (persona,) = personas[org_id]
        assert (persona["inn"], persona["ogrn"], persona["kpp"], persona["name"]) == (
            row["inn"], row["ogrn"], row["kpp"], row["name"])
