"""The requirement catalogue: `specs/requirements.yaml`, its loader and `ezhd requirements`.

The expected IDs, strengths, `opt` marks and English texts are read from the standard's
own list, `shared/standard/REQUIREMENTS.md`, never copied here.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conformance.cli import main
from specs.requirements import REQUIREMENTS_FILE, SpecError, load_requirements

STANDARD = Path(__file__).resolve().parents[2] / "shared/standard/REQUIREMENTS.md"
AREA_HEADING = re.compile(r"^## ([A-Z]+) — ")
TABLE_ROW = re.compile(r"^\| ([A-Z]+-\d{2}) \| ([^|]+?) \| (.+) \|$")


@pytest.fixture(scope="module")
def standard() -> dict[str, dict[str, Any]]:
    """ID -> {area, strength, opt, text} from the tables of REQUIREMENTS.md, in file order."""
    if not STANDARD.is_file():
        pytest.skip(f"the standard's requirement list is not beside this checkout: {STANDARD}")
    rows: dict[str, dict[str, Any]] = {}
    area = None
    for line in STANDARD.read_text(encoding="utf-8").splitlines():
        if heading := AREA_HEADING.match(line):
            area = heading.group(1)
        elif row := TABLE_ROW.match(line):
            rid, strength, text = row.groups()
            assert rid not in rows, f"{rid} appears twice in {STANDARD}"
            strength, *marks = (part.strip() for part in strength.split(","))
            rows[rid] = {"area": area, "strength": strength, "opt": "opt" in marks, "text": text}
    assert rows, f"no requirement table found in {STANDARD}"
    return rows


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- the catalogue against the standard -------------------------------------------------

def test_list_json_has_exactly_the_ids_of_the_standard_in_its_order(capsys, standard):
    code, out, err = run(capsys, "requirements", "list", "--format", "json")
    assert code == 0, err
    assert [entry["id"] for entry in json.loads(out)] == list(standard)


def test_strength_opt_area_and_english_text_follow_the_standard(capsys, standard):
    code, out, _ = run(capsys, "requirements", "list", "--format", "json")
    assert code == 0
    for entry in json.loads(out):
        expected = standard[entry["id"]]
        assert entry["strength"] == expected["strength"], entry["id"]
        assert (entry["feature"] is not None) == expected["opt"], entry["id"]
        assert entry["area"] == expected["area"], entry["id"]
        assert entry["text"]["en"] == expected["text"], entry["id"]
        assert entry["level"] == "base", entry["id"]


def test_every_requirement_has_russian_and_english_titles_and_a_source():
    for req in load_requirements():
        assert req.title.ru and req.title.en and req.text.ru, req.id
        assert re.search("[а-яё]", req.text.ru, re.IGNORECASE), f"{req.id}: text.ru is not Russian"
        assert req.source and req.interfaces, req.id


def test_catalogue_lookup_by_id_and_area(standard):
    catalogue = load_requirements()
    assert catalogue is load_requirements(), "the default catalogue is loaded once"
    assert catalogue["AUTH-04"].id == "AUTH-04"
    for area in catalogue.areas:
        assert [r.id for r in catalogue.by_area(area)] == [
            rid for rid, row in standard.items() if row["area"] == area
        ]
    with pytest.raises(KeyError, match="NOPE-01"):
        catalogue["NOPE-01"]


# --- the loader rejects a broken file ---------------------------------------------------

def _drop_strength(data: dict[str, Any]) -> None:
    del data["requirements"][3]["strength"]


def _duplicate_id(data: dict[str, Any]) -> None:
    data["requirements"][2]["id"] = data["requirements"][0]["id"]


def _unknown_area(data: dict[str, Any]) -> None:
    data["requirements"][3]["area"] = "NOPE"


def _bad_id_pattern(data: dict[str, Any]) -> None:
    data["requirements"][3]["id"] = "auth-4"


def _prefix_not_area(data: dict[str, Any]) -> None:
    data["requirements"][3]["area"] = "ROLE"


def _unknown_feature(data: dict[str, Any]) -> None:
    data["requirements"][3]["feature"] = "no_such_feature"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_drop_strength, ["AUTH-04", "index 3", "'strength' is a required property"]),
        (_duplicate_id, ["AUTH-01", "index 2", "duplicate ID", "index 0"]),
        (_unknown_area, ["AUTH-04", "index 3", "unknown area 'NOPE'"]),
        (_bad_id_pattern, ["index 3", "'auth-4' does not match"]),
        (_prefix_not_area, ["AUTH-04", "index 3", "prefix differs from its area 'ROLE'"]),
        (_unknown_feature, ["AUTH-04", "index 3", "unknown feature 'no_such_feature'"]),
    ],
    ids=[
        "missing-strength", "duplicate-id", "unknown-area", "bad-id-pattern", "prefix-not-area",
        "unknown-feature",
    ],
)
def test_loader_rejects_and_names_the_problem(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    data = yaml.safe_load(REQUIREMENTS_FILE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "requirements.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as excinfo:
        load_requirements(path)
    message = str(excinfo.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_loader_accepts_an_unchanged_copy(tmp_path: Path) -> None:
    path = tmp_path / "requirements.yaml"
    path.write_text(REQUIREMENTS_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_requirements(path).ids == load_requirements().ids


def test_loader_rejects_unreadable_yaml(tmp_path: Path) -> None:
    path = tmp_path / "requirements.yaml"
    path.write_text("requirements: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_requirements(path)


# --- ezhd requirements list / show ------------------------------------------------------

def test_list_filters_by_area_and_strength(capsys, standard):
    code, out, _ = run(
        capsys, "requirements", "list", "--format", "json", "--area", "auth", "--strength", "SHOULD"
    )
    assert code == 0
    expected = [
        rid for rid, row in standard.items() if row["area"] == "AUTH" and row["strength"] == "SHOULD"
    ]
    assert [entry["id"] for entry in json.loads(out)] == expected


def test_list_text_is_an_aligned_table(capsys, standard):
    code, out, _ = run(capsys, "requirements", "list")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split() == ["ID", "STRENGTH", "AREA", "TITLE"]
    assert [line.split()[0] for line in lines] == list(standard)
    title_column = header.index("TITLE")
    catalogue = load_requirements()
    for line in lines:
        assert line[title_column:] == catalogue[line.split()[0]].title.ru


def test_list_unknown_area_is_a_usage_error(capsys):
    code, out, err = run(capsys, "requirements", "list", "--area", "NOPE")
    assert code == 2 and out == ""
    assert "'NOPE'" in err and "AUTH" in err


def test_show_unknown_id_exits_2_with_one_line_naming_it(capsys):
    code, out, err = run(capsys, "requirements", "show", "AUTH-99")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert "AUTH-99" in err and "did you mean" in err


def test_show_json_has_every_field(capsys, standard):
    code, out, _ = run(capsys, "requirements", "show", "AUTH-04", "--format", "json")
    assert code == 0
    req = json.loads(out)
    assert set(req) == {
        "id", "area", "strength", "level", "feature", "title", "text", "source", "interfaces"
    }
    assert (req["id"], req["area"], req["strength"], req["level"], req["feature"]) == (
        "AUTH-04", standard["AUTH-04"]["area"], standard["AUTH-04"]["strength"], "base", None
    )
    assert req["text"]["en"] == standard["AUTH-04"]["text"]
    assert set(req["title"]) == set(req["text"]) == {"ru", "en"}
    assert "esia" in req["interfaces"] and req["source"]


def test_show_text_in_english_and_an_optional_requirement(capsys, standard):
    opt_id = next(rid for rid, row in standard.items() if row["opt"])
    code, out, _ = run(capsys, "requirements", "show", opt_id.lower(), "--lang", "en")
    assert code == 0
    assert out.startswith(opt_id)
    assert " ".join(standard[opt_id]["text"].split()) in " ".join(out.split())
    assert "feature:" in out


# --- ezhd requirements coverage ---------------------------------------------------------

def _write_tests(directory: Path, body: str) -> Path:
    directory.mkdir()
    (directory / "test_sample.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def test_coverage_without_tests_reports_only(capsys, tmp_path, standard):
    empty = tmp_path / "no_tests"
    empty.mkdir()
    code, out, _ = run(capsys, "requirements", "coverage", "--format", "json", "--tests-dir", str(empty))
    assert code == 0
    report = json.loads(out)
    assert report["status"] == "reporting-only" and report["tests"] == 0
    assert report["untested"] == list(standard)
    assert report["message"] == "no conformance tests yet: reporting only"

    code, out, _ = run(capsys, "requirements", "coverage", "--tests-dir", str(empty))
    assert code == 0
    assert out.rstrip().endswith("no conformance tests yet: reporting only")


def test_coverage_of_the_installed_conformance_package(capsys, standard):
    code, out, err = run(capsys, "requirements", "coverage", "--format", "json")
    report = json.loads(out)
    if report["tests"] == 0:  # the state until the first conformance test lands
        assert code == 0, err
        assert report["untested"] == list(standard)
        assert report["message"] == "no conformance tests yet: reporting only"
    else:
        assert code == (1 if report["blocking"] else 0), err


def test_coverage_with_one_marked_test_fails_and_names_missing_must_ids(capsys, tmp_path, standard):
    tests = _write_tests(tmp_path / "suite", """
        import pytest

        @pytest.mark.requirement("AUTH-01")
        def test_sign_in():
            pass

        def test_unmarked():
            pass
    """)
    code, out, _ = run(capsys, "requirements", "coverage", "--format", "json", "--tests-dir", str(tests))
    assert code == 1
    report = json.loads(out)
    must = [rid for rid, row in standard.items() if row["strength"] == "MUST"]
    assert report["status"] == "incomplete" and report["tests"] == 2
    assert report["blocking"] == [rid for rid in must if rid != "AUTH-01"]
    by_id = {entry["id"]: entry["tests"] for entry in report["requirements"]}
    assert [nodeid.split("::")[-1] for nodeid in by_id["AUTH-01"]] == ["test_sign_in"]
    assert [nodeid.split("::")[-1] for nodeid in report["unmarked_tests"]] == ["test_unmarked"]

    code, out, _ = run(capsys, "requirements", "coverage", "--tests-dir", str(tests))
    assert code == 1
    summary = out.splitlines()[-1]
    assert "AUTH-02" in summary and "AUTH-01" not in summary


def test_coverage_strict_also_blocks_on_should(capsys, tmp_path, standard):
    must = [rid for rid, row in standard.items() if row["strength"] == "MUST"]
    should = [rid for rid, row in standard.items() if row["strength"] == "SHOULD"]
    tests = _write_tests(tmp_path / "suite", f"""
        import pytest

        @pytest.mark.requirement(*{must!r})
        def test_everything_that_must_be():
            pass
    """)
    code, out, _ = run(capsys, "requirements", "coverage", "--format", "json", "--tests-dir", str(tests))
    report = json.loads(out)
    assert report["untested"] == should and report["blocking"] == []
    # every MUST has a test, but one test that declares no surface part exercises none of them
    assert code == 1 and report["surface_gaps"] and set(report["surface_gaps"]) <= set(must)

    code, out, _ = run(
        capsys, "requirements", "coverage", "--strict", "--format", "json", "--tests-dir", str(tests)
    )
    assert code == 1
    assert json.loads(out)["blocking"] == should


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("import pytest\n\n@pytest.mark.requirement('AUTH-99')\ndef test_a():\n    pass\n", "AUTH-99"),
        ("def test_a(:\n", "test_sample.py"),
    ],
    ids=["unknown-id", "syntax-error"],
)
def test_coverage_collection_failure_is_one_line_exit_2(capsys, tmp_path, body, expected):
    tests = _write_tests(tmp_path / "suite", body)
    code, out, err = run(capsys, "requirements", "coverage", "--tests-dir", str(tests))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("ezhd: error: collecting the tests") and expected in err
