"""A vendor's unit tests using the ezhd fixtures (no import of ezhd needed: pytest loads them)."""
import asyncio

import httpx

from tiny_journal import CERTIFICATE_PATH, Settings, esia_certificate, esia_certificate_async, upload_table


def settings_for(mocks) -> Settings:
    return Settings(mocks.urls["esia"], mocks.urls["smev"], "TINY01")


def test_the_journal_reads_esia_certificate_in_process(ezhd_mocks):
    s = settings_for(ezhd_mocks)
    pem = esia_certificate(s)
    assert "BEGIN CERTIFICATE" in pem and asyncio.run(esia_certificate_async(s)) == pem
    assert any(e["path"] == CERTIFICATE_PATH for e in ezhd_mocks.journal("esia"))


def test_an_upload_is_checked_by_the_agent_and_faults_can_be_injected(ezhd_mocks):
    s = settings_for(ezhd_mocks)
    resp = upload_table(s, "organisations", "organisation_id;name\n1;x\n".encode())
    assert resp.status_code == 400 and resp.json()["error"] == "unknown_mnemonic"    # not registered
    ezhd_mocks.admin("smev").post("/mnemonics", json={"mnemonic": "TINY01", "kind": "system"}).raise_for_status()
    resp = upload_table(s, "organisations", "not;the;columns\n".encode())
    assert resp.status_code == 400 and resp.json()["error"] == "flk_failed"          # the showcase's ФЛК
    ezhd_mocks.admin("smev").post("/faults", json={"endpoint": "upload", "kind": "status", "status": 503})
    assert upload_table(s, "organisations", b"x\n").status_code == 503


def test_each_test_gets_fresh_mocks(ezhd_mocks):
    assert ezhd_mocks.journal("smev") == []


def test_the_mocks_on_loopback(ezhd_mocks_server):
    assert httpx.get(f"{ezhd_mocks_server.urls['esia']}/_admin/health").json()["status"] == "ok"
    assert "BEGIN CERTIFICATE" in esia_certificate(settings_for(ezhd_mocks_server))
