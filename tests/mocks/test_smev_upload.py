"""The upload channel (edu-upload.yaml) into the showcase: every table of the generated
dataset through the single-file and the multipart channel, deletes, the synchronous ФЛК
verdict, and the matrix of unusable input — each refused with a clear 4xx, the showcase
unchanged, the mock still serving."""
from __future__ import annotations

import uuid

import httpx
import pytest

from fixtures.dataset import Options, generate
from mocks.common.transports import SyncASGITransport
from mocks.smev import create_app
from smev_helpers import BASE, SYSTEM, dataset_files, multipart_url, octet, table_url
from smev_helpers import showcase  # noqa: F401  (fixture)
from specs.tables import load_tables

TABLES = load_tables()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    result = generate(Options(seed=1), tmp_path_factory.mktemp("smev") / "dataset")
    return result.manifest["tables"], dataset_files(result.out)


@pytest.fixture
def agent(showcase):
    app = create_app(showcase)
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE, timeout=60) as http:
        yield app.state.core, http
    transport.close()


def request_ids(response: httpx.Response) -> list[str]:
    ids = [i.strip() for i in response.headers["x-request-id"].split(",")]
    for rid in ids:
        uuid.UUID(rid)
    return ids


def test_every_table_through_the_single_file_channel(agent, showcase, dataset):
    counts, files = dataset
    core, http = agent
    for table in TABLES.export_order():
        r = http.post(table_url(table), **octet(files[table]))
        assert r.status_code == 200, (table, r.text)
        assert r.content == b""
        (rid,) = request_ids(r)
        assert showcase.status(rid)["code"] == 3
        assert showcase.request(rid)["source"] == SYSTEM and showcase.request(rid)["table"] == table
    assert showcase.counts() == counts
    # and the stored rows are the file's rows
    total, rows = showcase.rows("learners", limit=1000)
    assert total == counts["learners"] and rows[0]["id"].startswith("EZHD-")
    assert [u["status"] for u in core.uploads] == [200] * len(counts)


def test_whole_dataset_in_one_multipart_request(agent, showcase, dataset):
    counts, files = dataset
    core, http = agent
    # children first in the request: the agent still submits parents first
    parts = [("files", (f"{t}.csv", files[t], "text/csv")) for t in reversed(TABLES.export_order())]
    r = http.post(multipart_url(), files=parts)
    assert r.status_code == 200, r.text
    ids = request_ids(r)
    assert len(ids) == len(counts)
    assert [showcase.request(i)["table"] for i in ids] == list(TABLES.export_order())
    assert showcase.counts() == counts
    # delete everything through multipart (children first), then the counts are zero
    r = http.request("DELETE", multipart_url(), files=parts)
    assert r.status_code == 200, r.text
    assert [showcase.request(i)["table"] for i in request_ids(r)] == list(reversed(TABLES.export_order()))
    assert set(showcase.counts().values()) == {0}


def test_myedu_prefixed_names_and_single_delete(agent, showcase, dataset):
    counts, files = dataset
    core, http = agent
    r = http.post(multipart_url(), files=[("files", ("myedu_address.csv", files["address"])),
                                          ("files", ("telecom.csv", files["telecom"]))])
    assert r.status_code == 200, r.text
    assert showcase.counts()["address"] == counts["address"]
    assert showcase.counts()["telecom"] == counts["telecom"]
    r = http.request("DELETE", table_url("telecom"), **octet(files["telecom"]))
    assert r.status_code == 200, r.text
    assert showcase.counts()["telecom"] == 0 and showcase.counts()["address"] == counts["address"]


def test_flk_errors_are_a_400_with_the_violations(agent, showcase, dataset):
    counts, files = dataset
    core, http = agent
    assert http.post(table_url("address"), **octet(files["address"])).status_code == 200
    before = showcase.checksum()
    lines = files["address"].decode("utf-8").split("\n")
    header = lines[0].split(";")
    cells = lines[1].split(";")
    cells[header.index("create_datetime")] = '"not a date"'
    broken = "\n".join([lines[0], ";".join(cells)] + lines[2:]).encode("utf-8")
    r = http.post(table_url("address"), **octet(broken))
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "flk_failed" and "address.csv" in body["message_en"]
    (violation,) = body["details"]
    assert (violation["table"], violation["line"], violation["column"]) == ("address", 2, "create_datetime")
    assert violation["rule"] and violation["message"]["ru"] and violation["message"]["en"]
    (rid,) = request_ids(r)
    assert showcase.status(rid)["code"] == 7
    assert showcase.checksum() == before


def _bom(files):
    return b"\xef\xbb\xbf" + files["address"]


BAD = [
    # (name, method, url, request kwargs (given the dataset files), status, error)
    ("unknown mnemonic", "POST", table_url("address", mnemonic="NOBODY"),
     lambda f: octet(f["address"]), 400, "unknown_mnemonic"),
    ("unsupported version", "POST", table_url("address", version="v2"),
     lambda f: octet(f["address"]), 400, "unsupported_version"),
    ("unknown table", "POST", table_url("pupils"), lambda f: octet(f["address"]), 400, "unknown_table"),
    ("wrong content type", "POST", table_url("address"),
     lambda f: {"content": f["address"], "headers": {"Content-Type": "text/csv"}}, 400, "invalid_request"),
    ("no content type", "POST", table_url("address"), lambda f: {"content": f["address"]}, 400,
     "invalid_request"),
    ("empty body", "POST", table_url("address"), lambda f: octet(b""), 400, "empty_body"),
    ("not UTF-8", "POST", table_url("address"),
     lambda f: octet(f["address"].decode("utf-8").encode("cp1251")), 400, "bad_encoding"),
    ("byte-order mark", "POST", table_url("address"), lambda f: octet(_bom(f)), 400, "bad_encoding"),
    ("garbage CSV", "POST", table_url("address"), lambda f: octet(b"\x00\x01 not a csv"), 400, "flk_failed"),
    ("multipart without files", "POST", multipart_url(),
     lambda f: {"files": [("file", ("address.csv", f["address"]))]}, 400, "invalid_request"),
    ("multipart plain field", "POST", multipart_url(),
     lambda f: {"data": {"files": "address"}, "files": [("other", ("x.csv", b"x"))]}, 400, "bad_file_name"),
    ("multipart bad file name", "POST", multipart_url(),
     lambda f: {"files": [("files", ("address.txt", f["address"]))]}, 400, "bad_file_name"),
    ("multipart path in name", "POST", multipart_url(),
     lambda f: {"files": [("files", ("../../etc/passwd", f["address"]))]}, 400, "bad_file_name"),
    ("multipart unknown table", "POST", multipart_url(),
     lambda f: {"files": [("files", ("pupils.csv", f["address"]))]}, 400, "unknown_table"),
    ("multipart table twice", "POST", multipart_url(),
     lambda f: {"files": [("files", ("address.csv", f["address"])),
                          ("files", ("myedu_address.csv", f["address"]))]}, 400, "bad_file_name"),
    ("multipart empty file", "POST", multipart_url(),
     lambda f: {"files": [("files", ("address.csv", b""))]}, 400, "empty_body"),
    ("multipart as octet-stream", "POST", multipart_url(), lambda f: octet(f["address"]), 400,
     "invalid_request"),
    ("broken multipart", "POST", multipart_url(),
     lambda f: {"content": b"--x\r\nnonsense", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
     400, "invalid_request"),
    ("GET", "GET", table_url("address"), lambda f: {}, 405, "invalid_request"),
    ("PUT", "PUT", multipart_url(), lambda f: octet(f["address"]), 405, "invalid_request"),
]


@pytest.mark.parametrize("name,method,url,kwargs,status,error", BAD, ids=[b[0] for b in BAD])
def test_unusable_input_is_refused_clearly(agent, showcase, dataset, name, method, url, kwargs, status, error):
    counts, files = dataset
    core, http = agent
    before = showcase.counts()
    r = http.request(method, url, **kwargs(files))
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    body = r.json()
    assert body["message"] and body["message_en"] and isinstance(body["details"], list)
    assert showcase.counts() == before
    entry = core.journal.read()[-1]
    assert entry["status"] == status and entry["error"]["error"] == error
    # the mock keeps serving
    r = http.post(table_url("address"), **octet(files["address"]))
    assert r.status_code == 200, r.text


def test_size_limits(showcase, dataset):
    counts, files = dataset
    app = create_app(showcase, max_body=len(files["address"]) + 500, max_files=2)
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
        r = http.post(table_url("telecom"), **octet(files["telecom"] + b"\n" * 2000))
        assert (r.status_code, r.json()["error"]) == (400, "too_large")
        small = [("files", (f"{t}.csv", b"x")) for t in ("address", "telecom", "organisations")]
        r = http.post(multipart_url(), files=small)
        assert (r.status_code, r.json()["error"]) == (400, "too_large")
        assert "2" in r.json()["message_en"]
        assert http.post(table_url("address"), **octet(files["address"])).status_code == 200
    assert showcase.counts()["telecom"] == 0


def test_processing_failure_is_a_500(agent, showcase, dataset):
    counts, files = dataset
    core, http = agent
    showcase.add_fault("lifecycle", "fail")
    r = http.post(table_url("address"), **octet(files["address"]))
    assert (r.status_code, r.json()["error"]) == (500, "internal_error")
    (rid,) = request_ids(r)
    assert showcase.status(rid)["code"] == 4
    assert http.post(table_url("address"), **octet(files["address"])).status_code == 200


def test_step_mode_answers_at_once_with_the_request_id(showcase, dataset):
    counts, files = dataset
    showcase.configure(step=True)
    app = create_app(showcase)
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE) as http:
        r = http.post(table_url("address"), **octet(files["address"]))
    assert r.status_code == 200
    (rid,) = request_ids(r)
    assert showcase.status(rid)["code"] == 0
    showcase.run_pending()
    assert showcase.status(rid)["code"] == 3
