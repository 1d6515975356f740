"""Settings from TOML and options, the `ezhd reference-journal` commands, and the layering
rule: the journal imports neither the suite nor the mocks nor the fixtures."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import reference_journal
from conformance.cli import EXIT_OK, EXIT_USAGE, main
from reference_journal.config import Settings, SettingsError, load_settings
from reference_journal.defects import CATALOGUE

TOML = """
db = "journal.sqlite"
public_url = "https://journal.example/"
defects = ["ACCEPT_ANY_CALLER"]
clock_offset = -3600
[esia]
url = "http://127.0.0.1:8091"
client_id = "EZHD77"
key = "keys/journal.key.pem"
[agent]
journal_mnemonic = "EZHD77"
portal_mnemonic = "EPGU"
[showcase]
datamart = "myedu"
[test_control]
token = "secret-token"
"""


def test_toml_with_tables_and_overrides(tmp_path):
    path = tmp_path / "rj.toml"
    path.write_text(TOML, encoding="utf-8")
    s = load_settings(path, {"defects": ["BAD_DATE_500"], "db": None})
    assert s.db == str(tmp_path / "journal.sqlite") and s.public_url == "https://journal.example"  # beside the file
    assert s.esia_client_id == "EZHD77" and s.journal_mnemonic == "EZHD77" and s.test_control_token == "secret-token"
    assert s.esia_key == tmp_path / "keys" / "journal.key.pem" and s.esia_cert is None
    assert s.defects == {"ACCEPT_ANY_CALLER", "BAD_DATE_500"} and s.clock_offset == -3600
    assert load_settings(None) == Settings()


@pytest.mark.parametrize("text, fragment", [
    ("dbb = 'x'", "unknown setting 'dbb' (did you mean 'db'?)"),
    ("[esia]\nclient = 'x'", "unknown setting 'esia_client'"),
    ("defects = ['NOPE']", "unknown defect NOPE"),
    ("clock_offset = '5'", "clock_offset: must be an integer"),
    ("session_ttl = true", "session_ttl: must be an integer"),
    ("public_url = 'ftp://x'", "public_url: must be an http(s) URL"),
    ("export_channel = 'mail'", "export_channel"),
    ("scrypt_n = 1000", "scrypt_n: must be a power of two"),
    ("db = [", "not valid TOML"),
])
def test_bad_settings_are_named(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert fragment in str(info.value)


def run(capsys, *args):
    code = main(["reference-journal", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_defects_json(capsys):
    code, out, _ = run(capsys, "defects", "--format", "json")
    assert code == EXIT_OK
    listed = json.loads(out)
    assert [d["id"] for d in listed] == list(CATALOGUE)
    for d in listed:
        assert set(d) >= {"id", "requirement_ids", "description", "implemented_in"}
        assert d["implemented_in"] in ("journal", "auth", "export") and d["requirement_ids"]
    assert {d["implemented_in"] for d in listed} == {"journal", "auth", "export"}


def test_cli_defects_text_and_markdown(capsys):
    code, out, _ = run(capsys, "defects")
    assert code == EXIT_OK and len(out.splitlines()) == len(CATALOGUE) and "PARENT_READS_ANY_CHILD" in out
    code, out, _ = run(capsys, "defects", "--format", "markdown")
    assert out == (Path(reference_journal.__file__).parent / "DEFECTS.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("args, fragment", [
    (["--defect", "PARENT_READS_ANY_CHLD"], "unknown defect PARENT_READS_ANY_CHLD"),
    (["--config", "/nonexistent/rj.toml"], "does not exist"),
    (["--ready-file", "/nonexistent/dir/ready.json"], "does not exist"),
])
def test_cli_serve_usage_errors_are_one_line(capsys, args, fragment):
    code, out, err = run(capsys, "serve", *args)
    assert code == EXIT_USAGE
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err


def test_cli_serve_bad_config_is_one_line(capsys, tmp_path):
    path = tmp_path / "rj.toml"
    path.write_text("[agent]\nmnemonic = 'X'\n", encoding="utf-8")
    code, _, err = run(capsys, "serve", "--config", str(path))
    assert code == EXIT_USAGE and "unknown setting 'agent_mnemonic'" in err and len(err.strip().splitlines()) == 1


FORBIDDEN = ("conformance", "mocks", "fixtures", "tests")


def test_the_journal_imports_no_suite_mock_or_fixture():
    root = Path(reference_journal.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_serve_keeps_generated_secrets_out_of_its_output(tmp_path):
    """Whoever captures `serve`'s output (certify keeps it as journal.log in the run directory)
    gets no test-control token and no administrator password: they go to the ready file only."""
    import subprocess
    import sys
    import time

    ready = tmp_path / "ready.json"
    out = tmp_path / "out.log"
    with out.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "reference-journal", "serve",
                                 "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            try:
                info = json.loads(ready.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise AssertionError(f"serve wrote no ready file (exit {proc.poll()}): "
                                     f"{out.read_text(encoding='utf-8')[-2000:]}") from None
            mode = ready.stat().st_mode & 0o777
            time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = out.read_text(encoding="utf-8")
    assert info["url"] in text and "in the ready file ready.json" in text
    assert info["test_control_token"] not in text and info["admin_password"] not in text
    assert mode == 0o600, f"the ready file holding the secrets is mode {oct(mode)}, not 0o600"
