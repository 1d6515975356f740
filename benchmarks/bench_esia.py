"""Benchmark of mock ЕСИА: token exchanges per second and p50/p99 latency on loopback.

    PYTHONPATH=. python benchmarks/bench_esia.py [--count 2000] [--concurrency 50] [--time-limit 60]
        [--signers 0,2]

For each `--signers` value (processes signing the RS256 tokens, `ezhd mocks up esia
--esia-signers N`; 0 = in the server process, as before issue 18), one after the other in
the same run: starts `ezhd mocks up esia` (one uvicorn worker) in a subprocess, registers an RSA test
system and a persona through the admin API, signs the persona in once and then prepares
`--count` authorization codes (each a real `GET /aas/oauth2/v2/ac` with a verified
signature, answered from the ЕСИА session) and the matching signed token requests. Only the
token exchanges are timed: `POST /aas/oauth2/v3/te` with `--concurrency` clients at once
(certificate hash, timestamp, RSA signature check, code redemption, two RS256 JWTs and a
refresh token each). The same server then answers the same number of `GET /_ping` (a
trivial endpoint through the same middleware) at the same concurrency, side by side.

Beside latency, each phase reports the CPU milliseconds per request of the server process, its
signing processes and the load generator (from /proc, so other load on a shared machine hardly
changes them), the cores the phase actually got, and the CPU-bound ceiling: the requests/s
those CPU costs would allow if the run had every core to itself.

The limit beside it, measured in the same run: `openssl speed rsa2048` signatures per second
on one core and with one copy per core at once (an exchange costs two RSA-2048 signatures and
one verification, so signatures/s ÷ 2 is what the machine could sign at most).

Bounded: at most `--count` requests per phase and `--time-limit` seconds per phase. The
code lifetime is raised to 15 min for the run (`PATCH /_admin/settings`) so prepared codes
do not expire. The load generator (a minimal asyncio HTTP/1.1 keep-alive client; httpx's
async pool is slower than the server at this concurrency) runs in this process: on a 2-core
machine it shares the CPU with the server, so figures are a lower bound for the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mocks.esia.testing import (ClientSigner, auth_request_of, callback_params,  # noqa: E402
                                make_client_credentials)

REDIRECT = "https://journal.bench/cb"
SCOPE = "openid fullname snils"
PERSONA = {"oid": 1000001, "kind": "representative", "journal_id": "R1", "level": "PR",
           "account_type": "confirmed", "trusted": True, "lastName": "Иванова", "firstName": "Мария",
           "birthDate": "14.03.1985", "gender": "F", "snils": "112-233-445 95", "docs": [],
           "scenario": []}


def start_server(ready: Path, signers: int) -> subprocess.Popen:
    code = ("import sys; from conformance.cli.mocks_cmd import mocks; "
            f"sys.exit(mocks.main(['up', 'esia', '--ready-file', {str(ready)!r}, '--esia-signers', '{signers}']))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise SystemExit(f"server failed: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("server did not become ready")
        time.sleep(0.05)
    return proc


def prepare(base: str, count: int) -> tuple[ClientSigner, list[dict[str, str]]]:
    key, pem = make_client_credentials("BENCH01")
    signer = ClientSigner("BENCH01", key, pem, REDIRECT)
    with httpx.Client(base_url=base, timeout=30) as c:
        c.patch("/_admin/settings", json={"code_ttl": 900}).raise_for_status()
        c.post("/_admin/clients", json=signer.registration()).raise_for_status()
        c.post("/_admin/personas", json=[PERSONA]).raise_for_status()
        page = c.get(signer.ac_url(base, SCOPE))
        r = c.post("/login", data={"auth_request": auth_request_of(page.text),
                                   "username": PERSONA["snils"], "password": "esia"})
        assert r.status_code == 302, r.text
        forms = []
        for _ in range(count):
            r = c.get(signer.ac_url(base, SCOPE))
            assert r.status_code == 302, r.text
            code = callback_params(r.headers["location"])["code"]
            forms.append(signer.te_form(code, scope=SCOPE))
    return signer, forms


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (the signing processes of the server)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def timed_phase(base: str, requests: list[bytes], args: argparse.Namespace, server: int) -> dict[str, float]:
    """`run_phase` plus the CPU milliseconds per request spent by the server process, its
    signing processes and the load generator (this process) — figures the other load on a
    shared machine does not change much."""
    signers = children_of(server)
    before = (cpu_seconds(server), sum(cpu_seconds(p) for p in signers), time.process_time())
    result = asyncio.run(run_phase(base, requests, args.concurrency, args.time_limit))
    after = (cpu_seconds(server), sum(cpu_seconds(p) for p in signers), time.process_time())
    n = max(1, result["requests"])
    for key, b, a in zip(("server_cpu_ms", "signers_cpu_ms", "client_cpu_ms"), before, after):
        result[key] = (a - b) * 1000 / n
    per_request = result["server_cpu_ms"] + result["signers_cpu_ms"] + result["client_cpu_ms"]
    # What the phase got of the machine, and what it would do if it had every core to itself
    # (server and signers in parallel, the load generator beside them; a single server
    # process can use one core at most).
    result["cores_used"] = result["rps"] * per_request / 1000
    cores = os.cpu_count() or 1
    result["ceiling_rps"] = min(cores * 1000 / per_request if per_request else 0.0,
                                1000 / result["server_cpu_ms"] if result["server_cpu_ms"] else float("inf"),
                                1000 * max(1, len(signers)) / result["signers_cpu_ms"] if result["signers_cpu_ms"]
                                else float("inf"))
    return result


def http_request(method: str, path: str, body: bytes = b"", ctype: str | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def run_phase(base: str, requests: list[bytes], concurrency: int, limit: float) -> dict[str, float]:
    """Send the prepared raw HTTP/1.1 requests over `concurrency` keep-alive connections.

    A minimal asyncio client is used on purpose: httpx's async pool tops out far below the
    server at 50 concurrent connections and would measure itself, not the mock."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.perf_counter() + limit

    async def worker() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_index < len(requests) and time.perf_counter() <= deadline:
                raw = requests[next_index]
                next_index += 1
                t0 = time.perf_counter()
                writer.write(raw)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in lines
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if lines[0].split(b" ")[1] != b"200":
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed,
            "rps": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0}


def openssl_signs(seconds: int, processes: int = 1) -> float | None:
    """RSA-2048 signatures per second by `openssl speed`, summed over `processes` copies run at
    once (OpenSSL 3.0's own `-multi` miscounts with `-seconds`, so it is not used)."""
    cmd = ["openssl", "speed", "-seconds", str(seconds), "rsa2048"]
    try:
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(processes)]
        outs = [p.communicate(timeout=seconds * 4 + 30)[0] for p in procs]
    except (OSError, subprocess.TimeoutExpired):
        return None
    total = 0.0
    for out in outs:
        rates = [float(line.split()[-2]) for line in out.splitlines() if line.startswith("rsa 2048")]
        if not rates:
            return None
        total += rates[0]
    return total


def measure(signers: int, args: argparse.Namespace) -> tuple[float, dict[str, dict[str, float]]]:
    """One server with `signers` signing processes: (seconds to prepare, {phase: figures})."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        proc = start_server(ready, signers)
        try:
            base = json.loads(ready.read_text())["esia"]
            t0 = time.perf_counter()
            _, forms = prepare(base, args.count + 50)
            prep = time.perf_counter() - t0
            form_type = "application/x-www-form-urlencoded"
            te = [http_request("POST", "/aas/oauth2/v3/te", urlencode(f).encode(), form_type) for f in forms]
            warm, timed = te[:50], te[50:]
            ping = [http_request("GET", "/_ping")] * len(timed)
            asyncio.run(run_phase(base, warm, min(args.concurrency, 50), args.time_limit))
            results = {
                "token exchange (POST /aas/oauth2/v3/te)": timed_phase(base, timed, args, proc.pid),
                "trivial endpoint (GET /_ping)": timed_phase(base, ping, args, proc.pid),
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return prep, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="requests per phase (default 2000)")
    ap.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase at most (default 60)")
    ap.add_argument("--signers", default="0,2",
                    help="comma-separated signing-process counts, each measured in turn (default 0,2)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    try:
        configs = [int(x) for x in args.signers.split(",") if x.strip()]
    except ValueError:
        ap.error("--signers: comma-separated whole numbers, e.g. 0,2")
    cpus = os.cpu_count() or 1
    limit = {"openssl_sign_per_s_1core": openssl_signs(3), f"openssl_sign_per_s_{cpus}cores": openssl_signs(3, cpus)}
    runs = []
    for n in configs:
        prep, results = measure(n, args)
        runs.append({"signers": n, "prepare_seconds": round(prep, 1), "results": results})
    limit_after = openssl_signs(3, cpus)
    info = {"python": platform.python_version(), "cpus": cpus, "concurrency": args.concurrency,
            "load_average": os.getloadavg(), **limit, f"openssl_sign_per_s_{cpus}cores_after": limit_after}
    if args.json:
        print(json.dumps({"info": info, "runs": runs}, indent=2))
        return 0
    print(f"Python {info['python']}, {cpus} CPUs, {args.concurrency} concurrent clients, one uvicorn worker\n")
    for name, value in list(limit.items()) + [(f"openssl_sign_per_s_{cpus}cores_after", limit_after)]:
        if value:
            print(f"{name}: {value:.0f} (÷ 2 signatures per exchange: {value / 2:.0f} exchanges/s)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    ceiling = limit[f"openssl_sign_per_s_{cpus}cores"]
    print("| signing processes | endpoint | requests | errors | req/s | p50 ms | p99 ms | share of the limit "
          "| CPU ms per request: server / signers / load generator | cores it got | CPU-bound ceiling, req/s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for run in runs:
        n = run["signers"]
        for name, r in run["results"].items():
            share = (f"{r['rps'] / (ceiling / 2):.0%}" if ceiling and name.startswith("token") else "")
            print(f"| {n} | {name} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                  f"{r['p99_ms']:.1f} | {share} | {r['server_cpu_ms']:.2f} / {r['signers_cpu_ms']:.2f} / "
                  f"{r['client_cpu_ms']:.2f} | {r['cores_used']:.2f} | {r['ceiling_rps']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
