"""What works without a Docker engine (default run): the mocks advertising a public host,
the reference journal image's settings from the environment, a sut.toml moved to a
container's address, and `--sut-image` refusing what cannot work with exit 2 or 3."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from conformance.containers import ContainerError, reference_config, sut_at
from kit import ROOT, ezhd, make_kit


def test_mocks_up_listens_on_every_interface_and_names_the_public_host(tmp_path):
    ready = tmp_path / "mocks.json"
    env = {**os.environ, "EZHD_MOCKS_ADMIN_TOKEN": "a-token-for-the-stand"}
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "mocks", "up", "esia", "--host", "0.0.0.0",
                             "--public-host", "localhost", "--ready-file", str(ready)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.05)
        data = json.loads(ready.read_text())
        assert data["esia"].startswith("http://localhost:") and data["admin_token"] == "a-token-for-the-stand"
        r = httpx.get(data["esia"] + "/_admin/health", headers={"Authorization": "Bearer a-token-for-the-stand"})
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert f"esia {data['esia']}" in out and "0.0.0.0" not in out


def test_the_reference_journal_image_reads_its_settings_from_the_environment(tmp_path):
    env = {"EZHD_ESIA_URL": "http://mocks:8090", "EZHD_AGENT_URL": "http://mocks:8091",
           "EZHD_SHOWCASE_URL": "http://mocks:8092", "EZHD_JOURNAL_URL": "http://journal:8000",
           "EZHD_ESIA_CLIENT_ID": "VENDORIS", "EZHD_TEST_CONTROL_TOKEN": "tc", "EZHD_ESIA_KEY_PEM": "KEY",
           "EZHD_ESIA_CERT": str(tmp_path / "cert.pem")}
    (tmp_path / "cert.pem").write_text("CERT")
    import tomllib

    settings = tomllib.loads(reference_config(env, tmp_path))
    assert settings["esia_url"] == "http://mocks:8090" and settings["public_url"] == "http://journal:8000"
    assert settings["esia_client_id"] == "VENDORIS" and settings["test_control_token"] == "tc"
    assert settings["esia_cert"] == str(tmp_path / "cert.pem")
    key = tmp_path / "journal.key.pem"   # the PEM text becomes a file only its owner reads
    assert settings["esia_key"] == str(key) and key.read_text() == "KEY" and key.stat().st_mode & 0o077 == 0
    with pytest.raises(ContainerError, match="EZHD_AGENT_URL"):
        reference_config({k: v for k, v in env.items() if k != "EZHD_AGENT_URL"}, tmp_path)
    with pytest.raises(ContainerError, match="EZHD_ESIA_CERT_PEM"):
        reference_config({**env, "EZHD_ESIA_CERT": str(tmp_path / "none.pem")}, tmp_path)


def test_a_sut_toml_moves_to_the_containers_address(tmp_path):
    kit = make_kit(tmp_path, "http://journal:8000", "VENDORIS", "VENDOR01", "vendormart")
    os.environ.update(kit.env)
    try:
        sut, port, secrets = sut_at(kit.sut, "172.30.0.3")
    finally:
        for k in kit.env:
            os.environ.pop(k)
    assert port == 8000 and sut.base_url == "http://172.30.0.3:8000"
    assert sut.esia.redirect_uri == "http://172.30.0.3:8000/auth/esia/callback"
    assert sut.test_control.url == "http://172.30.0.3:8000/test-control/v1"
    assert sut.esia.client_id == "VENDORIS" and sut.source == kit.sut.resolve()
    assert secrets == ["EZHD_TEST_CONTROL_TOKEN", "EZHD_ADMIN_PASSWORD"]


def test_sut_image_options_that_cannot_work_are_exit_2(tmp_path):
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "VENDORIS", "VENDOR01", "vendormart")
    for args, says in ((["--sut", "reference", "--sut-image", "x"], "--sut-image runs the journal of a sut.toml"),
                       (["--sut", str(kit.sut), "--sut-env", "A=1"], "--sut-env needs --sut-image"),
                       (["--sut", str(kit.sut), "--sut-image", "x", "--mocks", str(tmp_path / "m.json")],
                        "leave out --mocks"),
                       (["--sut", str(kit.sut), "--sut-image", "x", "--sut-env", "EZHD_NOT_SET_ANYWHERE"],
                        "EZHD_NOT_SET_ANYWHERE is not set")):
        proc = ezhd("certify", *args, "--report-dir", str(tmp_path / "run"), env=kit.env)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_sut_image_without_an_engine_is_a_setup_error(tmp_path):
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "VENDORIS", "VENDOR01", "vendormart")
    proc = ezhd("certify", "--sut", str(kit.sut), "--sut-image", "journal:ci", "--report-dir", str(tmp_path / "run"),
                env={**kit.env, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}, timeout=120)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr
    assert ("no Docker engine answers" in proc.stderr or "Docker SDK" in proc.stderr) and "Traceback" not in proc.stderr


def test_the_suite_container_waits_in_vain_with_a_setup_error(tmp_path, capsys):
    """compose's suite: no ready file, or a journal that never answers, is exit 3 naming which."""
    from conformance.containers import run_certify

    kit = make_kit(tmp_path / "kit", "http://127.0.0.1:9", "VENDORIS", "VENDOR01", "vendormart")
    env = {"EZHD_SUT": str(kit.sut), "EZHD_MOCKS_READY": str(tmp_path / "mocks.json"), "EZHD_WAIT_SECONDS": "1"}
    assert run_certify(env) == 3
    assert "the mocks wrote no ready file" in capsys.readouterr().err
    (tmp_path / "mocks.json").write_text("{}")
    assert run_certify(env) == 3
    assert "the journal at http://127.0.0.1:9 does not answer: connection refused" in capsys.readouterr().err
