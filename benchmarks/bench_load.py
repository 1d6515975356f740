"""Load and fault benchmark of the mock stand (issue 15): many journals uploading at once
through the ПОДД agent, while slow clients trickle bytes, other clients break their
connections mid-body, and the stand is killed with SIGKILL mid-stream and restarted on its
state directory.

    PYTHONPATH=. python benchmarks/bench_load.py --clients 200 --uploads 10

Each client is its own journal (mnemonic BENCHnnn, a source of the showcase) and sends
`--uploads` files of `--rows` `address` rows with ids of its own through the agent's
synchronous upload (200 = stored). At the end every acknowledged row must be in the
showcase (`lost` counts those that are not), no file may have been applied more often than
it was sent (`duplicated`; `reapplied_after_retry` counts files a client sent again because
the answer was lost with the connection, harmless for upserts), and no row of a cut-off
body may be stored (`cut stored`). With `--kill` the stand is killed with
SIGKILL after `--kill-after` seconds of load and restarted on the same `--state-dir`; the
clients retry what failed while it was down (uploads are upserts, so a retry is safe).

    PYTHONPATH=. python benchmarks/bench_load.py --one-file 1000000 --max-body 300000000 [--client curl]

`--one-file` sends one file of that many rows instead: seconds to the agent's 200, rows/s,
the stand's peak RSS, the showcase's status timeline, and whether every row is stored once.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("id;use_address;type_address;text;city;district;state;postal_code;country;start_datetime;"
          "end_datetime;flat;building;house;street;create_datetime;send_datetime")
ROW = ('"{id}";"2";"4";"г. Тверь, ул. Советская, д. 1";"Тверь";;"Тверская обл.";"170100";"Россия";'
       ';;;;"1";"ул. Советская";"2025-09-01 08:00:00";"2025-09-01 08:05:00"')


def csv_file(prefix: str, rows: int) -> bytes:
    return ("\n".join([HEADER, *(ROW.format(id=f"{prefix}-{k}") for k in range(rows))]) + "\n").encode()


class Stand:
    """`ezhd mocks up smev epgu` as a child process on a state directory."""

    def __init__(self, state: Path, token: str, systems: list[str], code: Path = ROOT) -> None:
        self.state, self.token, self.systems, self.code = state, token, systems, code
        self.proc: subprocess.Popen | None = None
        self.urls: dict[str, str] = {}

    def start(self) -> None:
        ready = self.state.parent / "ready.json"
        ready.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(self.code), "PYTHONDONTWRITEBYTECODE": "1",
               "EZHD_MOCKS_ADMIN_TOKEN": self.token}
        self.proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "mocks", "up", "smev", "epgu",
                                      "--state-dir", str(self.state), "--ready-file", str(ready)],
                                     env=env, cwd=self.code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stand did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        urls = {k: v for k, v in json.loads(ready.read_text()).items() if k != "admin_token"}
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=60) as admin:
            for mnemonic in self.systems:   # the agent keeps its registrations in memory only
                admin.post(f"{urls['smev']}/_admin/mnemonics",
                           json={"mnemonic": mnemonic, "kind": "system"}).raise_for_status()
        self.urls = urls

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def admin(self, name: str, method: str, path: str, **kw) -> httpx.Response:
        r = httpx.request(method, f"{self.urls[name]}/_admin{path}", timeout=120,
                          headers={"Authorization": f"Bearer {self.token}"}, **kw)
        r.raise_for_status()
        return r


class Load:
    def __init__(self, stand: Stand, args: argparse.Namespace) -> None:
        self.stand, self.args = stand, args
        self.latencies: list[float] = []
        self.sent: list[tuple[float, float]] = []   # (seconds into the load, latency) of each 200
        self.t0 = time.perf_counter()
        self.statuses: dict[int, int] = {}
        self.acked: dict[str, str] = {}          # file prefix → sha256 of the acknowledged file
        self.attempts: dict[str, int] = {}       # sha256 → POSTs sent (each may be applied once)
        self.errors: list[str] = []
        self.down = asyncio.Event()
        self.done = 0

    async def client(self, http: httpx.AsyncClient, i: int) -> None:
        mnemonic = f"BENCH{i:03d}"
        for j in range(self.args.uploads):
            prefix = f"{mnemonic}-{j}"
            body = csv_file(prefix, self.args.rows)
            for attempt in range(60):
                url = f"{self.stand.urls['smev']}/{mnemonic}/myedu/api/edu-upload/v1/csv/address"
                started = time.perf_counter()
                digest = hashlib.sha256(body).hexdigest()
                self.attempts[digest] = self.attempts.get(digest, 0) + 1
                try:
                    r = await http.post(url, content=body, headers={"Content-Type": "application/octet-stream"})
                except httpx.HTTPError as exc:
                    self.errors.append(type(exc).__name__)
                    await asyncio.sleep(0.5)          # the stand is down or restarting: retry
                    continue
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    self.latencies.append(time.perf_counter() - started)
                    self.sent.append((started - self.t0, self.latencies[-1]))
                    self.acked[prefix] = hashlib.sha256(body).hexdigest()
                    self.done += 1
                    break
                await asyncio.sleep(0.5)
            else:
                self.errors.append(f"{prefix}: gave up")

    async def run(self) -> float:
        # Each client is a journal with its own HTTP client and connection. One shared pool of
        # 200 connections made this generator the bottleneck: httpcore scans every connection
        # for every request, and in half the runs it spent 5-8 s of one core doing so.
        clients = [httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0),
                                     limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
                   for _ in range(self.args.clients)]
        try:
            started = self.t0 = time.perf_counter()
            await asyncio.gather(*(self.client(http, i) for i, http in enumerate(clients)))
            return time.perf_counter() - started
        finally:
            await asyncio.gather(*(http.aclose() for http in clients))


def per_second(times) -> list[int]:
    """How many of `times` (seconds) fall in each whole second from the first."""
    times = sorted(times)
    counts = [0] * (int(times[-1] - times[0]) + 1 if times else 0)
    for t in times:
        counts[int(t - times[0])] += 1
    return counts


def p50_p99(values: list[float]) -> list[float | None]:
    """Median and 99th percentile (nearest rank below) of `values`, to the millisecond."""
    values = sorted(values)
    if not values:
        return [None, None]
    return [round(statistics.median(values), 3), round(values[int(0.99 * (len(values) - 1))], 3)]


def stage_seconds(requests: list[dict]) -> dict[str, list[float]]:
    """Median and p99 of the seconds each accepted request spent before each status (from its
    history): beyond the modelled delay of the stage before, it waited for a worker or a lock."""
    gaps: dict[str, list[float]] = {}
    for r in requests:
        last = dt.datetime.fromisoformat(r["created_at"])
        for step in r.get("history", []):
            at = dt.datetime.fromisoformat(step["at"])
            gaps.setdefault(f"to_{step['code']}", []).append((at - last).total_seconds())
            last = at
    return {key: p50_p99(values) for key, values in sorted(gaps.items())}


def cut_off_uploads(stand: Stand, n: int) -> int:
    """`n` uploads that send half of their declared body and close; returns how many sent."""
    sent = 0
    for k in range(n):
        url = f"{stand.urls['smev']}/BENCH000/myedu/api/edu-upload/v1/csv/address"
        body = csv_file(f"CUT{k}", 10)
        where = urlsplit(url)
        head = (f"POST {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            with socket.create_connection((where.hostname, where.port), timeout=10) as s:
                s.sendall(head + body[: body.index(f'"CUT{k}-5"'.encode())])   # five whole rows of ten
                s.shutdown(socket.SHUT_WR)
                s.recv(100)
            sent += 1
        except OSError:
            pass
        time.sleep(0.05)
    return sent


def rss_mib(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process (Linux /proc), MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def big_chunked(stand: Stand, n: int, mib: int) -> list[str]:
    """`n` parallel chunked uploads of `mib` MiB each (over the 100 MB cap); their outcomes."""
    def one(k: int) -> str:
        def chunks():
            row = (ROW.format(id=f"BIG{k}") + "\n").encode()
            block = row * (65536 // len(row))
            yield (HEADER + "\n").encode()
            for _ in range(mib * 2**20 // len(block)):
                yield block
        try:
            r = httpx.post(f"{stand.urls['smev']}/BENCH000/myedu/api/edu-upload/v1/csv/address", content=chunks(),
                           headers={"Content-Type": "application/octet-stream"}, timeout=300)
            return f"{r.status_code} {r.json().get('error', '')}"
        except httpx.HTTPError as exc:
            return type(exc).__name__
    results: list[str] = [""] * n
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, one(k))) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def slow_clients(stand: Stand, n: int, results: list[float]) -> None:
    """`n` clients sending their headers at 1 byte/s; the seconds until each was dropped."""
    def one() -> None:
        where = urlsplit(stand.urls["epgu"])
        started = time.monotonic()
        try:
            with socket.create_connection((where.hostname, where.port), timeout=60) as s:
                for b in b"POST /v2/datamarts/myedu/tables/address/upload HTTP/1.1\r\n":
                    s.sendall(bytes([b]))
                    s.settimeout(1.0)
                    try:
                        s.recv(100)         # an answer (408) or the close ends it
                        break
                    except socket.timeout:
                        continue
        except OSError:
            pass
        results.append(time.monotonic() - started)
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def status_timeline(stand: Stand, sent_at: dt.datetime) -> dict[str, float]:
    """Seconds from the start of the send to each status of the showcase's last request (its
    history): when the showcase had the body (0), began the ФЛК (6) and stored the rows (3)."""
    requests = stand.admin("epgu", "GET", "/requests").json()
    requests = requests.get("requests", requests) if isinstance(requests, dict) else requests
    if not requests:
        return {}
    history = stand.admin("epgu", "GET", f"/requests/{requests[-1]['request_id']}").json().get("history", [])
    return {str(step["code"]): round((dt.datetime.fromisoformat(step["at"].replace("Z", "+00:00"))
                                      - sent_at).total_seconds(), 3) for step in history}


def send_file(url: str, body: bytes, client: str, path: Path) -> int:
    """POST `body` to `url`, its length declared; the HTTP status. `client` is httpx, or curl
    (another implementation) streaming it from `path`, where it was written beforehand."""
    content_type = "application/octet-stream"
    if client == "curl":
        done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-T", str(path),
                               "-H", "Expect:", "-H", f"Content-Type: {content_type}", "--max-time", "600", url],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"curl failed: {done.stderr.strip()}")
        return int(done.stdout)
    # A MiB at a time: given one 200 MiB `bytes`, httpx's sync client copies the unsent rest
    # after every partial `send` (encode/httpcore#1029), which cost 0.3-3 s per run, timed as
    # the stand's.
    view = memoryview(body)
    chunks = (view[at:at + 2**20] for at in range(0, len(body), 2**20))
    return httpx.post(url, content=chunks, timeout=600,
                      headers={"Content-Type": content_type, "Content-Length": str(len(body))}).status_code


def one_file(stand: Stand, rows: int, json_out: Path | None, max_body: int | None,
             db_memory_mib: int | None = None, client: str = "httpx") -> None:
    """One big upload through the agent: seconds until the 200, rows/s, the stand's CPU and
    peak RSS; then whether every row is stored once. `max_body` (bytes) raises the agent's and
    the showcase's 100 MB cap first, for a file larger than the published limit."""
    if max_body:
        for name in ("smev", "epgu"):
            stand.admin(name, "PATCH", "/settings", json={"max_body": max_body})
    if db_memory_mib:
        stand.admin("epgu", "PATCH", "/settings", json={"db_memory_mib": db_memory_mib})
    body = csv_file("ONE", rows)
    path = stand.state.parent / "one.csv"
    if client == "curl":
        path.write_bytes(body)
    before = rss_mib(stand.proc.pid)
    cpu_before = cpu_seconds(stand.proc.pid)
    sent_at = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    status = send_file(f"{stand.urls['smev']}/BENCH000/myedu/api/edu-upload/v1/csv/address", body, client, path)
    seconds = time.perf_counter() - started
    timeline = status_timeline(stand, sent_at)
    cpu = cpu_seconds(stand.proc.pid) - cpu_before
    after = rss_mib(stand.proc.pid)
    stored, distinct = stand.admin("epgu", "POST", "/query", json={
        "sql": "SELECT count(*), count(DISTINCT id) FROM address"}).json()["rows"][0]
    spool = stand.state / "spool"
    left = len(list(spool.iterdir())) if spool.is_dir() else None
    stand.stop()
    file_mib = len(body) / 2**20
    path.unlink(missing_ok=True)
    out = {"rows": rows, "client": client, "file_mib": round(file_mib, 1), "status": status,
           "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
           "stand_cpu_s": round(cpu, 2), "rows_per_cpu_s": round(rows / cpu) if cpu else None,
           "stored_rows": stored, "stored_distinct_ids": distinct, "spool_files_left": left,
           "stand_rss_mib_before": before.get("VmRSS"), "stand_peak_rss_mib": after.get("VmHWM"),
           "peak_rss_over_file": round(after.get("VmHWM", 0) / file_mib, 2),
           "peak_rss_growth_over_file": round((after.get("VmHWM", 0) - before.get("VmRSS", 0)) / file_mib, 2),
           "status_at_s": timeline,
           "load_average": os.getloadavg()}
    print(json.dumps(out, indent=2))
    if json_out:
        json_out.write_text(json.dumps(out, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--uploads", type=int, default=10)
    ap.add_argument("--rows", type=int, default=5)
    ap.add_argument("--kill", action="store_true", help="kill -9 the stand mid-load and restart it")
    ap.add_argument("--kill-after", type=float, default=15.0)
    ap.add_argument("--cut", type=int, default=20, help="uploads that break off mid-body")
    ap.add_argument("--slow", type=int, default=20, help="clients sending 1 byte/s")
    ap.add_argument("--big", type=int, default=4, help="parallel chunked bodies over the cap, before the load")
    ap.add_argument("--big-mib", type=int, default=200)
    ap.add_argument("--client", choices=("httpx", "curl"), default="httpx",
                    help="with --one-file: the HTTP client that sends it (curl must be installed)")
    ap.add_argument("--one-file", type=int, metavar="ROWS",
                    help="instead of the load: one file of ROWS rows through the agent; time, rows/s, peak RSS")
    ap.add_argument("--max-body", type=int, metavar="BYTES",
                    help="with --one-file: raise the agent's and showcase's 100 MB cap to BYTES first")
    ap.add_argument("--db-memory-mib", type=int, metavar="MIB",
                    help="with --one-file: the showcase's DuckDB memory limit (default: the stand's)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="run the stand from this checkout (e.g. `git archive main` unpacked) for a baseline")
    args = ap.parse_args()
    if args.client == "curl" and not shutil.which("curl"):
        ap.error("--client curl: curl is not installed (Debian: apt-get install curl), or leave --client out")

    tmp = Path(tempfile.mkdtemp(prefix="ezhd-bench-load-"))
    stand = Stand(tmp / "state", "bench-" + os.urandom(8).hex(),
                  [f"BENCH{i:03d}" for i in range(1 if args.one_file else args.clients)],
                  args.code.resolve())
    stand.start()
    if args.one_file:
        one_file(stand, args.one_file, args.json, args.max_body, args.db_memory_mib, args.client)
        return
    rss_before = rss_mib(stand.proc.pid)
    big = big_chunked(stand, args.big, args.big_mib) if args.big else []
    rss_big = rss_mib(stand.proc.pid)
    load = Load(stand, args)
    cpu_before = cpu_seconds(stand.proc.pid)
    slow: list[float] = []
    kills = 0

    async def orchestrate() -> float:
        nonlocal kills
        task = asyncio.create_task(load.run())
        side = asyncio.gather(asyncio.to_thread(slow_clients, stand, args.slow, slow),
                              asyncio.to_thread(cut_off_uploads, stand, args.cut))
        if args.kill:
            await asyncio.sleep(args.kill_after)
            if not task.done():
                stand.kill()
                kills += 1
                await asyncio.to_thread(stand.start)      # same state dir; new ports
        seconds = await task
        await side
        return seconds

    seconds = asyncio.run(orchestrate())
    # the stand's CPU per upload: what limits throughput on a busy machine, whatever its load
    stand_cpu = cpu_seconds(stand.proc.pid) - cpu_before if not kills else None
    # wait for the showcase to finish what it accepted, then compare
    for _ in range(600):
        if stand.admin("epgu", "GET", "/health").json().get("pending", 0) == 0:   # (an old stand: no key)
            break
        time.sleep(0.5)
    rows = stand.admin("epgu", "POST", "/query", json={
        "sql": "SELECT id FROM address", "maxrows": 100_000}).json()["rows"]
    stored = {r[0] for r in rows}
    lost = sum(1 for prefix in load.acked for k in range(args.rows) if f"{prefix}-{k}" not in stored)
    cut_stored = sum(1 for i in stored if str(i).startswith("CUT"))
    reqs = stand.admin("epgu", "GET", "/requests", params={"code": 3, "limit": 100_000}).json()
    per_file: dict[tuple[str, str], int] = {}
    for r in reqs:
        per_file[(r["source"], r["sha256"])] = per_file.get((r["source"], r["sha256"]), 0) + 1
    # applied more often than sent is a duplicate; applied again after a retry (the answer was
    # lost with the connection) is at-least-once delivery, harmless for upserts
    # (cut-off files are counted by `cut_off_rows_stored`, not here)
    duplicated = sum(max(0, n - load.attempts[sha]) for (_, sha), n in per_file.items() if sha in load.attempts)
    reapplied = sum(n - 1 for (_, sha), n in per_file.items() if n > 1 and sha in load.attempts)
    stand.stop()
    p50_s, p99_s = p50_p99(load.latencies)
    stages = stage_seconds(reqs)
    out = {
        "clients": args.clients, "uploads_each": args.uploads, "rows_each": args.rows,
        "acknowledged": len(load.acked), "expected": args.clients * args.uploads,
        "status_counts": load.statuses, "5xx": sum(n for s, n in load.statuses.items() if s >= 500),
        "transport_errors": len(load.errors), "lost_rows": lost, "duplicated_files": duplicated,
        "reapplied_after_retry": reapplied,
        "cut_off_rows_stored": cut_stored, "kills": kills,
        "p50_s": p50_s, "p99_s": p99_s,
        "uploads_per_s": round(len(load.acked) / seconds, 1), "seconds": round(seconds, 1),
        # when the slowest uploads were sent: all at once is one pause of the stand (or of the
        # machine), spread over the run is queueing
        "slowest_sent_at_s": [[round(at, 1), round(took, 2)] for at, took in
                              sorted(load.sent, key=lambda p: -p[1])[:5]],
        # answers per second of the load: a second near 0 in the middle is a pause, of the
        # stand if the showcase's `created_per_s` stops with it, of this generator if not
        "answered_per_s": per_second(at + took for at, took in load.sent),
        "created_per_s": per_second(dt.datetime.fromisoformat(r["created_at"]).timestamp() for r in reqs),
        "stage_s_p50_p99": stages,
        "stand_cpu_ms_per_upload": round(1000 * stand_cpu / max(1, len(load.acked)), 1) if stand_cpu else None,
        "slow_clients_dropped_after_s": [round(min(slow), 1), round(max(slow), 1)] if slow else None,
        "big_chunked": {"bodies": args.big, "mib_each": args.big_mib, "answers": sorted(set(big)),
                        "stand_rss_mib_before": rss_before.get("VmRSS"), "stand_peak_rss_mib": rss_big.get("VmHWM")},
        "load_average": os.getloadavg(),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
