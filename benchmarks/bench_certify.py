"""Time `ezhd certify --sut reference` (the full base-level run) and check it is repeatable.

Runs the whole catalogue against the reference journal with no defect once per seed, each in
its own process and report directory, and reports per seed: wall time of the whole command,
the suite's own time (pytest, from results.json), the verdict counts, and any requirement
that did not PASS (a false FAIL: the journal has no defect). Exit 1 when any seed gave a
verdict other than PASS/NOT_APPLICABLE.

    PYTHONPATH=. python benchmarks/bench_certify.py --seeds 1-20 --out /tmp/bench-certify
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
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
    args = ap.parse_args()
    rows, bad = [], 0
    for seed in args.seeds:
        report = args.out / f"seed-{seed}"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference",
                               "--seed", str(seed), "--report-dir", str(report), "--force", "--no-progress"],
                              capture_output=True, text=True)
        wall = time.monotonic() - started
        results = json.loads((report / "results.json").read_text(encoding="utf-8"))
        run = results["run"]
        suite = (dt.datetime.fromisoformat(run["finished"]) - dt.datetime.fromisoformat(run["started"])).total_seconds()
        not_passed = {r["id"]: r["verdict"] for r in results["requirements"]
                      if r["verdict"] not in ("PASS", "NOT_APPLICABLE")}
        bad += any(v in ("FAIL", "ERROR", "NOT_TESTED", "SKIPPED") for v in not_passed.values())
        rows.append((seed, wall, suite, proc.returncode, results["summary"]["verdicts"], not_passed))
        print(f"seed {seed:>3}: exit {proc.returncode}, {wall:5.1f} s wall, {suite:5.1f} s suite, "
              f"not passed: {not_passed or 'none'}", flush=True)
    walls = sorted(r[1] for r in rows)
    print(f"\n{len(rows)} runs; wall min {walls[0]:.1f} s, median {walls[len(walls) // 2]:.1f} s, "
          f"max {walls[-1]:.1f} s; runs with a false FAIL/ERROR (or a MUST not run): {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
