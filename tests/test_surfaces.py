"""Requirement surfaces (`specs/surfaces/`, `specs/surfaces.py`): loading, checks, coverage."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from specs.surfaces import SURFACES_DIR, coverage, load_surfaces
from specs.tables import SpecError, load_tables


def test_dimensions_derive_their_values_from_the_specs():
    surfaces = load_surfaces()
    assert tuple(surfaces.dimensions["table"].values) == load_tables().names
    assert {"getMarks", "getInternalLogin", "postConsent"} <= set(surfaces.dimensions["journal_operation"].values)
    assert {"checksum", "pk_unique", "fk", "hash"} <= set(surfaces.dimensions["flk_rule"].values)


def test_every_declared_surface_names_known_requirements_and_values():
    surfaces = load_surfaces()
    for rid, surface in surfaces.requirements.items():
        for dim, values in surface.parts.items():
            assert set(values) <= set(surfaces.dimensions[dim].values), (rid, dim)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "surfaces"
    shutil.copytree(SURFACES_DIR, target)
    return target


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("requirements:\n  LOG-99:\n    surface: {event_kind: all}\n", "unknown requirement ID 'LOG-99'"),
        ("requirements:\n  LOG-02:\n    surface: {mood: [happy]}\n", "unknown dimension 'mood'"),
        ("requirements:\n  LOG-02:\n    surface: {actor: [auditor, janitor]}\n", "actor has no value(s) 'janitor'"),
        ("requirements:\n  LOG-02:\n    surface: {actor: [auditor]}\n    excused: {actor: {teacher: because it is late}}\n",
         "excused actor='teacher' is not part of its surface"),
        ("requirements:\n  LOG-02:\n    surface: {actor: []}\n", "surface/actor"),
    ],
    ids=["unknown-id", "unknown-dimension", "unknown-value", "excused-outside", "empty-values"],
)
def test_a_bad_surface_file_is_refused_naming_the_problem(tmp_path, body, problem):
    directory = _copy(tmp_path)
    (directory / "zz_bad.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_surfaces(directory)
    assert problem in str(caught.value)
    assert "zz_bad.yaml" in str(caught.value)


def test_a_requirement_declared_twice_is_refused(tmp_path):
    directory = _copy(tmp_path)
    (directory / "zz_twice.yaml").write_text("requirements:\n  LOG-01:\n    surface: {event_kind: [upload]}\n",
                                             encoding="utf-8")
    with pytest.raises(SpecError, match="LOG-01 has a surface in another file too"):
        load_surfaces(directory)


def test_coverage_tells_covered_skipped_excused_and_missing(tmp_path):
    directory = _copy(tmp_path)
    (directory / "zz.yaml").write_text(
        "requirements:\n  LOG-02:\n    surface: {actor: [auditor, teacher, parent, school_admin]}\n"
        "    excused: {actor: {parent: parents do not read the log}}\n", encoding="utf-8")
    surface = load_surfaces(directory).of("LOG-02")
    result = coverage(surface, [({"actor": ["auditor"]}, True), ({"actor": ["teacher", "auditor"]}, False)])
    assert result == {"actor": {"covered": ["auditor"], "skipped": ["teacher"],
                                "excused": {"parent": "parents do not read the log"},
                                "missing": ["school_admin"]}}


def test_an_excused_part_that_a_test_covers_counts_as_covered(tmp_path):
    directory = _copy(tmp_path)
    (directory / "zz.yaml").write_text(
        "requirements:\n  LOG-02:\n    surface: {actor: [auditor, parent]}\n"
        "    excused: {actor: {parent: parents do not read the log}}\n", encoding="utf-8")
    result = coverage(load_surfaces(directory).of("LOG-02"), [({"actor": ["auditor", "parent"]}, True)])
    assert result["actor"] == {"covered": ["auditor", "parent"], "skipped": [], "excused": {}, "missing": []}
