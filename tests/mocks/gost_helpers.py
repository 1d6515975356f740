"""OpenSSL with Debian's `libengine-gost-openssl` as an independent ГОСТ implementation.

`GostOpenSSL.available()` says whether `openssl` can load the engine (and why not); the
commands are those of PROTOCOLS.md §8.1. `OpenSSLSigner` is a `ClientSigner` whose
signatures come from `openssl` (raw: `dgst -sign`; CMS: `cms -sign` detached).
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

from mocks.esia.testing import ClientSigner

ENGINE_CONF = """openssl_conf = openssl_def
[openssl_def]
engines = engine_section
[engine_section]
gost = gost_section
[gost_section]
engine_id = gost
default_algorithms = ALL
"""
INSTALL = "apt-get install libengine-gost-openssl"


class GostOpenSSL:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.conf = workdir / "gost.cnf"
        self.conf.write_text(ENGINE_CONF)
        self._n = 0

    def run(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "OPENSSL_CONF": str(self.conf)}
        return subprocess.run(["openssl", *args], input=data, capture_output=True, env=env,
                              timeout=60, check=False)

    def check(self, *args: str, data: bytes | None = None) -> bytes:
        r = self.run(*args, data=data)
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')[:500]}")
        return r.stdout

    def available(self) -> str | None:
        """None when OpenSSL can make ГОСТ keys; otherwise the reason."""
        if shutil.which("openssl") is None:
            return "no openssl binary"
        r = self.run("genpkey", "-algorithm", "gost2012_256", "-pkeyopt", "paramset:A")
        if r.returncode != 0:
            return f"OpenSSL cannot load the ГОСТ engine ({INSTALL})"
        return None

    def path(self, suffix: str) -> Path:
        self._n += 1
        return self.dir / f"f{self._n}{suffix}"

    def make_certificate(self, bits: int = 256, cn: str = "GOST01") -> tuple[Path, str]:
        """(key file, certificate PEM) of a self-signed ГОСТ Р 34.10-2012 certificate."""
        key, cert = self.path(".key"), self.path(".pem")
        self.check("req", "-x509", "-newkey", f"gost2012_{bits}", "-pkeyopt", "paramset:A", "-nodes",
                   "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", f"/CN={cn}",
                   "-addext", "keyUsage=critical,digitalSignature,nonRepudiation")
        return key, cert.read_text()

    def certificate_hash(self, pem: str) -> str:
        src, der = self.path(".pem"), self.path(".der")
        src.write_text(pem)
        self.check("x509", "-in", str(src), "-outform", "DER", "-out", str(der))
        return self.check("dgst", "-md_gost12_256", "-r", str(der)).split()[0].decode().upper()

    def sign_raw(self, key: Path, data: bytes, bits: int = 256) -> bytes:
        msg = self.path(".msg")
        msg.write_bytes(data)
        return self.check("dgst", f"-md_gost12_{bits}", "-sign", str(key), str(msg))

    def sign_cms(self, key: Path, cert_pem: str, data: bytes, bits: int = 256) -> bytes:
        msg, cert = self.path(".msg"), self.path(".pem")
        msg.write_bytes(data)
        cert.write_text(cert_pem)
        return self.check("cms", "-sign", "-binary", "-outform", "DER", "-md", f"md_gost12_{bits}",
                          "-signer", str(cert), "-inkey", str(key), "-in", str(msg))

    def verify_raw(self, cert_pem: str, data: bytes, signature: bytes, bits: int = 256) -> bool:
        cert, pub, msg, sig = self.path(".pem"), self.path(".pub"), self.path(".msg"), self.path(".sig")
        cert.write_text(cert_pem)
        pub.write_bytes(self.check("x509", "-in", str(cert), "-pubkey", "-noout"))
        msg.write_bytes(data)
        sig.write_bytes(signature)
        r = self.run("dgst", f"-md_gost12_{bits}", "-verify", str(pub), "-signature", str(sig), str(msg))
        return r.returncode == 0 and b"Verified OK" in r.stdout

    def verify_cms(self, cert_pem: str, data: bytes, signature: bytes) -> bool:
        cert, msg, sig = self.path(".pem"), self.path(".msg"), self.path(".der")
        cert.write_text(cert_pem)
        msg.write_bytes(data)
        sig.write_bytes(signature)
        r = self.run("cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig), "-content", str(msg),
                     "-CAfile", str(cert), "-purpose", "any", "-out", os.devnull)
        return r.returncode == 0

    def verify_self_signed(self, cert_pem: str) -> bool:
        cert = self.path(".pem")
        cert.write_text(cert_pem)
        r = self.run("verify", "-check_ss_sig", "-CAfile", str(cert), str(cert))
        return r.returncode == 0


class OpenSSLSigner(ClientSigner):
    """A journal whose ГОСТ signatures come from OpenSSL (`form` raw or cms)."""

    def __init__(self, ossl: GostOpenSSL, client_id: str, key: Path, certificate_pem: str,
                 redirect_uri: str, form: str = "raw", bits: int = 256, cryptopro_order: bool = False) -> None:
        super().__init__(client_id, None, certificate_pem, redirect_uri, form)   # type: ignore[arg-type]
        self.ossl, self.key_file, self.bits, self.cryptopro_order = ossl, key, bits, cryptopro_order

    def sign(self, text: str, form: str | None = None) -> str:
        data = text.encode("utf-8")
        if (form or self.form) == "cms":
            raw = self.ossl.sign_cms(self.key_file, self.certificate_pem, data, self.bits)
        else:
            raw = self.ossl.sign_raw(self.key_file, data, self.bits)
            if self.cryptopro_order:    # what CryptoPro writes: the same bytes reversed
                raw = raw[::-1]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
