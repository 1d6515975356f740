"""Client authentication of mock ЕСИА: certificate hash, signed strings, signature checks.

What is verified (PROTOCOLS.md §1.3–§1.5):

- `client_certificate_hash`: ГОСТ Р 34.11-2012/256 (Стрибог-256) over the DER form of the
  certificate registered for the client, 64 hex digits, compared case-insensitively.
- `client_secret`: a signature, base64url (padding optional), over the UTF-8 string of the
  flow version, verified with the public key of the *registered* certificate:

  | flow | signed string |
  |---|---|
  | v1 ac / te                 | scope + timestamp + client_id + state |
  | v2 ac                      | client_id + scope + timestamp + state + redirect_uri |
  | v3 te, authorization_code  | client_id + scope + timestamp + state + redirect_uri + code |
  | v3 te, refresh_token       | see `REFRESH_VARIANTS` |
  | v3 te, client_credentials  | client_id + scope + timestamp + state + redirect_uri |

  ilimurzin/esia inserts `scope_org` after `scope`; when the request carries a non-empty
  `scope_org` both strings (with and without it) are accepted (esia.yaml, open question 1).

- Forms of signature: v1 only a CMS/PKCS#7 *detached* SignedData (DER). v2/v3 either such a
  CMS detached signature or a raw signature. Raw: for a ГОСТ Р 34.10-2012 (256 or 512)
  certificate, s‖r big-endian over Стрибог of the string — OpenSSL's byte order, which the real
  ЕСИА expects (PROTOCOLS.md §8.1); CryptoPro's unreversed bytes are refused with ESIA-007053
  (the journal entry says so). For RSA test certificates RSASSA-PKCS1-v1_5 over SHA-256 (what
  `openssl_sign` / `cryptography` produce). ГОСТ arithmetic is in `gost.py`.

CMS verification (asn1crypto parses, `cryptography` verifies): the SignedData must be
detached (no encapsulated content); for a signer with signed attributes the `messageDigest`
attribute must equal the digest of the signed string and the signature is checked over the
DER `SET OF` of the signed attributes; without signed attributes, over the string itself.
The signer (by issuer and serial number, and the embedded certificate when present) must be
the registered certificate.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from gostcrypto import gosthash

from mocks.esia import gost

# Refresh string (open question 1, PROTOCOLS.md §1.5/§6): ilimurzin/esia `refreshToken` signs
# the v2 string client_id+scope+timestamp+state+redirect_uri (no code); AISGorod
# `EsiaRestService.RefreshTokensAsync` signs client_id+scope+timestamp+state+refresh_token.
# The brief follows ilimurzin; esia.yaml (q1) accepts both, so by default both are accepted
# and `Settings.refresh_secret_variants` can narrow it to one.
REFRESH_VARIANTS = ("ilimurzin", "aisgorod")


class SignatureError(Exception):
    """The signature does not verify; the message explains why (for the journal only)."""


class NotSupported(SignatureError):
    """A key type the mock cannot check (neither RSA, EC nor ГОСТ Р 34.10-2012)."""


def certificate_hash(der: bytes) -> str:
    """ГОСТ Р 34.11-2012/256 of the certificate's DER form, 64 upper-case hex digits."""
    return gosthash.new("streebog256", data=der).hexdigest().upper()


@dataclass(frozen=True)
class ClientCertificate:
    pem: str
    cert: x509.Certificate
    der: bytes
    hash: str
    gost: gost.GostPublicKey | None = None

    @property
    def algorithm(self) -> str:
        """`GOST3410_2012_256` / `GOST3410_2012_512` for ГОСТ certificates, else `RSA` (or EC)."""
        return f"GOST3410_2012_{self.gost.bits}" if self.gost else "RSA"

    @classmethod
    def from_pem(cls, pem: str | bytes) -> "ClientCertificate":
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            cert = x509.load_der_x509_certificate(data)
        der = cert.public_bytes(serialization.Encoding.DER)
        try:
            key = gost.GostPublicKey.from_certificate(der)
        except gost.GostError as exc:
            raise ValueError(str(exc)) from None
        return cls(cert.public_bytes(serialization.Encoding.PEM).decode(), cert, der,
                   certificate_hash(der), key)

    def matches_hash(self, value: str) -> bool:
        return value.strip().upper() == self.hash


# --- signed strings --------------------------------------------------------------------------

def v1_string(p: dict[str, str]) -> list[str]:
    return [p.get("scope", "") + p.get("timestamp", "") + p.get("client_id", "") + p.get("state", "")]


def v2_strings(p: dict[str, str], tail: str = "") -> list[str]:
    """`client_id + scope [+ scope_org] + timestamp + state + redirect_uri` + tail."""
    head = p.get("client_id", "") + p.get("scope", "")
    rest = p.get("timestamp", "") + p.get("state", "") + p.get("redirect_uri", "") + tail
    out = [head + rest]
    if p.get("scope_org"):
        out.append(head + p["scope_org"] + rest)
    return out


def te_strings(p: dict[str, str], refresh_variants: tuple[str, ...] = REFRESH_VARIANTS) -> list[str]:
    grant = p.get("grant_type")
    if grant == "authorization_code":
        return v2_strings(p, p.get("code", ""))
    if grant == "refresh_token":
        out: list[str] = []
        if "ilimurzin" in refresh_variants:
            out += v2_strings(p)
        if "aisgorod" in refresh_variants:
            out.append(p.get("client_id", "") + p.get("scope", "") + p.get("timestamp", "")
                       + p.get("state", "") + p.get("refresh_token", ""))
        return out
    return v2_strings(p)


# --- verification ----------------------------------------------------------------------------

def b64url_decode(text: str) -> bytes:
    text = text.strip()
    if not _B64URL_RE.fullmatch(text):
        raise SignatureError("client_secret is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"client_secret is not base64url: {exc}") from None


_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _hash_for(name: str) -> hashes.HashAlgorithm:
    table = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
             "sha512": hashes.SHA512()}
    if name not in table:
        raise SignatureError(f"unsupported digest algorithm {name}")
    return table[name]


def _verify_gost(registered: "ClientCertificate", signature: bytes, data: bytes,
                 prehashed: bytes | None = None) -> None:
    key = registered.gost
    assert key is not None
    if key.verify(data, signature, prehashed=prehashed):
        return
    if key.verify(data, signature[::-1], prehashed=prehashed):
        raise SignatureError("ГОСТ signature in CryptoPro's byte order: ЕСИА expects it reversed "
                             "(s then r, most significant byte first, as OpenSSL writes it)")
    raise SignatureError(f"ГОСТ {key.bits} signature does not verify with the registered certificate")


def _verify_with_key(cert: x509.Certificate, signature: bytes, data: bytes,
                     algo: hashes.HashAlgorithm, pss: bool = False) -> None:
    try:
        key = cert.public_key()
    except Exception:  # cryptography cannot load e.g. ГОСТ 2001 keys
        raise NotSupported("the registered certificate's key type is not supported") from None
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = (padding.PSS(padding.MGF1(algo), padding.PSS.AUTO) if pss else padding.PKCS1v15())
            key.verify(signature, data, pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algo))
        else:
            raise SignatureError(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise SignatureError("signature does not verify with the registered certificate") from None


def looks_like_cms(raw: bytes) -> bool:
    if len(raw) < 16 or raw[0] != 0x30:
        return False
    try:
        info = cms.ContentInfo.load(raw)
        return info["content_type"].native == "signed_data"
    except Exception:
        return False


def verify_cms_detached(raw: bytes, data: bytes, registered: ClientCertificate) -> None:
    try:
        info = cms.ContentInfo.load(raw)
        if info["content_type"].native != "signed_data":
            raise SignatureError("CMS content is not SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]["content"]
        if encap is not None and encap.native not in (None, b""):
            raise SignatureError("CMS signature is not detached (it encapsulates content)")
        signers = list(signed["signer_infos"])
        certs = [c.chosen.dump() for c in signed["certificates"] or []
                 if c.name == "certificate"]
    except SignatureError:
        raise
    except Exception as exc:
        raise SignatureError(f"cannot parse the CMS signature: {exc}") from None
    if not signers:
        raise SignatureError("CMS SignedData has no signer")
    if certs and registered.der not in certs:
        raise SignatureError("the certificate in the CMS signature is not the registered one")
    errors = []
    for signer in signers:
        try:
            _verify_signer(signer, data, registered)
            return
        except NotSupported:
            raise
        except SignatureError as exc:
            errors.append(str(exc))
    raise SignatureError("; ".join(errors))


def _verify_signer(signer: cms.SignerInfo, data: bytes, registered: ClientCertificate) -> None:
    cert = registered.cert
    sid = signer["sid"]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        if serial != cert.serial_number or issuer != cert.issuer.public_bytes():
            raise SignatureError("the CMS signer is not the registered certificate")
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    sig_oid = signer["signature_algorithm"]["algorithm"].dotted
    gost_bits = gost.DIGEST_OIDS.get(digest_oid)
    if registered.gost is not None or gost_bits or sig_oid.startswith("1.2.643"):
        if registered.gost is None or gost_bits != registered.gost.bits:
            raise SignatureError("the CMS digest or signature algorithm does not fit the registered "
                                 "certificate's key")
        if gost.KEY_OIDS.get(sig_oid, gost.SIGNATURE_OIDS.get(sig_oid)) != registered.gost.bits:
            raise SignatureError(f"unexpected CMS signature algorithm {sig_oid} for a ГОСТ key")

        def digest_of(blob: bytes) -> bytes:
            return gost.digest(blob, gost_bits)
    else:
        algo = _hash_for(signer["digest_algorithm"]["algorithm"].native)

        def digest_of(blob: bytes) -> bytes:
            h = hashes.Hash(algo)
            h.update(blob)
            return h.finalize()
    signature = signer["signature"].native
    attrs = signer["signed_attrs"]
    if attrs is not None and len(attrs):
        digest = None
        for attr in attrs:
            if attr["type"].native == "message_digest":
                digest = attr["values"][0].native
        if digest is None:
            raise SignatureError("CMS signed attributes lack messageDigest")
        if digest != digest_of(data):
            raise SignatureError("CMS messageDigest does not match the signed string")
        blob = attrs.dump()
        to_verify = b"\x31" + blob[1:]  # [0] IMPLICIT -> universal SET OF (RFC 5652 §5.4)
    else:
        to_verify = data
    if registered.gost is not None:
        _verify_gost(registered, signature, to_verify)
    else:
        _verify_with_key(cert, signature, to_verify, algo,
                         pss=signer["signature_algorithm"]["algorithm"].native == "rsassa_pss")


def verify_secret(secret: str, candidates: list[str], registered: ClientCertificate,
                  *, cms_only: bool = False) -> str:
    """Check `client_secret` against any of the candidate strings; return the form used
    (`cms` or `raw`); raise SignatureError otherwise (the first reason found)."""
    raw = b64url_decode(secret)
    if looks_like_cms(raw):
        last: SignatureError | None = None
        for text in candidates:
            try:
                verify_cms_detached(raw, text.encode("utf-8"), registered)
                return "cms"
            except NotSupported:
                raise
            except SignatureError as exc:
                last = exc
        raise last or SignatureError("no signed string")
    if cms_only:
        raise SignatureError("the v1 flow needs a PKCS#7/CMS detached signature")
    if registered.gost is not None:
        first: SignatureError | None = None
        for text in candidates:
            try:
                _verify_gost(registered, raw, text.encode("utf-8"))
                return "raw"
            except SignatureError as exc:
                first = first or exc
        raise first or SignatureError("no signed string")
    for text in candidates:
        try:
            _verify_with_key(registered.cert, raw, text.encode("utf-8"), hashes.SHA256())
            return "raw"
        except SignatureError:
            continue
    raise SignatureError("raw signature does not verify with the registered certificate "
                         "over the expected string")


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
