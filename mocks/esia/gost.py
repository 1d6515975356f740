"""ГОСТ Р 34.10-2012 (256 and 512 bit) for mock ЕСИА, on gostcrypto and asn1crypto.

- `GostPublicKey.from_certificate(der)`: the key of a ГОСТ certificate (RFC 9215 / R 1323565.1.023:
  X then Y, each least significant byte first, in an OCTET STRING inside the BIT STRING).
- `verify(key, data, signature)`: a raw signature in **OpenSSL's byte order** — s then r, each most
  significant byte first — over Стрибог of `data` (PROTOCOLS.md §8.1: what the real ЕСИА expects;
  CryptoPro's output is the same bytes reversed and is therefore refused).
- `GostSigningKey.generate(...)`: a key pair and its self-signed certificate (mock ЕСИА's token
  signing key); `sign(data)` gives OpenSSL's byte order; `cms_detached(data)` a CMS SignedData as
  `openssl cms -sign -binary` writes it.
- `GostSigningKey.private_pem()` / `GostSigningKey.load(key_pem, cert_der)`: the private key as
  PKCS#8 the way OpenSSL's ГОСТ engine writes and reads it (the scalar least significant byte
  first in the OCTET STRING), so keys move between OpenSSL and this module.

Mapping onto gostcrypto (checked against OpenSSL + `libengine-gost-openssl` in the tests):
gostcrypto reads the digest as a big-endian number, so the Стрибог digest is reversed first; it
takes the key as X‖Y big-endian and the signature as r‖s big-endian.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from asn1crypto import core, keys, pem, x509
from gostcrypto import gosthash, gostsignature

# Key algorithm, signature algorithm and digest OIDs (TC 26), by key size in bits.
KEY_OIDS = {"1.2.643.7.1.1.1.1": 256, "1.2.643.7.1.1.1.2": 512}
SIGNATURE_OIDS = {"1.2.643.7.1.1.3.2": 256, "1.2.643.7.1.1.3.3": 512}
DIGEST_OIDS = {"1.2.643.7.1.1.2.2": 256, "1.2.643.7.1.1.2.3": 512}
KEY_OID = {bits: oid for oid, bits in KEY_OIDS.items()}
SIGNATURE_OID = {bits: oid for oid, bits in SIGNATURE_OIDS.items()}
DIGEST_OID = {bits: oid for oid, bits in DIGEST_OIDS.items()}
DIGEST_NAME = {256: "streebog256", 512: "streebog512"}

# Parameter-set OIDs seen in certificates -> gostcrypto's curve names (RFC 7836 §A, RFC 4357:
# the CryptoPro 2001 sets are the TC 26 256-bit sets B, C, D).
CURVE_OF = {
    "1.2.643.2.2.35.1": "id-tc26-gost-3410-2012-256-paramSetB",   # CryptoPro-A
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",   # CryptoPro-B
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",   # CryptoPro-C
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",   # CryptoPro-XchA
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",   # CryptoPro-XchB
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.7.1.2.1.2.1": "id-tc26-gost-3410-12-512-paramSetA",
    "1.2.643.7.1.2.1.2.2": "id-tc26-gost-3410-12-512-paramSetB",
    "1.2.643.7.1.2.1.2.3": "id-tc26-gost-3410-2012-512-paramSetC",
}
CRYPTOPRO_A = "1.2.643.2.2.35.1"
# the parameter set of a new key by size: what `openssl genpkey -pkeyopt paramset:A` chooses
DEFAULT_PARAM_SET = {256: CRYPTOPRO_A, 512: "1.2.643.7.1.2.1.2.1"}


class GostError(ValueError):
    """Not a usable ГОСТ key, certificate or signature (the text says why)."""


class _KeyParams(core.Sequence):
    _fields = [("public_key_param_set", core.ObjectIdentifier),
               ("digest_param_set", core.ObjectIdentifier, {"optional": True})]


class _KeyAlgorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", _KeyParams, {"optional": True})]


class _PublicKeyInfo(core.Sequence):
    # asn1crypto's own PublicKeyInfo does not know the ГОСТ algorithms.
    _fields = [("algorithm", _KeyAlgorithm), ("public_key", core.OctetBitString)]


class _PrivateKeyInfo(core.Sequence):
    # PKCS#8 as the ГОСТ engine writes it; privateKey holds the scalar, little-endian.
    _fields = [("version", core.Integer), ("private_key_algorithm", _KeyAlgorithm),
               ("private_key", core.OctetString)]


def digest(data: bytes, bits: int) -> bytes:
    return bytes(gosthash.new(DIGEST_NAME[bits], data=data).digest())


def _engine(bits: int, curve: str):
    mode = gostsignature.MODE_256 if bits == 256 else gostsignature.MODE_512
    return gostsignature.new(mode, gostsignature.CURVES_R_1323565_1_024_2019[curve])


@dataclass(frozen=True)
class GostPublicKey:
    bits: int
    param_set: str      # OID
    x: bytes            # big-endian
    y: bytes

    @classmethod
    def from_certificate(cls, der: bytes) -> "GostPublicKey | None":
        """The ГОСТ key of a DER certificate; None when the key is not ГОСТ Р 34.10-2012."""
        try:
            spki_der = x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"].dump()
            spki = _PublicKeyInfo.load(spki_der)
            oid = spki["algorithm"]["algorithm"].dotted
        except Exception as exc:
            raise GostError(f"cannot read the certificate: {exc}") from None
        if oid not in KEY_OIDS:
            return None
        bits = KEY_OIDS[oid]
        params = spki["algorithm"]["parameters"]
        if params.native is None:
            raise GostError("ГОСТ key without parameters")
        param_set = params["public_key_param_set"].dotted
        if param_set not in CURVE_OF:
            raise GostError(f"unsupported ГОСТ parameter set {param_set}")
        try:
            point = core.OctetString.load(spki["public_key"].native).native
        except Exception as exc:
            raise GostError(f"ГОСТ public key is not an OCTET STRING: {exc}") from None
        size = bits // 8
        if len(point) != 2 * size:
            raise GostError(f"ГОСТ {bits} public key has {len(point)} bytes, expected {2 * size}")
        return cls(bits, param_set, point[:size][::-1], point[size:][::-1])

    def verify(self, data: bytes, signature: bytes, *, prehashed: bytes | None = None) -> bool:
        """A raw signature s‖r (big-endian, OpenSSL's order) over Стрибог(`data`), or over
        the given digest when `prehashed`."""
        size = self.bits // 8
        if len(signature) != 2 * size:
            return False
        h = prehashed if prehashed is not None else digest(data, self.bits)
        r_s = signature[size:] + signature[:size]
        try:
            return bool(_engine(self.bits, CURVE_OF[self.param_set]).verify(
                bytearray(self.x + self.y), bytearray(h[::-1]), bytearray(r_s)))
        except Exception:
            return False

    def spki(self) -> bytes:
        """DER SubjectPublicKeyInfo (for certificates)."""
        point = core.OctetString(self.x[::-1] + self.y[::-1]).dump()
        params = {"public_key_param_set": self.param_set}
        if self.bits == 256:
            params["digest_param_set"] = DIGEST_OID[256]
        return _PublicKeyInfo({"algorithm": {"algorithm": KEY_OID[self.bits], "parameters": params},
                               "public_key": point}).dump()


@dataclass
class GostSigningKey:
    """A ГОСТ key pair with a self-signed certificate (DER and PEM)."""
    bits: int
    param_set: str
    private: bytes      # big-endian scalar
    public: GostPublicKey
    cert_der: bytes
    cert_pem: str

    def sign(self, data: bytes) -> bytes:
        """Raw signature in OpenSSL's order (s‖r, big-endian) over Стрибог(`data`)."""
        h = digest(data, self.bits)
        r_s = bytes(_engine(self.bits, CURVE_OF[self.param_set]).sign(bytearray(self.private),
                                                                        bytearray(h[::-1])))
        size = self.bits // 8
        return r_s[size:] + r_s[:size]

    def cms_detached(self, data: bytes) -> bytes:
        """A CMS SignedData, detached, DER, signed over signed attributes (contentType,
        messageDigest), the certificate included — what `openssl cms -sign -binary -md
        md_gost12_256` writes."""
        from asn1crypto import cms

        cert = x509.Certificate.load(self.cert_der)
        digest_alg = {"algorithm": DIGEST_OID[self.bits]}
        attrs = cms.CMSAttributes([cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                                   cms.CMSAttribute({"type": "message_digest",
                                                     "values": [digest(data, self.bits)]})])
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": digest_alg, "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": KEY_OID[self.bits]},
            "signature": self.sign(attrs.dump()),
        })
        signed = cms.SignedData({"version": "v1", "digest_algorithms": [digest_alg],
                                 "encap_content_info": {"content_type": "data"},
                                 "certificates": [cert], "signer_infos": [signer]})
        return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()

    def private_pem(self) -> bytes:
        """The private key as PKCS#8 PEM, unencrypted (as `openssl genpkey` writes it)."""
        params = {"public_key_param_set": self.param_set, "digest_param_set": DIGEST_OID[self.bits]}
        info = _PrivateKeyInfo({"version": 0, "private_key": self.private[::-1],
                                "private_key_algorithm": {"algorithm": KEY_OID[self.bits], "parameters": params}})
        return pem.armor("PRIVATE KEY", info.dump())

    @classmethod
    def load(cls, key_der: bytes, cert_der: bytes) -> "GostSigningKey":
        """The key of a PKCS#8 DER (OpenSSL's ГОСТ engine format) with its certificate; GostError
        when either is not ГОСТ Р 34.10-2012 or the certificate is of another key."""
        try:
            info = _PrivateKeyInfo.load(key_der)
            oid = info["private_key_algorithm"]["algorithm"].dotted
            params = info["private_key_algorithm"]["parameters"]
            raw = info["private_key"].native
        except Exception as exc:
            raise GostError(f"not a PKCS#8 private key: {exc}") from None
        if oid not in KEY_OIDS:
            raise GostError(f"not a ГОСТ Р 34.10-2012 key (algorithm {oid})")
        bits = KEY_OIDS[oid]
        if params.native is None or params["public_key_param_set"].dotted not in CURVE_OF:
            raise GostError("ГОСТ key without a supported parameter set")
        param_set = params["public_key_param_set"].dotted
        if len(raw) != bits // 8:   # older engines: a nested OCTET STRING (little-endian) or INTEGER
            try:
                inner = core.load(raw)
            except Exception as exc:
                raise GostError(f"cannot read the ГОСТ private key: {exc}") from None
            raw = (inner.native.to_bytes(bits // 8, "big")[::-1] if isinstance(inner, core.Integer)
                   else inner.native)
        private = bytes(raw)[::-1]
        public = GostPublicKey.from_certificate(cert_der)
        if public is None:
            raise GostError("the certificate's key is not ГОСТ Р 34.10-2012")
        if public != _public_of(bits, param_set, private):
            raise GostError("the certificate does not belong to the private key")
        return cls(bits, param_set, private, public, cert_der, pem.armor("CERTIFICATE", cert_der).decode())

    @classmethod
    def generate(cls, common_name: str, organisation: str, now: float, *, bits: int = 256,
                 param_set: str = CRYPTOPRO_A, days: int = 3650) -> "GostSigningKey":
        curve = gostsignature.CURVES_R_1323565_1_024_2019[CURVE_OF[param_set]]
        q = curve["q"]
        private = (secrets.randbelow(q - 1) + 1).to_bytes(bits // 8, "big")
        public = _public_of(bits, param_set, private)
        name = x509.Name.build({"common_name": common_name, "organization_name": organisation})
        start = dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
        tbs = x509.TbsCertificate({
            "version": "v3",
            "serial_number": secrets.randbits(63) + 1,
            "signature": {"algorithm": SIGNATURE_OID[bits]},
            "issuer": name,
            "validity": {"not_before": x509.Time({"utc_time": start}),
                         "not_after": x509.Time({"utc_time": start + dt.timedelta(days=days)})},
            "subject": name,
            "subject_public_key_info": keys.PublicKeyInfo.load(public.spki()),
            "extensions": [{"extn_id": "key_usage", "critical": True,
                            "extn_value": {"digital_signature", "non_repudiation"}}],
        })
        me = cls(bits, param_set, private, public, b"", "")
        cert = x509.Certificate({"tbs_certificate": tbs,
                                 "signature_algorithm": {"algorithm": SIGNATURE_OID[bits]},
                                 "signature_value": me.sign(tbs.dump())})
        me.cert_der = cert.dump()
        me.cert_pem = pem.armor("CERTIFICATE", me.cert_der).decode()
        return me



def _public_of(bits: int, param_set: str, private: bytes) -> GostPublicKey:
    size = bits // 8
    xy = bytes(_engine(bits, CURVE_OF[param_set]).public_key_generate(bytearray(private)))
    return GostPublicKey(bits, param_set, xy[:size], xy[size:])
