"""The pytest fixtures for Python journals (conformance/pytest_fixtures.py, issue 13), used the
way a vendor's test suite would: from a separate small package (tests/tiny_journal) that only
installs ezhd-conformance and names the fixtures, run by its own pytest."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TINY = Path(__file__).resolve().parent / "tiny_journal"


@pytest.mark.slow
def test_a_separate_package_uses_the_mocks_through_the_fixtures():
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"], cwd=TINY,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = {line.split("::")[-1] for line in proc.stdout.splitlines() if line.startswith("PASSED")}
    assert passed == {"test_the_journal_reads_esia_certificate_in_process",
                      "test_an_upload_is_checked_by_the_agent_and_faults_can_be_injected",
                      "test_each_test_gets_fresh_mocks", "test_the_mocks_on_loopback"}
    assert "import conformance" not in "".join(p.read_text() for p in TINY.rglob("*.py"))
