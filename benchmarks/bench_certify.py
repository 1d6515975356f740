"""Time `ezhd certify --sut reference` (the full base-level run) and check it is repeatable.

Runs the whole catalogue against the reference journal with no defect once per seed, each in
its own process and report directory, and reports per seed: wall time of the whole command,
the suite's own time (pytest, from results.json), the verdict counts, and any requirement
that did not PASS (a false FAIL: the journal has no defect). Exit 1 when any seed gave a
verdict other than PASS/NOT_APPLICABLE.

    PYTHONPATH=. python benchmarks/bench_certify.py --seeds 1-20 --out /tmp/bench-certify
    PYTHONPATH=. python benchmarks/bench_certify.py --only FREE-01 --repeat 3    # setup-bound
    PYTHONPATH=. python benchmarks/bench_certify.py --jobs 1 --jobs 2            # -j side by side
    PYTHONPATH=. python benchmarks/bench_certify.py --tree /tmp/main --tree . --repeat 2   # interleaved

Also reported per run: the setup ("environment ready in", printed by certify), the CPU time
of the run and its children (user + sys), and the load average at its end, since the machine
may be shared. `--help-runs N` times `ezhd --help` (CLI start-up) N times first.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path


def seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seeds, default=[1], help="e.g. 1-20 or 1,5,7")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-certify"))
    ap.add_argument("--only", action="append", default=[], metavar="ID", help="certify --only ID (repeatable)")
    ap.add_argument("--jobs", action="append", type=int, default=[], metavar="N",
                    help="certify -j N; repeat to compare several N in one run (default: 1)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per seed and N (default 1)")
    ap.add_argument("--help-runs", type=int, default=0, help="time `ezhd --help` this many times first")
    ap.add_argument("--tree", action="append", type=Path, default=[], metavar="DIR",
                    help="a checkout to run certify from (its code first on PYTHONPATH); repeat to "
                         "interleave several, e.g. main exported with git archive (default: this one)")
    args = ap.parse_args()
    if args.help_runs:
        times = []
        for _ in range(args.help_runs):
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "conformance.cli", "--help"], capture_output=True, check=True)
            times.append(time.monotonic() - t0)
        times.sort()
        print(f"ezhd --help: median {times[len(times) // 2]:.2f} s, min {times[0]:.2f} s ({len(times)} runs)")
    rows, bad = [], 0
    trees = [t.resolve() for t in args.tree] or [None]
    runs = [(seed, jobs, k, tree) for seed in args.seeds for k in range(args.repeat) for jobs in (args.jobs or [1])
            for tree in trees]
    for seed, jobs, k, tree in runs:
        label = f"{tree.name}-" if tree is not None else ""
        report = args.out / f"{label}seed-{seed}-j{jobs}-{k}"
        env = dict(os.environ)
        if tree is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
        started = time.monotonic()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference",
                               "--seed", str(seed), "--report-dir", str(report), "--force", "--no-progress",
                               *(["-j", str(jobs)] if jobs > 1 else []),
                               *(a for rid in args.only for a in ("--only", rid))],
                              capture_output=True, text=True, env=env, cwd=tree)
        wall = time.monotonic() - started
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        ready = [float(m) for m in re.findall(r"environment ready in ([0-9.]+) s", proc.stdout)]
        results = json.loads((report / "results.json").read_text(encoding="utf-8"))
        run = results["run"]
        suite = (dt.datetime.fromisoformat(run["finished"]) - dt.datetime.fromisoformat(run["started"])).total_seconds()
        not_passed = {r["id"]: r["verdict"] for r in results["requirements"]
                      if r["verdict"] not in ("PASS", "NOT_APPLICABLE")}
        if args.only:
            not_passed = {rid: v for rid, v in not_passed.items() if rid in args.only}
        bad += any(v in ("FAIL", "ERROR", "NOT_TESTED", "SKIPPED") for v in not_passed.values())
        rows.append((seed, wall, suite, proc.returncode, results["summary"]["verdicts"], not_passed))
        setup = f"{max(ready):5.1f}" if ready else "    –"
        print(f"{label}seed {seed:>3} -j {jobs}: exit {proc.returncode}, {wall:5.1f} s wall, setup {setup} s, "
              f"{suite:5.1f} s suite, {cpu:5.1f} s CPU, load {os.getloadavg()[0]:.1f}, "
              f"not passed: {not_passed or 'none'}", flush=True)
    walls = sorted(r[1] for r in rows)
    print(f"\n{len(rows)} runs; wall min {walls[0]:.1f} s, median {walls[len(walls) // 2]:.1f} s, "
          f"max {walls[-1]:.1f} s; runs with a false FAIL/ERROR (or a MUST not run): {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
