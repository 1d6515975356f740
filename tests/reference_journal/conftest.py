"""Fixtures for the reference journal's own tests.

A small dataset is generated once (fixtures.dataset — the tests may use fixtures, the journal
may not), packed as the test-control zip (fixtures.bundle) and loaded once through
test-control into a template SQLite file. Each test gets a fresh journal on a copy of that
file (`journal(*defects)`), its clock frozen at the dataset's reference date, and talks to it
in-process through httpx's ASGITransport (rj_helpers.PortalTransport).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from fixtures.bundle import bundle_bytes, personas_of
from fixtures.dataset import Options, generate
from reference_journal.app import create_app
from reference_journal.core import Journal
from rj_helpers import NOW, TOKEN, JournalClient, PortalTransport, World, settings_for


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal) -> World:
    base = tmp_path_factory.mktemp("rj")
    directory = generate(Options(seed=5), base / "dataset").out
    bundle = bundle_bytes(directory)
    template = base / "template.sqlite"
    journal = Journal(settings_for(str(template)))
    with httpx.Client(transport=PortalTransport(create_app(journal=journal, load_slots=False), portal),
                      base_url="http://journal.test") as client:
        resp = client.post("/test-control/v1/dataset", content=bundle,
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/zip"})
        assert resp.status_code == 201, resp.text
    journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.db.close()
    from specs.csvio import iter_records
    from specs.tables import load_tables

    tables = load_tables()
    rows = {name: [rec for _, rec in iter_records(tables[name], directory / f"{name}.csv", tables)]
            for name in ("learners", "learner_representatives", "class_learners", "marks", "classes",
                         "achievements", "lessons", "attendance", "homework", "events", "event_learners", "staff")}
    return World(directory, bundle, personas_of(bundle), template, rows)


@pytest.fixture
def journal(world: World, portal: BlockingPortal, tmp_path: Path) -> Iterator[Callable[..., JournalClient]]:
    """`journal(*defects, **settings)` → a client of a fresh journal holding the dataset."""
    clients: list[JournalClient] = []

    def make(*defects: str, load: bool = True, **changes: Any) -> JournalClient:
        db = tmp_path / f"journal{len(clients)}.sqlite"
        if load:
            shutil.copyfile(world.template, db)
        j = Journal(settings_for(str(db), defects=frozenset(defects), **changes))
        client = JournalClient(transport=PortalTransport(create_app(journal=j, load_slots=False), portal),
                               base_url="http://journal.test")
        client.journal = j
        clients.append(client)
        if j.settings.test_control_token:
            resp = client.tc("POST", "/clock", json={"action": "set", "now": NOW, "frozen": True})
            assert resp.status_code == 200, resp.text
        return client

    yield make
    for c in clients:
        c.close()
        c.journal.db.close()

