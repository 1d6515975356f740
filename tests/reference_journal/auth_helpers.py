"""Helpers of the auth slot's tests: mock ЕСИА in-process, a journal with the auth slot
reaching it through an injected httpx transport, and a "browser" (one httpx client with
cookies) that talks to both.

Hosts: the journal is `http://journal.test`, mock ЕСИА `http://esia.test`. The mock is built
once per module (its signing key and the journal's certificate are slow to generate) and
reset before each test: client registration and personas (`personas.jsonl` of the generated
dataset) are loaded again.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from anyio.from_thread import BlockingPortal
from cryptography.hazmat.primitives import serialization

from mocks.esia.app import create_app as create_esia
from mocks.esia.core import EsiaCore
from mocks.esia.testing import auth_request_of, make_client_credentials
from reference_journal.app import create_app
from reference_journal.auth import create_auth
from reference_journal.core import Journal
from rj_helpers import NOW, JournalClient, PortalTransport, World, settings_for

ESIA = "http://esia.test"
JOURNAL = "http://journal.test"
CLIENT_ID = "EZHD01"
CALLBACK = f"{JOURNAL}/auth/esia/callback"
SIGNED_OUT = f"{JOURNAL}/auth/esia/signed-out"
SIGN_IN_TAGS = {"mismatch:birthDate", "mismatch:name", "mismatch:snils", "unconfirmed_adult", "consent_pending",
                "reissued", "no_snils", "turns_14"}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class Esia:
    """Mock ЕСИА of a test module, with the journal's registered test certificate."""

    core: EsiaCore
    app: Any
    key_path: Path
    cert_path: Path
    cert_pem: str
    personas_text: str
    personas: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, directory: Path, world: World) -> "Esia":
        key, cert_pem = make_client_credentials(CLIENT_ID)
        key_path, cert_path = directory / "journal.key.pem", directory / "journal.cert.pem"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        cert_path.write_text(cert_pem, encoding="utf-8")
        core = EsiaCore(base_url=ESIA)
        text = (world.directory / "personas.jsonl").read_text(encoding="utf-8")
        personas = {p["oid"]: p for p in map(json.loads, text.splitlines()) if p}
        return cls(core, create_esia(core), key_path, cert_path, cert_pem, text, personas)

    def persona(self, oid: int | str) -> dict[str, Any]:
        return json.loads(json.dumps(self.personas[int(oid)]))


class Bench(JournalClient):
    """The browser of one test: base URL the journal, `http://esia.test` routed to the mock."""

    esia: Esia
    world: World

    # -- mock administration ------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        resp = self.request(method, f"{ESIA}/_admin{path}", **kwargs)
        assert resp.status_code < 300, resp.text
        return resp

    def put_persona(self, persona: dict[str, Any]) -> None:
        """Replace (or add) a persona in the mock."""
        self.admin("POST", "/personas", json=[persona])

    def consent(self, child_oid: int | str, action: str = "grant") -> None:
        self.admin("POST", "/consents", json={"child_oid": int(child_oid), "client_id": CLIENT_ID, "action": action})

    def fault(self, kind: str, token: str = "both", endpoint: str = "te", **extra: Any) -> None:
        self.admin("POST", "/faults", json={"endpoint": endpoint, "kind": kind, "token": token, **extra})

    def esia_journal(self, path: str | None = None) -> list[dict[str, Any]]:
        return self.admin("GET", "/journal", params={"path": path} if path else None).json()

    # -- the browser's sign-in ---------------------------------------------------------------

    def start(self, path: str = "/auth/esia/login", method: str = "GET", **params: str) -> str:
        """Start sign-in (or linking) at the journal; the ЕСИА authorization URL."""
        resp = self.request(method, path, params=params or None)
        assert resp.status_code == 302, resp.text
        location = resp.headers["location"]
        assert location.startswith(f"{ESIA}/aas/oauth2/v2/ac?"), location
        return location

    def at_esia(self, ac_url: str, username: str | int, password: str = "esia", action: str = "allow") -> str:
        """Sign in at mock ЕСИА (or reuse its session); the callback URL it redirects to."""
        resp = self.get(ac_url)
        if resp.status_code == 200:
            resp = self.post(f"{ESIA}/login", data={"auth_request": auth_request_of(resp.text),
                                                    "username": str(username), "password": password,
                                                    "action": action})
        assert resp.status_code == 302, resp.text[:500]
        location = resp.headers["location"]
        assert location.startswith(CALLBACK), location
        return location

    def esia_sign_in(self, oid: int | str, *, lang: str | None = None, next: str | None = None,
                     path: str = "/auth/esia/login", method: str = "GET") -> httpx.Response:
        """The whole sign-in of ЕСИА user `oid`: the journal's answer to the callback."""
        params = {k: v for k, v in (("lang", lang), ("next", next)) if v}
        callback = self.at_esia(self.start(path, method, **params), oid)
        return self.get(callback)

    def signed_in(self, resp: httpx.Response) -> bool:
        return resp.status_code == 303 and "ezhd_session=" in resp.headers.get("set-cookie", "")

    def me(self) -> httpx.Response:
        return self.get("/web/api/v1/me")

    def events(self, event: str | None = None, outcome: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.event_log() if (event is None or e["event"] == event)
                and (outcome is None or e["outcome"] == outcome)]


def make_bench(esia: Esia, world: World, portal: BlockingPortal, db: Path, *defects: str,
               **changes: Any) -> Bench:
    """A journal on a copy of the dataset template with the auth slot, and its browser."""
    esia.core.reset()
    esia.core.register_client(CLIENT_ID, esia.cert_pem, [CALLBACK, SIGNED_OUT],
                              require_confirmed=changes.pop("require_confirmed", False))
    esia.core.load_personas_jsonl(esia.personas_text)
    shutil.copyfile(world.template, db)
    settings = settings_for(str(db), defects=frozenset(defects), esia_url=ESIA, public_url=JOURNAL,
                            esia_client_id=CLIENT_ID, esia_key=esia.key_path, esia_cert=esia.cert_path, **changes)
    journal = Journal(settings, http_transport=httpx.ASGITransport(app=esia.app))
    journal.auth = create_auth(journal)
    app = create_app(journal=journal, load_slots=False)
    bench = Bench(transport=PortalTransport(app, portal), base_url=JOURNAL,
                  mounts={ESIA: PortalTransport(esia.app, portal)})
    bench.journal, bench.esia, bench.world = journal, esia, world
    resp = bench.tc("POST", "/clock", json={"action": "set", "now": NOW, "frozen": True})
    assert resp.status_code == 200, resp.text
    return bench


_ESIA_CODE = re.compile(r"ESIA-(\d{6})")


def esia_code(callback_url: str) -> str | None:
    m = _ESIA_CODE.search(query(callback_url).get("error_description", ""))
    return m.group(1) if m else None
