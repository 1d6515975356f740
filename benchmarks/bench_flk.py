"""Benchmark of the vectorised ФЛК (`mocks.epgu.flk`) against frictionless.

1. Generates a spec-valid `marks.csv` of `--rows` records (default 10 million) with one
   DuckDB `COPY`, in the export conventions: `;`, every value quoted, inner quotes doubled,
   empty optionals as nothing; some comments hold `;` and quotes. The referenced keys
   (learners, subjects, staff, academic periods, lessons) are stored in a DuckDB showcase
   database beside it, so the references are checked too.
2. Runs `FlkEngine.check` on it in a child process: wall time, records per second, peak
   RSS of the child (its own `getrusage(RUSAGE_SELF).ru_maxrss` as it ends), and the verdict
   (it must be clean).
3. Runs frictionless (`pip install .[bench]`) on the same file against an equivalent Table
   Schema generated from `specs/tables/marks.yaml` (types, required, lengths, ranges,
   enums, key pattern, primary key; frictionless checks no foreign key here), in a child
   process too. Frictionless needs minutes per million rows: it first validates a prefix
   (`--frictionless-prefix`, 200 000 records); when its rate promises the whole file within
   `--frictionless-budget` seconds (600) it validates the whole file as well, otherwise the
   figures for the whole file are extrapolated from the prefix, and the output says so.

    PYTHONPATH=. python benchmarks/bench_flk.py --rows 10000000 --json /tmp/bench_flk.json

On a machine shared with other jobs, `--nice -15` (as root) gives the measured children
their CPU share back; both the engine and frictionless run at that niceness.

Targets (issue 4): at least 1 M records/s, at least 10x frictionless, peak RSS at most 1 GiB.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GIB = 1 << 30

# Sizes of the referenced tables, as in a region of about 100 000 learners.
LEARNERS, SUBJECTS, STAFF, PERIODS, LESSONS = 100_000, 400, 6_000, 16, 1_000_000


def _key(kind: str, n: str) -> str:
    return f"'EZHD-' || lpad(({n} % 135 + 1)::VARCHAR, 4, '0') || '.{kind}' || ({n})"


def generate(path: Path, rows: int, db: Path | None) -> dict:
    """Write a spec-valid marks file of `rows` records (and the referenced keys into `db`)."""
    import duckdb

    from specs.csvio import format_header
    from specs.tables import load_tables

    table = load_tables()["marks"]
    started = time.perf_counter()
    con = duckdb.connect()
    body = path.with_suffix(".body")
    con.execute(f"""
        COPY (
          SELECT
            {_key('MRK', 'i')} AS id,
            {_key('LRN', f'(i * 7919) % {LEARNERS}')} AS learner_id,
            {_key('SUB', f'(i // 3) % {SUBJECTS}')} AS subject_id,
            {_key('STF', f'(i // 5) % {STAFF}')} AS teacher_id,
            {_key('PER', f'(i // 11) % {PERIODS}')} AS period_id,
            CASE WHEN i % 10 = 0 THEN NULL ELSE {_key('LES', f'(i // 2) % {LESSONS}')} END AS lesson_id,
            CASE WHEN i % 10 = 0 THEN (2 + i % 3)::VARCHAR ELSE '1' END AS mark_type,
            CASE WHEN i % 50 = 7 THEN '2' ELSE '1' END AS grade_system,
            CASE WHEN i % 50 = 7 THEN (CASE WHEN i % 2 = 0 THEN 'зч' ELSE 'нз' END)
                 ELSE (2 + (i * 31) % 4)::VARCHAR END AS value,
            (1 + i % 10)::VARCHAR AS weight,
            strftime(DATE '2024-09-02' + (i % 270)::INTEGER, '%Y-%m-%d') AS mark_date,
            CASE i % 6 WHEN 0 THEN 'Контрольная работа' WHEN 1 THEN 'Самостоятельная работа'
                       WHEN 2 THEN 'Устный ответ' END AS control_form,
            CASE WHEN i % 7 = 0 THEN 'Ответ у доски; «отлично», сказал "учитель"'
                 WHEN i % 13 = 0 THEN 'Не сдал тетрадь' END AS comment,
            strftime(TIMESTAMP '2024-09-02 08:00:00' + to_seconds((i % 270) * 86400 + (i * 37) % 36000),
                     '%Y-%m-%d %H:%M:%S') AS create_datetime,
            '2025-06-01 23:00:00' AS send_datetime
          FROM range({rows}) t(i)
        ) TO '{body}' (FORMAT csv, DELIMITER ';', QUOTE '"', ESCAPE '"', FORCE_QUOTE *, HEADER false)
    """)
    with open(path, "wb") as out:
        out.write((format_header(table) + "\n").encode())
        with open(body, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 24)
    body.unlink()
    if db is not None:
        if db.exists():
            db.unlink()
        from mocks.epgu.flk import SHOWCASE_SCHEMA, ensure_showcase_schema

        store = duckdb.connect(str(db))
        ensure_showcase_schema(store)
        for name, kind, n in (("learners", "LRN", LEARNERS), ("subjects", "SUB", SUBJECTS),
                              ("staff", "STF", STAFF), ("academic_periods", "PER", PERIODS),
                              ("lessons", "LES", LESSONS)):
            store.execute(f"INSERT INTO {SHOWCASE_SCHEMA}.{name} (id) SELECT {_key(kind, 'i')} FROM range({n}) t(i)")
        store.close()
    return {"rows": rows, "bytes": path.stat().st_size, "seconds": time.perf_counter() - started}


def table_schema(name: str) -> dict:
    """A frictionless Table Schema with the constraints of a spec table (no foreign keys)."""
    from specs.tables import load_tables

    tables = load_tables()
    table, conv = tables[name], tables.conventions
    fields = []
    for c in table.columns:
        f: dict = {"name": c.name}
        cons: dict = {}
        if c.type == "integer":
            f["type"] = "integer"
        elif c.type == "date":
            f["type"], f["format"] = "date", conv.formats["date"]
        elif c.type == "datetime":
            f["type"], f["format"] = "datetime", conv.formats["datetime"]
        elif c.type == "boolean":
            f["type"], f["trueValues"], f["falseValues"] = "boolean", [conv.true_text], [conv.false_text]
        else:
            f["type"] = "string"
        if c.required:
            cons["required"] = True
        if c.max_length is not None:
            cons["maxLength"] = c.max_length
        if c.minimum is not None:
            cons["minimum"] = c.minimum
        if c.maximum is not None:
            cons["maximum"] = c.maximum
        if c.enum is not None:
            cons["enum"] = sorted(c.enum.codes)
        if c.key:
            cons["pattern"] = conv.key_pattern.lstrip("^").rstrip("$")
        elif c.pattern:
            cons["pattern"] = c.pattern.lstrip("^").rstrip("$")
        if cons:
            f["constraints"] = cons
        fields.append(f)
    return {"fields": fields, "primaryKey": list(table.primary_key), "missingValues": [""]}


# -- children: each measured in its own process ----------------------------------------------------

def child_engine(path: str, db: str | None, threads: int | None) -> dict:
    import duckdb

    from mocks.epgu.flk import SHOWCASE_SCHEMA, FlkEngine

    con = duckdb.connect(db, read_only=True) if db else duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    engine = FlkEngine(con=con)
    cpu, started = _cpu(), time.perf_counter()
    result = engine.check(Path(path), "marks", stored_schema=SHOWCASE_SCHEMA if db else None)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_seconds": _cpu() - cpu, "rows": result.rows,
            "errors": result.error_count, "path": result.path, "notes": result.notes,
            "first_errors": [e.text("en") for e in result.errors[:5]], "load_before": os.getloadavg()[0]}


def _cpu() -> float:
    """CPU seconds of this process, all its threads (DuckDB's workers included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_frictionless(path: str) -> dict:
    from frictionless import Dialect, Resource, Schema, formats

    schema = Schema.from_descriptor(table_schema("marks"))
    control = formats.CsvControl(delimiter=";", quote_char='"', double_quote=True)
    where = Path(path)
    resource_ = Resource(path=where.name, basepath=str(where.parent), schema=schema,
                         dialect=Dialect(controls=[control]))
    cpu, started = _cpu(), time.perf_counter()
    report = resource_.validate(limit_errors=1000)
    seconds = time.perf_counter() - started
    task = report.tasks[0]
    errors = [e.message for e in task.errors[:5]]
    return {"seconds": seconds, "cpu_seconds": _cpu() - cpu, "rows": task.stats.get("rows"),
            "errors": len(task.errors), "valid": report.valid, "first_errors": errors}


NICE = 0     # niceness of the measured children (--nice)


def _renice() -> None:
    if NICE:
        try:
            os.nice(NICE)
        except PermissionError:       # a negative niceness needs privileges; measure as is
            pass


def run_child(kind: str, *args: str, timeout: float | None = None) -> dict:
    """Run a child measurement in its own process. Its peak RSS is the child's own
    `getrusage(RUSAGE_SELF).ru_maxrss`, read by the child as it ends (RUSAGE_CHILDREN would
    give the largest child so far, not this one)."""
    cmd = [sys.executable, __file__, "--child", kind, *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_renice)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall"] = wall
    return out


def prefix(src: Path, dst: Path, rows: int) -> None:
    """The header and the first `rows` records of a file."""
    with open(src, "rb") as fh, open(dst, "wb") as out:
        for i, line in enumerate(fh):
            if i > rows:
                break
            out.write(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="records in the marks file")
    ap.add_argument("--frictionless-prefix", type=int, default=200_000,
                    help="records of the prefix frictionless validates first")
    ap.add_argument("--frictionless-budget", type=float, default=600.0,
                    help="seconds frictionless may take on the whole file; beyond, extrapolate")
    ap.add_argument("--no-frictionless", action="store_true", help="skip frictionless")
    ap.add_argument("--no-fk", action="store_true", help="no stored keys: references are not checked")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all CPUs)")
    ap.add_argument("--repeat", type=int, default=3, help="engine runs (the best is taken; all are shown)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of the measured child processes (e.g. -15 on a shared machine, as root)")
    ap.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global NICE
    NICE = args.nice

    if args.child:
        kind, *rest = args.child
        if kind == "engine":
            out = child_engine(rest[0], rest[1] or None, int(rest[2]) or None)
        else:
            out = child_frictionless(rest[0])
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["niceness"] = os.nice(0)
        print(json.dumps(out, ensure_ascii=False))
        return 0

    work = args.dir or Path(tempfile.mkdtemp(prefix="ezhd-bench-flk-"))
    work.mkdir(parents=True, exist_ok=True)
    marks, db = work / "marks.csv", (None if args.no_fk else work / "store.duckdb")
    try:
        print(f"generating {args.rows:,} marks in {work} ...", flush=True)
        gen = generate(marks, args.rows, db)
        print(f"  {gen['bytes'] / 2**20:,.0f} MiB in {gen['seconds']:.1f} s", flush=True)

        print(f"vectorised ФЛК (mocks.epgu.flk), {args.repeat} run(s) ...", flush=True)
        runs = []
        for _ in range(args.repeat):
            run = run_child("engine", str(marks), str(db or ""), str(args.threads or 0))
            run["rows_per_s"] = run["rows"] / run["seconds"]
            runs.append(run)
            print(f"  {run['rows']:,} records, {run['errors']} errors, {run['seconds']:.2f} s "
                  f"(CPU {run['cpu_seconds']:.1f} s), {run['rows_per_s']:,.0f} records/s, "
                  f"peak RSS {run['peak_rss_mib']:,.0f} MiB, load average before {run['load_before']:.2f}, "
                  f"niceness {run['niceness']}", flush=True)
            if run["errors"]:
                print("  the generated file should be clean:", *run["first_errors"], sep="\n    ")
        eng = dict(min(runs, key=lambda r: r["seconds"]))
        eng["runs"] = runs
        eng["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
        if args.repeat > 1:
            print(f"  best of {args.repeat}: {eng['seconds']:.2f} s, {eng['rows_per_s']:,.0f} records/s; "
                  f"slowest {max(r['seconds'] for r in runs):.2f} s", flush=True)

        fr = None
        if not args.no_frictionless:
            n = min(args.frictionless_prefix, args.rows)
            target = marks
            if n < args.rows:
                target = work / "marks_prefix.csv"
                prefix(marks, target, n)
            print(f"frictionless on {n:,} records ...", flush=True)
            fr = run_child("frictionless", str(target))
            fr["rows_per_s"] = (fr["rows"] or n) / fr["seconds"]
            fr["prefix_rows"] = n
            fr["prefix"] = dict(fr)
            estimate = args.rows / fr["rows_per_s"]
            print(f"  {fr['rows']:,} records, valid={fr['valid']}, {fr['seconds']:.1f} s, "
                  f"{fr['rows_per_s']:,.0f} records/s, peak RSS {fr['peak_rss_mib']:,.0f} MiB; "
                  f"{args.rows:,} records would take ~{estimate / 60:.1f} min", flush=True)
            fr["measured_on"] = "prefix"
            if n < args.rows and estimate <= args.frictionless_budget:
                print(f"frictionless on all {args.rows:,} records ...", flush=True)
                whole = run_child("frictionless", str(marks), timeout=args.frictionless_budget * 3)
                whole["rows_per_s"] = (whole["rows"] or args.rows) / whole["seconds"]
                whole["prefix"] = fr["prefix"]
                fr = whole
                fr["measured_on"] = "whole file"
                print(f"  {fr['rows']:,} records, valid={fr['valid']}, {fr['seconds']:.1f} s, "
                      f"{fr['rows_per_s']:,.0f} records/s, peak RSS {fr['peak_rss_mib']:,.0f} MiB", flush=True)
            elif n < args.rows:
                print(f"  (over the budget of {args.frictionless_budget:.0f} s: the rate of the prefix is used)")
            fr["whole_file_seconds"] = fr["seconds"] if fr["measured_on"] == "whole file" else estimate
            if not fr["valid"]:
                print("  frictionless found errors:", *fr["first_errors"], sep="\n    ")

        if eng["errors"]:
            print("  NOTE: the engine reported errors on a file meant to be clean")
        targets = {
            "rows_per_s >= 1M": eng["rows_per_s"] >= 1_000_000,
            "peak RSS <= 1 GiB": eng["peak_rss_mib"] * 2**20 <= GIB,
        }
        if fr:
            speedup = eng["rows_per_s"] / fr["rows_per_s"]
            targets[">= 10x frictionless"] = speedup >= 10
            print(f"speed-up: {speedup:,.0f}x")
        for name, met in targets.items():
            print(f"  target {name}: {'met' if met else 'NOT met'}")
        if args.json:
            args.json.write_text(json.dumps({
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "niceness": args.nice},
                "generate": gen, "engine": eng, "frictionless": fr, "targets": targets,
            }, ensure_ascii=False, indent=2))
        return 0 if all(targets.values()) else 1
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
