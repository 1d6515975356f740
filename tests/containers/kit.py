"""A journal image's side of a certification: its sut.toml, ЕСИА keys and secrets, as a
vendor keeps them next to the image (the reference journal image plays the vendor's)."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Kit:
    directory: Path
    sut: Path
    env: dict[str, str]          # the secrets certify and the journal share, and the key as PEM

    def secrets(self) -> list[str]:
        return [v for k, v in self.env.items() if k != "EZHD_ESIA_CERT_PEM"]


def make_kit(directory: Path, url: str, client_id: str, mnemonic: str, datamart: str) -> Kit:
    """sut.toml for a journal at `url` (HTTP driver and test-control; secrets in EZHD_* variables),
    its test certificate and key in keys/ (readable by the images' user)."""
    from cryptography.hazmat.primitives import serialization

    from mocks.esia.testing import make_client_credentials

    keys = directory / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    key, cert_pem = make_client_credentials(client_id)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    (keys / "journal.key.pem").write_text(key_pem)
    (keys / "journal.cert.pem").write_text(cert_pem)
    for p in (directory, keys, *keys.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)   # the test key is read by uid 10001 in the image
    sut = directory / "sut.toml"
    sut.write_text("\n".join([
        "[product]", 'vendor = "Vendor Ltd"', f'name = "Journal {client_id}"', 'version = "1.0"',
        "[journal]", f'base_url = "{url}"',
        "[esia]", f'client_id = "{client_id}"', 'certificate = "keys/journal.cert.pem"',
        'private_key = "keys/journal.key.pem"',
        f'redirect_uri = "{url}/auth/esia/callback"', f'logout_redirect_uri = "{url}/auth/esia/signed-out"',
        "[agent]", f'mnemonic = "{mnemonic}"', 'channels = ["edu-upload"]', f'datamart = "{datamart}"',
        "export_interval_seconds = 900",   # the reference journal's export period (its config's default)
        "[driver]", f'url = "{url}/driver/v1"', 'token_env = "EZHD_TEST_CONTROL_TOKEN"', 'admin_login = "admin"',
        'admin_password_env = "EZHD_ADMIN_PASSWORD"',
        "[test_control]", f'url = "{url}/test-control/v1"', 'token_env = "EZHD_TEST_CONTROL_TOKEN"', ""]))
    env = {"EZHD_TEST_CONTROL_TOKEN": secrets.token_urlsafe(18),
           "EZHD_ADMIN_PASSWORD": secrets.token_urlsafe(9) + "-Aa1",
           "EZHD_ESIA_KEY_PEM": key_pem, "EZHD_ESIA_CERT_PEM": cert_pem}
    return Kit(directory, sut, env)


def ezhd(*args: str, env: dict[str, str] | None = None, timeout: float = 900, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **popen)
