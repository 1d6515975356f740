"""The `ezhd` pytest plugin (`conformance/plugin.py`): the requirement marker and its export."""
from __future__ import annotations

import json

import pytest

from conformance.cli.requirements_cmd import pytest_plugin_args

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*pytest_plugin_args(), *args)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.requirement(*ids): requirement IDs this test verifies"])


def test_marked_tests_run_under_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.requirement("AUTH-04", "AUTH-03")
        def test_token():
            pass
        """
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('"AUTH-99"', "test_bad.py::test_a: unknown requirement ID 'AUTH-99' (did you mean AUTH-09"),
        ("", "test_bad.py::test_a: @pytest.mark.requirement() names no requirement ID"),
        ('"AUTH-01", 4', "test_bad.py::test_a: requirement ID 4 is not a string"),
    ],
    ids=["unknown-id", "no-id", "not-a-string"],
)
def test_bad_marker_fails_collection(pytester: pytest.Pytester, marker: str, problem: str) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.requirement({marker})
        def test_a():
            pass

        @pytest.mark.requirement("AUTH-01")
        def test_fine():
            pass
        """
    )
    result = run(pytester, "--collect-only", "--ezhd-requirements-out=out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert problem in result.stderr.str()
    assert "test_fine" not in result.stderr.str()
    assert not (pytester.path / "out.json").exists()


def test_requirements_out_maps_every_collected_test_to_its_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_map="""
        import pytest

        pytestmark = pytest.mark.requirement("LOG-01")

        @pytest.mark.requirement("AUTH-01")
        class TestSignIn:
            @pytest.mark.requirement("AUTH-03", "AUTH-01")
            def test_state(self):
                pass

        @pytest.mark.parametrize("n", [1, 2])
        def test_each(n):
            pass
        """,
        test_plain="""
        def test_unmarked():
            pass
        """,
    )
    result = run(pytester, "--collect-only", "-q", "--ezhd-requirements-out", "out.json")
    assert result.ret == pytest.ExitCode.OK
    assert json.loads((pytester.path / "out.json").read_text(encoding="utf-8")) == {
        "tests": {
            "test_map.py::TestSignIn::test_state": ["AUTH-03", "AUTH-01", "LOG-01"],
            "test_map.py::test_each[1]": ["LOG-01"],
            "test_map.py::test_each[2]": ["LOG-01"],
            "test_plain.py::test_unmarked": [],
        },
        "surfaces": {},
    }


def test_requirements_out_is_written_when_nothing_is_collected(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--collect-only", "--ezhd-requirements-out=out.json")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert json.loads((pytester.path / "out.json").read_text(encoding="utf-8")) == {"tests": {}, "surfaces": {}}


# --- the surface marker ------------------------------------------------------------------


def test_surface_marks_reach_the_map_per_parameter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_log="""
        import pytest

        @pytest.mark.requirement("LOG-01")
        @pytest.mark.parametrize("kind", [
            pytest.param("in", marks=pytest.mark.surface(event_kind="sign_in_success")),
            pytest.param("out", marks=pytest.mark.surface(event_kind=["sign_in_failure", "consent"])),
        ])
        def test_logged(kind):
            pass
        """
    )
    result = run(pytester, "--collect-only", "-q", "--strict-markers", "--ezhd-requirements-out", "out.json")
    assert result.ret == pytest.ExitCode.OK
    assert json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))["surfaces"] == {
        "test_log.py::test_logged[in]": {"event_kind": ["sign_in_success"]},
        "test_log.py::test_logged[out]": {"event_kind": ["sign_in_failure", "consent"]},
    }


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('event_kind="sign_in_sucess"', "surface event_kind='sign_in_sucess' is not part of its requirements' surface"),
        ('actor="parent"', "surface dimension 'actor' is not part of its requirements' surface (their dimensions: event_kind)"),
    ],
    ids=["misspelt-value", "foreign-dimension"],
)
def test_a_surface_mark_outside_the_requirements_surface_fails_collection(
        pytester: pytest.Pytester, marker: str, problem: str) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.requirement("LOG-01")
        @pytest.mark.surface({marker})
        def test_a():
            pass
        """
    )
    result = run(pytester, "--collect-only", "--ezhd-requirements-out=out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"test_bad.py::test_a: {problem}" in result.stderr.str()
    assert not (pytester.path / "out.json").exists()
