"""The journal driver contract (conformance/driver.py): which class a run names, what a driver
that lacks an operation says, and how a conformance test that meets such a gap ends."""
from __future__ import annotations

import textwrap

import pytest

from conformance.driver import JournalDriver, ReferenceDriver, UserSession, load_driver
from conformance.verdicts import EnvironmentProblem

pytest_plugins = ["pytester"]

RUN = {"journal": {"base_url": "http://127.0.0.1:9"}}


class PartialDriver(JournalDriver):
    """A vendor driver that only signs in."""


def test_no_driver_named_means_none():
    assert load_driver(RUN) is None
    assert load_driver({**RUN, "driver": {"class": None}}) is None


def test_the_named_class_is_loaded():
    driver = load_driver({**RUN, "driver": {"class": "conformance.driver:ReferenceDriver"}})
    try:
        assert isinstance(driver, ReferenceDriver)
    finally:
        driver.close()
    assert isinstance(load_driver({**RUN, "driver": {"class": f"{__name__}:PartialDriver"}}), PartialDriver)


@pytest.mark.parametrize("spec, fragment", [
    ("no_such_module_xyz:Driver", "cannot load the journal driver"),
    ("conformance.driver:NoSuchClass", "cannot load the journal driver"),
    ("conformance.driver:Answer", "is not a conformance.driver.JournalDriver"),
])
def test_a_bad_driver_class_is_an_environment_problem(spec, fragment):
    with pytest.raises(EnvironmentProblem, match=fragment):
        load_driver({**RUN, "driver": {"class": spec}})


def test_a_missing_operation_names_itself():
    with pytest.raises(NotImplementedError, match="add_achievement"):
        UserSession().add_achievement("L1", title="x")
    with pytest.raises(NotImplementedError, match="browser_sign_in"):
        PartialDriver(RUN).browser_sign_in(None, "login", "password")


def test_a_test_meeting_a_driver_gap_is_skipped_with_the_operation_named(pytester):
    """The conformance conftest turns NotImplementedError into a skip saying which operation;
    the same hook is loaded here from the package's conftest."""
    pytester.makeconftest("from conformance.conftest import pytest_runtest_call  # noqa: F401\n")
    pytester.makepyfile(textwrap.dedent("""
        from conformance.driver import UserSession

        def test_uses_a_missing_operation():
            UserSession().audit_events("2026-01-01", "2026-01-02")

        def test_fails_for_real():
            assert False, "a real failure stays a failure"
    """))
    result = pytester.runpytest("-rs", "-p", "no:schemathesis")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*the journal driver does not implement audit_events*"])
