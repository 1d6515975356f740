"""`ezhd certify --sut reference` end to end (issue 6): the mocks and the reference journal are
started for real on loopback, the conformance tests run against them, results.json and JUnit
XML are written. A conforming journal passes the selected requirements (exit 0); with a
seeded defect the requirement it breaks FAILs (exit 1). Each run is a subprocess, so the
suite's own pytest session does not nest inside this one."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, run_cli
from conformance.results import load_results

ROOT = Path(__file__).resolve().parent.parent


def certify(report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference",
                           "--report-dir", str(report_dir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


def verdicts(results: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in results["requirements"]}


@pytest.mark.slow
def test_the_reference_journal_passes_the_selected_auth_requirements(tmp_path):
    proc = certify(tmp_path / "run", "--only", "AUTH-03", "--only", "AUTH-04")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = load_results(tmp_path / "run" / "results.json")       # checked against the schema
    got = verdicts(results)
    assert got["AUTH-03"] == "PASS" and got["AUTH-04"] == "PASS"
    assert got["AUTH-01"] == "NOT_TESTED"                            # not selected
    assert results["run"]["sut"]["source"] == "reference"
    assert set(results["run"]["mocks"]) == {"esia", "smev", "epgu"}
    assert "[REDACTED]" in str(results["run"]["sut"]["test_control"])
    assert ET.parse(tmp_path / "run" / "junit.xml").getroot() is not None
    assert "AUTH-04      MUST      PASS" in proc.stdout
    # the journal and the mocks are gone: the ready file is removed when the journal stops
    assert not (tmp_path / "run" / "journal.ready.json").exists()


@pytest.mark.slow
def test_a_seeded_defect_fails_its_requirement(tmp_path):
    proc = certify(tmp_path / "run", "--only", "AUTH-04", "--reference-defect", "ACCEPT_ALG_NONE")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = load_results(tmp_path / "run" / "results.json")
    assert verdicts(results)["AUTH-04"] == "FAIL"
    failed = [t for r in results["requirements"] if r["id"] == "AUTH-04" for t in r["tests"]
              if t["verdict"] == "FAIL"]
    assert failed and all("alg_none" in t["nodeid"] for t in failed)


def test_a_missing_sut_file_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "certify", "--sut", str(tmp_path / "nope.toml"), "--report-dir",
                           str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "nope.toml", "file not found")
    assert not (tmp_path / "r").exists()


def test_an_unknown_defect_or_requirement_is_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "certify", "--sut", "reference", "--reference-defect", "NO_SUCH",
                           "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "NO_SUCH")
    code, _, err = run_cli(capsys, "certify", "--sut", "reference", "--only", "AUTH-99",
                           "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "AUTH-99")
