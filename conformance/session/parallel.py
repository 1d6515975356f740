"""`-j N`: the selected test modules split into N parts, each a complete certify run.

The conformance tests share one journal, one set of mocks and one dataset and change their
state (mock ЕСИА's fault queue, the journal's clock, exclusive exports, claimed people), so
pytest-xdist workers against one environment would disturb each other. Instead the selected
test modules are split into N parts balanced by expected cost, and each part is a complete,
independent certify run (its own mocks and reference journal, the same seed's dataset) in a
subprocess writing to REPORT_DIR/parts/<k>; their raw test records are merged into one
results.json, whose verdicts are computed once over all of them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from conformance.cli import EXIT_ENVIRONMENT, EXIT_FAIL, EXIT_OK, SetupProblem
from conformance.session.launch import CONFORMANCE_DIR, stop
from conformance.session.run import PART_RECORDS, write_reports

__all__ = ["AREA_COST", "PARTS_DIR", "plan_parts", "run_parts"]

PARTS_DIR = "parts"
# the rough cost of a test of each area, in units of a quick auth test (per-area means of a full
# reference run, 2026-12-05): exp runs exports, api schema-driven calls, auth many quick sign-ins.
# Balances the parts of a -j run; an area not named costs 1.
AREA_COST = {"exp": 10.0, "api": 8.0, "notif": 5.5, "role": 4.5, "log": 2.0, "cred": 1.5}


def plan_parts(only: tuple[str, ...], jobs: int) -> tuple[list[list[Path]], list[tuple[str, ...]], dict[str, int]]:
    """The test files of each part (a module's tests stay together, and an area's when it has a
    conftest.py; the costliest goes to the part with the least so far), each part's --only (the
    requirements of `only`, or of the catalogue, that its tests verify, so that its exit code is
    about them), and the node IDs in collection order."""
    from conformance.cli.requirements_cmd import CollectionFailed, collect
    from conformance.session import selection

    root = CONFORMANCE_DIR.parent
    cost: dict[Path, float] = {}
    try:   # the map of the last full collection of these sources, else a collection now
        tests = selection.tests() or collect(CONFORMANCE_DIR)
    except CollectionFailed as exc:   # every module, the parts' own collection reports the problem
        click.echo(f"note: {exc}; splitting by test file only")
        tests = {}
        for path in sorted(CONFORMANCE_DIR.glob("*/test_*.py")):
            cost[path] = AREA_COST.get(path.parent.name, 1.0)
    wanted = set(only)
    for nodeid, ids in tests.items():
        if wanted and not wanted & set(ids):
            continue
        path = root / nodeid.split("::", 1)[0]
        cost[path] = cost.get(path, 0.0) + AREA_COST.get(path.parent.name, 1.0)
    if not cost:   # nothing selected: one part, which reports it as the single run would
        cost = {path: 1.0 for path in sorted(CONFORMANCE_DIR.glob("*/test_*.py"))}
        jobs = 1
    # the files of an area with a conftest.py stay in one part: its package fixtures (EXP's full
    # export) would otherwise run once in every part that has some of them
    units: dict[Path, list[Path]] = {}
    for path in cost:
        units.setdefault(path.parent if (path.parent / "conftest.py").is_file() else path, []).append(path)
    unit_cost = {unit: sum(cost[f] for f in files) for unit, files in units.items()}
    parts: list[list[Path]] = [[] for _ in range(min(jobs, len(units)))]
    load = [0.0] * len(parts)
    for unit in sorted(units, key=lambda u: (-unit_cost[u], str(u))):
        k = load.index(min(load))
        parts[k].extend(units[unit])
        load[k] += unit_cost[unit]
    parts = [sorted(files) for files in parts if files]
    part_only = []
    for files in parts:
        names = {str(f.relative_to(root)) for f in files if f.is_relative_to(root)}
        verified = {rid for nodeid, ids in tests.items() if nodeid.split("::", 1)[0] in names for rid in ids}
        part_only.append(tuple(rid for rid in only if rid in verified) if only else tuple(sorted(verified)))
    part_only = [ids or only for ids in part_only]
    return parts, part_only, {nodeid: i for i, nodeid in enumerate(tests)}


def run_parts(report_dir: Path, jobs: int, seed: int, defects: tuple[str, ...], only: tuple[str, ...],
               level: str, progress: bool, settings: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """Run the parts in parallel, merge them into REPORT_DIR; the results and what did not answer."""
    import threading

    from conformance.runfile import load_run, write_run
    from conformance.results import build_results, load_records, write_results
    from specs.requirements import load_requirements

    # provisional, so that an interrupted run can still be replaced (--force) or replayed
    write_run(report_dir / "run.json", {"sut": {"source": "reference"}, "dataset": {"seed": seed},
                                        "reference_defects": sorted(defects), "only": list(only),
                                        "level": level, "mocks_file": None, "jobs": jobs})
    plan, part_only, order = plan_parts(only, jobs)
    parts_dir = report_dir / PARTS_DIR
    parts_dir.mkdir()
    root = CONFORMANCE_DIR.parent
    click.echo(f"running in {len(plan)} parallel part(s), each with its own mocks and reference journal"
               + (f" (-j {jobs}, but the selection has only {len(plan)} test file(s))" if len(plan) < jobs else "")
               + ":")
    for k, files in enumerate(plan):
        click.echo(f"  part {k}: " + ", ".join(str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
                                               for f in files))
    base = [sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference", "--seed", str(seed),
            "--level", level]
    for d in defects:
        base += ["--reference-defect", d]
    for item in settings:
        base += ["--reference-setting", item]
    if not progress:
        base.append("--no-progress")
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    codes: list[int | None] = [None] * len(plan)
    logs = [parts_dir / f"{k}.log" for k in range(len(plan))]
    started = time.monotonic()

    def pump(k: int, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with open(logs[k], "w", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line.replace(str(parts_dir / str(k)), f"{PARTS_DIR}/{k}"))   # the run dir stays movable
                log.flush()
                if progress and " | run: " in line:
                    with lock:
                        click.echo(f"[part {k}] {line.rstrip()}")
        codes[k] = proc.wait()
        with lock:
            click.echo(f"part {k} finished in {time.monotonic() - started:.1f} s: exit {codes[k]} (log: {logs[k]})")

    threads = []
    try:
        for k, files in enumerate(plan):
            cmd = [*base, "--report-dir", str(parts_dir / str(k))]
            for rid in part_only[k]:
                cmd += ["--only", rid]
            for f in files:
                cmd += ["--tests", str(f)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    encoding="utf-8", errors="replace", cwd=str(root),
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            procs.append(proc)
            thread = threading.Thread(target=pump, args=(k, proc), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    finally:
        for proc in procs:
            interrupt(proc)

    records, runs, setup_problems = [], [], []
    for k in range(len(plan)):
        part = parts_dir / str(k)
        if codes[k] not in (EXIT_OK, EXIT_FAIL, EXIT_ENVIRONMENT) or not (part / PART_RECORDS).is_file() \
                or not (part / "results.json").is_file():
            raise SetupProblem(f"part {k} exited with {codes[k]} without results (see {logs[k]})")
        if codes[k] == EXIT_ENVIRONMENT:
            setup_problems.append(f"part {k}: the setup was not right (see {logs[k]})")
        records += load_records(part / PART_RECORDS)
        runs.append(json.loads((part / "results.json").read_text(encoding="utf-8"))["run"])
    records.sort(key=lambda r: (order.get(r.nodeid, len(order)), r.nodeid))
    run = {**runs[0], "started": min(r["started"] for r in runs), "finished": max(r["finished"] for r in runs),
           "pytest_exit_status": max(r["pytest_exit_status"] for r in runs)}
    results = build_results(load_requirements(), records, run=run, declared_features=runs[0]["declared_features"])
    write_results(results, report_dir / "results.json")
    first = load_run(parts_dir / "0" / "run.json")
    write_run(report_dir / "run.json", {**(first.as_json() if first else {}), "only": list(only), "jobs": jobs, "parts": [
        {"dir": str(parts_dir / str(k)), "tests": [Path(f).relative_to(root).as_posix() for f in files], "exit": codes[k]}
        for k, files in enumerate(plan)]})
    write_reports(results, report_dir)
    return results, setup_problems


def interrupt(proc: subprocess.Popen) -> None:
    """Stop a part still running: SIGINT first, so it stops its own journal and mocks."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(proc)
