"""The certification package: a signed zip a certifier can check without the suite's run dir.

`seal` writes, from one run (and optional waivers):

    results.json      the canonical results, secrets redacted, evidence paths → transcripts/
    report.html       the HTML report of exactly that results.json
    report.pdf        the same report as PDF (`pdf=True`, `ezhd report seal --pdf`; needs WeasyPrint)
    junit.xml         the JUnit XML of it
    transcripts/*     every evidence file, each exchange redacted (`redact.py`)
    sut.json          the SUT declaration with secrets removed
    suite.json        the suite (name, version) that sealed the run and the one that ran it
    waivers.yaml      when waivers were applied
    signer.pem        the signer's certificate, or its public key
    manifest.json     SHA-256 and size of every file above
    manifest.sig      detached signature of manifest.json (Ed25519, or RSA-PSS with SHA-256), or
    manifest.p7s      with a ГОСТ Р 34.10-2012 key (256 or 512 bit): a CMS (PKCS#7) detached
                      SignedData of manifest.json, DER, Стрибог digest, the certificate inside —
                      what `openssl cms -sign -binary` with the GOST engine writes, so OpenSSL
                      verifies it: `openssl cms -verify -engine gost -binary -inform DER
                      -in manifest.p7s -content manifest.json -CAfile signer.pem`

`verify` checks that the zip holds exactly the manifest's files with their hashes and that the
signature verifies with signer.pem; every problem names the file. Trust in the signer itself
(whose certificate it is) is the certifier's call: `verify` names the certificate (subject,
serial, algorithm) and, given the expected certificate, refuses a package signed by another.
The ГОСТ arithmetic, key files (PKCS#8 as OpenSSL's engine writes them) and CMS are those of
`mocks.esia.gost` and `mocks.esia.crypto`; `make_test_signer` writes a self-signed test key.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

import conformance
from conformance.junit import write_junit
from conformance.report.html import render_html
from conformance.report.model import RunInput, load_transcript
from conformance.report.redact import redact, redact_exchange, redact_text
from conformance.report.waivers import Applied
from conformance.results import validate_results

__all__ = ["PACKAGE_FORMAT", "MANIFEST", "SIGNATURE", "CMS_SIGNATURE", "SIGNER", "SealError", "Signer",
           "Verification", "load_signer", "make_test_signer", "seal", "verify"]

PACKAGE_FORMAT = "ezhd-package/1"
MANIFEST, SIGNATURE, CMS_SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "manifest.p7s", "signer.pem"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
_ANY_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s*[A-Za-z0-9+/]")


class SealError(ValueError):
    """The key, the certificate or the output cannot be used (one line, for the user)."""


@dataclass
class Signer:
    """A private key (Ed25519, RSA or ГОСТ) and the PEM that lets anyone verify it."""

    key: Any
    pem: bytes
    algorithm: str

    @property
    def signature_file(self) -> str:
        return CMS_SIGNATURE if self.algorithm.startswith("gost") else SIGNATURE


@dataclass
class Verification:
    """What `verify` found: `problems` empty means the package is intact."""

    problems: list[str] = field(default_factory=list)
    signer: str = ""
    files: int = 0
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def load_signer(key_path: Path | str, cert_path: Path | str | None = None, password: bytes | None = None) -> Signer:
    """The signing key from a PEM file, with the certificate (from the same file or `cert_path`)
    or else its public key as the embedded verification PEM."""
    key_path = Path(key_path)
    try:
        data = key_path.read_bytes()
        cert_data = Path(cert_path).read_bytes() if cert_path else data
    except OSError as exc:
        raise SealError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    blocks = {m.group(1).decode(): m.group(0) for m in _PEM_BLOCK.finditer(data)}
    key_pem = next((v for k, v in blocks.items() if k.endswith("PRIVATE KEY")), None)
    if key_pem is None:
        raise SealError(f"--key: {key_path} holds no PEM private key")
    cert_block = next((m.group(0) for m in _PEM_BLOCK.finditer(cert_data) if m.group(1) == b"CERTIFICATE"), None)
    if _gost_key_oid(key_pem):
        return _load_gost_signer(key_path, key_pem, cert_path, cert_block)
    try:
        key = serialization.load_pem_private_key(key_pem, password=password)
    except TypeError:
        raise SealError(f"--key: {key_path} is encrypted; name the environment variable holding its "
                        "password with --key-password-env") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        if password is not None and "1.2.643." in str(exc):
            raise SealError(f"--key: {key_path} is a password-protected ГОСТ key, which the suite cannot "
                            "decrypt; give it unencrypted (PKCS#8 PEM, as `openssl genpkey` writes it)") from None
        raise SealError(f"--key: {key_path}: cannot load the private key ({exc})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = "ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "rsa-pss-sha256"
    else:
        raise SealError(f"--key: {key_path}: a {type(key).__name__.removeprefix('_')} key; use Ed25519 or RSA")
    public_der = _public_der(key.public_key())
    if cert_block is not None:
        try:
            cert = x509.load_pem_x509_certificate(cert_block)
        except ValueError as exc:
            raise SealError(f"cannot load the certificate: {exc}") from None
        if _public_der(cert.public_key()) != public_der:
            raise SealError("the certificate does not belong to the private key given with --key")
        pem = cert.public_bytes(serialization.Encoding.PEM)
    else:
        if cert_path:
            raise SealError(f"--cert: {cert_path} holds no PEM certificate")
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return Signer(key, pem, algorithm)


def _gost_key_oid(key_pem: bytes) -> str | None:
    """The ГОСТ Р 34.10-2012 algorithm OID of an unencrypted PKCS#8 PEM key, else None."""
    from asn1crypto import core, pem as apem

    from mocks.esia import gost

    try:
        kind, _, der = apem.unarmor(key_pem)
        oid = core.Sequence.load(der)[1][0].dotted if kind == "PRIVATE KEY" else None
    except Exception:
        return None
    return oid if oid in gost.KEY_OIDS else None


def _load_gost_signer(key_path: Path, key_pem: bytes, cert_path: Path | str | None,
                      cert_block: bytes | None) -> Signer:
    from asn1crypto import pem as apem

    from mocks.esia import gost

    if cert_block is None:
        where = f"--cert: {cert_path} holds no PEM certificate" if cert_path else \
            f"--key: {key_path} is a ГОСТ key without its certificate"
        raise SealError(f"{where}; the CMS signature names its signer by the certificate "
                        "(give it with --cert FILE)")
    try:
        key = gost.GostSigningKey.load(apem.unarmor(key_pem)[2], apem.unarmor(cert_block)[2])
    except gost.GostError as exc:
        what = "the certificate does not belong to the private key given with --key" \
            if "does not belong" in str(exc) else f"--key/--cert: {exc}"
        raise SealError(what) from None
    return Signer(key, key.cert_pem.encode(), f"gost2012-{key.bits}")


def make_test_signer(algorithm: str, name: str, days: int = 365) -> tuple[bytes, bytes]:
    """(private key PEM, self-signed certificate PEM) of a new test signer: `ed25519`,
    `gost2012-256` or `gost2012-512`. For trying the seal, not for a real certification."""
    import time

    from cryptography.x509.oid import NameOID

    organisation = "ezhd-conformance test seal"
    if algorithm.startswith("gost"):
        from mocks.esia import gost

        bits = int(algorithm.rsplit("-", 1)[1])
        key = gost.GostSigningKey.generate(name, organisation, time.time(), bits=bits,
                                           param_set=gost.DEFAULT_PARAM_SET[bits], days=days)
        return key.private_pem(), key.cert_pem.encode()
    if algorithm != "ed25519":
        raise SealError(f"unknown key algorithm {algorithm!r}; use ed25519, gost2012-256 or gost2012-512")
    private = ed25519.Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .sign(private, None))
    key_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def seal(inp: RunInput, signer: Signer, out: Path | str, *, applied: Applied | None = None,
         waivers_text: str | None = None, lang: str = "ru", pdf: bool = False) -> dict[str, Any]:
    """Write the signed package of `inp` to `out`; return its manifest. `pdf`: include
    report.pdf (SealError when WeasyPrint is missing)."""
    results = copy.deepcopy(inp.results)
    run = results["run"]
    run["sut"] = redact(run.get("sut"))
    run["mocks"] = redact(run["mocks"])
    files: dict[str, bytes] = {}
    renamed: dict[str, str] = {}
    missing: list[str] = []
    for requirement in results["requirements"]:
        for test in requirement["tests"]:
            for key in ("message", "cause"):
                if test.get(key):
                    test[key] = redact_text(test[key])
            if test.get("hypothesis"):
                test["hypothesis"] = redact(test["hypothesis"])
            paths = []
            for path in test["evidence"]:
                if path not in renamed:
                    renamed[path] = _copy_transcript(path, inp, files, missing)
                paths.append(renamed[path])
            test["evidence"] = paths
    validate_results(results)

    with tempfile.TemporaryDirectory(prefix="ezhd-seal-") as tmp:
        stage = Path(tmp)
        for name, data in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_bytes(data)
        files["results.json"] = (json.dumps(results, ensure_ascii=False, indent=2) + "\n").encode()
        (stage / "results.json").write_bytes(files["results.json"])
        staged = RunInput(results, stage / "results.json", stage, None)
        files["report.html"] = render_html(staged, applied, lang=lang).encode()
        if pdf:
            from conformance.report.pdf import PdfUnavailable, render_pdf

            try:
                files["report.pdf"] = render_pdf(staged, applied, lang=lang)
            except PdfUnavailable as exc:
                raise SealError(f"--pdf: {exc}") from None
        write_junit(results, stage / "junit.xml", waived=_waived_notes(applied))
        files["junit.xml"] = (stage / "junit.xml").read_bytes()
    files["sut.json"] = (json.dumps(run["sut"], ensure_ascii=False, indent=2) + "\n").encode()
    from conformance.results import suite_commit

    suite = {"name": "ezhd-conformance", "version": conformance.__version__, "run_by": run["tool"]}
    if suite_commit():
        suite["commit"] = suite_commit()
    files["suite.json"] = (json.dumps(suite, ensure_ascii=False, indent=2) + "\n").encode()
    if waivers_text is not None:
        files["waivers.yaml"] = redact_text(waivers_text).encode()
    files[SIGNER] = signer.pem
    for name, data in files.items():
        if name != SIGNER and _ANY_PRIVATE_KEY.search(data):
            raise RuntimeError(f"{name}: a private key survived redaction; not sealing")

    manifest = {
        "format": PACKAGE_FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "suite": {"name": "ezhd-conformance", "version": conformance.__version__},
        "run": {"started": run["started"], "finished": run["finished"], "seed": run["seed"],
                "base_level": results["summary"]["base_level"]["result"]},
        "missing_evidence": missing,
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())},
        "signature": {"file": signer.signature_file, "signer": SIGNER, "algorithm": signer.algorithm},
    }
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    signature = _sign(signer, manifest_bytes)
    out = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(signer.signature_file, signature)
    try:
        out.write_bytes(buffer.getvalue())
    except OSError as exc:
        raise SealError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    return manifest


def verify(package: Path | str, expected_signer: bytes | None = None) -> Verification:
    """Check every hash and the signature of a package; each problem names its file.
    `expected_signer`: the PEM certificate the certifier trusts; a package signed with any other
    key is refused."""
    found = Verification()
    try:
        archive = zipfile.ZipFile(package)
    except (OSError, zipfile.BadZipFile) as exc:
        found.problems.append(f"{package}: not a readable zip file ({exc})")
        return found
    with archive:
        contents: dict[str, bytes] = {}
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                contents[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:  # bad CRC, broken stream
                found.problems.append(f"{info.filename}: damaged in the zip ({exc})")
            except Exception as exc:  # zlib.error and kin: damaged compressed data
                found.problems.append(f"{info.filename}: damaged in the zip ({type(exc).__name__}: {exc})")
    damaged = {p.split(":", 1)[0] for p in found.problems}
    if MANIFEST not in contents:
        if MANIFEST not in damaged:
            found.problems.append(f"{MANIFEST}: missing")
        return found
    try:
        manifest = json.loads(contents[MANIFEST])
        listed = manifest["files"]
        assert isinstance(listed, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        found.problems.append(f"{MANIFEST}: not a package manifest (changed after sealing?)")
        return found
    found.manifest = manifest
    found.files = len(listed)
    for name, entry in sorted(listed.items()):
        if name not in contents:
            if name not in damaged:
                found.problems.append(f"{name}: listed in {MANIFEST} but missing from the package")
            continue
        digest = hashlib.sha256(contents[name]).hexdigest()
        if not isinstance(entry, dict) or digest != entry.get("sha256"):
            found.problems.append(f"{name}: SHA-256 differs from {MANIFEST} (changed after sealing)")
    declared = (manifest.get("signature") or {}).get("file") if isinstance(manifest.get("signature"), dict) else None
    signature_file = declared if declared in (SIGNATURE, CMS_SIGNATURE) else SIGNATURE
    for name in sorted(set(contents) - set(listed) - {MANIFEST, signature_file}):
        found.problems.append(f"{name}: not listed in {MANIFEST} (added after sealing)")

    public_key, found.signer = _load_verifier(contents.get(SIGNER), found)
    if signature_file not in contents:
        if signature_file not in damaged:
            found.problems.append(f"{signature_file}: missing")
    elif public_key is not None and signature_file == CMS_SIGNATURE:
        why = _verify_cms(contents[SIGNER], contents[CMS_SIGNATURE], contents[MANIFEST])
        if why:
            found.problems.append(f"{CMS_SIGNATURE}: the CMS signature does not verify over {MANIFEST} with the "
                                  f"certificate in {SIGNER} ({why}; changed after sealing?)")
    elif public_key is not None:
        try:
            signature = base64.b64decode(contents[SIGNATURE].strip(), validate=True)
            _verify_signature(public_key, signature, contents[MANIFEST])
        except (InvalidSignature, ValueError):
            found.problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} with the key in "
                                  f"{SIGNER} ({MANIFEST} or {SIGNATURE} was changed after sealing)")
    if expected_signer is not None and SIGNER in contents:
        _check_expected_signer(contents[SIGNER], expected_signer, found)
    return found


def _check_expected_signer(pem: bytes, expected: bytes, found: Verification) -> None:
    """A problem unless signer.pem is the expected certificate (or its key)."""
    try:
        theirs = _signer_der(pem)
        ours = _signer_der(expected)
    except ValueError as exc:
        found.problems.append(f"--signer-cert: not a PEM certificate or public key ({exc})")
        return
    if theirs != ours:
        expected_name = _describe_pem(expected)
        found.problems.append(f"{SIGNER}: the package is signed by {found.signer or 'an unreadable signer'}, "
                              f"not by the expected {expected_name}")


def _signer_der(pem: bytes) -> bytes:
    """The DER of the first certificate (or else public key) in a PEM text."""
    from asn1crypto import pem as apem

    for m in _PEM_BLOCK.finditer(pem):
        if m.group(1) in (b"CERTIFICATE", b"PUBLIC KEY"):
            return apem.unarmor(m.group(0))[2]
    raise ValueError("no CERTIFICATE or PUBLIC KEY block")


def _describe_pem(pem: bytes) -> str:
    scratch = Verification()
    return _load_verifier(pem, scratch)[1] or "certificate"


def _verify_cms(cert_pem: bytes, signature: bytes, data: bytes) -> str | None:
    """Why the detached CMS `signature` of `data` does not verify with `cert_pem`; None when it does."""
    from mocks.esia.crypto import ClientCertificate, SignatureError, verify_cms_detached

    try:
        verify_cms_detached(signature, data, ClientCertificate.from_pem(cert_pem))
    except (SignatureError, ValueError) as exc:
        return str(exc).replace("the registered certificate", SIGNER).replace("the signed string", MANIFEST)
    return None


def _copy_transcript(path: str, inp: RunInput, files: dict[str, bytes], missing: list[str]) -> str:
    """Copy one evidence file, redacted, under transcripts/; its path in the package."""
    transcript = load_transcript(path, inp.base_dir, limit=None)
    if not transcript.found:
        missing.append(path)
        return path
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name) or "transcript.jsonl"
    name = f"transcripts/{len([n for n in files if n.startswith('transcripts/')]) + 1:03d}-{stem}"
    lines = [json.dumps(redact_exchange(e), ensure_ascii=False) for e in transcript.exchanges]
    files[name] = ("\n".join(lines) + "\n").encode() if lines else b""
    return name


def _waived_notes(applied: Applied | None) -> dict[tuple[str, str], str]:
    if not applied:
        return {}
    return {key: f"waived: {w.reason} ({w.ticket}, expires {w.expires.isoformat()})"
            for key, w in applied.waived.items()}


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign(signer: Signer, data: bytes) -> bytes:
    """The content of the signature file: base64 of a raw signature, or a DER CMS (ГОСТ)."""
    if signer.algorithm.startswith("gost"):
        return signer.key.cms_detached(data)
    if signer.algorithm == "ed25519":
        return base64.b64encode(signer.key.sign(data)) + b"\n"
    return base64.b64encode(signer.key.sign(data, _PSS, hashes.SHA256())) + b"\n"


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _verify_signature(public_key: Any, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, _PSS, hashes.SHA256())
    else:
        raise InvalidSignature("unsupported key type")


def _load_verifier(pem: bytes | None, found: Verification) -> tuple[Any, str]:
    if pem is None:
        found.problems.append(f"{SIGNER}: missing")
        return None, ""
    try:
        if b"BEGIN CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            key, algorithm = _certificate_key(cert)
            fingerprint = cert.fingerprint(hashes.SHA256()).hex()
            return key, (f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number:X}, "
                         f"{algorithm}, SHA-256 {fingerprint})")
        key = serialization.load_pem_public_key(pem)
        return key, f"public key SHA-256 {hashlib.sha256(_public_der(key)).hexdigest()}"
    except (ValueError, UnsupportedAlgorithm) as exc:
        found.problems.append(f"{SIGNER}: cannot load the certificate or public key ({exc})")
        return None, ""


def _certificate_key(cert: x509.Certificate) -> tuple[Any, str]:
    """The public key of a certificate (a GostPublicKey for ГОСТ) and its algorithm's name."""
    from mocks.esia import gost

    try:
        gost_key = gost.GostPublicKey.from_certificate(cert.public_bytes(serialization.Encoding.DER))
    except gost.GostError as exc:
        raise ValueError(str(exc)) from None
    if gost_key is not None:
        return gost_key, f"ГОСТ Р 34.10-2012 {gost_key.bits} bit"
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key, f"RSA {key.key_size} bit"
    return key, "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else type(key).__name__.removeprefix("_")
