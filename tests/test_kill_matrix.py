"""The kill matrix (`ezhd reference-journal kill-matrix`): each seeded defect is certified in
its own run and counts as killed only when a requirement it is tied to ends FAIL. The full
matrix (64 defects) is measured in benchmarks/README.md; here a sample of one defect per
place (ЕСИА sign-in, journal rules, export) runs for real, and the verdict logic is checked
on written results."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, run_cli
from conformance import killmatrix

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ["ACCEPT_ALG_NONE", "PARENT_READS_ANY_CHILD", "EXPORT_SKIPS_TABLE"]


@pytest.mark.slow
def test_a_sample_of_defects_is_killed(tmp_path):
    args = [sys.executable, "-m", "conformance.cli", "reference-journal", "kill-matrix", "--out", str(tmp_path),
            "--markdown"]
    for defect in SAMPLE:
        args += ["--defect", defect]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    matrix = json.loads((tmp_path / "kill-matrix.json").read_text(encoding="utf-8"))
    assert [m["defect"] for m in matrix] == SAMPLE
    for m in matrix:
        assert m["killed"] and set(m["tied"]) & set(m["failing"]), m
    assert "Killed 3 of 3 (100 %)" in proc.stdout


def _fake_run(tmp_path: Path, monkeypatch, verdicts: dict[str, str], exit_code: int) -> killmatrix.Outcome:
    def fake(cmd, **kwargs):
        report = Path(cmd[cmd.index("--report-dir") + 1])
        report.mkdir(parents=True)
        reqs = [{"id": rid, "verdict": v} for rid, v in verdicts.items()]
        (report / "results.json").write_text(json.dumps({"requirements": reqs}), encoding="utf-8")
        return subprocess.CompletedProcess(cmd, exit_code, "", "")

    monkeypatch.setattr(killmatrix.subprocess, "run", fake)
    return killmatrix.run_one("SOME_DEFECT", ["AUTH-04"], tmp_path)


def test_a_defect_is_killed_only_by_a_fail_of_a_tied_requirement(tmp_path, monkeypatch):
    assert _fake_run(tmp_path / "a", monkeypatch, {"AUTH-04": "FAIL", "AUTH-03": "PASS"}, 1).killed
    other = _fake_run(tmp_path / "b", monkeypatch, {"AUTH-04": "PASS", "AUTH-03": "FAIL"}, 1)
    assert not other.killed and other.failing == ["AUTH-03"] and other.note == "not caught"
    error = _fake_run(tmp_path / "c", monkeypatch, {"AUTH-04": "ERROR"}, 1)
    assert not error.killed and error.note == "tied requirement only ERROR"
    # a SHOULD's WARN kills although the base level passes (exit 0); a run that verified nothing does not
    assert _fake_run(tmp_path / "d", monkeypatch, {"AUTH-04": "WARN"}, 0).killed
    assert not _fake_run(tmp_path / "e", monkeypatch, {"AUTH-04": "WARN"}, 3).killed


def test_the_table_counts_the_killed(tmp_path):
    outcomes = [killmatrix.Outcome("A", ["AUTH-04"], True, 1, 3.0, ["AUTH-04"]),
                killmatrix.Outcome("B", ["API-02"], False, 0, 2.0, note="not caught")]
    table = killmatrix.markdown(outcomes)
    assert "| A | AUTH-04 | yes | AUTH-04 | 3 |" in table
    assert "| B | API-02 | **no** — not caught | — | 2 |" in table
    assert "Killed 1 of 2 (50 %)." in table


def test_an_unknown_defect_is_a_one_line_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "reference-journal", "kill-matrix", "--defect", "NO_SUCH", "--out", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "unknown defect NO_SUCH")
