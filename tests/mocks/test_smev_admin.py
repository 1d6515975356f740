"""The agent's admin API: health, settings, mnemonics, providers, journal, uploads, reset."""
from __future__ import annotations

import hashlib

import httpx
import pytest

from mocks.common.transports import SyncASGITransport
from mocks.smev import create_app
from smev_helpers import ADDRESS, BASE, SYSTEM, octet, table_url
from smev_helpers import showcase  # noqa: F401  (fixture)


@pytest.fixture
def http(showcase):
    app = create_app(showcase)
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE) as client:
        yield client
    transport.close()


def test_health_and_settings(http):
    assert http.get("/_admin/health").json() == {"status": "ok", "mock": "smev"}
    settings = http.get("/_admin/settings").json()
    assert settings["systems"] == [SYSTEM] and settings["showcase_mnemonic"] == "MYEDU_RVD"
    r = http.patch("/_admin/settings", json={"flk_wait": 5, "default_sender": "EPGU"})
    assert r.status_code == 200 and r.json()["flk_wait"] == 5 and r.json()["default_sender"] == "EPGU"
    for bad in ({"nope": 1}, {"max_files": 0}, {"default_sender": "lower"}, {"flk_wait": "soon"}):
        r = http.patch("/_admin/settings", json=bad)
        assert r.status_code == 400 and r.json()["message"], bad
    assert http.patch("/_admin/settings", content=b"{not json").status_code == 400


def test_mnemonics(http, showcase):
    assert {m["mnemonic"]: m["kind"] for m in http.get("/_admin/mnemonics").json()} == \
        {SYSTEM: "system", "EPGU": "consumer", "MYEDU_RVD": "showcase"}
    assert http.post(table_url("address", mnemonic="REGION77"), **octet(ADDRESS)).status_code == 400
    r = http.post("/_admin/mnemonics", json={"mnemonic": "REGION77", "title": "Журнал региона 77"})
    assert r.status_code == 201 and r.json()["kind"] == "system"
    assert showcase.is_source("REGION77")
    assert http.post(table_url("address", mnemonic="REGION77"), **octet(ADDRESS)).status_code == 200
    assert http.delete("/_admin/mnemonics/REGION77").status_code == 204
    assert http.delete("/_admin/mnemonics/REGION77").status_code == 404
    r = http.post(table_url("address", mnemonic="REGION77"), **octet(ADDRESS))
    assert (r.status_code, r.json()["error"]) == (400, "unknown_mnemonic")
    for bad in ({"mnemonic": "bad name"}, {"mnemonic": "X1", "kind": "robot"}, ["X1"]):
        assert http.post("/_admin/mnemonics", json=bad).status_code == 400


def test_providers(http):
    r = http.post("/_admin/providers", json={"mnemonic": "JOURNAL01", "base_url": "http://127.0.0.1:8000"})
    assert r.status_code == 201, r.text
    assert (r.json()["spec"], r.json()["prefix"]) == ("journal.yaml", "ezhd")
    r = http.post("/_admin/providers", json={"mnemonic": "EPGU", "base_url": "http://127.0.0.1:8093/",
                                             "spec": "portal.yaml"})
    assert (r.json()["prefix"], r.json()["base_url"]) == ("myedu", "http://127.0.0.1:8093")
    assert [p["mnemonic"] for p in http.get("/_admin/providers").json()] == ["JOURNAL01", "EPGU"]
    assert http.get("/_admin/providers/EPGU").json()["spec"] == "portal.yaml"
    for bad in ({"mnemonic": "J2"}, {"mnemonic": "J2", "base_url": "ftp://x"},
                {"mnemonic": "J2", "base_url": "http://x", "spec": "nothing.yaml"},
                {"mnemonic": "j2", "base_url": "http://x"},
                {"mnemonic": "J2", "base_url": "http://x", "prefix": "../etc"}):
        r = http.post("/_admin/providers", json=bad)
        assert r.status_code == 400 and r.json()["message"], bad
    assert http.delete("/_admin/providers/EPGU").status_code == 204
    assert http.get("/_admin/providers/EPGU").status_code == 404


def test_journal_uploads_and_reset(http, showcase):
    assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
    assert http.post(table_url("pupils"), **octet(ADDRESS)).status_code == 400
    entries = http.get("/_admin/journal").json()
    assert [e["status"] for e in entries] == [200, 400]
    assert entries[0]["upload"]["files"][0]["table"] == "address"
    assert "Тверь" not in str(entries)                   # file contents are not journalled
    body = ADDRESS if isinstance(ADDRESS, bytes) else ADDRESS.encode()
    assert (entries[0]["body_bytes"], entries[0]["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert isinstance(entries[0]["at"], float) and entries[0]["at"] <= entries[1]["at"]
    assert http.get("/_admin/journal", params={"since": entries[0]["seq"]}).json() == entries[1:]
    assert http.get("/_admin/journal", params={"path": "/NOBODY"}).json() == []
    assert all(not e["path"].startswith("/_admin") for e in http.get("/_admin/journal").json())
    (upload,) = http.get("/_admin/uploads").json()
    assert upload["status"] == 200 and upload["files"][0]["code"] == 3
    http.post("/_admin/mnemonics", json={"mnemonic": "REGION77"})
    http.post("/_admin/faults", json={"endpoint": "upload", "kind": "status"})
    assert http.post("/_admin/reset").status_code == 204
    assert http.get("/_admin/journal").json() == [] and http.get("/_admin/uploads").json() == []
    assert http.get("/_admin/faults").json() == []
    assert "REGION77" not in [m["mnemonic"] for m in http.get("/_admin/mnemonics").json()]
    # a shared showcase is kept unless asked
    assert showcase.counts()["address"] == 2
    assert http.post("/_admin/reset", json={"showcase": True}).status_code == 204
    assert showcase.counts()["address"] == 0
    assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200


def test_unknown_paths(http):
    r = http.get("/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert http.get("/_admin/nothing").status_code == 404


def test_own_showcase_when_none_is_given():
    app = create_app()
    core = app.state.core
    try:
        with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
            assert http.post(table_url("address"), **octet(ADDRESS)).status_code == 200
        assert core.owns_showcase and core.showcase.counts()["address"] == 2
    finally:
        core.close()
