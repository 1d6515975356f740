"""`ezhd mocks up`: real servers on OS-picked loopback ports, ready file, wiring, clean stop."""
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


def _start(ready: Path, *args: str) -> subprocess.Popen:
    code = ("import sys; from conformance.cli.mocks_cmd import mocks; "
            f"sys.exit(mocks.main(['up', *{list(args)!r}, '--ready-file', {str(ready)!r}], standalone_mode=True))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no ready file")
        time.sleep(0.05)
    return proc


def test_a_state_dir_that_is_a_file_is_a_usage_error(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    result = CliRunner().invoke(mocks, ["up", "epgu", "--state-dir", str(blocker)])
    assert result.exit_code == 2 and "--state-dir" in result.output and "Traceback" not in result.output


def test_up_esia_serves_writes_ready_file_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    proc = _start(ready, "esia")
    try:
        urls = json.loads(ready.read_text())
        assert list(urls) == ["esia"] and urls["esia"].startswith("http://127.0.0.1:")
        assert not urls["esia"].endswith(":0")
        r = httpx.get(urls["esia"] + "/.well-known/esia-signing-certificate")
        assert r.status_code == 200 and r.text.startswith("-----BEGIN CERTIFICATE-----")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert f"esia {urls['esia']}" in out and "stopped" in out
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


ADDRESS = ("id;use_address;type_address;text;city;district;state;postal_code;country;start_datetime;"
           "end_datetime;flat;building;house;street;create_datetime;send_datetime\n"
           '"EZ1-A1";"2";"4";"г. Тверь, ул. Советская, д. 1";"Тверь";;"Тверская обл.";"170100";"Россия";'
           ';;;;"1";"ул. Советская";"2025-09-01 08:00:00";"2025-09-01 08:05:00"').encode("utf-8")


def test_up_starts_all_three_wired_and_the_showcase_survives_a_restart(tmp_path):
    """Default `mocks up`: one showcase behind agent and ЕПГУ, the portal pointed at the
    agent; with --state-dir an upload made through the agent is still there after restart."""
    ready, state = tmp_path / "ready.json", tmp_path / "state"
    proc = _start(ready, "--state-dir", str(state))
    try:
        urls = json.loads(ready.read_text())
        assert list(urls) == ["esia", "smev", "epgu"]
        assert len(set(urls.values())) == 3
        up = httpx.post(f"{urls['smev']}/MNSV03/myedu/api/edu-upload/v1/csv/address", content=ADDRESS,
                        headers={"Content-Type": "application/octet-stream"}, timeout=30)
        assert up.status_code == 200, up.text
        rows = httpx.get(f"{urls['epgu']}/_admin/tables/address").json()
        assert [r["id"] for r in rows["rows"]] == ["EZ1-A1"]
        assert httpx.get(f"{urls['epgu']}/_admin/settings").json()["agent_url"] == urls["smev"]
        note = {"id": "n-1", "kind": "created"}   # through the agent to the portal's inbox
        r = httpx.post(f"{urls['smev']}/EPGU/myedu/api/v1/notifications", json=note,
                       headers={"X-Smev-Sender": "MNSV03"}, timeout=30)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text  # checked by portal.yaml
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _start(ready, "epgu", "--state-dir", str(state))
    try:
        url = json.loads(ready.read_text())["epgu"]
        rows = httpx.get(f"{url}/_admin/tables/address").json()
        assert [r["id"] for r in rows["rows"]] == ["EZ1-A1"]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
