"""The real-clients group: each client runs unmodified in its own virtual environment
(`tests/clients/requirements.txt`), found at `$EZHD_CLIENTS_PYTHON` or `.venv-clients/`;
without it every test here skips, saying how to make it."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SETUP = ("python3 -m venv .venv-clients && .venv-clients/bin/pip install -r tests/clients/requirements.txt")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == HERE:
            item.add_marker(pytest.mark.clients)


@pytest.fixture(scope="session")
def clients_python() -> str:
    python = os.environ.get("EZHD_CLIENTS_PYTHON") or str(ROOT / ".venv-clients" / "bin" / "python")
    if not Path(python).exists():
        pytest.skip(f"the real clients are not installed ({SETUP})")
    probe = subprocess.run([python, "-c", "import smev_agent_client, uploader_client, esia_connector, jwt"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"the clients venv lacks a client ({probe.stderr.strip().splitlines()[-1:]}); {SETUP}")
    return python


@pytest.fixture
def drive(clients_python, tmp_path):
    """`drive(flow, **args)` runs `drive.py` in the clients venv and returns its JSON."""
    def run(flow: str, **args) -> dict:
        r = subprocess.run([clients_python, str(HERE / "drive.py"), flow, json.dumps(args)],
                           capture_output=True, text=True, timeout=180, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(HERE)})
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout.strip().splitlines()[-1])
    return run
