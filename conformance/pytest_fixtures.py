"""pytest fixtures that bring the mocks into a vendor's own unit tests (a Python journal).

Installed with ezhd-conformance and loaded by pytest through the `pytest11` entry point
`ezhd-fixtures`, so a journal's test suite uses them without any import:

- `ezhd_mocks` — mock ЕСИА, ПОДД agent and ЕПГУ *in-process*, one fresh set per test, at the
  fixed base URLs of `MOCK_URLS`. Every httpx request (sync or async, respx) and every
  `requests` request (responses) to those URLs reaches the mock's ASGI app directly; other
  URLs go out untouched. Point the journal's settings at `ezhd_mocks.urls[...]`.
- `ezhd_mocks_server` — the same three mocks served on loopback ports (one set per test
  session) for code that opens its own sockets or runs in another process.

Both are a `MockSet`: `urls` (name → base URL), `admin(name)` (an httpx client of that
mock's `/_admin` API: personas, clients, faults, the request journal) and the helpers
`register_client`, `load_personas`, `journal(name)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

__all__ = ["MOCK_URLS", "MockSet", "ezhd_mocks", "ezhd_mocks_server"]

MOCK_URLS = {"esia": "http://esia.ezhd.test", "smev": "http://smev.ezhd.test", "epgu": "http://epgu.ezhd.test"}


@dataclass
class MockSet:
    """Three mocks and their admin APIs."""

    urls: dict[str, str]
    apps: dict[str, Any]
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def admin(self, name: str) -> httpx.Client:
        """An httpx client of mock `name`'s admin API (`/_admin`)."""
        if name not in self._clients:
            self._clients[name] = httpx.Client(base_url=f"{self.urls[name]}/_admin", timeout=30.0)
        return self._clients[name]

    def register_client(self, client_id: str, certificate_pem: str, redirect_uris: list[str]) -> None:
        """Register the journal at mock ЕСИА as an information system."""
        self.admin("esia").post("/clients", json={"client_id": client_id, "certificate": certificate_pem,
                                                  "redirect_uris": redirect_uris}).raise_for_status()

    def load_personas(self, personas_jsonl: Path | bytes) -> None:
        """Load ЕСИА personas (`personas.jsonl` of `ezhd dataset generate`) into ЕСИА and the portal."""
        body = personas_jsonl if isinstance(personas_jsonl, bytes) else Path(personas_jsonl).read_bytes()
        for name in ("esia", "epgu"):
            self.admin(name).post("/personas", content=body,
                                  headers={"Content-Type": "application/x-ndjson"}).raise_for_status()

    def journal(self, name: str) -> list[dict[str, Any]]:
        """The requests mock `name` received (secrets redacted), oldest first."""
        resp = self.admin(name).get("/journal")
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _wire(env: Any, urls: dict[str, str]) -> None:
    """What `Environment.start` wires, for the given URLs: the portal reaches the agent, and
    the agent forwards the journal's notifications to the portal."""
    env.showcase.configure(agent_url=urls["smev"])
    env.apps["smev"].state.core.register_provider(env.showcase.settings.portal_mnemonic, urls["epgu"],
                                                  "portal.yaml", title="ЕПГУ «Моё образование»")


@pytest.fixture
def ezhd_mocks(tmp_path: Path) -> Iterator[MockSet]:
    """Mock ЕСИА, ПОДД agent and ЕПГУ in-process at `MOCK_URLS` (httpx and requests)."""
    import respx
    import responses

    from mocks.common.transports import respx_router, responses_router
    from mocks.environment import Environment

    env = Environment(state_dir=tmp_path / "ezhd-mocks")
    router = respx.MockRouter(assert_all_called=False, assert_all_mocked=False)
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    transports = []   # each router call starts a background event loop for sync clients
    for name, url in MOCK_URLS.items():
        transports.append(respx_router(env.apps[name], url, router=router).mock_transport)
        transports.append(responses_router(env.apps[name], url, mock=mock).mock_transport)
    router.route().pass_through()                      # any other host: the real network
    mock.add_passthru(re.compile(r"https?://(?!(esia|smev|epgu)\.ezhd\.test)"))
    _wire(env, MOCK_URLS)
    mocks = MockSet(dict(MOCK_URLS), env.apps)
    router.start()
    mock.start()
    try:
        yield mocks
    finally:
        mock.stop(allow_assert=False)
        router.stop()
        mocks.close()
        for transport in transports:
            transport.close()
        env.stop()


@pytest.fixture(scope="session")
def ezhd_mocks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockSet]:
    """The three mocks on loopback (OS-picked ports), one set for the test session."""
    from mocks.environment import Environment

    env = Environment(state_dir=tmp_path_factory.mktemp("ezhd-mocks"))
    urls = env.start()
    mocks = MockSet(urls, env.apps)
    try:
        yield mocks
    finally:
        mocks.close()
        env.stop()
