"""`ezhd mocks up esia`: a real server on an OS-picked loopback port, ready file, clean stop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from conformance.cli.mocks_cmd import mocks

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_mock_is_a_usage_error():
    result = CliRunner().invoke(mocks, ["up", "nosuch"])
    assert result.exit_code == 2 and "unknown mock nosuch" in result.output


def test_up_esia_serves_writes_ready_file_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    code = ("import sys; from conformance.cli.mocks_cmd import mocks; "
            f"sys.exit(mocks.main(['up', 'esia', '--ready-file', {str(ready)!r}], standalone_mode=True))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no ready file"
            time.sleep(0.05)
        urls = json.loads(ready.read_text())
        assert list(urls) == ["esia"] and urls["esia"].startswith("http://127.0.0.1:")
        assert not urls["esia"].endswith(":0")
        r = httpx.get(urls["esia"] + "/.well-known/jwks.json")
        assert r.status_code == 200 and r.json()["keys"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert f"esia {urls['esia']}" in out and "stopped" in out
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
