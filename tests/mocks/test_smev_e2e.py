"""End to end over real sockets: the agent and a fake journal each under uvicorn on
127.0.0.1 (port 0). A file goes through the upload channel into the showcase, SQL mode reads
it back, the portal's call reaches the journal through OpenAPI mode, and the faults behave as
a network would: a dropped connection, an answer later than the client waits."""
from __future__ import annotations

import httpx
import pytest

from mocks.common.transports import ServerThread
from mocks.smev import create_app
from smev_helpers import (ADDRESS, JOURNAL, LEARNER, SHOWCASE, FakeJournal, octet, portal_headers, sql_form,
                          table_url)
from smev_helpers import showcase  # noqa: F401  (fixture)


def test_agent_over_real_sockets(showcase):
    journal = FakeJournal()
    with ServerThread(journal.app()) as journal_url, ServerThread(create_app(showcase)) as agent:
        with httpx.Client(base_url=agent, timeout=10) as http:
            http.post("/_admin/providers", json={"mnemonic": JOURNAL, "base_url": journal_url}).raise_for_status()
            # upload channel → showcase
            r = http.post(table_url("address"), **octet(ADDRESS))
            assert r.status_code == 200 and showcase.status(r.headers["x-request-id"])["code"] == 3
            # SQL mode reads it back
            r = http.post(f"/{SHOWCASE}/sql", **sql_form("SELECT id, postal_code FROM address ORDER BY id"))
            assert r.json()["rows"] == [["EZ1-A1", "170100"], ["EZ1-A2", "170100"]]
            # OpenAPI mode: portal → agent → journal, over sockets both ways
            r = http.get(f"/{JOURNAL}/ezhd/api/v1/learners/{LEARNER}/marks",
                         params={"from": "2025-09-01", "to": "2025-09-30"}, headers=portal_headers())
            assert r.status_code == 200 and r.json()["items"][0]["learner_id"] == LEARNER
            assert journal.seen[-1]["headers"]["x-smev-sender"] == "EPGU"
            # a dropped connection: no status line at all
            http.post("/_admin/faults", json={"endpoint": "upload", "kind": "drop"}).raise_for_status()
            with pytest.raises(httpx.RemoteProtocolError):
                http.post(table_url("address"), **octet(ADDRESS))
            # an answer later than the client waits
            http.post("/_admin/faults", json={"endpoint": "sql", "kind": "timeout", "seconds": 1}).raise_for_status()
            with pytest.raises(httpx.ReadTimeout):
                http.post(f"/{SHOWCASE}/sql", **sql_form("SELECT 1"), timeout=0.3)
            # and the agent keeps serving
            assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
            statuses = [e["status"] for e in http.get("/_admin/journal").json()]
            assert statuses[:4] == [200, 200, 200, None]
