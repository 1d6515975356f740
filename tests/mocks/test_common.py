"""The pieces every mock shares: secret redaction in the request journal, the fault queue,
and the capped body reader."""
from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from mocks.common.body import Body, read_body, replay
from mocks.common.faults import FaultQueue
from mocks.common.journal import REDACTED, SECRET_KEYS, RequestJournal, body_fields, redact, redact_url


# --- redaction -------------------------------------------------------------------------------

def test_redact_replaces_secret_values_at_any_depth_and_keeps_the_rest():
    data = {"Password": "Qwerty!23", "login": "ivanov", "nested": [{"access_token": "eyJ.x.y"},
            {"items": [{"refresh_token": "r1", "value": "5"}]}], "Authorization": "Bearer abc"}
    out = redact(data)
    assert out == {"Password": REDACTED, "login": "ivanov",
                   "nested": [{"access_token": REDACTED}, {"items": [{"refresh_token": REDACTED, "value": "5"}]}],
                   "Authorization": REDACTED}
    assert data["Password"] == "Qwerty!23", "the input is not changed"
    assert "Qwerty" not in repr(out) and "eyJ" not in repr(out)


def test_redact_leaves_empty_secrets_visible_and_scalars_alone():
    assert redact({"password": "", "token": None}) == {"password": "", "token": None}
    assert redact("password") == "password"
    assert redact([1, "x"]) == [1, "x"]


def test_redact_url_hides_secret_query_parameters_only():
    url = "https://journal.test/cb?code=abc&state=s1&access_token=T0K"
    assert redact_url(url) == f"https://journal.test/cb?code=abc&state=s1&access_token={REDACTED}"
    assert redact_url(url, SECRET_KEYS | {"code"}).startswith(f"https://journal.test/cb?code={REDACTED}&state=s1")
    assert redact_url("https://x.test/path") == "https://x.test/path"
    assert redact_url(None) is None


def test_journal_redacts_exchange_data_but_keeps_notes_and_metadata():
    journal = RequestJournal()
    entry = journal.record({"method": "POST", "path": "/x", "status": 200,
                            "headers": {"authorization": "Bearer secret", "x-smev-sender": "MNSV03"},
                            "json": {"password": "hunter22", "learner_id": "EZ-1"},
                            "form": {"client_secret": "sig", "scope": "openid"},
                            "url": "http://a.test/p?token=zzz&x=1",
                            "error": {"password": "kept as the mock wrote it"}})
    assert entry["headers"] == {"authorization": REDACTED, "x-smev-sender": "MNSV03"}
    assert entry["json"] == {"password": REDACTED, "learner_id": "EZ-1"}
    assert entry["form"] == {"client_secret": REDACTED, "scope": "openid"}
    assert entry["url"] == f"http://a.test/p?token={REDACTED}&x=1"
    assert entry["error"] == {"password": "kept as the mock wrote it"}
    assert entry["seq"] == 1 and entry["time"].endswith("Z")
    listing = repr(journal.read())
    assert "hunter22" not in listing and "Bearer secret" not in listing and "zzz" not in listing


def test_journal_sequence_filters_bound_and_clear():
    journal = RequestJournal(size=3)
    for i in range(5):
        journal.record({"path": f"/v2/requests/{i}" if i % 2 else f"/portal/{i}"})
    assert len(journal) == 3
    assert [e["seq"] for e in journal.read()] == [3, 4, 5]
    assert [e["seq"] for e in journal.read(since=3)] == [4, 5]
    assert [e["path"] for e in journal.read(path="/portal")] == ["/portal/2", "/portal/4"]
    journal.clear()
    assert journal.read() == [] and len(journal) == 0
    assert journal.record({"path": "/"})["seq"] == 6, "the sequence keeps growing after a clear"


def test_journal_takes_extra_secret_keys():
    journal = RequestJournal(secret_keys=SECRET_KEYS | {"code"})
    assert journal.record({"query": {"code": "c0de", "state": "s"}})["query"] == {"code": REDACTED, "state": "s"}
    assert RequestJournal().record({"json": {"code": 3}})["json"] == {"code": 3}


# --- faults ----------------------------------------------------------------------------------

def queue() -> FaultQueue:
    return FaultQueue(("upload", "status"), ("status", "delay", "drop"))


def test_fault_serves_exactly_the_next_n_requests_in_order():
    q = queue()
    q.add("upload", "status", count=2, status=503)
    q.add("upload", "delay", seconds=0.5)
    taken = [q.take("upload") for _ in range(4)]
    assert [(f.kind, f.status) if f else None for f in taken] == [("status", 503), ("status", 503),
                                                                  ("delay", 500), None]
    assert taken[2].seconds == 0.5
    assert q.list() == []


def test_fault_take_filters_by_endpoint_and_kind():
    q = queue()
    q.add("status", "drop")
    q.add("upload", "delay", seconds=1, note="x")
    assert q.take("upload", ("status",)) is None
    assert q.take("status", ("status", "delay")) is None
    f = q.take("upload", ("delay",))
    assert f.kind == "delay" and f.note == "x"
    with pytest.raises(AttributeError):
        f.missing  # noqa: B018
    assert [x["kind"] for x in q.list()] == ["drop"]
    q.clear()
    assert q.take("status") is None


@pytest.mark.parametrize("args,message", [
    (("nowhere", "status"), "endpoint must be one of"),
    (("upload", "explode"), "kind must be one of"),
    (("upload", "status", 0), "count must be at least 1"),
    (("upload", "status", "many"), "count and status must be integers"),
    (("upload", "status", 1, 200), "status must be 4xx or 5xx"),
    (("upload", "delay", 1, 500, 601), "seconds must be between 0 and 600"),
])
def test_fault_add_refuses_what_the_mock_does_not_support(args, message):
    q = queue()
    with pytest.raises(ValueError, match=message):
        q.add(*args)
    assert q.list() == []


def test_fault_public_form_lists_parameters():
    q = queue()
    q.add("upload", "status", count=3, status=502, reason="test")
    assert q.list() == [{"endpoint": "upload", "kind": "status", "count": 3, "status": 502, "seconds": 0.0,
                         "reason": "test"}]


def test_fault_counts_hold_under_concurrent_takes():
    q = queue()
    q.add("upload", "status", count=100)
    got: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            f = q.take("upload")
            with lock:
                got.append(f)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for f in got if f is not None) == 100
    assert q.list() == []


# --- the capped body reader ------------------------------------------------------------------

def _receive_of(chunks: list[bytes]):
    calls = {"n": 0}

    async def receive():
        calls["n"] += 1
        i = calls["n"] - 1
        if i >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}
    return receive, calls


def _read(scope: dict, receive, cap: int = 1000) -> Body:
    return asyncio.run(read_body(scope, receive, cap))


def _post(length: int | None = None) -> dict:
    return {"method": "POST", "headers": [] if length is None else [(b"content-length", str(length).encode())]}


def test_read_body_refuses_a_declared_size_over_the_cap_without_reading():
    receive, calls = _receive_of([b"x" * 10])
    got = _read(_post(2**30), receive, 1024)
    assert (got.problem, got.data) == ("too_large", b"")
    assert calls["n"] == 0


def test_read_body_stops_a_stream_at_the_cap_and_reads_small_bodies_whole():
    receive, calls = _receive_of([b"a" * 600, b"b" * 600, b"c" * 600])
    got = _read(_post(), receive)
    assert (got.problem, got.data) == ("too_large", b"")
    assert calls["n"] == 2, "reading stops at the chunk that crosses the cap"
    receive, _ = _receive_of([b"ab", b"cd"])
    got = _read(_post(), receive)
    assert (got.data, got.size, got.ok, got.sha256) == (b"abcd", 4, True, hashlib.sha256(b"abcd").hexdigest())
    receive, _ = _receive_of([b"ab", b"cd"])
    assert _read(_post(4), receive).ok
    receive, calls = _receive_of([b"ignored"])
    assert _read({"method": "GET", "headers": []}, receive) == Body()
    assert calls["n"] == 0


def test_read_body_gives_nothing_of_a_body_the_client_abandoned():
    """The bug of issue 15: a disconnect mid-body used to hand on the bytes received so far."""
    def abandoned():
        chunks = iter([{"type": "http.request", "body": b"row1\n", "more_body": True},
                       {"type": "http.request", "body": b"row2\n", "more_body": True},
                       {"type": "http.disconnect"}])

        async def receive():
            return next(chunks)
        return receive
    for scope in (_post(100), _post(), {"method": "POST", "headers": [(b"transfer-encoding", b"chunked")]}):
        got = _read(scope, abandoned())
        assert (got.problem, got.disconnected, got.data, got.size) == ("incomplete", True, b"", 10)


def test_a_large_body_stays_in_its_spool_file_and_a_refused_one_leaves_no_file(tmp_path):
    """Past the 1 MiB threshold a body goes to a file while it is read and stays there (never
    a whole copy in memory); refused, the file is gone."""
    chunk = b"x" * 65536
    receive, _ = _receive_of([chunk] * 40)             # 2.5 MiB, over the 1 MiB threshold
    got = asyncio.run(read_body(_post(), receive, 10 * 2**20, tmp_path))
    assert got.ok and got.size == 40 * 65536 and got.data == b""
    assert got.path is not None and got.path.parent == tmp_path and got.path.read_bytes() == chunk * 40
    assert got.sha256 == hashlib.sha256(chunk * 40).hexdigest()
    assert b"".join(got.chunks(100_000)) == chunk * 40 and got.head(3) == b"xxx"
    got.discard()
    assert list(tmp_path.iterdir()) == []
    for chunks, cap, length in (([chunk] * 40, 2 * 2**20, None),       # over the cap mid-stream
                                ([chunk] * 30, 10 * 2**20, 40 * 65536)):  # shorter than declared
        receive, _ = _receive_of(chunks)
        refused = asyncio.run(read_body(_post(length), receive, cap, tmp_path))
        assert refused.problem and refused.path is None and list(tmp_path.iterdir()) == []
    receive, _ = _receive_of([b"small"])
    small = asyncio.run(read_body(_post(), receive, 1000, tmp_path))
    assert (small.data, small.path, small.content) == (b"small", None, b"small")


def test_replay_hands_a_spooled_body_on_a_chunk_at_a_time(tmp_path):
    data = bytes(range(256)) * 10_000                  # 2.5 MB
    receive, _ = _receive_of([data])
    body = asyncio.run(read_body(_post(len(data)), receive, 10 * 2**20, tmp_path))

    async def drain():
        got, messages = bytearray(), 0
        again = replay(body)
        while True:
            message = await again()
            got += message["body"]
            messages += 1
            if not message["more_body"]:
                return bytes(got), messages
    got, messages = asyncio.run(drain())
    assert got == data and messages > 1
    body.discard()


def test_check_utf8_of_a_file_names_the_byte_as_for_bytes(tmp_path):
    from mocks.common.body import check_utf8

    data = "я".encode() * 600_000 + b"\xff" + b"tail"
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(UnicodeDecodeError) as from_file:
        check_utf8(path, chunk=1 << 16)
    with pytest.raises(UnicodeDecodeError) as from_bytes:
        check_utf8(data)
    assert from_file.value.start == from_bytes.value.start == 1_200_000
    path.write_bytes("я".encode() * 600_000)
    check_utf8(path, chunk=1 << 16 | 1)                # a chunk border inside a character


def test_read_body_refuses_sizes_that_differ_from_content_length():
    receive, _ = _receive_of([b"abc"])
    got = _read(_post(10), receive)
    assert (got.problem, got.disconnected, got.data, got.declared) == ("incomplete", False, b"", 10)
    receive, _ = _receive_of([b"abc", b"defgh"])
    assert _read(_post(4), receive).problem == "incomplete"


def test_replay_yields_the_body_once():
    async def go():
        receive = replay(b"payload")
        first = await receive()
        second = asyncio.ensure_future(receive())
        await asyncio.sleep(0.01)
        pending = not second.done()
        second.cancel()
        return first, pending
    first, pending = asyncio.run(go())
    assert first == {"type": "http.request", "body": b"payload", "more_body": False}
    assert pending, "after the body, receive waits (for a disconnect)"


# --- one entry shape for every mock ---------------------------------------------------------

def test_a_body_is_journalled_as_size_and_sha256_and_a_secret_form_as_size_only():
    journal = RequestJournal()
    csv = journal.record({"path": "/up", **body_fields(b"id;value\r\n1;4\r\n")})
    assert csv["body_bytes"] == 15 and len(csv["body_sha256"]) == 64 and isinstance(csv["at"], float)
    form = journal.record({"path": "/te", "form": {"client_secret": "s3cr3t", "grant_type": "x"},
                           **body_fields(b"client_secret=s3cr3t&grant_type=x")})
    assert form["body_bytes"] == 33 and "body_sha256" not in form, "a digest of a secret form can be guessed"
    assert "body_bytes" not in journal.record({"path": "/get", **body_fields(b"")})


def test_a_file_corrected_to_the_same_size_is_not_read_as_resent_unchanged():
    """EXP-06: after a refusal the journal corrects a value to one of the same length; the suite
    must not take the corrected file for the refused one sent again (item 5 of issue 12)."""
    from conformance.exp._support import resent_unchanged

    journal = RequestJournal()
    refused, corrected = b"id;value\r\n1;4\r\n", b"id;value\r\n1;5\r\n"
    sends = [journal.record({"path": "/up", "status": 400, **body_fields(refused)}),
             journal.record({"path": "/up", "status": 200, **body_fields(corrected)})]
    assert len(refused) == len(corrected)
    assert resent_unchanged(sends) == []
    again = journal.record({"path": "/up", "status": 400, **body_fields(refused)})
    assert resent_unchanged([*sends, again]) == [again]

@pytest.mark.parametrize("data", [b"", "привет;мир\n".encode() * 5, b"ok\xff", "я".encode() * 7 + b"\xd0",
                                  "ab".encode() + "я".encode()[:1] + b"x" + b"y" * 40])
@pytest.mark.parametrize("chunk", [1, 3, 4, 1 << 20])
def test_check_utf8_agrees_with_decode_and_names_the_same_byte(data, chunk):
    from mocks.common.body import check_utf8

    try:
        data.decode("utf-8")
        expected = None
    except UnicodeDecodeError as exc:
        expected = (exc.start, exc.reason)
    try:
        check_utf8(data, chunk)
        got = None
    except UnicodeDecodeError as exc:
        got = (exc.start, exc.reason)
    assert got == expected
