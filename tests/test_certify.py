"""`ezhd certify --sut reference` end to end (issue 6): the mocks and the reference journal are
started for real on loopback, the conformance tests run against them, results.json and JUnit
XML are written. A conforming journal passes the selected requirements (exit 0); with a
seeded defect the requirement it breaks FAILs (exit 1). Each run is a subprocess, so the
suite's own pytest session does not nest inside this one."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, machine_paths_in, run_cli
from conformance.results import load_results

ROOT = Path(__file__).resolve().parent.parent


def certify(report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference",
                           "--report-dir", str(report_dir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


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
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")   # the report for people
    assert "AUTH-04" in page and "<html" in page
    transcripts = list((tmp_path / "run" / "transcripts").glob("*.jsonl"))  # evidence of every test
    # evidence paths relative to the run directory (it can be moved or archived)
    assert transcripts and all(json.dumps(t.relative_to(tmp_path / "run").as_posix()) in json.dumps(results)
                               for t in transcripts)
    assert "AUTH-04      MUST      PASS" in proc.stdout
    # live progress: one line per requirement as its last test finishes, no pytest dots
    assert re.search(r"^AUTH-04 +\d+ pass +\| run: pass \d+ fail 0 error 0 skip 0", proc.stdout, re.M), proc.stdout
    assert not re.search(r"^\.+$", proc.stdout, re.M)
    # the journal and the mocks are gone: the ready file is removed when the journal stops
    assert not (tmp_path / "run" / "journal.ready.json").exists()


@pytest.mark.slow
def test_a_seeded_defect_fails_its_requirement(tmp_path):
    proc = certify(tmp_path / "run", "--only", "AUTH-04", "--reference-defect", "ACCEPT_ALG_NONE",
                   "--no-progress")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| run:" not in proc.stdout                                     # --no-progress
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


# --- a vendor journal: sut.toml, mocks started beforehand (`ezhd mocks up`), --mocks ---------------

def _vendor_files(tmp_path: Path, base_url: str, *, test_control: bool = True, driver: bool = True) -> Path:
    """Certificate, key and a sut.toml for the reference journal seen as a vendor's journal."""
    from cryptography.hazmat.primitives import serialization

    from mocks.esia.testing import make_client_credentials

    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    key, cert_pem = make_client_credentials("EZHD01")
    (keys / "journal.key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (keys / "journal.cert.pem").write_text(cert_pem, encoding="utf-8")
    lines = [
        "[journal]", f'base_url = "{base_url}"',
        "[esia]", 'client_id = "EZHD01"', 'certificate = "keys/journal.cert.pem"',
        'private_key = "keys/journal.key.pem"',
        f'redirect_uri = "{base_url}/auth/esia/callback"',
        f'logout_redirect_uri = "{base_url}/auth/esia/signed-out"',
        "[agent]", 'mnemonic = "MNSV03"', 'channels = ["edu-upload", "showcase"]',
    ]
    if driver:
        lines += ["[driver]", 'class = "conformance.driver:ReferenceDriver"', 'admin_login = "admin"',
                  'admin_password_env = "VENDOR_ADMIN_PASSWORD"']
    if test_control:
        lines += ["[test_control]", f'url = "{base_url}/test-control/v1"', 'token_env = "VENDOR_TC_TOKEN"']
    sut = tmp_path / "sut.toml"
    sut.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sut


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_replay_reproduces_the_fail_verdicts(tmp_path):
    first = certify(tmp_path / "run", "--only", "AUTH-04", "--reference-defect", "ACCEPT_ALG_NONE", "--seed", "7")
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "certify", "--replay", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--reference-defect ACCEPT_ALG_NONE" in proc.stdout and "--seed 7" in proc.stdout
    before = load_results(tmp_path / "run" / "results.json")
    after = load_results(tmp_path / "run-replay" / "results.json")
    assert after["run"]["seed"] == before["run"]["seed"] == 7

    def fails(results):
        return sorted(t["nodeid"] for r in results["requirements"] for t in r["tests"] if t["verdict"] == "FAIL")
    assert fails(after) == fails(before) and fails(before)
    assert verdicts(after) == verdicts(before)


# --- parallel parts (-j N) --------------------------------------------------------------------------

def _collected(*ids: str) -> list[str]:
    """The node IDs a single run selects for these requirements."""
    from conformance.cli.requirements_cmd import collect

    return sorted(n for n, rids in collect(ROOT / "conformance").items() if set(ids) & set(rids))


@pytest.mark.slow
def test_parallel_parts_are_merged_into_one_run(tmp_path):
    proc = certify(tmp_path / "run", "-j", "2", "--only", "AUTH-03", "--only", "AUTH-04", "--only", "API-09")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "run"
    assert (run_dir / "parts" / "0" / "results.json").is_file() and (run_dir / "parts" / "1" / "results.json").is_file()
    results = load_results(run_dir / "results.json")                 # checked against the schema
    got = verdicts(results)
    assert got["AUTH-03"] == got["AUTH-04"] == got["API-09"] == "PASS"
    assert got["AUTH-01"] == "NOT_TESTED"
    nodeids = sorted({t["nodeid"] for r in results["requirements"] for t in r["tests"]})
    assert nodeids == _collected("AUTH-03", "AUTH-04", "API-09")
    evidence = [e for r in results["requirements"] for t in r["tests"] for e in t["evidence"]]
    assert evidence and all(e.startswith("parts/") and (run_dir / e).is_file() for e in evidence)
    assert results["run"]["started"] < results["run"]["finished"]
    assert (run_dir / "report.html").is_file() and ET.parse(run_dir / "junit.xml").getroot() is not None
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["jobs"] == 2 and run["only"] == ["AUTH-03", "AUTH-04", "API-09"] and len(run["parts"]) == 2
    offenders, checked = machine_paths_in(run_dir)     # the parts' logs, records and run files too
    assert not offenders and {"parts/0.log", "parts/0/records.json", "parts/1/run.json"} <= checked
    assert "AUTH-04      MUST      PASS" in proc.stdout
    # each part's progress lines are told apart by its number (which part a module goes to follows its cost)
    for rid in ("AUTH-03", "AUTH-04", "API-09"):
        assert re.search(rf"^\[part [01]\] {rid} +\d+ pass", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\[part 0\] ", proc.stdout, re.M) and re.search(r"^\[part 1\] ", proc.stdout, re.M)


@pytest.mark.slow
def test_a_seeded_defect_fails_its_requirement_in_parallel_parts(tmp_path):
    proc = certify(tmp_path / "run", "-j", "2", "--only", "AUTH-03", "--only", "AUTH-04",
                   "--reference-defect", "ACCEPT_ALG_NONE", "--no-progress")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = verdicts(load_results(tmp_path / "run" / "results.json"))
    assert got["AUTH-04"] == "FAIL" and got["AUTH-03"] == "PASS"


def test_parallel_parts_are_refused_for_a_vendor_journal(capsys, tmp_path):
    sut = _vendor_files(tmp_path, "http://127.0.0.1:9", test_control=False, driver=False)
    code, _, err = run_cli(capsys, "certify", "--sut", str(sut), "-j", "2", "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "-j", "one journal instance", "run without -j")
    assert not (tmp_path / "r").exists()


# --- options -------------------------------------------------------------------------------------

def test_level_other_than_base_is_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "certify", "--sut", "reference", "--level", "advanced",
                           "--report-dir", str(tmp_path / "r"))
    assert code == 2 and "advanced" in err and "Traceback" not in err


def test_replay_and_sut_options_are_checked(capsys, tmp_path):
    code, _, err = run_cli(capsys, "certify", "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "--sut", "--replay")
    code, _, err = run_cli(capsys, "certify", "--replay", str(tmp_path / "nothing"))
    assert code == 2
    assert_one_line_error(err, "--replay", "no run.json")
    (tmp_path / "old").mkdir()
    code, _, err = run_cli(capsys, "certify", "--replay", str(tmp_path / "old"), "--sut", "reference")
    assert code == 2
    assert_one_line_error(err, "--replay", "leave out --sut")


def test_a_bad_mocks_ready_file_is_exit_2_and_mocks_that_do_not_answer_exit_3(capsys, tmp_path):
    sut = _vendor_files(tmp_path, "http://127.0.0.1:9", test_control=False, driver=False)
    code, _, err = run_cli(capsys, "certify", "--sut", str(sut), "--mocks", str(tmp_path / "none.json"),
                           "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "--mocks", "none.json", "ezhd mocks up")
    bad = tmp_path / "bad.json"
    bad.write_text('{"esia": "http://127.0.0.1:9"}')
    code, _, err = run_cli(capsys, "certify", "--sut", str(sut), "--mocks", str(bad), "--report-dir", str(tmp_path / "r"))
    assert code == 2
    assert_one_line_error(err, "--mocks", "smev, epgu")
    port = _free_port()
    bad.write_text(json_dumps({n: f"http://127.0.0.1:{port}" for n in ("esia", "smev", "epgu")}))
    code, _, err = run_cli(capsys, "certify", "--sut", str(sut), "--mocks", str(bad), "--report-dir", str(tmp_path / "r"))
    assert code == 3
    assert_one_line_error(err, "mock esia", "does not answer: connection refused")
    assert not (tmp_path / "r").exists()


def json_dumps(data) -> str:
    import json

    return json.dumps(data)
