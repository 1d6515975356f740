"""The bench of the export tests: mock showcase, ПОДД agent and portal in-process, and
reference journals wired to them over httpx (the journal reaches them only over HTTP, through
`Journal.http_transport`)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal

from mocks.epgu.app import create_app as epgu_app
from mocks.epgu.showcase import Showcase
from mocks.smev.app import create_app as smev_app
from reference_journal import spec
from reference_journal.app import create_app
from reference_journal.core import Journal
from reference_journal.export import create_exporter
from rj_helpers import NOW, JournalClient, PortalTransport, settings_for
from specs.tables import load_tables

AGENT_URL, EPGU_URL = "http://agent.test", "http://epgu.test"
MNEMONIC = "MNSV03"
NO_DELAYS = {"0": 0.0, "1": 0.0, "2": 0.0, "6": 0.0}
FAST = {"export_retry_base": 0.002, "export_retry_max": 0.02, "export_poll_interval": 0.002,
        "export_status_timeout": 30.0, "export_max_attempts": 4}
TABLES = load_tables()


class Router(httpx.AsyncBaseTransport):
    """Routes by host to in-process ASGI apps."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.routes = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.host].handle_async_request(request)


class Bench:
    """The federal side: one showcase shared by the agent (edu-upload, OpenAPI mode) and the
    portal/showcase app; the agent forwards `/EPGU/myedu/...` to the portal (portal.yaml)."""

    def __init__(self, personas: list[dict[str, Any]], state_dir: Path | None = None) -> None:
        self.showcase = Showcase(state_dir=state_dir, delays=dict(NO_DELAYS))
        self.epgu = epgu_app(showcase=self.showcase)
        self.smev = smev_app(showcase=self.showcase)
        self.agent = self.smev.state.core
        self.agent.register_provider("EPGU", EPGU_URL, spec="portal.yaml",
                                     transport=httpx.ASGITransport(app=self.epgu))
        self.portal = self.epgu.state.portal
        self.portal.load_personas(personas)
        self.transport = Router({"agent.test": self.smev, "epgu.test": self.epgu})

    def close(self) -> None:
        self.agent.close()
        self.showcase.close()

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.showcase.rows(table, limit=1_000_000)[1]

    def count(self, table: str) -> int:
        return self.showcase.counts()[table]

    def requests(self, table: str | None = None) -> list[dict[str, Any]]:
        return self.showcase.requests(table=table, limit=0)


def journal_on(bench: Bench, portal: BlockingPortal, db: Path, *defects: str,
               channel: str = "edu-upload", **changes: Any) -> JournalClient:
    """A journal on the SQLite file `db` with the export slot, its clock frozen at NOW."""
    settings = settings_for(str(db), defects=frozenset(defects), agent_url=AGENT_URL, showcase_url=EPGU_URL,
                            export_channel=channel, **{**FAST, **changes})
    j = Journal(settings, http_transport=bench.transport)
    app = create_app(journal=j, load_slots=False)
    j.export = create_exporter(j)
    client = JournalClient(transport=PortalTransport(app, portal), base_url="http://journal.test")
    client.journal = j
    resp = client.tc("POST", "/clock", json={"action": "set", "now": NOW, "frozen": True})
    assert resp.status_code == 200, resp.text
    return client


def export(client: JournalClient, timeout: float = 60.0, **body: Any) -> dict[str, Any]:
    """Start an export through test-control and wait for its job to end."""
    resp = client.tc("POST", "/export", json=body)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    assert resp.headers["Location"] == f"/test-control/v1/export/{job_id}"
    deadline = time.monotonic() + timeout
    while True:
        job = client.tc("GET", f"/export/{job_id}").json()
        if job["state"] in ("done", "failed"):
            assert spec.problems("test-control.yaml", "ExportJob", job) == []
            return job
        assert time.monotonic() < deadline, f"export job still {job['state']}: {json.dumps(job)[:500]}"
        time.sleep(0.01)


def copy_state(journal_db: Path, showcase_dir: Path, to: Path) -> tuple[Path, Path]:
    """Copies of a journal database and a showcase state directory."""
    to.mkdir(parents=True, exist_ok=True)
    db = to / "journal.sqlite"
    shutil.copyfile(journal_db, db)
    state = to / "showcase"
    shutil.copytree(showcase_dir, state)
    return db, state


def stored_rows(client: JournalClient, table: str) -> list[dict[str, Any]]:
    return list(client.journal.db.rows(table))


def key_of(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in TABLES[table].primary_key)


def uploads_of(job: dict[str, Any], table: str, operation: str = "upload") -> list[dict[str, Any]]:
    return [u for u in job["uploads"] if u["table"] == table and u["operation"] == operation]
