"""Mock ЕПГУ showcase over HTTP: the published upload/status API, bad input, HTTP and lifecycle
faults, the request journal and the admin API."""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid

import httpx
import pytest

from epgu_helpers import (BASE, DATAMART, HEADERS, SENDER, TABLES, client_for, csv_text, dataset_dir, key_only,
                          loaded_state, organisation)
from mocks.epgu import create_app
from mocks.epgu.showcase import STAGES, UNAUTHORIZED_RU, Showcase
from mocks.epgu.testing import upload_directory, wait_final

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ZERO = {s: 0 for s in STAGES}


@pytest.fixture
def app():
    application = create_app(delays=ZERO)
    application.state.showcase.register_source(SENDER, [DATAMART])
    yield application
    application.state.showcase.close()


@pytest.fixture
def http(app):
    client, transport = client_for(app)
    with client:
        yield client
    transport.close()


def upload(http, table: str, body: bytes, op: str = "upload", headers=None, datamart: str = DATAMART):
    return http.post(f"/v2/datamarts/{datamart}/tables/{table}/{op}", content=body, headers=headers or HEADERS)


def status(http, rid: str, sender: str = SENDER):
    return http.get(f"/v2/requests/{rid}/status", headers={"X-Smev-Sender": sender})


def stored(http) -> dict:
    return http.get("/_admin/checksum").json()


ORGS = csv_text("organisations", [organisation("EZ1-ORG1"), organisation("EZ1-ORG2", "Школа № 2")])


def test_the_small_dataset_uploads_in_export_order_and_is_found_in_the_showcase(http):
    ids = upload_directory(http, dataset_dir(), sender=SENDER)
    assert list(ids) == list(TABLES.export_order())
    for table, rid in ids.items():
        final = wait_final(http, rid, sender=SENDER)
        assert final["code"] == 3, (table, http.get(f"/v2/requests/{rid}/errors", headers=HEADERS).json())
    manifest = json.loads((dataset_dir() / "manifest.json").read_text(encoding="utf-8"))
    counts = http.get("/_admin/tables").json()
    assert counts == manifest["tables"]
    assert all(counts[name] > 0 for name in TABLES.names)
    first = (dataset_dir() / "learners.csv").read_text(encoding="utf-8").split("\n")[1]
    learner_id, snils = first.split(";")[0].strip('"'), first.split(";")[7].strip('"')
    found = http.get("/_admin/tables/learners", params={"id": learner_id}).json()
    assert found["total"] == 1 and found["rows"][0]["snils"] == (snils or None)
    page = http.get("/_admin/tables/marks", params={"limit": 5, "offset": 10}).json()
    assert page["total"] == counts["marks"] and len(page["rows"]) == 5
    assert set(page["rows"][0]) == set(TABLES["marks"].column_names)


def test_upload_answers_a_bare_uuid_and_status_json(http):
    r = upload(http, "organisations", ORGS)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert UUID_RE.match(r.text), r.text
    body = wait_final(http, r.text, sender=SENDER)
    assert body == {"code": 3, "description": "Успешно обработан"}
    errors = http.get(f"/v2/requests/{r.text}/errors", headers=HEADERS).json()
    assert errors == {"request_id": r.text, "datamart": DATAMART, "table": "organisations", "operation": "upload",
                      "code": 3, "total": 0, "truncated": False, "errors": []}
    assert http.get("/_admin/tables/organisations").json()["total"] == 2


def test_status_of_unknown_and_malformed_ids(http):
    r = status(http, str(uuid.uuid4()))
    assert r.status_code == 200 and r.json() == {"code": 5, "description": "Идентификатор запроса не обнаружен"}
    r = status(http, "12345")
    assert r.status_code == 400 and r.json()["error"] == "bad_request_id"
    r = http.get(f"/v2/requests/{uuid.uuid4()}/errors", headers=HEADERS)
    assert r.status_code == 404 and r.json()["error"] == "unknown_request"
    r = http.get(f"/v2/requests/{uuid.uuid4()}/errors", params={"limit": "lots"}, headers=HEADERS)
    assert r.status_code == 400


def test_unknown_source_gets_401_everywhere(http):
    headers = {"Content-Type": "text/csv", "X-Smev-Sender": "STRANGER"}
    r = upload(http, "organisations", ORGS, headers=headers)
    assert r.status_code == 401 and r.json()["message"] == UNAUTHORIZED_RU
    assert r.json()["error"] == "unknown_source_system"
    rid = upload(http, "organisations", ORGS).text
    assert status(http, rid, "STRANGER").status_code == 401
    assert http.get(f"/v2/requests/{rid}/errors", headers={"X-Smev-Sender": "STRANGER"}).status_code == 401
    http.post("/_admin/sources", json={"mnemonic": "OTHER01"})
    assert status(http, rid, "OTHER01").json()["code"] == 5, "a source sees only its own requests"
    assert http.get(f"/v2/requests/{rid}/errors", headers={"X-Smev-Sender": "OTHER01"}).status_code == 404


def test_an_upload_without_sender_is_the_datamart_source_s(app, http):
    """uploader-client sends no identity header: the datamart's one source is the sender."""
    r = upload(http, "organisations", ORGS, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert http.get(f"/_admin/requests/{r.text}").json()["source"] == SENDER
    assert http.get(f"/v2/requests/{r.text}/status").json()["code"] in range(-1, 8)   # the id suffices
    http.post("/_admin/sources", json={"mnemonic": "OTHER01", "datamarts": [DATAMART]})
    r = upload(http, "organisations", ORGS, headers={"Content-Type": "text/csv"})
    assert r.status_code == 401 and "several source systems" in r.json()["message_en"]


BAD_INPUT = [
    # (id, method path suffix / table, headers, body, status, error)
    ("unknown table", "pupils/upload", HEADERS, ORGS, 400, "unknown_table"),
    ("dot-dot table", "%2E%2E/upload", HEADERS, ORGS, 400, "unknown_table"),
    ("traversal", "..%2F..%2Fsecret/upload", HEADERS, ORGS, 404, "invalid_request"),
    ("operation", "organisations/merge", HEADERS, ORGS, 400, "bad_operation"),
    ("content type", "organisations/upload", {**HEADERS, "Content-Type": "application/json"}, ORGS, 400,
     "invalid_request"),
    ("no content type", "organisations/upload", {"X-Smev-Sender": SENDER}, ORGS, 400, "invalid_request"),
    ("charset", "organisations/upload", {**HEADERS, "Content-Type": "text/csv; charset=windows-1251"}, ORGS, 400,
     "bad_encoding"),
    ("not utf-8", "organisations/upload", HEADERS, ORGS.decode().encode("cp1251"), 400, "bad_encoding"),
    ("empty", "organisations/upload", HEADERS, b"", 400, "empty_body"),
]


@pytest.mark.parametrize("path,headers,body,code,error", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_clearly_and_changes_nothing(app, http, path, headers, body, code, error):
    assert wait_final(http, upload(http, "organisations", ORGS).text, sender=SENDER)["code"] == 3
    before = stored(http)
    r = http.post(f"/v2/datamarts/{DATAMART}/tables/{path}", content=body, headers=headers)
    assert r.status_code == code, r.text
    assert r.json()["error"] == error and r.json()["message"]
    assert stored(http) == before
    assert len(app.state.showcase.requests()) == 1, "a refused upload gets no request id"
    assert http.get("/_ping").text == "ok"
    again = upload(http, "organisations", csv_text("organisations", [organisation("EZ1-ORG3")]))
    assert wait_final(http, again.text, sender=SENDER)["code"] == 3


def test_unknown_datamart_is_400():
    application = create_app(delays=ZERO)
    application.state.showcase.register_source(SENDER)
    client, transport = client_for(application)
    with client:
        r = upload(client, "organisations", ORGS, datamart="elsewhere")
        assert r.status_code == 400 and r.json()["error"] == "unknown_datamart"
        assert r.json()["message"].startswith("Ошибка входных данных")
    transport.close()
    application.state.showcase.close()


def test_a_declared_gigabyte_is_refused_without_reading_it(app, http):
    before = stored(http)
    pulled = []

    async def gigabyte():
        for _ in range(2**20):
            pulled.append(1)
            yield b"x" * 1024

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            return await client.post(f"/v2/datamarts/{DATAMART}/tables/organisations/upload", content=gigabyte(),
                                     headers={**HEADERS, "Content-Length": str(2**30)})
    r = asyncio.run(go())
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert "Ошибка входных данных" in r.json()["message"]
    assert len(pulled) <= 1, "the body was not read"
    assert stored(http) == before and http.get("/_ping").text == "ok"
    assert app.state.showcase.requests() == []


def test_a_streamed_body_over_the_cap_is_413(app, http):
    http.patch("/_admin/settings", json={"max_body": 4096})

    def stream():
        for _ in range(100):
            yield b"y" * 1024
    r = http.post(f"/v2/datamarts/{DATAMART}/tables/organisations/upload", content=stream(), headers=HEADERS)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert app.state.showcase.requests() == []


FILE_LEVEL = [
    ("bom", b"\xef\xbb\xbf" + ORGS, {"encoding"}),
    ("comma delimiter", ORGS.replace(b";", b","), {"header"}),
    ("missing header", b"\n".join(ORGS.split(b"\n")[1:]), {"header"}),
]


@pytest.mark.parametrize("body,rules", [c[1:] for c in FILE_LEVEL], ids=[c[0] for c in FILE_LEVEL])
def test_file_level_faults_go_through_flk_to_status_7(http, body, rules):
    before = stored(http)
    r = upload(http, "organisations", body)
    assert r.status_code == 200
    assert wait_final(http, r.text, sender=SENDER)["code"] == 7
    report = http.get(f"/v2/requests/{r.text}/errors", headers=HEADERS).json()
    assert report["code"] == 7 and report["total"] >= 1
    assert {e["rule"] for e in report["errors"]} & rules, report
    assert all(e["file"] == "organisations.csv" and e["message"]["ru"] for e in report["errors"])
    assert stored(http) == before


def test_http_faults_serve_exactly_the_next_n_requests(app, http):
    assert http.post("/_admin/faults", json={"endpoint": "upload", "kind": "status", "status": 503,
                                             "count": 2}).status_code == 201
    for _ in range(2):
        r = upload(http, "organisations", ORGS)
        assert r.status_code == 503 and r.json()["error"] == "internal_error"
        assert r.headers["retry-after"] == "1"
    assert app.state.showcase.requests() == [], "a faulted upload is not processed"
    rid = upload(http, "organisations", ORGS).text
    assert UUID_RE.match(rid)
    http.post("/_admin/faults", json={"endpoint": "status", "kind": "delay", "seconds": 0.3})
    started = time.monotonic()
    assert status(http, rid).status_code == 200
    assert time.monotonic() - started >= 0.3
    http.post("/_admin/faults", json={"endpoint": "status", "kind": "drop"})
    with pytest.raises(httpx.TransportError):
        status(http, rid)
    assert status(http, rid).status_code == 200
    assert http.get("/_admin/faults").json() == []
    kinds = [e.get("fault") for e in http.get("/_admin/journal").json() if e.get("fault")]
    assert kinds == ["status 503", "status 503", "delay 0.3s", "drop"]


def test_lifecycle_faults_through_the_admin_api(app, http):
    http.post("/_admin/faults", json={"endpoint": "lifecycle", "kind": "fail"})
    assert wait_final(http, upload(http, "organisations", ORGS).text, sender=SENDER)["code"] == 4
    http.patch("/_admin/settings", json={"step": True})
    http.post("/_admin/faults", json={"endpoint": "lifecycle", "kind": "stall"})
    rid = upload(http, "organisations", ORGS).text
    assert http.post("/_admin/run").json()["steps"] >= 3
    assert status(http, rid).json()["code"] == 6
    assert http.get(f"/_admin/requests/{rid}").json()["stalled"] is True
    http.post(f"/_admin/requests/{rid}/release")
    assert http.post("/_admin/step").json() == {"request_id": rid, "code": 3}
    assert http.post("/_admin/step").json() == {"idle": True}
    for bad in ({"endpoint": "nowhere", "kind": "status"}, {"endpoint": "upload", "kind": "stall"},
                {"endpoint": "lifecycle", "kind": "drop"}, {"endpoint": "upload", "kind": "status", "count": 0}):
        assert http.post("/_admin/faults", json=bad).status_code == 400, bad


def test_a_crash_answers_500_and_the_mock_keeps_serving(app, http, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated")
    monkeypatch.setattr(app.state.showcase, "status", boom)
    r = status(http, str(uuid.uuid4()))
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    monkeypatch.undo()
    assert status(http, str(uuid.uuid4())).json()["code"] == 5


def test_the_journal_records_csv_as_size_and_digest_only(http):
    secret_name = "Школа Тайное Имя 4242"
    body = csv_text("organisations", [organisation("EZ1-ORG7", secret_name)])
    rid = upload(http, "organisations", body, headers={**HEADERS, "Authorization": "Bearer t0ken"}).text
    entries = http.get("/_admin/journal", params={"path": "/v2/datamarts"}).json()
    (entry,) = entries
    assert (entry["body_bytes"], entry["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert entry["note"] == {"request_id": rid} and entry["status"] == 200
    assert entry["headers"]["authorization"] == "[REDACTED]" and entry["headers"]["x-smev-sender"] == SENDER
    listing = json.dumps(http.get("/_admin/journal").json(), ensure_ascii=False)
    assert secret_name not in listing and "t0ken" not in listing
    since = entries[-1]["seq"]
    status(http, rid)
    later = http.get("/_admin/journal", params={"since": since, "path": "/v2/requests"}).json()
    assert [e["endpoint"] for e in later] == ["status"] and later[0]["note"]["code"] in (0, 1, 2, 6, 3)


def test_admin_sources_settings_requests_and_reset(app, http):
    assert http.get("/_admin/health").json()["status"] == "ok"
    r = http.post("/_admin/sources", json={"mnemonic": "JOURNAL2", "datamarts": ["myedu", "second"]})
    assert r.status_code == 201 and r.json()["datamarts"] == ["myedu", "second"]
    assert {s["mnemonic"] for s in http.get("/_admin/sources").json()} == {SENDER, "JOURNAL2"}
    assert http.post("/_admin/sources", json={"mnemonic": "bad name"}).status_code == 400
    ok = upload(http, "organisations", ORGS, headers={**HEADERS, "X-Smev-Sender": "JOURNAL2"}, datamart="second")
    assert ok.status_code == 200
    assert http.delete("/_admin/sources/JOURNAL2").status_code == 204
    assert http.delete("/_admin/sources/JOURNAL2").status_code == 404
    assert http.patch("/_admin/settings", json={"delays": {"6": "slow"}}).status_code == 400
    assert http.patch("/_admin/settings", json={"agent_url": "http://a.test:8090"}).json()["agent_url"] == \
        "http://a.test:8090"
    wait_final(http, upload(http, "organisations", ORGS).text, sender=SENDER)
    listed = http.get("/_admin/requests", params={"source": SENDER}).json()
    assert [r["table"] for r in listed] == ["organisations"] and listed[0]["history"][-1]["code"] == 3
    assert http.get("/_admin/requests", params={"code": 7}).json() == []
    assert http.get(f"/_admin/requests/{uuid.uuid4()}").status_code == 404
    assert http.get("/_admin/tables/pupils").status_code == 404
    assert http.get("/_admin/tables/organisations", params={"colour": "x"}).status_code == 404
    q = http.post("/_admin/query", json={"sql": "SELECT count(*) AS n FROM organisations"}).json()
    assert q == {"columns": ["n"], "rows": [[2]], "truncated": False}
    assert http.post("/_admin/query", json={"sql": "DELETE FROM organisations"}).status_code == 400
    assert http.post("/_admin/reset").status_code == 204
    assert http.get("/_admin/sources").json() == [] and http.get("/_admin/requests").json() == []
    assert http.get("/_admin/tables").json()["organisations"] == 0
    assert upload(http, "organisations", ORGS).status_code == 401


def test_a_composite_key_delete_through_http_on_the_loaded_dataset(tmp_path):
    showcase = Showcase(state_dir=loaded_state(tmp_path / "s"), delays=ZERO)
    application = create_app(showcase)
    client, transport = client_for(application)
    with client:
        def pairs() -> dict:
            rows = client.get("/_admin/tables/class_learners", params={"limit": 100000}).json()["rows"]
            return {(r["class_id"], r["learner_id"]): r for r in rows}
        before = pairs()
        victim = sorted(before)[1]
        body = csv_text("class_learners", [key_only("class_learners", class_id=victim[0], learner_id=victim[1])])
        rid = upload(client, "class_learners", body, op="delete").text
        assert wait_final(client, rid, sender=SENDER)["code"] == 3
        assert pairs() == {k: v for k, v in before.items() if k != victim}
    transport.close()
    showcase.close()


OGRN = "1026200937729"


def proxy_token(http, **form) -> httpx.Response:
    base = {"username": "journal", "password": "s3cret", "organization_ogrn": OGRN, "datamart_memonic": DATAMART}
    return http.post("/api/v1/auth_system", data={**base, **form})


def test_datamart_studio_proxy_token_then_secure_calls(app, http):
    assert http.post("/_admin/iam/users", json={"username": "journal", "password": "s3cret", "source": SENDER,
                                                "organization_ogrn": OGRN}).status_code == 201
    assert http.post("/_admin/iam/users", json={"username": "x", "password": "y", "source": "NOPE",
                                                "organization_ogrn": OGRN}).status_code == 400
    assert proxy_token(http, password="wrong").status_code == 401
    assert proxy_token(http, organization_ogrn="1027700132195").status_code == 401
    assert proxy_token(http, datamart_memonic="other").status_code == 401
    assert proxy_token(http, username="").status_code == 400
    tok = proxy_token(http).json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600 and tok["access_token"]
    secure = f"/api/v1/secure/{OGRN}/{DATAMART}/ezhd/17"
    auth = {"Authorization": f"Bearer {tok['access_token']}", "Content-Type": "text/csv"}
    r = http.post(f"{secure}/v2/datamarts/{DATAMART}/tables/organisations/upload", content=ORGS, headers=auth)
    assert r.status_code == 200 and UUID_RE.match(r.text), r.text
    assert http.get(f"/_admin/requests/{r.text}").json()["source"] == SENDER
    s = http.get(f"{secure}/v2/requests/{r.text}/status", headers={"Authorization": auth["Authorization"]})
    assert s.status_code == 200 and s.json()["code"] in range(-1, 8)
    # an X-Smev-Sender cannot override the token's source
    r2 = http.post(f"{secure}/v2/datamarts/{DATAMART}/tables/organisations/upload", content=ORGS,
                   headers={**auth, "X-Smev-Sender": "STRANGER"})
    assert r2.status_code == 200
    # refusals: no token, a forged token, another organisation's path
    assert http.post(f"{secure}/v2/datamarts/{DATAMART}/tables/organisations/upload", content=ORGS,
                     headers={"Content-Type": "text/csv"}).status_code == 401
    assert http.post(f"{secure}/v2/datamarts/{DATAMART}/tables/organisations/upload", content=ORGS,
                     headers={**auth, "Authorization": "Bearer forged"}).status_code == 401
    other = f"/api/v1/secure/1027700132195/{DATAMART}/ezhd/17/v2/datamarts/{DATAMART}/tables/organisations/upload"
    r = http.post(other, content=ORGS, headers=auth)
    assert r.status_code == 401 and r.json()["error"] == "unknown_source_system"
    journal = http.get("/_admin/journal").json()
    assert not any("s3cret" in json.dumps(e) or tok["access_token"] in json.dumps(e) for e in journal)
