"""`ezhd init DIR` (issue 13): a new vendor's starting kit, and its guide followed from a clean
directory — the bundled journal plays the vendor's journal, started as its own process with
the kit's certificate, non-default names and port, driven through the HTTP driver only."""
from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import vendor_setup as v
from cli_helpers import assert_one_line_error, run_cli
from conformance.driver import driver_operations
from conformance.results import load_results
from conformance.sut import load_sut
from specs import OPENAPI_DIR

SECRETS = ("EZHD_TEST_CONTROL_TOKEN", "EZHD_DRIVER_TOKEN", "EZHD_JOURNAL_ADMIN_PASSWORD")


def _init(capsys, directory: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "init", str(directory), "--client-id", v.CLIENT_ID, "--mnemonic", v.MNEMONIC,
                   "--datamart", v.DATAMART, *extra)


def test_init_writes_a_declaration_that_loads_and_a_matching_key_pair(capsys, tmp_path):
    kit = tmp_path / "kit"
    code, out, err = _init(capsys, kit, "--base-url", "https://journal.vendor.ru")
    assert code == 0, err
    sut = load_sut(kit / "sut.toml", environ=dict.fromkeys(SECRETS, "secret"))
    assert (sut.esia.client_id, sut.agent.mnemonic, sut.agent.datamart) == (v.CLIENT_ID, v.MNEMONIC, v.DATAMART)
    assert sut.base_url == "https://journal.vendor.ru"
    assert sut.driver.url == "https://journal.vendor.ru/driver/v1"
    assert sut.test_control.url == "https://journal.vendor.ru/test-control/v1"
    text = (kit / "sut.toml").read_text(encoding="utf-8")
    assert "Мнемоника" in text and "mnemonic" in text                       # explained in both languages
    cert = x509.load_pem_x509_certificate((kit / "keys/journal.cert.pem").read_bytes())
    key = serialization.load_pem_private_key((kit / "keys/journal.key.pem").read_bytes(), password=None)
    assert key.key_size >= 2048 and cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert v.CLIENT_ID in cert.subject.rfc4514_string()
    assert (kit / "keys/journal.key.pem").stat().st_mode & 0o077 == 0      # the key is the owner's only
    assert os.access(kit / "start-mocks.sh", os.X_OK)
    for name in ("driver.yaml", "test-control.yaml"):    # the interfaces to serve, as the suite reads them
        assert (kit / "openapi" / name).read_bytes() == (OPENAPI_DIR / name).read_bytes()


def test_the_python_skeleton_has_every_driver_operation(capsys, tmp_path):
    assert _init(capsys, tmp_path / "kit")[0] == 0
    tree = ast.parse((tmp_path / "kit/driver/python_driver.py").read_text(encoding="utf-8"))
    session = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Session")
    methods = {n.name: n for n in session.body if isinstance(n, ast.FunctionDef)}
    for op in driver_operations().values():
        args = [a.arg for a in methods[op.name].args.args[1:]]
        assert args == list(op.args), op.name
        assert (methods[op.name].args.kwarg is not None) == op.fields, op.name


def test_init_refuses_a_non_empty_directory_and_bad_values(capsys, tmp_path):
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "mine.txt").write_text("keep")
    code, _, err = _init(capsys, tmp_path / "kit")
    assert code == 2
    assert_one_line_error(err, "not empty", "--force")
    code, _, err = _init(capsys, tmp_path / "kit", "--force")
    assert code == 0 and (tmp_path / "kit" / "mine.txt").read_text() == "keep"
    code, _, err = run_cli(capsys, "init", str(tmp_path / "bad"), "--mnemonic", "lower case")
    assert code == 2
    assert_one_line_error(err, "agent.mnemonic")


def _blocks(guide: str) -> list[str]:
    """The shell lines of the guide's ```sh blocks, in order."""
    return [line.strip() for block in re.findall(r"```sh\n(.*?)```", guide, re.S) for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.mark.slow
def test_the_guide_followed_from_a_clean_directory_certifies_the_journal(capsys, tmp_path):
    port = v.free_port()
    kit = tmp_path / "kit"
    assert _init(capsys, kit, "--base-url", f"http://127.0.0.1:{port}")[0] == 0
    steps = _blocks((kit / "GUIDE.md").read_text(encoding="utf-8"))
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    # step 1: start the mocks (the script the kit holds), keep them running
    assert steps[0] == "./start-mocks.sh"
    mocks = subprocess.Popen(["./start-mocks.sh"], cwd=kit, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    journal = None
    try:
        urls = v.wait_for(kit / "mocks.json", mocks, "start-mocks.sh")
        # step 2 and 3: the vendor's journal, configured with the mocks' URLs and the kit's keys
        journal = v.start_journal(tmp_path / "journal", urls, port=port,
                                  keys=(kit / "keys/journal.cert.pem", kit / "keys/journal.key.pem"))
        # step 4: the secrets the guide names, exported
        exported = [re.match(r"export (\w+)=", s).group(1) for s in steps if s.startswith("export ")]
        assert sorted(exported) == sorted(SECRETS)
        env.update({"EZHD_TEST_CONTROL_TOKEN": journal.info["test_control_token"],
                    "EZHD_DRIVER_TOKEN": journal.info["test_control_token"],
                    "EZHD_JOURNAL_ADMIN_PASSWORD": journal.info["admin_password"]})
        commands = [shlex.split(s) for s in steps if s.startswith("ezhd ")]
        assert [c[:2] for c in commands] == [["ezhd", "sut"], ["ezhd", "certify"]]
        # step 5: the live check
        check = subprocess.run([sys.executable, "-m", "conformance.cli", *commands[0][1:]], cwd=kit, env=env,
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        # step 6: certify (a selection that signs in, exports and acts through the driver service)
        run = subprocess.run([sys.executable, "-m", "conformance.cli", *commands[1][1:], "--only", "AUTH-01",
                              "--only", "EXP-04", "--only", "LOG-02"], cwd=kit, env=env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "base level of the requirements run (AUTH-01, EXP-04, LOG-02): pass" in run.stdout
        results = load_results(kit / "report" / "results.json")
        assert results["run"]["sut"]["driver"]["url"] == f"http://127.0.0.1:{port}/driver/v1"
        assert (kit / "report" / "report.html").is_file()
    finally:
        if journal is not None:
            v.stop(journal.proc)
        v.stop(mocks)
