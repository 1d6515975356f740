"""What `ezhd certify` prints: one summary worded alike with and without --only; failures as
the failed check and the exchange that decided it, without pytest's reprs of fixtures."""
from __future__ import annotations

import pytest

from conformance.report.console import summary_lines
from conformance.results import load_results
from report_helpers import FAILING, make_run

pytest_plugins = ["pytester"]


def test_summary_is_worded_the_same_with_and_without_only(tmp_path) -> None:
    run = make_run(tmp_path / "run", ("AUTH-02",))
    results = load_results(run / "results.json")
    whole, whole_passed = summary_lines(results, (), run)
    scoped, scoped_passed = summary_lines(results, ("AUTH-01", "AUTH-03"), run)
    assert not whole_passed and scoped_passed     # AUTH-02 fails; the selection passes
    shape = lambda lines: [line.split(":")[0].split(" (")[0] for line in lines if not line.startswith(("AUTH", "ROLE",
                                                                                                    "EXP", "API"))]
    assert shape(whole) == shape(scoped)          # the same lines, in the same words
    assert "base level of the requirements run (AUTH-01, AUTH-03): pass" in scoped
    assert any(line.startswith("base level of the requirements run (all ") and line.endswith("fail; blocking: AUTH-02")
               for line in whole)
    assert "base level of the whole catalogue: fail; 1 base MUST not passed" in whole + scoped
    assert f"written to {run}: results.json" in whole


INNER = '''
import pytest
from dataclasses import dataclass, field

from conformance import evidence


@dataclass
class Landing:
    response: str = "<Response [200 OK]>"
    cookies: list = field(default_factory=lambda: ["sid"] * 50)

    @property
    def signed_in(self):
        return True


@pytest.fixture
def transcript():
    t = evidence.start("inner")
    t.add({"from": "browser", "to": "journal", "setup": False, "method": "GET", "url": "http://j/cb?code=[REDACTED]",
           "status": 303})
    t.add({"from": "suite", "to": "esia-admin", "setup": True, "method": "DELETE", "url": "http://e/_admin/faults",
           "status": 204})
    yield t
    evidence.stop()


def test_bad_token(transcript):
    landing = Landing()
    assert not landing.signed_in, "an alg_none token gave a journal session"
'''


def test_a_failure_is_the_check_and_the_deciding_exchange(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_concise_inner=INNER)
    pytester.makeconftest("from conformance.report.console import ConciseFailures\n\n"
                          "def pytest_configure(config):\n"
                          "    config.pluginmanager.register(ConciseFailures())\n")
    # in a subprocess: an in-process run would leave its modules to the next pytester test
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    out = result.stdout.str()
    result.assert_outcomes(failed=1)
    assert "at test_concise_inner.py:30 (call)" in out
    assert "FAILED test_concise_inner.py::test_bad_token - AssertionError: an alg_none" in out
    assert "AssertionError: an alg_none token gave a journal session\n" in out
    assert "deciding exchange: browser → journal: GET http://j/cb?code=[REDACTED] → 303" in out
    assert "where" not in out and "Landing(" not in out and "sid" not in out   # no reprs
