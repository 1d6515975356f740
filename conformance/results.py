"""The canonical results of a run: collected from pytest, written as `results.json`.

`ResultsCollector` is a pytest plugin object that only uses hooks; `conformance/plugin.py`
registers it when ``--ezhd-results FILE`` is given. Per test it records how the test ended
across setup, call and teardown (`Outcome`), then, at session finish, turns every
requirement-test pair into a verdict (`conformance/verdicts.py`) and writes the results dict,
checked against `specs/schemas/results.schema.json`. Report writers (`conformance/junit.py`,
later HTML and the certification package) read only that dict, never pytest.

How a test ends:
- an assertion or ``pytest.fail()`` in the call is a failed check on the SUT (FAIL on a MUST,
  WARN on a SHOULD);
- `EnvironmentProblem`, any other exception, and any error in setup or teardown is ERROR:
  the tester or the environment broke, and the exception is kept as the cause;
- a skip (or an xfail) is SKIPPED; a test of a requirement whose optional feature the SUT did
  not declare is NOT_APPLICABLE whatever it did.
Tests attach exchange transcripts with ``record_property("ezhd_evidence", path)``.
Runs under pytest-xdist are not supported (the exception type is read in-process); `ezhd certify
-j N` runs separate sessions instead and merges their `dump_records` files with `build_results`.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import jsonschema
import pytest

import conformance
from conformance.verdicts import (
    EnvironmentProblem, Outcome, Verdict, base_level_result, requirement_verdict, test_verdict,
)
from specs import SCHEMAS_DIR, SPECS_DIR
from conformance.plugin import surface_parts
from specs.requirements import Catalogue, load_requirements
from specs.surfaces import coverage as surface_coverage
from specs.surfaces import load_surfaces

__all__ = [
    "FORMAT", "EVIDENCE_PROPERTY", "RESULTS_SCHEMA_FILE", "ResultsCollector", "TestRecord",
    "build_results", "validate_results", "write_results", "load_results", "dump_records", "load_records",
]

FORMAT = "ezhd-results/1"
OPERATOR_ENV = "EZHD_OPERATOR"   # who ran the suite, recorded as run.operator when set
EVIDENCE_PROPERTY = "ezhd_evidence"
RESULTS_SCHEMA_FILE = SCHEMAS_DIR / "results.schema.json"

# a test's outcome over its phases: the worst phase wins, a failed check over an error (as FAIL
# over ERROR in conformance/verdicts.py)
_OUTCOME_RANK = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.ERROR: 2, Outcome.FAILED: 3}
# a test with one of these verdicts exercised the surface parts it declares; a skipped, not
# applicable or broken (ERROR) one did not
_EXERCISED = {Verdict.PASS.value, Verdict.WARN.value, Verdict.FAIL.value}
# the note Hypothesis adds to the exception of a failing example (wording of old and new versions)
_EXAMPLE_NOTE = re.compile(r"^(?:Falsifying example|Failing test case): ")


@dataclass
class TestRecord:
    """One test as run: its requirement IDs and how it ended over all its phases."""

    __test__ = False  # not a test class, whatever its name

    nodeid: str
    requirement_ids: list[str]
    outcome: Outcome = Outcome.PASSED
    duration_s: float = 0.0
    message: str | None = None
    cause: str | None = None
    evidence: list[str] = field(default_factory=list)
    hypothesis: dict[str, Any] | None = None
    surface: dict[str, list[str]] = field(default_factory=dict)
    description: str | None = None
    start_s: float | None = None   # when the test started, seconds after the session started

    def add_phase(self, outcome: Outcome, message: str | None, cause: str | None) -> None:
        if _OUTCOME_RANK[outcome] > _OUTCOME_RANK[self.outcome]:
            self.outcome, self.message, self.cause = outcome, message, cause


class ResultsCollector:
    """pytest plugin object: records every test that carries a requirement marker and writes
    `results.json` to `path` at session finish.

    `requirement_ids(item)` reads an item's requirement IDs (the plugin's marker contract);
    `declared_features`, `sut` (redacted declaration), `mocks` (name -> URL) and `seed`
    describe the run and are set by whoever starts it (`ezhd certify`).
    """

    def __init__(
        self,
        path: Path,
        requirement_ids: Callable[[pytest.Item], list[str]],
        *,
        catalogue: Catalogue | None = None,
        declared_features: Iterable[str] = (),
        sut: Mapping[str, Any] | None = None,
        mocks: Mapping[str, str] | None = None,
        seed: int | str | None = None,
        run_extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_extra = dict(run_extra or {})   # e.g. the product, the setup problems
        self._requirement_ids = requirement_ids
        self.catalogue = catalogue
        self.declared_features = list(dict.fromkeys(declared_features))
        self.sut = dict(sut) if sut is not None else None
        self.mocks = dict(mocks or {})
        self.seed = seed
        self.records: dict[str, TestRecord] = {}
        self.results: dict[str, Any] | None = None
        self._started = _utc_now()
        self._phase: dict[tuple[str, str], tuple[Outcome, str | None, str | None]] = {}
        self._clock = time.monotonic()
        self._starts: dict[str, float] = {}
        self.summary = True   # print the terminal summary (`ezhd certify` prints its own)

    # -- hooks -----------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.seed is None:  # else the run's seed, from `ezhd certify`
            seed = config.getoption("hypothesis_seed", None)  # a string, as typed
            self.seed = int(seed) if isinstance(seed, str) and seed.isdigit() else seed

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._started = _utc_now()
        self._clock = time.monotonic()

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._starts.setdefault(nodeid, round(time.monotonic() - self._clock, 3))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        report = yield
        ids = self._requirement_ids(item)
        if not ids:
            return report
        record = self.records.setdefault(
            item.nodeid,
            TestRecord(item.nodeid, ids, surface={d: list(v) for d, v in surface_parts(item).items()},
                       description=test_description(item), start_s=self._starts.get(item.nodeid)),
        )
        if call.when == "call" and getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            record.hypothesis = {"seed": self.seed, "example": None}
        if report.failed:
            self._phase[(item.nodeid, call.when)] = _classify(call, report)
            if record.hypothesis is not None and call.excinfo is not None:
                example = _hypothesis_example(call.excinfo.value)
                if example is not None:
                    record.hypothesis["example"] = example
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            return  # a test without a requirement marker: not part of the results
        record.duration_s += max(report.duration, 0.0)
        for name, value in report.user_properties:
            if name == EVIDENCE_PROPERTY and str(value) not in record.evidence:
                record.evidence.append(str(value))
        if report.skipped:
            record.add_phase(Outcome.SKIPPED, _skip_reason(report), None)
        elif report.failed:
            outcome, message, cause = self._phase.pop(
                (report.nodeid, report.when), (Outcome.ERROR, _crash_message(report), "unknown failure")
            )
            record.add_phase(outcome, message, cause)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        catalogue = self.catalogue or load_requirements()
        self.results = build_results(
            catalogue,
            self.records.values(),
            run=self._run_info(int(exitstatus)),
            declared_features=self.declared_features,
        )
        write_results(self.results, self.path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results is None or not self.summary:
            return
        base = self.results["summary"]["base_level"]
        counts = ", ".join(f"{n} {v}" for v, n in self.results["summary"]["verdicts"].items() if n)
        terminalreporter.write_sep("-", "ezhd results")
        terminalreporter.write_line(f"requirements: {counts}")
        terminalreporter.write_line(f"base level: {base['result']}")
        terminalreporter.write_line(f"results written to {self.path}")

    # -- helpers ---------------------------------------------------------------------------

    def _run_info(self, exitstatus: int) -> dict[str, Any]:
        tool = {"name": "ezhd-conformance", "version": conformance.__version__}
        commit = suite_commit()
        if commit:
            tool["commit"] = commit
        info = {
            "tool": tool,
            "specs": {"sha256": specs_digest()},
            "started": self._started,
            "finished": _utc_now(),
            "seed": self.seed,
            "sut": self.sut,
            "mocks": self.mocks,
            "declared_features": self.declared_features,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pytest_exit_status": exitstatus,
            **self.run_extra,
        }
        operator = os.environ.get(OPERATOR_ENV, "").strip()
        if operator:
            info["operator"] = operator
        return info


def build_results(
    catalogue: Catalogue,
    records: Iterable[TestRecord],
    *,
    run: Mapping[str, Any],
    declared_features: Iterable[str] = (),
) -> dict[str, Any]:
    """The results dict: every requirement of `catalogue` in file order with the verdict of
    each of its tests, the requirement's verdict, and the summary."""
    declared = set(declared_features)
    records = list(records)
    surfaces = load_surfaces()
    requirements = []
    for req in catalogue:
        applicable = req.feature is None or req.feature in declared
        tests = [
            _test_entry(record, req.strength, applicable, req.feature)
            for record in records
            if req.id in record.requirement_ids
        ]
        requirements.append({
            "id": req.id,
            "area": req.area,
            "strength": req.strength,
            "level": req.level,
            "feature": req.feature,
            "title": {"ru": req.title.ru, "en": req.title.en},
            "verdict": requirement_verdict(t["verdict"] for t in tests).value,
            "tests": tests,
        })
        surface = surfaces.of(req.id)
        if surface is not None:
            requirements[-1]["surface"] = surface_coverage(
                surface, [(t.get("surface", {}), t["verdict"] in _EXERCISED) for t in tests]
            )
    counts = {v.value: 0 for v in Verdict}
    for entry in requirements:
        counts[entry["verdict"]] += 1
    base = base_level_result((r["id"], r["strength"], r["level"], r["verdict"]) for r in requirements)
    return {
        "format": FORMAT,
        "run": dict(run),
        "requirements": requirements,
        "summary": {
            "requirements": len(requirements),
            "verdicts": counts,
            "base_level": {"result": base.result, "blocking": list(base.blocking)},
        },
    }


def validate_results(results: Any) -> None:
    """Raise ValueError naming the first problems when `results` does not match the schema."""
    errors = sorted(_validator().iter_errors(results), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        described = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or 'top level'}: {e.message}" for e in errors[:5])
        raise ValueError(f"results do not match {RESULTS_SCHEMA_FILE.name}: {described}")


# results files this process checked and wrote, with their (inode, size, mtime) as written: a
# run reads its results.json back twice (certify, the HTML report), and checking them against
# the schema again costs more than a tenth of a second each time; a changed file is checked
_WRITTEN: dict[str, tuple[int, int, int]] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def write_results(results: Mapping[str, Any], path: Path | str) -> None:
    """Check `results` against the schema, then write it as UTF-8 JSON, evidence paths under
    the file's directory made relative to it (a run directory can be moved or archived)."""
    path = Path(path).resolve()
    results = relative_paths(results, path.parent)
    validate_results(results)
    _WRITTEN.pop(str(path), None)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _WRITTEN[str(path)] = _stamp(path)


def relative_paths(results: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A copy of `results` whose absolute evidence paths and the file paths of the SUT
    declaration (its source, certificate, key) are relative to `base` (evidence outside `base`
    stays as it is; a SUT file outside it keeps its name only)."""
    out = json.loads(json.dumps(results))
    for req in out.get("requirements", ()):
        for test in req.get("tests", ()):
            test["evidence"] = [_relative(p, base, inside_only=True) for p in test.get("evidence", ())]
    run = out.get("run") or {}
    if isinstance(run.get("sut"), dict):
        run["sut"] = _relative_strings(run["sut"], base)
    return out


def _relative_strings(data: Any, base: Path) -> Any:
    """`data` with every absolute file path in it relative to `base` (outside it: the name)."""
    if isinstance(data, dict):
        return {k: _relative_strings(v, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_relative_strings(v, base) for v in data]
    if isinstance(data, str) and Path(data).is_absolute():
        return _relative(data, base, inside_only=False)
    return data


def _relative(path: str, base: Path, *, inside_only: bool) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    if candidate.is_relative_to(base):
        return candidate.relative_to(base).as_posix()
    return path if inside_only else candidate.name   # only the name says nothing of this machine


def test_description(item: pytest.Item) -> str | None:
    """What a test checks in one paragraph: the first paragraph of its function's docstring,
    else of its module's docstring."""
    for owner in (getattr(item, "obj", None), getattr(item, "module", None)):
        doc = inspect.getdoc(owner) if owner is not None and getattr(owner, "__doc__", None) else None
        if doc:
            paragraph = doc.strip().split("\n\n", 1)[0]
            return " ".join(paragraph.split())
    return None


test_description.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name


@functools.lru_cache(maxsize=1)
def suite_commit() -> str | None:
    """The git commit of the suite's source tree (with "-dirty" when it has local changes),
    or None when it is not a git checkout or git is missing."""
    root = Path(conformance.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40",
                               "--match", "NO-TAG-MATCHES"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


@functools.lru_cache(maxsize=1)
def specs_digest() -> str:
    """SHA-256 over every data file of `specs/` (names and contents, in name order): which
    version of the standard-as-data a run was judged against."""
    digest = hashlib.sha256()
    for path in sorted(SPECS_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
            digest.update(path.relative_to(SPECS_DIR).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_results(path: Path | str) -> dict[str, Any]:
    """Read a results.json and check it against the schema (unless this process checked and
    wrote it, and it has not changed since)."""
    path = Path(path).resolve()
    unchanged = _WRITTEN.get(str(path)) == _stamp(path)
    results = json.loads(path.read_text(encoding="utf-8"))
    if not unchanged:
        validate_results(results)
    return results


def dump_records(records: Iterable[TestRecord], path: Path | str) -> None:
    """Write the raw test records (before verdicts) as JSON: what `ezhd certify -j N` merges
    from its parts, so verdicts are computed once, by `build_results`, over every part."""
    base = Path(path).resolve().parent    # evidence relative to the file: a part's directory stays movable
    data = [{**record.__dict__, "outcome": record.outcome.value,
             "evidence": [_relative(p, base, inside_only=True) for p in record.evidence]} for record in records]
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load_records(path: Path | str) -> list[TestRecord]:
    """The records `dump_records` wrote, evidence paths absolute again."""
    base = Path(path).resolve().parent
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [TestRecord(**{**entry, "outcome": Outcome(entry["outcome"]),
                          "evidence": [str(base / p) for p in entry.get("evidence", ())]}) for entry in data]


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(RESULTS_SCHEMA_FILE.read_text(encoding="utf-8")))


def _test_entry(record: TestRecord, strength: str, applicable: bool, feature: str | None) -> dict[str, Any]:
    verdict = test_verdict(record.outcome, strength, applicable)
    message = record.message
    if verdict is Verdict.NOT_APPLICABLE:
        message = f"optional feature {feature!r} is not declared by the SUT"
    entry: dict[str, Any] = {
        "nodeid": record.nodeid,
        "verdict": verdict.value,
        "duration_s": round(record.duration_s, 6),
        "message": message,
        "evidence": list(record.evidence),
    }
    if verdict is Verdict.ERROR:
        entry["cause"] = record.cause or "unknown"
    if record.hypothesis is not None:
        entry["hypothesis"] = dict(record.hypothesis)
    if record.description:
        entry["description"] = record.description
    if record.start_s is not None:
        entry["start_s"] = record.start_s
    if record.surface:
        entry["surface"] = {dim: list(values) for dim, values in record.surface.items()}
    return entry


def _classify(call: pytest.CallInfo[None], report: pytest.TestReport) -> tuple[Outcome, str | None, str | None]:
    """A failed phase: a failed check on the SUT, or an error of the tester or environment."""
    message = _crash_message(report)
    excinfo = call.excinfo
    if excinfo is None:
        return Outcome.ERROR, message, f"{call.when}: failed without an exception"
    exc = excinfo.value
    if isinstance(exc, EnvironmentProblem):
        return Outcome.ERROR, message, f"{type(exc).__name__}: {exc}"
    if call.when == "call" and isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return Outcome.FAILED, message, None
    where = "" if call.when == "call" else f"{call.when}: "
    return Outcome.ERROR, message, f"{where}{type(exc).__name__}: {exc}"


def _hypothesis_example(exc: BaseException) -> str | None:
    """The failing example Hypothesis noted on `exc` (or on one exception of a group)."""
    candidates = [exc, *getattr(exc, "exceptions", ())]
    for candidate in candidates:
        for note in getattr(candidate, "__notes__", ()):
            if _EXAMPLE_NOTE.match(note):
                return _EXAMPLE_NOTE.sub("", note, count=1).strip()
    return None


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else "failed"


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
