"""The verdict model (`conformance/verdicts.py`): outcome to verdict, worst-of, sign-off."""
from __future__ import annotations

import pytest

from conformance.verdicts import (
    Outcome, Verdict, base_level_result, requirement_verdict, test_verdict, worst,
)

V = Verdict


@pytest.mark.parametrize(
    ("outcome", "strength", "applicable", "expected"),
    [
        (Outcome.PASSED, "MUST", True, V.PASS),
        (Outcome.PASSED, "SHOULD", True, V.PASS),
        (Outcome.FAILED, "MUST", True, V.FAIL),
        (Outcome.FAILED, "SHOULD", True, V.WARN),
        (Outcome.ERROR, "MUST", True, V.ERROR),
        (Outcome.ERROR, "SHOULD", True, V.ERROR),
        (Outcome.SKIPPED, "MUST", True, V.SKIPPED),
        (Outcome.SKIPPED, "SHOULD", True, V.SKIPPED),
        (Outcome.PASSED, "MUST", False, V.NOT_APPLICABLE),
        (Outcome.FAILED, "MUST", False, V.NOT_APPLICABLE),
        (Outcome.ERROR, "SHOULD", False, V.NOT_APPLICABLE),
        ("failed", "MUST", True, V.FAIL),
    ],
)
def test_outcome_maps_to_verdict(outcome, strength, applicable, expected) -> None:
    assert test_verdict(outcome, strength, applicable) is expected


def test_unknown_strength_or_outcome_is_rejected() -> None:
    with pytest.raises(ValueError):
        test_verdict(Outcome.PASSED, "MAY", True)
    with pytest.raises(ValueError):
        test_verdict("exploded", "MUST", True)


def test_severity_order_worst_first() -> None:
    order = sorted(Verdict, key=lambda v: v.rank, reverse=True)
    assert order == [V.FAIL, V.ERROR, V.NOT_TESTED, V.WARN, V.SKIPPED, V.NOT_APPLICABLE, V.PASS]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([V.PASS, V.PASS], V.PASS),
        ([V.PASS, V.WARN], V.WARN),
        ([V.PASS, V.NOT_APPLICABLE], V.NOT_APPLICABLE),  # NOT_APPLICABLE never reads as PASS
        ([V.NOT_APPLICABLE, V.SKIPPED], V.SKIPPED),
        ([V.WARN, V.SKIPPED, V.PASS], V.WARN),
        ([V.PASS, V.ERROR, V.WARN], V.ERROR),
        ([V.ERROR, V.FAIL, V.PASS], V.FAIL),
        (["PASS", "FAIL"], V.FAIL),
        ([], V.NOT_TESTED),
    ],
)
def test_requirement_verdict_is_the_worst(verdicts, expected) -> None:
    assert requirement_verdict(verdicts) is expected


def test_not_tested_is_not_a_test_verdict() -> None:
    with pytest.raises(ValueError):
        requirement_verdict([V.PASS, V.NOT_TESTED])
    assert worst([]) is None


@pytest.mark.parametrize(
    ("requirements", "passed", "blocking"),
    [
        ([("A-01", "MUST", "base", V.PASS), ("A-02", "SHOULD", "base", V.WARN)], True, ()),
        ([("A-01", "MUST", "base", V.PASS), ("A-02", "SHOULD", "base", V.ERROR)], True, ()),
        ([("A-01", "MUST", "base", V.NOT_APPLICABLE)], True, ()),
        ([("A-01", "MUST", "base", V.ERROR), ("A-02", "MUST", "base", V.PASS)], False, ("A-01",)),
        ([("A-01", "MUST", "base", V.FAIL)], False, ("A-01",)),
        ([("A-01", "MUST", "base", V.NOT_TESTED)], False, ("A-01",)),  # untested is not a pass
        ([("A-01", "MUST", "base", V.SKIPPED)], False, ("A-01",)),
        ([("A-01", "MUST", "extended", V.FAIL)], True, ()),  # not the base level
        ([("A-01", "MUST", "base", "FAIL"), ("A-02", "MUST", "base", "ERROR")], False, ("A-01", "A-02")),
        ([], True, ()),
    ],
)
def test_base_level_sign_off(requirements, passed, blocking) -> None:
    result = base_level_result(requirements)
    assert (result.passed, result.blocking) == (passed, blocking)
    assert result.result == ("pass" if passed else "fail")
