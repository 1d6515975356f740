"""The state and behaviour of mock ЕСИА, with no HTTP in it.

`EsiaCore` holds registered clients, personas and family links, parental consents, the
rights each user gave each client, sign-in sessions, pending authorization requests,
single-use codes, refresh tokens, token-signing keys with rotation, queued faults and the
request journal. The HTTP layer (`app.py`) parses requests into plain dicts, calls one
method, and renders what it returns; every refusal is an `EsiaError`.

Our readings where PROTOCOLS.md is silent (also in `Settings` docs and the report):
- lifetimes (§6 q3): code 120 s single use; access and id token 3600 s; refresh token
  14 days, rotated on each use; `timestamp` accepted within ±300 s of the mock's clock;
  pending authorization request (the sign-in page) 15 min; a retired signing key still
  verifies (REST) and stays downloadable for 24 h after rotation;
- tokens as the real ЕСИА's (PROTOCOLS.md §8.2): no `kid` in the header, `scope` values carry
  the subject (`fullname?oid=N`; `openid` alone stays bare), signed RS256 or, for a client
  registered with a ГОСТ certificate (or `token_alg` GOST3410_2012_256), ГОСТ Р 34.10-2012/256
  in OpenSSL's byte order; the key is distributed as a certificate
  (`/.well-known/esia-signing-certificate[?alg=GOST3410_2012_256]`); a JWKS only when
  `Settings.publish_jwks` is on (a mock convenience, off by default);
- unknown `client_id` (no certificate registered) and a `client_certificate_hash` of a
  certificate registered to another system are ESIA-007005 `unauthorized_client`; any other
  hash that is not the registered certificate's is ESIA-007053 `access_denied` (AISGorod #38,
  ilimurzin #7; PROTOCOLS.md §8.2);
- a child (lvl KD) whose parent has not consented to this client is refused at sign-in with
  `access_denied` and `ESIA-007004: OAuthErrorEnum.parentalConsentPending ...` — the
  authorization service refuses on behalf of the resource owner's legal representative
  (§1.11, §6 q6). A persona's `consent: granted` means granted to every client; grants and
  revocations through the admin API or the parent's page are per client and override it;
- `require_confirmed` per client: a person of 14+ without a confirmed account is refused
  with ESIA-007055; child accounts are not affected (AUTH-13);
- scopes: missing → 007014, empty → 007013, unknown or malformed → 007006, known but not
  allowed for the client → 007019. The token endpoint issues the scopes of the code (what
  the user granted); its own `scope` is only checked to be known and allowed.
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from mocks.common.faults import Fault, FaultQueue
from mocks.common.journal import SECRET_KEYS as BASE_SECRET_KEYS
from mocks.common.journal import RequestJournal
from mocks.esia import errors, gost, people, spec
from mocks.esia.crypto import ClientCertificate, SignatureError, pkce_s256
from mocks.esia.crypto import te_strings, v1_string, v2_strings, verify_secret
from mocks.esia.errors import EsiaError
from mocks.esia.signing import REGISTRY, SignerUnavailable, SigningPool, sign_rs256

Persona = dict[str, Any]
_EPOCH = dt.datetime(1970, 1, 1)
TIMESTAMP_RE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")
SCOPE_TOKEN_RE = re.compile(r"^[a-z_0-9]+(\?oid=\d+)?$")
RS256 = "RS256"
GOST256 = "GOST3410_2012_256"
TOKEN_ALGS = (RS256, GOST256)
SECRET_KEYS = BASE_SECRET_KEYS | {"code"}   # here `code` is the authorization code
TOKEN_FAULTS = ("expired", "not_yet_valid", "wrong_signature", "alg_none", "foreign_audience",
                "foreign_issuer")
HTTP_FAULTS = ("status", "delay")
ENDPOINTS = ("ac", "te", "login", "consent", "rest", "logout", "jwks", "certificate")

_REGISTRY = REGISTRY   # joserfc's header registry with ЕСИА's `sbt` and `ver`


@dataclass
class Settings:
    """Tunables; every default is our reading of an open question (PROTOCOLS.md §6 q3)."""
    issuer: str = "http://esia.gosuslugi.ru/"
    base_url: str | None = None          # for absolute links; None = the request's own URL
    code_ttl: int = 120
    access_ttl: int = 3600
    refresh_ttl: int = 14 * 86400
    auth_request_ttl: int = 900
    timestamp_window: int = 300          # ± seconds for `timestamp` (ESIA-007015)
    key_grace: int = 86400               # a retired signing key still verifies this long
    publish_jwks: bool = False           # /.well-known/jwks.json: a mock convenience, off
    max_body: int = 64 * 1024            # larger bodies: 413 + ESIA-007038
    admin_max_body: int = 64 * 1024 * 1024
    default_password: str = "esia"      # for personas without `password`
    refresh_secret_variants: tuple[str, ...] = ("ilimurzin", "aisgorod")
    journal_size: int = 10_000
    clock_offset: float = 0.0            # seconds added to the real clock (expiry tests)
    session_cookie: str = "esia_session"

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Client:
    client_id: str
    certificate: ClientCertificate
    redirect_uris: list[str]
    scopes: frozenset[str] | None = None   # None = every known scope
    require_confirmed: bool = False
    require_pkce: bool = False
    child_consent: bool = True             # refuse KD children without parental consent
    token_alg: str = RS256                 # how ЕСИА signs this system's tokens

    def public(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "certificate": self.certificate.pem,
                "certificate_hash": self.certificate.hash, "redirect_uris": self.redirect_uris,
                "scopes": sorted(self.scopes) if self.scopes is not None else None,
                "require_confirmed": self.require_confirmed, "require_pkce": self.require_pkce,
                "child_consent": self.child_consent, "token_alg": self.token_alg,
                "certificate_algorithm": self.certificate.algorithm}


@dataclass
class AuthRequest:
    id: str
    client_id: str
    redirect_uri: str
    state: str
    scopes: tuple[str, ...]
    access_type: str
    version: str
    created: float
    code_challenge: str | None = None
    permissions: str | None = None


@dataclass
class Session:
    cookie: str
    oid: int
    sid: str
    auth_time: int
    amr: str = "PWD"


@dataclass
class Grant:
    """What a code or a refresh token stands for."""
    client_id: str
    oid: int
    scopes: tuple[str, ...]
    sid: str
    auth_time: int
    amr: str
    access_type: str
    redirect_uri: str
    expires: float
    code_challenge: str | None = None


@dataclass
class SigningKey:
    kid: str                  # the mock's own name for the key (admin API); never in a token
    key: Any                  # RSAKey (RS256) or gost.GostSigningKey (GOST3410_2012_256)
    cert_pem: str
    cert_der: bytes
    created: float
    retired: float | None = None
    alg: str = RS256

    def private_pem(self) -> bytes:
        """The RS256 private key, PKCS#8 PEM: for the signing processes only, never logged."""
        return self.key.as_pem(private=True)

    def jwk(self) -> dict[str, Any]:
        pub = self.key.as_dict(private=False)
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": pub["n"],
                "e": pub["e"], "x5c": [base64.b64encode(self.cert_der).decode()],
                "x5t#S256": _b64u(hashlib.sha256(self.cert_der).digest())}


@dataclass
class Decision:
    """What the sign-in flow does next: `login` page, `consent` page, or `redirect`."""
    kind: str
    request: AuthRequest | None = None
    location: str | None = None
    message: str | None = None
    session: Session | None = None


def token_header(alg: str, kind: str) -> dict[str, Any]:
    """A token's JOSE header as the real ЕСИА writes it: no `kid`; `sbt` id or access."""
    return {"alg": alg, "typ": "JWT", "sbt": kind, "ver": 1}


@dataclass
class TokenPlan:
    """A token response before signing: (field, header, claims, fault) per token, the rest."""
    key: SigningKey
    alg: str
    client_id: str
    oid: int
    jobs: list[tuple[str, dict[str, Any], dict[str, Any], Fault | None]] = dataclasses.field(default_factory=list)
    rest: dict[str, Any] = dataclasses.field(default_factory=dict)

    def add(self, field: str, kind: str, claims: dict[str, Any], fault: Fault | None) -> None:
        self.jobs.append((field, token_header(self.alg, kind), claims, fault))

    @property
    def poolable(self) -> bool:
        """Plain RS256 tokens: what the signing pool signs (faults and ГОСТ stay local)."""
        return self.alg == RS256 and all(fault is None for *_, fault in self.jobs)

    def body(self, tokens: list[str]) -> dict[str, Any]:
        out = {field: token for (field, *_), token in zip(self.jobs, tokens)}
        return {**out, **self.rest}


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def callback_url(redirect_uri: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in redirect_uri else "?"
    return redirect_uri + sep + urlencode({k: v for k, v in params.items() if v is not None})


def new_signing_key(now: float) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid_src = private.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = _b64u(hashlib.sha256(kid_src).digest())[:16]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Mock ESIA token signing {kid}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ezhd-conformance mock ESIA")])
    start = dt.datetime.fromtimestamp(now, dt.timezone.utc) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
            .sign(private, hashes.SHA256()))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = RSAKey.import_key(pem, {"kid": kid, "alg": "RS256", "use": "sig"})
    return SigningKey(kid, key, cert.public_bytes(serialization.Encoding.PEM).decode(),
                      cert.public_bytes(serialization.Encoding.DER), now)


def new_gost_signing_key(now: float) -> SigningKey:
    key = gost.GostSigningKey.generate("Mock ESIA token signing GOST", "ezhd-conformance mock ESIA", now)
    kid = _b64u(hashlib.sha256(key.cert_der).digest())[:16]
    return SigningKey(kid, key, key.cert_pem, key.cert_der, now, alg=GOST256)


def scope_claim(scopes: Iterable[str], oid: int) -> str:
    """The access token's `scope` as the real ЕСИА writes it: `fullname?oid=N ... openid`."""
    return " ".join(s if s == "openid" or "?" in s else f"{s}?oid={oid}" for s in scopes)


def scope_names(claim: str) -> set[str]:
    """Scope names of a `scope` claim, without their `?oid=` subject."""
    return {s.split("?", 1)[0] for s in str(claim or "").split()}


def parse_timestamp(value: str) -> float:
    """`yyyy.MM.dd HH:mm:ss ±zzzz` → epoch seconds; ValueError with the reason otherwise."""
    if re.match(r"^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}  ?\d{4}$", value):
        raise ValueError("the sign of the zone offset is missing: '+' must be percent-encoded (%2B)")
    m = TIMESTAMP_RE.match(value)
    if not m:
        raise ValueError("expected yyyy.MM.dd HH:mm:ss ±zzzz")
    *fields, sign, zh, zm = m.groups()
    try:   # not strptime: the same checks at a tenth of the CPU (the token endpoint's hot path)
        local = dt.datetime(*map(int, fields))
        if int(zm) > 59:
            raise ValueError("zone offset minutes must be 00..59")
    except ValueError as exc:
        raise ValueError(f"not a date and time: {exc}") from None
    offset = (int(zh) * 3600 + int(zm) * 60) * (1 if sign == "+" else -1)
    return (local - _EPOCH).total_seconds() - offset


class EsiaCore:
    """All state of one mock ЕСИА. Thread-safe for the in-process transports (one lock)."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = dataclasses.replace(settings or Settings(), **overrides)
        self._lock = threading.RLock()
        self.keys: list[SigningKey] = [new_signing_key(self.now())]
        self.signer: SigningPool | None = None
        self._reset_state()

    def start_signers(self, processes: int) -> None:
        """Sign RS256 tokens of the server's exchanges in `processes` processes (0 = here)."""
        self.close()
        if processes > 0:
            self.signer = SigningPool(processes).start()

    def close(self) -> None:
        """Stop the signing processes, if any (state stays; exchanges sign here again)."""
        signer, self.signer = self.signer, None
        if signer is not None:
            signer.close()

    # --- housekeeping -----------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.clients: dict[str, Client] = {}
        self.personas: dict[int, Persona] = {}
        self.passwords: dict[int, str] = {}
        self._login_index: dict[str, int] = {}
        self._kids: dict[int, set[int]] = collections.defaultdict(set)
        self._parents: dict[int, set[int]] = collections.defaultdict(set)
        self.consents: dict[tuple[int, str], bool] = {}
        self.rights: dict[tuple[int, str], set[str]] = {}
        self.sessions: dict[str, Session] = {}
        self.auth_requests: dict[str, AuthRequest] = {}
        self.codes: dict[str, Grant] = {}
        self.used_codes: dict[str, float] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.faults = FaultQueue(ENDPOINTS, TOKEN_FAULTS + HTTP_FAULTS)
        self.journal = RequestJournal(self.settings.journal_size, SECRET_KEYS)
        self.logouts: list[dict[str, Any]] = []
        self.issued: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.settings.journal_size)
        self._issued_seq = 0
        self._swept = 0.0

    def reset(self, keys: bool = False) -> None:
        with self._lock:
            self._reset_state()
            if keys:
                self.keys = [new_signing_key(self.now())]

    def now(self) -> float:
        return time.time() + self.settings.clock_offset

    def configure(self, **changes: Any) -> Settings:
        names = {f.name for f in dataclasses.fields(Settings)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        if "refresh_secret_variants" in changes:
            changes["refresh_secret_variants"] = tuple(changes["refresh_secret_variants"])
        self.settings = dataclasses.replace(self.settings, **changes)
        return self.settings

    # --- clients ----------------------------------------------------------------------------

    def register_client(self, client_id: str, certificate: str | bytes,
                        redirect_uris: Iterable[str], scopes: Iterable[str] | None = None,
                        *, require_confirmed: bool = False, require_pkce: bool = False,
                        child_consent: bool = True, token_alg: str | None = None) -> Client:
        """Register an information system. `token_alg` (the tech portal's signature setting)
        defaults to GOST3410_2012_256 for a ГОСТ certificate, RS256 otherwise."""
        if not re.match(r"^[A-Z0-9_]{2,32}$", client_id or ""):
            raise ValueError("client_id must be an ЕСИА mnemonic: 2-32 of A-Z, 0-9, _")
        uris = [str(u) for u in redirect_uris]
        if not uris:
            raise ValueError("at least one redirect URI is needed")
        allowed = None
        if scopes is not None:
            allowed = frozenset(scopes)
            unknown = allowed - spec.known_scopes()
            if unknown:
                raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        cert = ClientCertificate.from_pem(certificate)
        alg = token_alg or (GOST256 if cert.gost is not None else RS256)
        if alg not in TOKEN_ALGS:
            raise ValueError(f"token_alg must be one of {', '.join(TOKEN_ALGS)}")
        client = Client(client_id, cert, uris, allowed, require_confirmed, require_pkce,
                        child_consent, alg)
        with self._lock:
            self.clients[client_id] = client
        return client

    def remove_client(self, client_id: str) -> bool:
        with self._lock:
            return self.clients.pop(client_id, None) is not None

    # --- personas ---------------------------------------------------------------------------

    def load_personas(self, personas: Iterable[Persona]) -> int:
        count = 0
        with self._lock:
            for p in personas:
                self._add_persona(dict(p))
                count += 1
            self._relink()
        return count

    def load_personas_jsonl(self, path_or_text: str) -> int:
        text = path_or_text
        if "\n" not in text and not text.lstrip().startswith("{"):
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        return self.load_personas(json.loads(line) for line in text.splitlines() if line.strip())

    def _add_persona(self, p: Persona) -> None:
        if "oid" not in p:
            raise ValueError("a persona needs an oid")
        try:
            p["oid"] = int(p["oid"])
        except (TypeError, ValueError):
            raise ValueError(f"oid must be an integer, got {p['oid']!r}") from None
        if p.get("kind") not in ("learner", "representative", "staff", "organisation"):
            raise ValueError(f"persona {p['oid']}: kind must be learner|representative|staff|organisation")
        self.personas[p["oid"]] = p
        if p.get("password"):
            self.passwords[p["oid"]] = str(p.pop("password"))
        old = p.get("reissued_from")
        if old is not None and int(old) not in self.personas:
            # The retired child account is resolvable too (AUTH-09): same person, same SNILS.
            # Not linked to the parents any more (their /kids lists the current account).
            retired = {k: v for k, v in p.items()
                       if k not in ("reissued_from", "password", "parents", "kids")}
            retired.update(oid=int(old), level="KD", account_type="child", trusted=False,
                           consent="granted",
                           replaced_by=p["oid"], scenario=sorted(set(p.get("scenario", [])) | {"turns_14"}),
                           synthesized=True)
            self.personas[int(old)] = retired

    def _relink(self) -> None:
        self._kids.clear()
        self._parents.clear()
        self._login_index.clear()
        for oid, p in self.personas.items():
            for k in p.get("kids") or []:
                self._kids[oid].add(int(k))
                self._parents[int(k)].add(oid)
            for par in p.get("parents") or []:
                self._parents[oid].add(int(par))
                self._kids[int(par)].add(oid)
        # Index for sign-in. A replaced account yields its SNILS/contacts to the current one.
        ordered = sorted(self.personas.values(), key=lambda q: q.get("replaced_by") is None)
        for p in ordered:
            if p.get("kind") == "organisation":
                continue
            if p.get("snils"):
                self._login_index[f"snils:{people.digits(p['snils'])}"] = p["oid"]
            for c in people.contacts(p):
                if c["type"] in ("EML", "CEM"):
                    self._login_index[f"email:{c['value'].lower()}"] = p["oid"]
                else:
                    phone = people.digits(c["value"])
                    if len(phone) == 11 and phone[0] == "8":
                        phone = "7" + phone[1:]
                    self._login_index[f"phone:{phone}"] = p["oid"]

    def persona(self, oid: int) -> Persona | None:
        return self.personas.get(int(oid))

    def kids_of(self, oid: int) -> list[int]:
        return sorted(k for k in self._kids.get(int(oid), ()) if k in self.personas)

    def parents_of(self, oid: int) -> list[int]:
        return sorted(self._parents.get(int(oid), ()))

    def set_password(self, oid: int, password: str) -> None:
        if int(oid) not in self.personas:
            raise KeyError(oid)
        if not password:
            raise ValueError("empty password")
        self.passwords[int(oid)] = password

    def find_login(self, username: str) -> Persona | None:
        name = (username or "").strip()
        if not name:
            return None
        if "@" in name:
            oid = self._login_index.get(f"email:{name.lower()}")
            return self.personas.get(oid) if oid is not None else None
        d = people.digits(name)
        if not d:
            return None
        for key in (f"snils:{d}", f"phone:{'7' + d[1:] if len(d) == 11 and d[0] == '8' else d}"):
            if key in self._login_index:
                return self.personas[self._login_index[key]]
        p = self.personas.get(int(d))
        return p if p and p.get("kind") != "organisation" else None

    def check_password(self, p: Persona, password: str) -> bool:
        expected = self.passwords.get(p["oid"], self.settings.default_password)
        return secrets.compare_digest(expected.encode(), (password or "").encode())

    # --- consent of parents -----------------------------------------------------------------

    def consent_granted(self, child_oid: int, client_id: str) -> bool:
        explicit = self.consents.get((int(child_oid), client_id))
        if explicit is not None:
            return explicit
        p = self.personas.get(int(child_oid)) or {}
        return p.get("consent") == "granted"

    def set_consent(self, child_oid: int, client_id: str, granted: bool,
                    parent_oid: int | None = None) -> None:
        child = self.personas.get(int(child_oid))
        if child is None:
            raise KeyError(child_oid)
        if parent_oid is not None and int(parent_oid) not in self.parents_of(child_oid):
            raise PermissionError(f"{parent_oid} is not a parent of {child_oid}")
        with self._lock:
            self.consents[(int(child_oid), client_id)] = bool(granted)

    def consent_table(self) -> list[dict[str, Any]]:
        rows = []
        for oid, p in sorted(self.personas.items()):
            if people.is_child(p):
                for cid in sorted(self.clients):
                    rows.append({"child_oid": oid, "client_id": cid,
                                 "granted": self.consent_granted(oid, cid),
                                 "explicit": (oid, cid) in self.consents,
                                 "parents": self.parents_of(oid)})
        return rows

    # --- keys -------------------------------------------------------------------------------

    @property
    def current_key(self) -> SigningKey:
        """The current RS256 key."""
        return self.current(RS256)

    def current(self, alg: str = RS256) -> SigningKey:
        """The current key of `alg`; the ГОСТ key is made on first use (pure Python, slow)."""
        with self._lock:
            mine = [k for k in self.keys if k.alg == alg and k.retired is None]
            if mine:
                return mine[-1]
            if alg != GOST256:
                raise ValueError(f"unknown token algorithm {alg}")
            key = new_gost_signing_key(self.now())
            self.keys.append(key)
            return key

    def rotate_key(self, alg: str = RS256) -> SigningKey:
        now = self.now()
        with self._lock:
            old = self.current(alg)
            key = new_signing_key(now) if alg == RS256 else new_gost_signing_key(now)
            old.retired = now
            self.keys.append(key)
            self.keys = [k for k in self.keys
                         if k.retired is None or k.retired + self.settings.key_grace > now]
        return key

    def published_keys(self, alg: str | None = None) -> list[SigningKey]:
        now = self.now()
        return [k for k in self.keys if (alg is None or k.alg == alg)
                and (k.retired is None or k.retired + self.settings.key_grace > now)]

    def jwks(self) -> dict[str, Any]:
        """The RS256 keys as a JWKS (only served when `publish_jwks` is on)."""
        return {"keys": [k.jwk() for k in reversed(self.published_keys(RS256))]}

    def key_by_kid(self, kid: str | None, alg: str = RS256) -> SigningKey | None:
        if kid is None:
            return self.current(alg)
        return next((k for k in self.published_keys() if k.kid == kid), None)

    # --- faults -----------------------------------------------------------------------------

    def add_fault(self, endpoint: str, kind: str, count: int = 1, **params: Any) -> Fault:
        if kind in TOKEN_FAULTS and endpoint != "te":
            raise ValueError("token faults apply to the token endpoint 'te' only")
        params.setdefault("token", "both")     # which token a token fault spoils
        params.setdefault("value", None)       # foreign audience or issuer
        if params["token"] not in ("id", "access", "both"):
            raise ValueError("token must be id, access or both")
        return self.faults.add(endpoint, kind, count, **params)

    def take_fault(self, endpoint: str, kinds: tuple[str, ...]) -> Fault | None:
        """Consume one use of the first queued fault of this endpoint among `kinds`."""
        return self.faults.take(endpoint, kinds)

    # --- request journal --------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        self.journal.record(entry)

    def read_journal(self, since: int = 0, path: str | None = None) -> list[dict[str, Any]]:
        return self.journal.read(since, path)

    # --- authorization request (ac) ---------------------------------------------------------

    def _mandatory(self, p: dict[str, str], names: Iterable[str], state: str | None) -> None:
        for name in names:
            if name not in p or p[name] == "" and name not in ("scope",):
                raise errors.missing(name, state)

    def _check_scope(self, client: Client, scope: str, state: str | None) -> tuple[str, ...]:
        names = scope.split()
        if not names:
            raise EsiaError("007013", "The request doesn't contain scope", state=state)
        bad = [n for n in names if not SCOPE_TOKEN_RE.match(n) or n not in spec.known_scopes()]
        if bad:
            raise EsiaError("007006", "Scope is invalid, unknown or malformed "
                            + " ".join(errors.quoted(b, "scope") for b in bad), state=state)
        if client.scopes is not None:
            refused = [n for n in names if n not in client.scopes]
            if refused:
                raise EsiaError("007019", f"noGrants: the system has no access to [{' '.join(refused)}]",
                                state=state)
        return tuple(dict.fromkeys(names))

    def _check_time(self, p: dict[str, str], state: str | None) -> None:
        try:
            ts = parse_timestamp(p["timestamp"])
        except ValueError as exc:
            raise EsiaError("007015", f"Wrong request time: {exc}", state=state) from None
        skew = ts - self.now()
        if abs(skew) > self.settings.timestamp_window:
            raise EsiaError("007015", f"Wrong request time: timestamp is {skew:+.0f} s from ЕСИА's "
                            f"clock (allowed ±{self.settings.timestamp_window} s)", state=state)

    def _check_client_auth(self, client: Client, p: dict[str, str], version: str,
                           candidates: list[str], state: str | None) -> None:
        given = p.get("client_certificate_hash", "")
        if version != "v1" and not client.certificate.matches_hash(given):
            others = [c.client_id for c in self.clients.values()
                      if c is not client and c.certificate.matches_hash(given)]
            if others:
                raise errors.unauthorized(state, "client_certificate_hash is the certificate of "
                                          "another system")
            raise errors.secret_wrong(state, "client_certificate_hash is not the ГОСТ Р 34.11-2012/256 "
                                      "hash of the registered certificate")
        if client.certificate.cert.not_valid_after_utc.timestamp() < self.now():
            raise errors.secret_wrong(state, "the registered certificate has expired")
        try:
            verify_secret(p["client_secret"], candidates, client.certificate, cms_only=version == "v1")
        except SignatureError as exc:
            raise errors.secret_wrong(state, str(exc)) from None

    def start_authorization(self, params: dict[str, str], version: str = "v2",
                            duplicates: Iterable[str] = ()) -> AuthRequest:
        """Validate an ac request. Raises EsiaError with `.redirect_uri` set when the error
        may be sent back to the client (client known and redirect_uri registered)."""
        p = params
        state = p.get("state") or None
        client = self.clients.get(p.get("client_id", ""))
        redirect = p.get("redirect_uri", "")
        redirectable = client is not None and redirect in client.redirect_uris
        try:
            for name in duplicates:
                raise errors.duplicated(name, state)
            required = ["client_id", "redirect_uri", "client_secret", "scope", "response_type",
                        "state", "timestamp", "access_type"]
            if version != "v1":
                required.insert(1, "client_certificate_hash")
            for name in ("client_id", "redirect_uri"):
                if not p.get(name):
                    raise errors.missing(name, state)
            if client is None:
                raise errors.unknown_client(p["client_id"], state)
            if not redirectable:
                raise EsiaError("007023", "redirect_uri is not registered for the system "
                                f"[{client.client_id}]", state=state)
            self._mandatory(p, required, state)
            if p["response_type"] != "code":
                raise EsiaError("007012", f"response_type {errors.quoted(p['response_type'])} is not "
                                "supported", state=state)
            if p["access_type"] not in ("online", "offline"):
                raise errors.invalid("access_type", "must be online or offline", state)
            self._check_time(p, state)
            candidates = v1_string(p) if version == "v1" else v2_strings(p)
            self._check_client_auth(client, p, version, candidates, state)
            scopes = self._check_scope(client, p["scope"], state)
            challenge = p.get("code_challenge") or None
            if challenge:
                if p.get("code_challenge_method", "S256") != "S256":
                    raise errors.invalid("code_challenge_method", "only S256 is supported", state)
            elif client.require_pkce and version != "v1":
                raise EsiaError("007039", "code_challenge is absent in the request", state=state)
        except EsiaError as exc:
            exc.redirect_uri = redirect if redirectable else None  # type: ignore[attr-defined]
            raise
        req = AuthRequest(secrets.token_urlsafe(24), client.client_id, redirect, state or "",
                          scopes, p["access_type"], version, self.now(), challenge,
                          p.get("permissions"))
        with self._lock:
            self._expire()
            self.auth_requests[req.id] = req
        return req

    def auth_request(self, req_id: str) -> AuthRequest | None:
        req = self.auth_requests.get(req_id or "")
        if req and req.created + self.settings.auth_request_ttl < self.now():
            self.auth_requests.pop(req.id, None)
            return None
        return req

    def session(self, cookie: str | None) -> Session | None:
        s = self.sessions.get(cookie or "")
        if s and s.oid not in self.personas:
            return None
        return s

    def _refusal(self, req: AuthRequest, code: str, text: str) -> Decision:
        err = EsiaError(code, text, state=req.state)
        self.auth_requests.pop(req.id, None)
        return Decision("redirect", req, callback_url(req.redirect_uri, err.body()), message=code)

    def _eligibility(self, req: AuthRequest, p: Persona) -> Decision | None:
        client = self.clients.get(req.client_id)
        if client is None:
            return self._refusal(req, "007005", "The system is no longer registered (unauthorized_client)")
        if people.is_child(p):
            if client.child_consent and not self.consent_granted(p["oid"], client.client_id):
                return self._refusal(
                    req, "007004", "OAuthErrorEnum.parentalConsentPending: a parent (legal "
                    "representative) has not yet consented to pass this child's data to the "
                    f"system [{client.client_id}]")
        elif client.require_confirmed and not people.is_confirmed(p):
            return self._refusal(req, "007055", "Login with an unconfirmed account is not allowed "
                                 "for this system: confirm the account (подтвердите учётную запись)")
        return None

    def continue_authorization(self, req: AuthRequest, session: Session | None) -> Decision:
        """After ac validation or a sign-in: decide login page, consent page, or redirect."""
        if session is None:
            return Decision("login", req)
        p = self.personas[session.oid]
        refused = self._eligibility(req, p)
        if refused:
            return refused
        granted = self.rights.get((session.oid, req.client_id), set())
        if not set(req.scopes) <= granted:
            return Decision("consent", req, session=session)
        return self._issue_code(req, session)

    def _issue_code(self, req: AuthRequest, session: Session) -> Decision:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self.codes[code] = Grant(req.client_id, session.oid, req.scopes, session.sid,
                                     session.auth_time, session.amr, req.access_type,
                                     req.redirect_uri, self.now() + self.settings.code_ttl,
                                     req.code_challenge)
            self.auth_requests.pop(req.id, None)
        return Decision("redirect", req, callback_url(req.redirect_uri, {"code": code, "state": req.state}),
                        session=session)

    def sign_in(self, req_id: str, username: str, password: str, action: str = "allow"
                ) -> Decision:
        """The login form. `Decision('login', message=...)` re-renders it; a denial or a
        refusal redirects with the error; success grants the requested rights and redirects
        with a code (the form states that signing in grants them)."""
        req = self.auth_request(req_id)
        if req is None:
            raise EsiaError("007003", "The authorization request is unknown or has expired; "
                            "start again from the system", status=400)
        if action == "deny":
            return self._refusal(req, "007004", "The user refused access (отказ в доступе)")
        if action not in ("allow", "", None):
            return Decision("login", req, message="bad_action")
        p = self.find_login(username)
        if p is None or not self.check_password(p, password):
            return Decision("login", req, message="bad_credentials")
        session = self.open_session(p["oid"])
        with self._lock:   # the user granted the rights even if the system is refused below
            self.rights.setdefault((p["oid"], req.client_id), set()).update(req.scopes)
        decision = self._eligibility(req, p)
        if decision is None:
            decision = self._issue_code(req, session)
        decision.session = session
        return decision

    def open_session(self, oid: int) -> Session:
        s = Session(secrets.token_urlsafe(24), int(oid), str(uuid.uuid4()), int(self.now()))
        with self._lock:
            self.sessions[s.cookie] = s
        return s

    def give_consent(self, req_id: str, session: Session | None, action: str) -> Decision:
        """The consent page («Предоставление прав доступа») of a signed-in user."""
        req = self.auth_request(req_id)
        if req is None:
            raise EsiaError("007003", "The authorization request is unknown or has expired; "
                            "start again from the system")
        if session is None:
            return Decision("login", req)
        if action != "allow":
            return self._refusal(req, "007004", "The user refused access (отказ в доступе)")
        with self._lock:
            self.rights.setdefault((session.oid, req.client_id), set()).update(req.scopes)
        return self.continue_authorization(req, session)

    def logout(self, client_id: str, redirect_url: str | None, cookie: str | None) -> str | None:
        client = self.clients.get(client_id or "")
        if client is None:
            raise errors.unknown_client(client_id)
        if redirect_url and redirect_url not in client.redirect_uris:
            raise EsiaError("007023", f"redirect_url is not registered for the system [{client.client_id}]")
        with self._lock:
            s = self.sessions.pop(cookie or "", None)
            self.logouts.append({"client_id": client_id, "oid": s.oid if s else None,
                                 "time": self.now()})
        return redirect_url

    # --- token endpoint (te) ----------------------------------------------------------------

    def _expire(self) -> None:
        """Drop what has expired; a sweep at most once a second (it walks every code)."""
        now = self.now()
        if abs(now - self._swept) < 1.0:
            return
        self._swept = now
        for store in (self.codes, self.refresh_tokens):
            for k in [k for k, g in store.items() if g.expires < now - 3600]:
                store.pop(k, None)
        for k in [k for k, t in self.used_codes.items() if t < now - 86400]:
            self.used_codes.pop(k, None)
        ttl = self.settings.auth_request_ttl
        for k in [k for k, r in self.auth_requests.items() if r.created + ttl < now]:
            self.auth_requests.pop(k, None)

    def exchange(self, form: dict[str, str], version: str = "v3",
                 duplicates: Iterable[str] = ()) -> dict[str, Any]:
        """The token endpoint: the response body, or an EsiaError. Tokens signed here."""
        return self.sign_tokens(self._exchange(form, version, duplicates))

    async def exchange_async(self, form: dict[str, str], version: str = "v3",
                             duplicates: Iterable[str] = ()) -> dict[str, Any]:
        """`exchange` for the server: every check and state change happens now, in request
        order (the code is spent, the fault taken, the refresh token stored); only the
        RS256 signatures are awaited from the signing pool when there is one."""
        plan = self._exchange(form, version, duplicates)
        if self.signer is not None and plan.poolable:
            try:
                key = plan.key
                signed = await self.signer.sign(key.kid, key.private_pem, [(h, c) for _, h, c, _ in plan.jobs])
                return self._issued(plan, signed)
            except SignerUnavailable:
                pass
        return self.sign_tokens(plan)

    def _exchange(self, form: dict[str, str], version: str, duplicates: Iterable[str]) -> "TokenPlan":
        p = form
        state = p.get("state") or None
        for name in duplicates:
            raise errors.duplicated(name, state)
        grant_type = p.get("grant_type", "")
        if not grant_type:
            raise errors.missing("grant_type", state)
        if grant_type not in ("authorization_code", "refresh_token", "client_credentials") or (
                version == "v1" and grant_type == "client_credentials"):
            raise EsiaError("007009", f"grant_type {errors.quoted(grant_type)} is not supported", state=state)
        required = ["client_id", "client_secret", "state", "redirect_uri", "scope", "timestamp",
                    "token_type"]
        if version != "v1":
            required.insert(2, "client_certificate_hash")
        extra = {"authorization_code": ["code"], "refresh_token": ["refresh_token"],
                 "client_credentials": []}[grant_type]
        self._mandatory(p, required[:1] + extra + required[1:], state)
        if p["token_type"] != "Bearer":
            raise errors.invalid("token_type", "must be Bearer", state)
        client = self.clients.get(p["client_id"])
        if client is None:
            raise errors.unknown_client(p["client_id"], state)
        self._check_time(p, state)
        if version == "v1":
            candidates = v1_string(p)
        else:
            candidates = te_strings(p, self.settings.refresh_secret_variants)
        self._check_client_auth(client, p, version, candidates, state)
        if p["redirect_uri"] not in client.redirect_uris:
            raise EsiaError("007023", f"redirect_uri is not registered for the system [{client.client_id}]",
                            state=state)
        if grant_type == "client_credentials":
            return self._client_credentials(client, p, state)
        self._check_scope(client, p["scope"], state)
        if grant_type == "authorization_code":
            grant = self._redeem_code(client, p, state)
        else:
            grant = self._redeem_refresh(client, p, state)
        return self.plan_tokens(client, grant, state or "", fault=self.take_fault("te", TOKEN_FAULTS))

    def _redeem_code(self, client: Client, p: dict[str, str], state: str | None) -> Grant:
        code = p["code"]
        with self._lock:
            grant = self.codes.pop(code, None)
            if grant is None:
                why = "already used" if code in self.used_codes else "unknown"
                raise EsiaError("007011", f"The authorization code is invalid, expired or already used",
                                state=state, detail=why)
            self.used_codes[code] = self.now()
        if grant.expires < self.now():
            raise EsiaError("007011", "The authorization code is invalid, expired or already used",
                            state=state, detail="expired")
        if grant.client_id != client.client_id:
            raise EsiaError("007011", "The authorization code was issued to another system",
                            state=state)
        if grant.redirect_uri != p["redirect_uri"]:
            raise EsiaError("007011", "redirect_uri differs from the one of the authorization request",
                            state=state)
        if grant.code_challenge:
            verifier = p.get("code_verifier", "")
            if not verifier or pkce_s256(verifier) != grant.code_challenge:
                raise EsiaError("007040", "code_verifier does not match code_challenge", state=state)
        if grant.oid not in self.personas:
            raise EsiaError("007011", "The account of the code no longer exists", state=state)
        return grant

    def _redeem_refresh(self, client: Client, p: dict[str, str], state: str | None) -> Grant:
        with self._lock:
            grant = self.refresh_tokens.get(p["refresh_token"])
            if grant is None or grant.expires < self.now() or grant.client_id != client.client_id:
                raise EsiaError("007011", "The refresh token is invalid, expired, revoked or issued "
                                "to another system", state=state)
            self.refresh_tokens.pop(p["refresh_token"], None)   # rotated on every use
        return grant

    def _client_credentials(self, client: Client, p: dict[str, str], state: str | None) -> "TokenPlan":
        m = re.fullmatch(r"prm_chg\?oid=(\d+)", p["scope"])
        if not m:
            raise EsiaError("007006", "client_credentials needs scope prm_chg?oid=<oid>", state=state)
        oid = int(m.group(1))
        if oid not in self.personas:
            raise EsiaError("007006", f"unknown oid in scope {errors.quoted(p['scope'], 'scope')}", state=state)
        grant = Grant(client.client_id, oid, (p["scope"],), str(uuid.uuid4()), int(self.now()),
                      "PWD", "online", p["redirect_uri"], 0)
        return self.plan_tokens(client, grant, state or "", id_token=False,
                                fault=self.take_fault("te", TOKEN_FAULTS))

    def issue_tokens(self, client: Client, grant: Grant, state: str, *, id_token: bool = True,
                     fault: Fault | None = None) -> dict[str, Any]:
        return self.sign_tokens(self.plan_tokens(client, grant, state, id_token=id_token, fault=fault))

    def plan_tokens(self, client: Client, grant: Grant, state: str, *, id_token: bool = True,
                    fault: Fault | None = None) -> "TokenPlan":
        """The token response with its tokens' claims, not yet signed: the refresh token is
        stored and the signing key chosen now, so what happens next cannot reorder them."""
        now = int(self.now())
        ttl = self.settings.access_ttl
        p = self.personas[grant.oid]
        sbj: dict[str, Any] = {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": grant.oid,
                               "urn:esia:sbj:nam": f"OID.{grant.oid}"}
        if people.is_confirmed(p):
            sbj["urn:esia:sbj:is_tru"] = True
        sbj["urn:esia:sbj:lvl"] = people.level(p)
        idc = {"iss": self.settings.issuer, "aud": client.client_id, "sub": grant.oid, "nbf": now,
               "exp": now + ttl, "iat": now, "auth_time": grant.auth_time, "amr": grant.amr,
               "urn:esia:amd": grant.amr, "urn:esia:sid": grant.sid, "urn:esia:sbj": sbj}
        acc = {"urn:esia:sbj_id": grant.oid, "client_id": client.client_id,
               "scope": scope_claim(grant.scopes, grant.oid), "iss": self.settings.issuer, "iat": now,
               "nbf": now, "exp": now + ttl, "urn:esia:sid": grant.sid, "jti": str(uuid.uuid4())}
        alg = client.token_alg
        plan = TokenPlan(self.current(alg), alg, client.client_id, grant.oid)
        plan.add("access_token", "access", acc, fault if fault and fault.token in ("access", "both") else None)
        if id_token and "openid" in grant.scopes:
            plan.add("id_token", "id", idc, fault if fault and fault.token in ("id", "both") else None)
        if grant.access_type == "offline":
            token = secrets.token_urlsafe(32)
            with self._lock:
                self.refresh_tokens[token] = dataclasses.replace(
                    grant, expires=self.now() + self.settings.refresh_ttl, code_challenge=None)
            plan.rest["refresh_token"] = token
        plan.rest.update(expires_in=ttl, state=state, token_type="Bearer")
        return plan

    def sign_tokens(self, plan: "TokenPlan") -> dict[str, Any]:
        """The plan's response, its tokens signed in this process."""
        return self._issued(plan, [self._sign(claims, header["sbt"], fault, plan.alg, plan.key)
                                   for _, header, claims, fault in plan.jobs])

    def _issued(self, plan: "TokenPlan", tokens: list[str]) -> dict[str, Any]:
        """The response of a plan whose tokens are signed, remembered as handed out."""
        out = plan.body(tokens)
        self._remember_issued(plan.client_id, plan.oid, out)
        return out

    def _remember_issued(self, client_id: str, oid: int, tokens: dict[str, Any]) -> None:
        """Keep what was handed to a client, for the suite's LOG-03 search of the journal's log
        (`GET /_admin/issued`): a bounded ring like the request journal."""
        with self._lock:
            for kind in ("access_token", "id_token", "refresh_token"):
                if tokens.get(kind):
                    self._issued_seq += 1
                    self.issued.append({"seq": self._issued_seq, "at": round(self.now(), 3),
                                        "client_id": client_id, "oid": oid, "kind": kind,
                                        "token": tokens[kind]})

    def read_issued(self, since: int = 0, client_id: str | None = None) -> list[dict[str, Any]]:
        """Tokens issued after `since` (a `seq`), optionally to one client only."""
        with self._lock:
            return [dict(e) for e in self.issued
                    if e["seq"] > since and (client_id is None or e["client_id"] == client_id)]

    def _sign(self, claims: dict[str, Any], kind: str, fault: Fault | None, alg: str = RS256,
              key: SigningKey | None = None) -> str:
        claims = dict(claims)
        key = key or self.current(alg)
        header = token_header(alg, kind)
        signing = key.key
        if fault is not None:
            now = int(self.now())
            ttl = self.settings.access_ttl
            margin = int(fault.seconds) or ttl     # how far outside its validity (default one lifetime)
            if fault.kind == "expired":
                claims.update(iat=now - margin - ttl, nbf=now - margin - ttl, exp=now - margin)
            elif fault.kind == "not_yet_valid":
                claims.update(iat=now, nbf=now + margin, exp=now + margin + ttl)
            elif fault.kind == "foreign_audience":
                claims["aud" if kind == "id" else "client_id"] = fault.value or "FOREIGN_IS"
            elif fault.kind == "foreign_issuer":
                claims["iss"] = fault.value or "http://esia.foreign.example/"
            elif fault.kind == "wrong_signature":
                signing = (RSAKey.generate_key(2048) if alg == RS256 else
                           gost.GostSigningKey.generate("foreign", "foreign", now))
            elif fault.kind == "alg_none":
                head = {"alg": "none", "typ": "JWT", "sbt": kind, "ver": 1}
                return (_b64u(json.dumps(head, separators=(",", ":")).encode()) + "."
                        + _b64u(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()) + ".")
        if alg == GOST256:
            # JOSE has no ГОСТ algorithm; the compact form by hand, signature as OpenSSL writes it.
            signing_input = (_b64u(json.dumps(header, separators=(",", ":")).encode()) + "."
                             + _b64u(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()))
            return signing_input + "." + _b64u(signing.sign(signing_input.encode("ascii")))
        return sign_rs256(header, claims, signing)

    def verify_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a token whose signature one of the mock's published keys verifies; None
        otherwise (no `kid`: every published key of the header's `alg` is tried)."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not all(parts):
            return None
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
            alg = header.get("alg") if isinstance(header, dict) else None
            if alg not in TOKEN_ALGS:
                return None
            if alg == GOST256:
                signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
                signed = (parts[0] + "." + parts[1]).encode("ascii")
                for key in reversed(self.published_keys(GOST256)):
                    if key.key.public.verify(signed, signature):
                        return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
                return None
            for key in reversed(self.published_keys(RS256)):
                try:
                    return jwt.decode(token, key.key, algorithms=[RS256], registry=_REGISTRY).claims
                except (JoseError, ValueError):
                    continue
        except (ValueError, UnicodeError):
            return None
        return None

    # --- person REST ------------------------------------------------------------------------

    def check_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a valid access token issued by this mock; EsiaError 401 otherwise."""
        def bad(why: str) -> EsiaError:
            return EsiaError("007011", why, status=401, error="invalid_token")
        claims = self.verify_token(token)
        if not isinstance(claims, dict):
            raise bad("access token malformed, not signed with RS256 or GOST3410_2012_256, or its "
                      "signature does not verify with the mock's keys")
        now = self.now()
        if claims.get("iss") != self.settings.issuer:
            raise bad("access token from a foreign issuer")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now:
            raise bad("access token expired")
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 5:
            raise bad("access token not yet valid")
        if claims.get("client_id") not in self.clients:
            raise bad("access token issued to an unknown system")
        if not isinstance(claims.get("urn:esia:sbj_id"), int):
            raise bad("access token without urn:esia:sbj_id")
        return claims
