"""End to end over real sockets: mock ЕПГУ under uvicorn on 127.0.0.1 (port 0) takes an upload,
walks it to status 3 on its own clock, serves the stored rows and the portal page, and survives
a dropped connection."""
from __future__ import annotations

import time

import httpx
import pytest

from epgu_helpers import DATAMART, HEADERS, SENDER, csv_text, organisation
from mocks.common.transports import ServerThread
from mocks.epgu import create_app


@pytest.fixture
def served():
    app = create_app(delays={"0": 0.01, "1": 0.01, "2": 0.01, "6": 0.01}, agent_url="")
    with ServerThread(app) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield app, client
    app.state.showcase.close()


def test_upload_status_and_page_over_loopback(served):
    app, http = served
    assert http.post("/_admin/sources", json={"mnemonic": SENDER, "datamarts": [DATAMART]}).status_code == 201
    body = csv_text("organisations", [organisation("EZ1-ORG1", "Лицей № 7")])
    r = http.post(f"/v2/datamarts/{DATAMART}/tables/organisations/upload", content=body, headers=HEADERS)
    assert r.status_code == 200 and len(r.text) == 36
    rid = r.text
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code = http.get(f"/v2/requests/{rid}/status", headers={"X-Smev-Sender": SENDER}).json()["code"]
        if not seen or seen[-1] != code:
            seen.append(code)
        if code in (3, 4, 7):
            break
    order = [0, 1, 2, 6, 3]
    assert seen[-1] == 3 and seen == sorted(seen, key=order.index), seen
    rows = http.get("/_admin/tables/organisations").json()["rows"]
    assert [r["name"] for r in rows] == ["Лицей № 7"]
    assert http.post("/_admin/personas", json=[{"oid": 1000000001, "kind": "representative", "lastName": "Петрова",
                                                "firstName": "Анна", "birthDate": "01.02.1985"}]).status_code == 201
    page = http.get("/portal/people/1000000001")
    assert page.status_code == 200 and "Петрова Анна" in page.text and "Дневник не найден" in page.text


def test_a_dropped_connection_is_a_transport_error_and_the_mock_keeps_serving(served):
    app, http = served
    http.post("/_admin/sources", json={"mnemonic": SENDER})
    http.post("/_admin/faults", json={"endpoint": "status", "kind": "drop"})
    with pytest.raises(httpx.TransportError):
        http.get("/v2/requests/3b051a83-fc5c-4b85-9ac6-e1c50333d066/status", headers={"X-Smev-Sender": SENDER})
    r = http.get("/v2/requests/3b051a83-fc5c-4b85-9ac6-e1c50333d066/status", headers={"X-Smev-Sender": SENDER})
    assert r.json() == {"code": 5, "description": "Идентификатор запроса не обнаружен"}
    http.patch("/_admin/settings", json={"max_body": 1024})
    big = http.post(f"/v2/datamarts/{DATAMART}/tables/organisations/upload", content=b"x" * 4096, headers=HEADERS)
    assert big.status_code == 413 and big.json()["error"] == "too_large"
    assert http.get("/_admin/health").json()["status"] == "ok"
