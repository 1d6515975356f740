"""The verdict model: what a test outcome means for a requirement, and for base-level sign-off.

Pure functions over plain values; no pytest here (`conformance/results.py` feeds them).

Verdicts, worst first (`Verdict.rank`; a requirement's verdict is the worst of its tests):

====================  ==========================================================================
``FAIL``              a check on the system under test failed on a MUST: the SUT is proven wrong
``ERROR``             the tester or the environment failed (an `EnvironmentProblem`, a fixture
                      error, a bug in the test): nothing is proven about the SUT
``NOT_TESTED``        requirement level only: no test verifies the requirement in this run
``WARN``              a check failed on a SHOULD
``SKIPPED``           the test was skipped: nothing is proven
``NOT_APPLICABLE``    the requirement needs an optional feature the SUT did not declare
``PASS``              every check held
====================  ==========================================================================

FAIL ranks above ERROR: a proven violation stays true whatever a rerun of the broken test
shows, so it is the stable answer for the requirement (the ERROR stays on its test, with its
cause). NOT_APPLICABLE ranks above PASS, so it never reads as a pass: a requirement with one
applicable passing test and one not applicable test is NOT_APPLICABLE, not PASS.

Base-level sign-off (`base_level_result`): the run passes when every MUST requirement of level
``base`` is PASS or NOT_APPLICABLE. That is the rule "no FAIL or ERROR on a MUST" made strict
about evidence: a base MUST that is NOT_TESTED or SKIPPED was not verified, so it also blocks,
and an untested MUST never looks like a pass. SHOULD requirements never block (WARN passes).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "EnvironmentProblem", "Outcome", "Verdict", "BaseLevel", "test_verdict", "requirement_verdict",
    "base_level_result", "worst", "MUST", "SHOULD", "BASE",
]

MUST = "MUST"
SHOULD = "SHOULD"
BASE = "base"


class EnvironmentProblem(Exception):
    """Raised by the suite when the tester or the environment, not the SUT, is at fault: a mock
    not reachable, the SUT's test-control endpoint not listening, a dataset that cannot be
    seeded. A test ending in it gets ERROR with this exception's message as the cause."""


class Outcome(str, enum.Enum):
    """How one test ended, across its setup, call and teardown phases."""

    PASSED = "passed"    # every phase passed
    FAILED = "failed"    # a check on the SUT failed: an assertion or pytest.fail() in the call
    ERROR = "error"      # an EnvironmentProblem anywhere, any other exception, a setup/teardown error
    SKIPPED = "skipped"  # skipped (or xfailed)


class Verdict(str, enum.Enum):
    """A verdict on one test or one requirement; `rank` orders them, higher is worse."""

    PASS = "PASS"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    SKIPPED = "SKIPPED"
    WARN = "WARN"
    NOT_TESTED = "NOT_TESTED"
    ERROR = "ERROR"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {verdict: index for index, verdict in enumerate(Verdict)}  # declaration order = rank

#: verdicts a single test can get (NOT_TESTED is for a requirement without tests)
TEST_VERDICTS = tuple(v for v in Verdict if v is not Verdict.NOT_TESTED)
#: verdicts of a base MUST that allow sign-off
SIGN_OFF = frozenset({Verdict.PASS, Verdict.NOT_APPLICABLE})


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The worst of `verdicts`, None when there are none."""
    return max(verdicts, key=_RANK.__getitem__, default=None)


def test_verdict(outcome: Outcome | str, strength: str, applicable: bool) -> Verdict:
    """The verdict of one test for one requirement of `strength` (MUST or SHOULD).

    Not applicable (the requirement's feature is not declared) wins over any outcome: the
    requirement does not apply, whatever the test did. A failed check is FAIL on a MUST and
    WARN on a SHOULD; an error is ERROR on either.
    """
    outcome = Outcome(outcome)
    if strength not in (MUST, SHOULD):
        raise ValueError(f"unknown requirement strength {strength!r}")
    if not applicable:
        return Verdict.NOT_APPLICABLE
    if outcome is Outcome.FAILED:
        return Verdict.FAIL if strength == MUST else Verdict.WARN
    return {
        Outcome.PASSED: Verdict.PASS,
        Outcome.ERROR: Verdict.ERROR,
        Outcome.SKIPPED: Verdict.SKIPPED,
    }[outcome]


def requirement_verdict(test_verdicts: Iterable[Verdict | str]) -> Verdict:
    """A requirement's verdict: the worst of its tests' verdicts, NOT_TESTED when it has none."""
    found = worst(Verdict(v) for v in test_verdicts)
    if found is Verdict.NOT_TESTED:
        raise ValueError("NOT_TESTED is not a test verdict")
    return Verdict.NOT_TESTED if found is None else found


@dataclass(frozen=True)
class BaseLevel:
    """The base-level sign-off: passed, and the base MUST requirements that block it."""

    passed: bool
    blocking: tuple[str, ...]

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"


def base_level_result(requirements: Iterable[tuple[str, str, str, Verdict | str]]) -> BaseLevel:
    """Sign-off over ``(id, strength, level, verdict)`` tuples: pass iff every MUST of level
    ``base`` is PASS or NOT_APPLICABLE (see the module doc for why NOT_TESTED and SKIPPED block)."""
    blocking = tuple(
        rid
        for rid, strength, level, verdict in requirements
        if strength == MUST and level == BASE and Verdict(verdict) not in SIGN_OFF
    )
    return BaseLevel(passed=not blocking, blocking=blocking)


test_verdict.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name
