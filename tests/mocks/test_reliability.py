"""A stand that loses nothing (issue 15): bodies that did not arrive whole are refused on every
channel, over real sockets on loopback, and nothing of them is stored."""
from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mocks.environment import Environment
from smev_helpers import ADDRESS

HEADER, ROW = ADDRESS.decode("utf-8").split("\n")[:2]


def address_csv(n: int) -> bytes:
    """An `address` file of `n` valid rows (ids EZ1-R0..)."""
    rows = [ROW.replace('"EZ1-A1"', f'"EZ1-R{i}"', 1) for i in range(n)]
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def stand():
    with Environment() as env:
        yield env


def raw_exchange(url: str, head: str, parts: list[bytes], timeout: float = 20.0, broken: bool = True) -> bytes:
    """Send `head` and `parts` on one connection and return whatever came back until the
    server closes. `broken`: close our sending side after the parts (what a client whose
    connection broke looks like to the server)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        for part in parts:
            s.sendall(part)
        if broken:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got


def request_head(method: str, url: str, headers: dict[str, Any]) -> str:
    where = urlsplit(url)
    lines = [f"{method} {where.path} HTTP/1.1", f"Host: {where.netloc}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(*parts: bytes) -> list[bytes]:
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts]


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "the mock did not journal the exchange in time"
        time.sleep(0.05)


# --- the three channels ------------------------------------------------------------------------

def agent_upload(stand: Environment) -> tuple[str, dict[str, str]]:
    return (f"{stand.urls['smev']}/MNSV03/myedu/api/edu-upload/v1/csv/address",
            {"Content-Type": "application/octet-stream"})


def showcase_upload(stand: Environment) -> tuple[str, dict[str, str]]:
    stand.showcase.register_source("MNSV03", ["myedu"]) if not stand.showcase.is_source("MNSV03") else None
    return (f"{stand.urls['epgu']}/v2/datamarts/myedu/tables/address/upload",
            {"Content-Type": "text/csv", "X-Smev-Sender": "MNSV03"})


CSV_CHANNELS = {"agent": agent_upload, "showcase": showcase_upload}


def stored_addresses(stand: Environment) -> int:
    return stand.showcase.counts().get("address", 0)


def showcase_requests(stand: Environment) -> int:
    return len(stand.showcase.requests())


@pytest.mark.parametrize("channel", sorted(CSV_CHANNELS))
@pytest.mark.parametrize("cut", ["short", "chunked"])
def test_an_upload_cut_off_mid_body_stores_nothing(stand, channel, cut):
    url, headers = CSV_CHANNELS[channel](stand)
    body = address_csv(10)
    half = body[: body.index(b"EZ1-R5") - 1]          # five whole rows: valid on their own
    before_rows, before_requests = stored_addresses(stand), showcase_requests(stand)
    if cut == "short":
        head = request_head("POST", url, {**headers, "Content-Length": len(body)})
        parts = [half]
    else:
        head = request_head("POST", url, {**headers, "Transfer-Encoding": "chunked"})
        parts = chunked(half)                           # no terminating 0-chunk
    answer = raw_exchange(url, head, parts)
    assert answer == b"", f"a client that went away gets no answer, got {answer[:200]!r}"
    journal = stand.apps["smev"].state.core if channel == "agent" else stand.showcase
    path = urlsplit(url).path
    entry = wait_for(lambda: [e for e in journal.journal.read() if e.get("path") == path
                              and (e.get("incomplete") or (e.get("body") or {}).get("refused") == "incomplete")])
    assert entry[-1]["status"] is None
    assert showcase_requests(stand) == before_requests, "no showcase request was made of the cut-off body"
    assert stored_addresses(stand) == before_rows, "no row of the cut-off body was stored"
    # the same five rows sent whole are stored: the check above can see a stored row
    complete = raw_exchange(url, request_head("POST", url, {**headers, "Content-Length": len(half),
                                                            "Connection": "close"}), [half],
                            broken=False)
    assert complete.startswith(b"HTTP/1.1 200"), complete[:300]
    wait_for(lambda: stored_addresses(stand) >= before_rows + 5 or None, 30)
    stand.showcase.reset()


@pytest.mark.parametrize("channel", sorted(CSV_CHANNELS))
def test_bytes_beyond_content_length_are_never_stored(stand, channel):
    """HTTP frames a body by its Content-Length: the surplus is the start of a next request,
    which the server refuses (400) before closing; only the declared rows can be stored."""
    url, headers = CSV_CHANNELS[channel](stand)
    body = address_csv(10)
    declared = body[: body.index(b"EZ1-R5") - 1]
    answer = raw_exchange(url, request_head("POST", url, {**headers, "Content-Length": len(declared)}), [body])
    assert b"HTTP/1.1 400" in answer, answer[:500]
    time.sleep(0.5)
    assert stored_addresses(stand) <= 5, "rows sent beyond Content-Length were stored"
    stand.showcase.reset()


def test_esia_admin_load_cut_off_mid_body_loads_no_persona(stand):
    url = f"{stand.urls['esia']}/_admin/personas"
    people = [{"oid": 9100 + i, "kind": "organisation", "journal_id": f"ORG{i}", "account_type": "confirmed",
               "trusted": True, "name": f"МБОУ «Школа № {i}»", "inn": "6229769654", "ogrn": "1026200937729",
               "kpp": "622901001", "scenario": []} for i in range(10)]
    lines = [json.dumps(p, ensure_ascii=False).encode() + b"\n" for p in people]
    body = b"".join(lines)
    head = request_head("POST", url, {"Content-Type": "application/x-ndjson", "Content-Length": len(body)})
    assert raw_exchange(url, head, lines[:5]) == b""
    core = stand.apps["esia"].state.core
    wait_for(lambda: [e for e in core.journal.read() if e.get("path") == "/_admin/personas"
                      and (e.get("note") or {}).get("error") == "incomplete"])
    listed = httpx.get(url, timeout=10).json()
    assert not any(p.get("oid") in {q["oid"] for q in people} for p in (listed if isinstance(listed, list) else [])), \
        "a persona of the cut-off body was loaded"
    # the same five sent whole are loaded: the check above can see a loaded persona
    r = httpx.post(url, content=b"".join(lines[:5]), headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert r.status_code < 300, r.text
    listed = httpx.get(url, timeout=10).json()
    assert sum(p.get("oid") in {q["oid"] for q in people} for p in listed) == 5


# --- the admin token ---------------------------------------------------------------------------

TOKEN = "s3cret-stand-token"


@pytest.fixture(scope="module")
def guarded():
    with Environment(admin_token=TOKEN) as env:
        yield env


@pytest.mark.parametrize("name", ["esia", "smev", "epgu"])
def test_admin_routes_want_the_stands_token(guarded, name):
    base = guarded.urls[name]
    for path in ("/_admin/health", "/_admin/journal", "/_admin/faults"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            r = httpx.get(base + path, headers=headers, timeout=10)
            assert r.status_code == 401, (path, headers, r.status_code)
            assert r.json()["error"] == "unauthorized" and "--admin-token" in r.json()["message"]
            assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200, (path, r.text)
    # a refused change changes nothing
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = httpx.get(base + "/_admin/journal", headers=auth, timeout=10).json()
    assert httpx.delete(base + "/_admin/journal", timeout=10).status_code == 401
    after = httpx.get(base + "/_admin/journal", headers=auth, timeout=10).json()
    assert len(after) >= len(before) > 0 or name == "smev"
    # the public side does not want the token
    public = {"esia": "/.well-known/esia-signing-certificate", "epgu": "/_ping"}
    if name in public:
        assert httpx.get(base + public[name], timeout=10).status_code == 200


def test_the_token_is_never_journalled(guarded):
    httpx.get(guarded.urls["epgu"] + "/_admin/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    httpx.get(guarded.urls["esia"] + "/_admin/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert TOKEN not in repr(guarded.showcase.journal.read())
    assert TOKEN not in repr(guarded.apps["esia"].state.core.journal.read())


def test_the_suites_admin_client_sends_the_token_from_the_environment(guarded, monkeypatch):
    from conformance.clients import MockAdmin
    from conformance.verdicts import EnvironmentProblem
    from mocks.common.guard import ADMIN_TOKEN_ENV

    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    admin = MockAdmin("epgu", guarded.urls["epgu"])
    with pytest.raises(EnvironmentProblem, match="401"):
        admin.get("/health")
    admin.close()
    monkeypatch.setenv(ADMIN_TOKEN_ENV, TOKEN)
    admin = MockAdmin("epgu", guarded.urls["epgu"])
    assert admin.get("/health")["status"] == "ok"
    admin.close()


def test_mocks_up_refuses_a_public_host_without_a_token(monkeypatch):
    from click.testing import CliRunner

    from conformance.cli.mocks_cmd import is_loopback, mocks
    from mocks.common.guard import ADMIN_TOKEN_ENV

    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    for host in ("0.0.0.0", "192.168.1.5", "::", "stand.example.org"):
        result = CliRunner().invoke(mocks, ["up", "esia", "--host", host])
        assert result.exit_code == 2, (host, result.output)
        assert "--admin-token" in result.output and "Traceback" not in result.output
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))


def test_mocks_up_takes_the_token_from_the_environment_into_the_ready_file(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from mocks.common.guard import ADMIN_TOKEN_ENV

    ready = tmp_path / "mocks.json"
    code = ("import sys; from conformance.cli.mocks_cmd import mocks; "
            f"sys.exit(mocks.main(['up', 'epgu', '--ready-file', {str(ready)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, ADMIN_TOKEN_ENV: TOKEN},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(ready.exists, 30)
        data = json.loads(ready.read_text())
        assert data["admin_token"] == TOKEN
        assert ready.stat().st_mode & 0o077 == 0, "the ready file holding the token is the owner's only"
        assert httpx.get(data["epgu"] + "/_admin/health", timeout=10).status_code == 401
        r = httpx.get(data["epgu"] + "/_admin/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert TOKEN not in out + err


# --- slow and silent clients -------------------------------------------------------------------

def trickle(sock: socket.socket, data: bytes, per_byte: float, until: float) -> tuple[float, bytes]:
    """Send `data` one byte every `per_byte` seconds until the server answers or closes, or
    `until` seconds pass; (seconds until the server answered or closed, what it sent)."""
    import select

    started = time.monotonic()
    i = 0
    while time.monotonic() - started < until:
        readable, _, _ = select.select([sock], [], [], per_byte)
        if readable:
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
            except OSError:
                pass
            return time.monotonic() - started, got
        if i < len(data):
            try:
                sock.sendall(data[i:i + 1])
            except OSError:
                return time.monotonic() - started, b""
            i += 1
    return time.monotonic() - started, b"<still open>"


def slow_client(url: str, head: bytes, trickled: bytes, until: float = 15.0) -> tuple[float, bytes]:
    """Send `head` at once, then `trickled` at 1 byte/s; the clock starts at connecting."""
    where = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((where.hostname, where.port), timeout=until) as s:
        s.sendall(head)
        _, got = trickle(s, trickled, 1.0, until)
    return time.monotonic() - started, got


def test_slow_and_silent_clients_are_dropped_within_the_timeout_while_others_are_served():
    from concurrent.futures import ThreadPoolExecutor

    from mocks.common.limits import Limits

    limits = Limits(header_timeout=2.0, body_timeout=3.0)
    env = Environment(("smev", "epgu"))
    try:
        urls = env.start(limits=limits)
        url, headers = agent_upload(env)
        body = address_csv(3)
        head = request_head("POST", url, {**headers, "Content-Length": len(body)}).encode()
        with ThreadPoolExecutor(12) as pool:
            slow_heads = [pool.submit(slow_client, url, b"", head) for _ in range(4)]
            silent = [pool.submit(slow_client, url, b"", b"") for _ in range(2)]
            slow_bodies = [pool.submit(slow_client, url, head, body) for _ in range(4)]
            served = []
            started = time.monotonic()
            while time.monotonic() - started < limits.body_timeout + 1:
                t0 = time.monotonic()
                r = httpx.get(urls["epgu"] + "/_ping", timeout=5)
                served.append((r.status_code, round(time.monotonic() - t0, 3)))
                time.sleep(0.2)
            for f in slow_heads + silent:
                seconds, got = f.result()
                assert seconds < limits.header_timeout + 1.5, f"a slow header was held {seconds:.1f} s"
                assert got.startswith(b"HTTP/1.1 408") and b"request_timeout" in got, got[:200]
            for f in slow_bodies:
                seconds, got = f.result()
                assert limits.body_timeout - 0.5 < seconds < limits.body_timeout + 1.5, \
                    f"a slow body was held {seconds:.1f} s"
                assert got.startswith(b"HTTP/1.1 408"), got[:200]
        assert all(code == 200 for code, _ in served) and max(t for _, t in served) < 1.0, served
        assert env.showcase.counts().get("address", 0) == 0, "a body dropped for slowness was stored"
        assert env.showcase.requests() == []
    finally:
        env.stop()


def test_limits_must_be_positive_and_the_cli_says_which_option_is_wrong():
    from click.testing import CliRunner

    from conformance.cli.mocks_cmd import mocks
    from mocks.common.limits import Limits

    with pytest.raises(ValueError, match="header_timeout"):
        Limits(header_timeout=0)
    for option in ("--header-timeout", "--body-timeout", "--max-connections"):
        result = CliRunner().invoke(mocks, ["up", "esia", option, "0"])
        assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output
