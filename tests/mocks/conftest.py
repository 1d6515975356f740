"""Fixtures for the mock ЕСИА tests: one test certificate per session, a fresh mock per test.

`esia` is a fresh app + core with the test system `EZHD01` registered and the small
hand-made family of `esia_helpers` loaded; `http` is a sync httpx client reaching it in-process.
"""
from __future__ import annotations

import dataclasses

import httpx
import pytest

from mocks.esia import EsiaCore, create_app
from mocks.esia.testing import ClientSigner, SyncASGITransport, make_client_credentials

from esia_helpers import BASE, REDIRECT, family


@pytest.fixture(scope="session")
def credentials():
    return make_client_credentials("EZHD01")


@pytest.fixture(scope="session")
def other_credentials():
    return make_client_credentials("OTHER01")


@dataclasses.dataclass
class Esia:
    app: object
    core: EsiaCore
    signer: ClientSigner


@pytest.fixture
def esia(credentials) -> Esia:
    key, pem = credentials
    app = create_app()
    core = app.state.core
    core.register_client("EZHD01", pem, [REDIRECT, "https://journal.test/logged-out"])
    core.load_personas(family())
    return Esia(app, core, ClientSigner("EZHD01", key, pem, REDIRECT))


@pytest.fixture
def http(esia):
    transport = SyncASGITransport(esia.app)
    with httpx.Client(transport=transport, base_url=BASE) as client:
        yield client
    transport.close()
