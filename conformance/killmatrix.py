"""The kill matrix: does the suite catch every seeded defect of the reference journal?

For each defect of `reference_journal.defects`, `ezhd certify --sut reference
--reference-defect ID` runs in its own process and report directory. The defect is *killed*
when at least one requirement the defect is tied to ends FAIL (the run then fails the base
level, exit 1) or WARN for a SHOULD (a SHOULD never fails the base level, so such a run may
exit 0); never in a run that did not get to verify (exit 2 or 3). A run where a tied
requirement only ends ERROR is not a kill: the tester broke, it did not catch anything.

`scope="tied"` runs only the tied requirements' tests (`--only`), which answers the same
question in a fraction of the time; `scope="full"` runs the whole catalogue, which also
shows what else a defect breaks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

KILLING_VERDICTS = {"FAIL", "WARN"}


@dataclass
class Outcome:
    defect: str
    tied: list[str]
    killed: bool
    exit_code: int
    seconds: float
    failing: list[str] = field(default_factory=list)        # FAIL or WARN
    errors: list[str] = field(default_factory=list)          # ERROR
    note: str = ""


def run_one(defect: str, tied: list[str], out: Path, scope: str = "tied", seed: int = 1) -> Outcome:
    report = out / defect
    cmd = [sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference", "--reference-defect", defect,
           "--report-dir", str(report), "--force", "--seed", str(seed), "--no-progress"]
    if scope == "tied":
        for rid in tied:
            cmd += ["--only", rid]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.monotonic() - started
    (out / f"{defect}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    results_path = report / "results.json"
    if not results_path.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return Outcome(defect, tied, False, proc.returncode, seconds, note=f"no results: {tail[0][:200]}")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in results["requirements"]}
    failing = sorted(rid for rid, v in verdicts.items() if v in KILLING_VERDICTS)
    errors = sorted(rid for rid, v in verdicts.items() if v == "ERROR")
    killed = proc.returncode in (0, 1) and any(verdicts.get(rid) in KILLING_VERDICTS for rid in tied)
    note = "" if killed else ("tied requirement only ERROR" if set(tied) & set(errors) else "not caught")
    return Outcome(defect, tied, killed, proc.returncode, seconds, failing, errors, note)


def run_matrix(defects: Iterable[tuple[str, list[str]]], out: Path, jobs: int = 1, scope: str = "tied",
               seed: int = 1) -> list[Outcome]:
    out.mkdir(parents=True, exist_ok=True)
    items = list(defects)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(lambda d: run_one(d[0], d[1], out, scope, seed), items))
    (out / "kill-matrix.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n",
                                          encoding="utf-8")
    return outcomes


def markdown(outcomes: list[Outcome]) -> str:
    killed = sum(o.killed for o in outcomes)
    lines = ["| defect | tied to | killed | failing requirements | s |", "|---|---|---|---|---:|"]
    for o in outcomes:
        lines.append(f"| {o.defect} | {', '.join(o.tied)} | {'yes' if o.killed else '**no** — ' + o.note} "
                     f"| {', '.join(o.failing) or '—'} | {o.seconds:.0f} |")
    lines.append("")
    lines.append(f"Killed {killed} of {len(outcomes)} ({100 * killed / max(1, len(outcomes)):.0f} %).")
    return "\n".join(lines) + "\n"
