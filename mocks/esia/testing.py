"""In-process use of mock ЕСИА: test credentials, a signing helper, and no-socket transports.

- `make_client_credentials(client_id)` — an RSA key and a self-signed certificate for a test
  information system (sandbox ЕСИА accepts self-signed certificates, PROTOCOLS.md §1.2);
  `make_gost_client_credentials(client_id, bits)` — the same with a ГОСТ Р 34.10-2012 key
  (pure Python, slow: ~0.3 s per signature).
- `ClientSigner` — builds v2/ac query parameters and v3/te forms with a correct
  `client_secret` (raw RSASSA-PKCS1-v1_5/SHA-256 or CMS detached, base64url without padding)
  and a fresh `timestamp`, the way a journal must (AUTH-02).
- `sign_in(client, ac_url, username, password)` — posts the mock's login form with an
  httpx client that keeps cookies, the way the suite signs in without a browser.
- `asgi_transport(app)` (async httpx) and `SyncASGITransport(app)` (sync httpx: the ASGI
  app runs on an anyio blocking portal in a background thread).
- `respx_router(app, base_url)` — a respx router sending every request for `base_url` to the
  app (respx's own `ASGIHandler` for async clients, `SyncASGITransport` for sync ones);
  `responses_router(app, base_url)` — the same for `requests` through `responses`.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from typing import Any, Iterable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mocks.esia.crypto import certificate_hash
from mocks.esia.gost import GostSigningKey

DEFAULT_SCOPE = "openid fullname birthdate gender snils"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def esia_timestamp(when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.timezone(dt.timedelta(hours=3)))
    return when.strftime("%Y.%m.%d %H:%M:%S %z")


def make_client_credentials(client_id: str = "EZHD01", days: int = 365,
                            key_size: int = 2048) -> tuple[rsa.RSAPrivateKey, str]:
    """(private key, certificate PEM) of a self-signed RSA test certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ezhd-conformance test IS")])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def make_gost_client_credentials(client_id: str = "EZHD01", bits: int = 256
                                 ) -> tuple[GostSigningKey, str]:
    """(ГОСТ key, certificate PEM) of a self-signed ГОСТ Р 34.10-2012 test certificate."""
    import time
    from mocks.esia.gost import DEFAULT_PARAM_SET
    key = GostSigningKey.generate(client_id, "ezhd-conformance test IS", time.time(), bits=bits,
                                  param_set=DEFAULT_PARAM_SET[bits], days=365)
    return key, key.cert_pem


def gost_cms_detached(key: GostSigningKey, data: bytes) -> bytes:
    """A detached ГОСТ CMS signature of `data` (`GostSigningKey.cms_detached`)."""
    return key.cms_detached(data)


class ClientSigner:
    """Signs requests as a registered information system (RSA, or ГОСТ with a
    `GostSigningKey`: raw in OpenSSL's byte order, or CMS detached)."""

    def __init__(self, client_id: str, key: rsa.RSAPrivateKey | GostSigningKey, certificate_pem: str,
                 redirect_uri: str, form: str = "raw") -> None:
        self.client_id = client_id
        self.key = key
        self.certificate_pem = certificate_pem
        self.cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.certificate_hash = certificate_hash(self.cert.public_bytes(serialization.Encoding.DER))
        self.redirect_uri = redirect_uri
        self.form = form

    def sign(self, text: str, form: str | None = None) -> str:
        data = text.encode("utf-8")
        if isinstance(self.key, GostSigningKey):
            if (form or self.form) == "cms":
                return b64url(gost_cms_detached(self.key, data))
            return b64url(self.key.sign(data))
        if (form or self.form) == "cms":
            der = (pkcs7.PKCS7SignatureBuilder().set_data(data)
                   .add_signer(self.cert, self.key, hashes.SHA256())
                   .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature]))
            return b64url(der)
        return b64url(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256()))

    def ac_params(self, scope: str = DEFAULT_SCOPE, *, state: str | None = None,
                  access_type: str = "offline", timestamp: str | None = None,
                  redirect_uri: str | None = None, version: str = "v2", form: str | None = None,
                  **extra: str) -> dict[str, str]:
        p = {"client_id": self.client_id, "scope": scope, "response_type": "code",
             "state": state or str(uuid.uuid4()), "access_type": access_type,
             "timestamp": timestamp or esia_timestamp(),
             "redirect_uri": redirect_uri or self.redirect_uri}
        if version == "v1":
            p["client_secret"] = self.sign(p["scope"] + p["timestamp"] + p["client_id"] + p["state"],
                                           "cms")
        else:
            p["client_certificate_hash"] = self.certificate_hash
            p["client_secret"] = self.sign(p["client_id"] + p["scope"] + p["timestamp"] + p["state"]
                                           + p["redirect_uri"], form)
        p.update(extra)
        return p

    def ac_url(self, base: str, scope: str = DEFAULT_SCOPE, version: str = "v2", **kw: Any) -> str:
        path = "/aas/oauth2/v2/ac" if version == "v2" else "/aas/oauth2/ac"
        return f"{base.rstrip('/')}{path}?{urlencode(self.ac_params(scope, version=version, **kw))}"

    def te_form(self, code: str | None = None, *, refresh_token: str | None = None,
                scope: str = DEFAULT_SCOPE, state: str | None = None, timestamp: str | None = None,
                redirect_uri: str | None = None, version: str = "v3", form: str | None = None,
                refresh_variant: str = "ilimurzin", **extra: str) -> dict[str, str]:
        p = {"client_id": self.client_id, "scope": scope, "state": state or str(uuid.uuid4()),
             "timestamp": timestamp or esia_timestamp(),
             "redirect_uri": redirect_uri or self.redirect_uri, "token_type": "Bearer"}
        if refresh_token is not None:
            p.update(grant_type="refresh_token", refresh_token=refresh_token)
        else:
            p.update(grant_type="authorization_code", code=code or "")
        if version == "v1":
            p["client_secret"] = self.sign(p["scope"] + p["timestamp"] + p["client_id"] + p["state"],
                                           "cms")
        else:
            p["client_certificate_hash"] = self.certificate_hash
            base = p["client_id"] + p["scope"] + p["timestamp"] + p["state"]
            if refresh_token is not None:
                text = base + (p["refresh_token"] if refresh_variant == "aisgorod" else p["redirect_uri"])
            else:
                text = base + p["redirect_uri"] + p["code"]
            p["client_secret"] = self.sign(text, form)
        p.update(extra)
        return p

    def registration(self, redirect_uris: Iterable[str] | None = None, **options: Any) -> dict[str, Any]:
        """Body of `POST /_admin/clients` for this system."""
        return {"client_id": self.client_id, "certificate": self.certificate_pem,
                "redirect_uris": list(redirect_uris or [self.redirect_uri]), **options}


_AUTH_REQUEST_RE = re.compile(r'name="auth_request" value="([^"]+)"')


def auth_request_of(html: str) -> str:
    m = _AUTH_REQUEST_RE.search(html)
    if not m:
        raise AssertionError("no auth_request field in the page")
    return m.group(1)


def callback_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def sign_in(client: httpx.Client, ac_url: str, username: str, password: str,
            action: str = "allow") -> dict[str, str]:
    """Follow `ac_url` with the mock's login form; return the callback query (code or error)."""
    r = client.get(ac_url)
    if r.status_code == 302:
        return callback_params(r.headers["location"])
    if r.status_code != 200:
        raise AssertionError(f"ac answered {r.status_code}: {r.text[:200]}")
    r = client.post(str(r.url.copy_with(path="/login", query=None)),
                    data={"auth_request": auth_request_of(r.text), "username": username,
                          "password": password, "action": action})
    if r.status_code != 302:
        raise AssertionError(f"login answered {r.status_code}: {r.text[:300]}")
    return callback_params(r.headers["location"])


# The transports moved to mocks.common.transports (every mock uses them); kept importable here.
from mocks.common.transports import (  # noqa: E402,F401
    ServerThread, SyncASGITransport, asgi_transport, close_router, respx_router, responses_router)
