"""The bundled reference journal run as a vendor runs its own journal: a separate process with
its own settings (non-default mnemonic, ЕСИА client id, datamart, port), the mocks started
beforehand by `ezhd mocks up`, and a sut.toml written by hand. Shared by the vendor-path tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import conformance.cli  # noqa: F401  (loads the CLI first: conformance.session imports it)
from conformance.session.launch import stop  # noqa: F401  (the tests stop what they start with it)

ROOT = Path(__file__).resolve().parent.parent

# every name differs from the reference journal's defaults (EZHD01, MNSV03, myedu)
CLIENT_ID = "VENDORIS"
MNEMONIC = "VENDOR01"
DATAMART = "vendormart"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: Path, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{what} did not start within {timeout:.0f} s"
        time.sleep(0.05)
    return json.loads(path.read_text(encoding="utf-8"))


def make_keys(directory: Path, client_id: str = CLIENT_ID) -> tuple[Path, Path]:
    """A test ЕСИА certificate and RSA key (PEM) in `directory`."""
    from cryptography.hazmat.primitives import serialization

    from mocks.esia.testing import make_client_credentials

    directory.mkdir(parents=True, exist_ok=True)
    key, cert_pem = make_client_credentials(client_id)
    key_path, cert_path = directory / "journal.key.pem", directory / "journal.cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_text(cert_pem, encoding="utf-8")
    return cert_path, key_path


def start_mocks(directory: Path, *extra: str) -> tuple[subprocess.Popen, Path, dict[str, str]]:
    ready = directory / "mocks.json"
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "mocks", "up", "--ready-file", str(ready),
                             *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, ready, wait_for(ready, proc, "ezhd mocks up")


@dataclass
class Journal:
    """A reference journal process configured as a vendor configures its journal."""

    proc: subprocess.Popen
    url: str
    info: dict[str, Any]
    keys: tuple[Path, Path]
    directory: Path
    env: dict[str, str] = field(default_factory=dict)

    def sut_toml(self, *, test_control: bool = True, driver: str | None = "http", token: str | None = None,
                 admin_password: str | None = None, extra: list[str] = ()) -> Path:
        """A sut.toml declaring this journal; `driver`: "http" (the driver API), "python"
        (ReferenceDriver) or None. The secrets go to `self.env` (wrong ones when given)."""
        cert, key = self.keys
        lines = [
            "[product]", 'vendor = "Vendor Ltd"', 'name = "Vendor Journal"', 'version = "2.4.1"', 'build = "b77"',
            "[journal]", f'base_url = "{self.url}"',
            "[esia]", f'client_id = "{CLIENT_ID}"', f'certificate = "{cert}"', f'private_key = "{key}"',
            f'redirect_uri = "{self.url}/auth/esia/callback"',
            f'logout_redirect_uri = "{self.url}/auth/esia/signed-out"',
            "[agent]", f'mnemonic = "{MNEMONIC}"', 'channels = ["edu-upload"]', f'datamart = "{DATAMART}"',
        ]
        self.env["VENDOR_ADMIN_PASSWORD"] = admin_password or self.info["admin_password"]
        if driver == "http":
            lines += ["[driver]", f'url = "{self.url}/driver/v1"', 'token_env = "VENDOR_TC_TOKEN"',
                      'admin_login = "admin"', 'admin_password_env = "VENDOR_ADMIN_PASSWORD"']
            self.env["VENDOR_TC_TOKEN"] = token or self.info["test_control_token"]
        elif driver == "python":
            lines += ["[driver]", 'class = "conformance.driver:ReferenceDriver"', 'admin_login = "admin"',
                      'admin_password_env = "VENDOR_ADMIN_PASSWORD"']
        if test_control:
            lines += ["[test_control]", f'url = "{self.url}/test-control/v1"', 'token_env = "VENDOR_TC_TOKEN"']
            self.env["VENDOR_TC_TOKEN"] = token or self.info["test_control_token"]
        path = self.directory / "sut.toml"
        path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
        return path


def start_journal(directory: Path, urls: dict[str, str], *, esia_url: str | None = None,
                  keys: tuple[Path, Path] | None = None, port: int | None = None) -> Journal:
    """The reference journal on a port of its own (`port`, else a free one), with the vendor's
    names, the mocks' URLs (`esia_url` overrides ЕСИА's: a journal configured for other mocks)
    and its ЕСИА certificate and key (`keys`, else new ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = keys or make_keys(directory / "keys")
    port = port or free_port()
    config = directory / "journal.toml"
    config.write_text("\n".join([
        f"db = {json.dumps(str(directory / 'journal.sqlite'))}",
        f'public_url = "http://127.0.0.1:{port}"',
        "[esia]", f"url = {json.dumps(esia_url or urls['esia'])}", f'client_id = "{CLIENT_ID}"',
        f"key = {json.dumps(str(key))}", f"cert = {json.dumps(str(cert))}",
        "[agent]", f"url = {json.dumps(urls['smev'])}", f'journal_mnemonic = "{MNEMONIC}"',
        "[showcase]", f"url = {json.dumps(urls['epgu'])}", f'datamart = "{DATAMART}"',
        'export_channel = "edu-upload"', ""]), encoding="utf-8")
    ready = directory / "journal.json"
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "reference-journal", "serve",
                             "--config", str(config), "--port", str(port), "--ready-file", str(ready)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = wait_for(ready, proc, "the journal")
    return Journal(proc, info["url"], info, (cert, key), directory)


def ezhd(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
