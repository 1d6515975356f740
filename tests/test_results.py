"""The canonical results (`conformance/results.py`) and the JUnit XML rendered from them."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conformance.cli.requirements_cmd import pytest_plugin_args
from conformance.junit import write_junit
from conformance.results import TestRecord, build_results, load_results, validate_results
from conformance.verdicts import Outcome
from specs.requirements import load_requirements

pytest_plugins = ["pytester"]

INNER = """
\"\"\"Sign-in checks of the inner suite.

Second paragraph, not part of a description.\"\"\"
import pytest
from hypothesis import given, settings, strategies as st

from conformance.verdicts import EnvironmentProblem


@pytest.fixture
def broken_mock():
    raise ConnectionError("mock down")


@pytest.mark.requirement("AUTH-01")
def test_pass():
    pass


@pytest.mark.requirement("AUTH-02")
def test_must_fails():
    \"\"\"The journal checks `state`
    on return.

    Details nobody needs in a report.\"\"\"
    assert 1 == 2, "state not checked"


@pytest.mark.requirement("AUTH-10")
def test_should_fails():
    assert False, "no logout link"


@pytest.mark.requirement("AUTH-03")
def test_environment_problem():
    raise EnvironmentProblem("ЕСИА mock not reachable")


@pytest.mark.requirement("AUTH-04")
def test_setup_error(broken_mock):
    pass


@pytest.mark.requirement("AUTH-05")
def test_skipped():
    pytest.skip("needs a second school")


@pytest.mark.requirement("CONT-01")
def test_optional_feature():
    pass


@pytest.mark.requirement("AUTH-06", "AUTH-10")
def test_with_evidence(record_property):
    record_property("ezhd_evidence", "transcripts/auth-06.jsonl")


@pytest.mark.requirement("AUTH-07")
@pytest.mark.parametrize("n", [1, 2])
def test_half_fails(n):
    assert n == 1


@pytest.mark.requirement("AUTH-08")
@settings(database=None)
@given(st.integers(min_value=0, max_value=10))
def test_property(x):
    assert x < 3


@pytest.mark.requirement("AUTH-09")
def test_tester_bug():
    {}["missing"]


def test_unmarked():
    pass
"""


@pytest.fixture
def run_inner(pytester: pytest.Pytester):
    def run(*args: str) -> pytest.RunResult:
        pytester.makepyfile(test_inner=INNER)
        # a process of its own: what other tests of this session imported (Schemathesis hooks
        # Hypothesis's reporting) must not change how the inner run reports a falsifying example
        return pytester.runpytest_subprocess(*pytest_plugin_args(), "-p", "no:randomly", *args)

    return run


def by_id(results: dict) -> dict:
    return {r["id"]: r for r in results["requirements"]}


def test_results_json_has_a_verdict_per_requirement(pytester: pytest.Pytester, run_inner) -> None:
    (pytester.path / "out").mkdir()
    result = run_inner("--ezhd-results=out/results.json", "--hypothesis-seed=7")
    result.assert_outcomes(passed=5, failed=6, errors=1, skipped=1)
    results = load_results(pytester.path / "out" / "results.json")  # validates against the schema
    reqs = by_id(results)
    catalogue = load_requirements()
    assert [r["id"] for r in results["requirements"]] == list(catalogue.ids)

    verdicts = {rid: reqs[rid]["verdict"] for rid in
                ["AUTH-01", "AUTH-02", "AUTH-10", "AUTH-03", "AUTH-04", "AUTH-05", "CONT-01",
                 "AUTH-06", "AUTH-07", "AUTH-08", "AUTH-09", "AUTH-11"]}
    assert verdicts == {
        "AUTH-01": "PASS", "AUTH-02": "FAIL", "AUTH-10": "WARN", "AUTH-03": "ERROR",
        "AUTH-04": "ERROR", "AUTH-05": "SKIPPED", "CONT-01": "NOT_APPLICABLE", "AUTH-06": "PASS",
        "AUTH-07": "FAIL", "AUTH-08": "FAIL", "AUTH-09": "ERROR", "AUTH-11": "NOT_TESTED",
    }
    assert [t["verdict"] for t in reqs["AUTH-10"]["tests"]] == ["WARN", "PASS"]
    assert [t["verdict"] for t in reqs["AUTH-07"]["tests"]] == ["PASS", "FAIL"]
    assert all("test_unmarked" not in t["nodeid"] for r in results["requirements"] for t in r["tests"])

    (must_fail,) = reqs["AUTH-02"]["tests"]
    assert must_fail["nodeid"] == "test_inner.py::test_must_fails"
    assert "state not checked" in must_fail["message"] and "cause" not in must_fail
    assert reqs["AUTH-03"]["tests"][0]["cause"] == "EnvironmentProblem: ЕСИА mock not reachable"
    assert reqs["AUTH-04"]["tests"][0]["cause"] == "setup: ConnectionError: mock down"
    assert reqs["AUTH-09"]["tests"][0]["cause"].startswith("KeyError")
    assert reqs["AUTH-05"]["tests"][0]["message"] == "needs a second school"
    assert "paid_content" in reqs["CONT-01"]["tests"][0]["message"]
    assert reqs["AUTH-06"]["tests"][0]["evidence"] == ["transcripts/auth-06.jsonl"]
    hypothesis = reqs["AUTH-08"]["tests"][0]["hypothesis"]
    assert hypothesis["seed"] == 7 and "x=3" in hypothesis["example"]

    summary = results["summary"]
    assert summary["requirements"] == len(catalogue)
    assert sum(summary["verdicts"].values()) == len(catalogue)
    assert summary["verdicts"]["FAIL"] == 3 and summary["verdicts"]["ERROR"] == 3
    assert summary["verdicts"]["NOT_TESTED"] == len(catalogue) - 11
    assert summary["base_level"]["result"] == "fail"
    blocking = summary["base_level"]["blocking"]
    assert {"AUTH-02", "AUTH-03", "AUTH-04", "AUTH-05", "AUTH-11"} <= set(blocking)
    assert not {"AUTH-01", "AUTH-10", "CONT-01"} & set(blocking)
    run = results["run"]
    assert run["tool"]["name"] == "ezhd-conformance" and run["pytest_exit_status"] == 1
    assert run["started"] <= run["finished"]
    assert "base level: fail" in result.stdout.str()
    # what each test checks: its docstring's first paragraph, else its module's; when it started
    assert reqs["AUTH-02"]["tests"][0]["description"] == "The journal checks `state` on return."
    assert reqs["AUTH-01"]["tests"][0]["description"] == "Sign-in checks of the inner suite."
    starts = [reqs[rid]["tests"][0]["start_s"] for rid in ("AUTH-01", "AUTH-02", "AUTH-10")]
    assert starts == sorted(starts) and starts[0] >= 0
    assert len(run["specs"]["sha256"]) == 64


def test_junit_from_results(pytester: pytest.Pytester, run_inner) -> None:
    run_inner("--ezhd-results=results.json")
    results = load_results(pytester.path / "results.json")
    write_junit(results, pytester.path / "junit.xml")
    root = ET.parse(pytester.path / "junit.xml").getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    # AUTH-02, AUTH-07[2], AUTH-08, and the base-level sign-off case
    assert len(failures) == 4 == int(suite.get("failures")) == int(root.get("failures"))
    assert len(errors) == 3 == int(suite.get("errors"))
    assert int(suite.get("tests")) == len(cases)
    env = next(c for c in errors if c.get("classname") == "AUTH-03")
    assert env.find("error").get("message") == "EnvironmentProblem: ЕСИА mock not reachable"
    base = next(c for c in cases if c.get("name") == "base-level sign-off")
    assert "AUTH-02" in base.find("failure").get("message")
    untested = next(c for c in cases if c.get("classname") == "AUTH-11")
    assert untested.find("skipped").get("type") == "NOT_TESTED"


def test_no_results_without_the_option(pytester: pytest.Pytester, run_inner) -> None:
    run_inner()
    assert not list(pytester.path.glob("*.json"))


def test_all_pass_signs_off_base_level(pytester: pytest.Pytester) -> None:
    catalogue = load_requirements()
    records = [
        TestRecord(f"t.py::test_{r.id}", [r.id], Outcome.PASSED) for r in catalogue if r.strength == "MUST"
    ]
    run = {
        "tool": {"name": "ezhd-conformance", "version": "0"}, "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T00:00:01Z", "seed": None, "sut": {"base_url": "http://x"},
        "mocks": {"esia": "http://127.0.0.1:1"}, "declared_features": ["paid_content"],
        "python": "3.11", "platform": "linux", "pytest_exit_status": 0,
    }
    records.append(TestRecord("t.py::test_cont", ["CONT-01"], Outcome.FAILED))
    results = build_results(catalogue, records, run=run, declared_features=["paid_content"])
    validate_results(results)
    assert results["summary"]["base_level"] == {"result": "pass", "blocking": []}
    assert by_id(results)["CONT-01"]["verdict"] == "WARN"  # declared, so applicable
    broken = json.loads(json.dumps(results))
    broken["requirements"][0]["tests"][0]["verdict"] = "ERROR"  # ERROR without its cause
    with pytest.raises(ValueError, match="cause"):
        validate_results(broken)


def test_surface_coverage_counts_only_tests_that_ran() -> None:
    catalogue = load_requirements()
    records = [
        TestRecord("t.py::ok", ["LOG-01"], Outcome.PASSED, surface={"event_kind": ["consent"]}),
        TestRecord("t.py::bad", ["LOG-01"], Outcome.FAILED, message="no record", surface={"event_kind": ["upload"]}),
        TestRecord("t.py::skip", ["LOG-01"], Outcome.SKIPPED, message="no driver",
                   surface={"event_kind": ["role_change"]}),
        TestRecord("t.py::broken", ["LOG-01"], Outcome.ERROR, message="mock down", cause="ConnectionError",
                   surface={"event_kind": ["link"]}),
    ]
    run = {"tool": {"name": "ezhd-conformance", "version": "x"}, "started": "2026-01-01T00:00:00Z",
           "finished": "2026-01-01T00:00:01Z", "seed": 1, "sut": None, "mocks": {}, "declared_features": [],
           "python": "3.11", "platform": "x", "pytest_exit_status": 1}
    results = build_results(catalogue, records, run=run)
    validate_results(results)
    log01 = by_id(results)["LOG-01"]
    kinds = log01["surface"]["event_kind"]
    assert kinds["covered"] == ["consent", "upload"]  # a failed check still exercised its part
    assert kinds["skipped"] == ["link", "role_change"]  # dimension order, not test order
    assert "sign_in_success" in kinds["missing"] and "consent" not in kinds["missing"]
    assert by_id(results)["LOG-01"]["tests"][0]["surface"] == {"event_kind": ["consent"]}


def test_paths_in_results_are_relative_to_the_run_directory(tmp_path) -> None:
    """results.json names no absolute path of the machine: evidence and SUT files under the run
    directory relative to it, a SUT file elsewhere by its name only."""
    from conformance.results import write_results

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    evidence = run_dir / "transcripts" / "a.jsonl"
    record = TestRecord("conformance/auth/test_a.py::test_a", ["AUTH-01"], Outcome.PASSED, evidence=[str(evidence)])
    run = {"tool": {"name": "ezhd-conformance", "version": "0"}, "started": "2026-01-01T00:00:00Z",
           "finished": "2026-01-01T00:00:01Z", "seed": 1, "mocks": {}, "declared_features": [],
           "python": "3", "platform": "p", "pytest_exit_status": 0,
           "sut": {"source": str(tmp_path / "vendor" / "sut.toml"), "journal": {"base_url": "http://127.0.0.1:1"},
                   "esia": {"certificate": str(run_dir / "keys" / "c.pem")}}}
    write_results(build_results(load_requirements(), [record], run=run), run_dir / "results.json")
    text = (run_dir / "results.json").read_text(encoding="utf-8")
    assert str(tmp_path) not in text
    results = load_results(run_dir / "results.json")
    assert results["requirements"][0]["tests"][0]["evidence"] == ["transcripts/a.jsonl"]
    assert results["run"]["sut"]["source"] == "sut.toml"
    assert results["run"]["sut"]["esia"]["certificate"] == "keys/c.pem"
    assert results["run"]["sut"]["journal"]["base_url"] == "http://127.0.0.1:1"


def test_a_parts_raw_records_name_evidence_relative_to_their_directory(tmp_path):
    """records.json of a `-j` part names no absolute path; read back from a moved part, its
    evidence points into the new place."""
    import shutil

    from conformance.results import dump_records, load_records

    part = tmp_path / "run" / "parts" / "0"
    part.mkdir(parents=True)
    record = TestRecord("conformance/auth/test_x.py::test_y", ["AUTH-03"], Outcome.FAILED, 0.5, "boom",
                        evidence=[str(part / "transcripts" / "t.jsonl")])
    dump_records([record], part / "records.json")
    assert str(tmp_path) not in (part / "records.json").read_text()
    shutil.move(str(tmp_path / "run"), tmp_path / "moved")
    (back,) = load_records(tmp_path / "moved" / "parts" / "0" / "records.json")
    assert back.evidence == [str(tmp_path / "moved" / "parts" / "0" / "transcripts" / "t.jsonl")]
    assert (back.nodeid, back.outcome, back.message) == (record.nodeid, Outcome.FAILED, "boom")


def _written_results(tmp_path):
    from conformance.results import write_results

    record = TestRecord("conformance/auth/test_a.py::test_a", ["AUTH-01"], Outcome.PASSED)
    run = {"tool": {"name": "ezhd-conformance", "version": "0"}, "started": "2026-01-01T00:00:00Z",
           "finished": "2026-01-01T00:00:01Z", "seed": 1, "mocks": {}, "declared_features": [],
           "python": "3", "platform": "p", "pytest_exit_status": 0,
           "sut": {"journal": {"base_url": "http://127.0.0.1:1"}}}
    path = tmp_path / "results.json"
    write_results(build_results(load_requirements(), [record], run=run), path)
    return path


def test_a_results_file_changed_after_it_was_written_is_checked_again(tmp_path) -> None:
    """Reading back the file this process wrote skips a second schema check, but an edited
    file (an invalid verdict put in by hand) is refused, naming what is wrong."""
    path = _written_results(tmp_path)
    assert load_results(path)["requirements"][0]["verdict"] == "PASS"
    edited = json.loads(path.read_text(encoding="utf-8"))
    edited["requirements"][0]["verdict"] = "PASSED-ISH"
    path.write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(ValueError, match="verdict"):
        load_results(path)


def test_a_results_file_written_by_this_process_is_not_checked_twice(tmp_path, monkeypatch) -> None:
    import conformance.results as results_module

    path = _written_results(tmp_path)
    checked: list[object] = []
    monkeypatch.setattr(results_module, "validate_results", checked.append)
    load_results(path)
    assert checked == []
    path.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")   # any change: checked
    load_results(path)
    assert len(checked) == 1
