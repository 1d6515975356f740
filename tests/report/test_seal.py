"""The certification package: `ezhd report seal` and `ezhd report verify`."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from cli_helpers import assert_one_line_error, run_cli
from conformance.report.seal import CMS_SIGNATURE, MANIFEST, SIGNATURE, SIGNER, verify
from report_helpers import FAILING, SECRETS, make_run

EXPECTED = {"results.json", "report.html", "junit.xml", "sut.json", "suite.json", SIGNER, MANIFEST, SIGNATURE,
            "waivers.yaml"}


def pem_key(key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def certificate(key, name: str = "Certification Lab") -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, algorithm))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory) -> tuple[Path, bytes]:
    """A package of a run with three failing requirements, signed with Ed25519 + certificate."""
    tmp = tmp_path_factory.mktemp("seal")
    run = make_run(tmp / "run", FAILING, missing_evidence=True)
    key = ed25519.Ed25519PrivateKey.generate()
    key_file = tmp / "signer.pem"
    key_pem = pem_key(key)
    key_file.write_bytes(key_pem + certificate(key))
    waivers = tmp / "waivers.yaml"
    waivers.write_text("waivers:\n  - {requirement: EXP-01, reason: fix in 2.4, ticket: JRN-7, expires: 2099-01-01}\n",
                       encoding="utf-8")
    out = tmp / "package.zip"
    code = _seal(run, key_file, out, "--waivers", str(waivers))
    assert code == 0
    return out, key_pem


def _seal(run: Path, key: Path, out: Path, *extra: str) -> int:
    from conformance.cli import main

    return main(["report", "seal", str(run), "--key", str(key), "--out", str(out), *extra])


def rewrite(package: Path, out: Path, name: str, change) -> Path:
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, change(data) if info.filename == name else data)
    return out


def flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def test_untouched_package_verifies(sealed, capsys) -> None:
    package, _ = sealed
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read(MANIFEST))
        results = json.loads(archive.read("results.json"))
    transcripts = {n for n in names if n.startswith("transcripts/")}
    assert names == EXPECTED | transcripts and len(transcripts) == 3
    assert set(manifest["files"]) == names - {MANIFEST, SIGNATURE}
    assert manifest["suite"]["version"] and manifest["signature"]["algorithm"] == "ed25519"
    assert manifest["missing_evidence"] == ["transcripts/gone.jsonl"]
    evidence = {p for r in results["requirements"] for t in r["tests"] for p in t["evidence"]}
    assert transcripts <= evidence  # the package's results point at the package's transcripts
    code, out, err = run_cli(capsys, "report", "verify", str(package))
    assert code == 0, err
    assert out.startswith("ok: ") and "CN=Certification Lab" in out


@pytest.mark.parametrize("packaged", ["sealed", "gost_sealed"])
def test_every_changed_byte_is_caught_and_named(packaged, request, tmp_path, capsys) -> None:
    """Ed25519 and ГОСТ (CMS) packages alike: a flipped byte in any member is named."""
    package = request.getfixturevalue(packaged)[0]
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    for name in names:
        tampered = rewrite(package, tmp_path / f"t-{name.replace('/', '_')}.zip", name, flip_middle_byte)
        found = verify(tampered)
        assert found.problems and all(name in p for p in found.problems), (name, found.problems)
        code, _, err = run_cli(capsys, "report", "verify", str(tampered))
        assert code == 1 and name in err, (name, err)
        assert "NOT verified" in err and "Traceback" not in err


def test_a_byte_flipped_inside_the_zip_names_the_member(sealed, tmp_path) -> None:
    package, _ = sealed
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo("report.html")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    problems = verify(damaged).problems
    assert problems and all("report.html" in p for p in problems), problems


def test_added_and_removed_files_are_named(sealed, tmp_path) -> None:
    package, _ = sealed
    added = tmp_path / "added.zip"
    added.write_bytes(package.read_bytes())
    with zipfile.ZipFile(added, "a") as archive:
        archive.writestr("transcripts/extra.jsonl", "{}\n")
    assert any("transcripts/extra.jsonl" in p and "not listed" in p for p in verify(added).problems)
    removed = tmp_path / "removed.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(removed, "w") as dst:
        for info in src.infolist():
            if info.filename != "junit.xml":
                dst.writestr(info.filename, src.read(info))
    assert any(p.startswith("junit.xml:") and "missing" in p for p in verify(removed).problems)


def test_no_secret_anywhere_in_the_package(sealed) -> None:
    package, signing_key = sealed
    planted = b"".join(p.read_bytes() for p in (package.parent / "run").rglob("*") if p.is_file())
    assert all(s.encode() in planted for s in SECRETS)  # the run itself holds every secret
    key_body = b"".join(signing_key.splitlines()[1:-1])
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            leaked = [s for s in SECRETS if s.encode() in data]
            assert not leaked, f"{name} leaks {leaked}"
            assert key_body not in data.replace(b"\n", b""), name
            assert not re.search(rb"BEGIN [A-Z ]*PRIVATE KEY", data), name
        sut = json.loads(archive.read("sut.json"))
        transcript = archive.read("transcripts/001-AUTH-02.jsonl").decode()
    assert sut["esia"]["client_secret"] == "[REDACTED]" and sut["test_control"]["password"] == "[REDACTED]"
    assert sut["test_control"]["token_env"] == "EZHD_TEST_CONTROL_TOKEN"  # a name, not a secret
    first = json.loads(transcript.splitlines()[0])
    assert first["request_headers"] == {"Authorization": "[REDACTED]", "Accept": "text/html"}
    assert first["response_headers"]["Set-Cookie"] == "[REDACTED]"


def test_rsa_key_with_separate_certificate(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.key").write_bytes(pem_key(key, b"s3cret"))
    (tmp_path / "rsa.crt").write_bytes(certificate(key, "RSA Lab"))
    out = tmp_path / "rsa.zip"
    code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(tmp_path / "rsa.key"),
                           "--out", str(out))
    assert code == 2
    assert_one_line_error(err, "encrypted", "--key-password-env")
    import os
    os.environ["EZHD_TEST_KEY_PASSWORD"] = "s3cret"
    try:
        code, out_text, err = run_cli(capsys, "report", "seal", str(run), "--key", str(tmp_path / "rsa.key"),
                                      "--cert", str(tmp_path / "rsa.crt"), "--key-password-env",
                                      "EZHD_TEST_KEY_PASSWORD", "--out", str(out))
    finally:
        del os.environ["EZHD_TEST_KEY_PASSWORD"]
    assert code == 0, err
    found = verify(out)
    assert found.ok and "CN=RSA Lab" in found.signer
    assert found.manifest["signature"]["algorithm"] == "rsa-pss-sha256"
    # a certificate of another key is refused before anything is written
    other = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "other.crt").write_bytes(certificate(other))
    (tmp_path / "plain.key").write_bytes(pem_key(key))
    code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(tmp_path / "plain.key"),
                           "--cert", str(tmp_path / "other.crt"), "--out", str(tmp_path / "x.zip"))
    assert code == 2 and not (tmp_path / "x.zip").exists()
    assert_one_line_error(err, "does not belong")


def test_public_key_only_and_usage_errors(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run")
    (tmp_path / "ed.pem").write_bytes(pem_key(ed25519.Ed25519PrivateKey.generate()))
    out = tmp_path / "p.zip"
    assert _seal(run, tmp_path / "ed.pem", out) == 0
    found = verify(out)
    assert found.ok and found.signer.startswith("public key SHA-256")
    (tmp_path / "not-a-key.pem").write_text("hello\n")
    code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(tmp_path / "not-a-key.pem"),
                           "--out", str(out))
    assert code == 2
    assert_one_line_error(err, "no PEM private key")
    code, _, err = run_cli(capsys, "report", "verify", str(tmp_path / "nope.zip"))
    assert code == 2
    assert_one_line_error(err, "nope.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    code, _, err = run_cli(capsys, "report", "verify", str(tmp_path / "junk.zip"))
    assert code == 1 and "not a readable zip" in err


@pytest.mark.skipif(__import__("conformance.report.pdf", fromlist=["available"]).available() is not None,
                    reason="needs WeasyPrint (the [pdf] extra) for report.pdf")
def test_the_pdf_report_is_signed_with_the_package(tmp_path, capsys) -> None:
    """`--pdf`: report.pdf is in the manifest, so a changed byte of it is named by verify."""
    run = make_run(tmp_path / "run", FAILING)
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(pem_key(key) + certificate(key))
    out = tmp_path / "package.zip"
    assert _seal(run, tmp_path / "k.pem", out, "--pdf") == 0
    with zipfile.ZipFile(out) as z:
        assert z.read("report.pdf").startswith(b"%PDF-")
        assert "report.pdf" in json.loads(z.read("manifest.json"))["files"]
    capsys.readouterr()
    broken = rewrite(out, tmp_path / "broken.zip", "report.pdf", flip_middle_byte)
    code, _, err = run_cli(capsys, "report", "verify", str(broken))
    assert code == 1 and "report.pdf" in err


# --- ГОСТ Р 34.10-2012: a CMS detached signature a Russian certifier can check with OpenSSL ---------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mocks"))   # tests/mocks/gost_helpers.py
from gost_helpers import GostOpenSSL  # noqa: E402


def keygen(capsys, key: Path, *options: str) -> tuple[Path, str]:
    """`ezhd report keygen`: the certificate's path and what was printed."""
    code, out, err = run_cli(capsys, "report", "keygen", str(key), *options)
    assert code == 0, err
    return key.with_suffix(".crt"), out


@pytest.fixture(scope="module")
def gost_sealed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A package of a failing run sealed with a ГОСТ 256 test key from `ezhd report keygen --gost`."""
    from conformance.cli import main

    tmp = tmp_path_factory.mktemp("gost-seal")
    run = make_run(tmp / "run", FAILING)
    key = tmp / "lab.key"
    assert main(["report", "keygen", str(key), "--gost", "--name", "Испытательная лаборатория"]) == 0
    out = tmp / "package.zip"
    assert _seal(run, key, out, "--cert", str(key.with_suffix(".crt"))) == 0
    return out, key, key.with_suffix(".crt")


def test_a_gost_sealed_package_verifies_and_names_its_certificate(gost_sealed, capsys) -> None:
    package, key, cert = gost_sealed
    assert key.stat().st_mode & 0o077 == 0               # the test key is private to its owner
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read(MANIFEST))
        assert archive.read(SIGNER) == cert.read_bytes()
    assert CMS_SIGNATURE in names and SIGNATURE not in names
    assert manifest["signature"] == {"file": CMS_SIGNATURE, "signer": SIGNER, "algorithm": "gost2012-256"}
    serial = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    code, out, err = run_cli(capsys, "report", "verify", str(package), "--signer-cert", str(cert))
    assert code == 0, err
    assert "CN=Испытательная лаборатория" in out and f"serial {serial:X}" in out
    assert "ГОСТ Р 34.10-2012 256 bit" in out
    assert key.read_text().split("\n")[1] not in out + err  # the key is never printed


def test_a_wrong_certificate_is_refused_when_sealing_and_verifying(gost_sealed, tmp_path, capsys) -> None:
    package, key, cert = gost_sealed
    other_cert, _ = keygen(capsys, tmp_path / "other.key", "--gost")
    run = package.parent / "run"
    code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(key), "--cert", str(other_cert),
                           "--out", str(tmp_path / "x.zip"))
    assert code == 2 and not (tmp_path / "x.zip").exists()
    assert_one_line_error(err, "does not belong")
    code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(key), "--out", str(tmp_path / "x.zip"))
    assert code == 2
    assert_one_line_error(err, "ГОСТ key without its certificate", "--cert")
    # a package that verifies by itself is still refused when it is not signed by the expected certificate
    code, _, err = run_cli(capsys, "report", "verify", str(package), "--signer-cert", str(other_cert))
    assert code == 1 and "not by the expected certificate" in err and "signer.pem" in err, err
    # a certificate of another key swapped into the package: its hash and the CMS both object
    swapped = rewrite(package, tmp_path / "swapped.zip", SIGNER, lambda _: other_cert.read_bytes())
    problems = verify(swapped).problems
    assert any(p.startswith(f"{SIGNER}:") for p in problems) and any(p.startswith(f"{CMS_SIGNATURE}:")
                                                                     for p in problems), problems


@pytest.fixture(scope="module")
def ossl(tmp_path_factory) -> GostOpenSSL:
    o = GostOpenSSL(tmp_path_factory.mktemp("openssl-gost"))
    why = o.available()
    if why:
        pytest.skip(why)
    return o


@pytest.mark.parametrize("bits", ["256", "512"])
def test_openssl_with_the_gost_engine_verifies_our_seal(ossl, tmp_path, capsys, bits) -> None:
    """What a certifier without the suite does: unzip, `openssl cms -verify` the manifest with the
    engine, compare the files' SHA-256 with it; and a key made by OpenSSL seals as well."""
    run = make_run(tmp_path / "run", FAILING)
    cert, _ = keygen(capsys, tmp_path / "k.key", "--gost", bits)
    assert _seal(run, tmp_path / "k.key", tmp_path / "p.zip", "--cert", str(cert)) == 0
    unpacked = tmp_path / "p"
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        archive.extractall(unpacked)

    def openssl_verifies(content: Path) -> subprocess.CompletedProcess:
        return ossl.run("cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER",
                        "-in", str(unpacked / CMS_SIGNATURE), "-content", str(content),
                        "-CAfile", str(unpacked / SIGNER), "-out", os.devnull)

    checked = openssl_verifies(unpacked / MANIFEST)
    assert checked.returncode == 0 and b"Verification successful" in checked.stderr, checked.stderr
    manifest = json.loads((unpacked / MANIFEST).read_bytes())
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((unpacked / name).read_bytes()).hexdigest() == entry["sha256"], name
    altered = tmp_path / "altered.json"
    altered.write_bytes(flip_middle_byte((unpacked / MANIFEST).read_bytes()))
    assert openssl_verifies(altered).returncode != 0
    # a key and certificate made by OpenSSL itself seal a package ezhd verifies
    key_file, cert_pem = ossl.make_certificate(int(bits), cn="OpenSSL Lab")
    (tmp_path / "o.crt").write_text(cert_pem)
    assert _seal(run, key_file, tmp_path / "o.zip", "--cert", str(tmp_path / "o.crt")) == 0
    found = verify(tmp_path / "o.zip")
    assert found.ok and "CN=OpenSSL Lab" in found.signer and f"{bits} bit" in found.signer
    # a password-protected ГОСТ key: refused in one line saying why, not a traceback
    encrypted = tmp_path / "enc.key"
    ossl.check("pkcs8", "-topk8", "-in", str(key_file), "-out", str(encrypted), "-passout", "pass:pw",
               "-v2", "aes-256-cbc")
    os.environ["EZHD_TEST_GOST_PASSWORD"] = "pw"
    try:
        code, _, err = run_cli(capsys, "report", "seal", str(run), "--key", str(encrypted), "--cert",
                               str(tmp_path / "o.crt"), "--key-password-env", "EZHD_TEST_GOST_PASSWORD",
                               "--out", str(tmp_path / "e.zip"))
    finally:
        del os.environ["EZHD_TEST_GOST_PASSWORD"]
    assert code == 2
    assert_one_line_error(err, "password-protected ГОСТ key")
