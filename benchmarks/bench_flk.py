"""Benchmark of the vectorised ФЛК (`mocks.epgu.flk`, `ezhd flk`) beside its peers, in one run:
DuckDB's raw scan of the same file (the limit) and frictionless (the usual tool).

1. For each size of `--rows` (default 100 000 and 1 000 000) generates a `marks.csv` with one
   DuckDB `COPY`, in the export conventions (`;`, every value quoted, inner quotes doubled,
   empty optionals as nothing; some comments hold `;` and quotes), spec-valid but for five
   faults in the first 100 000 records: an impossible date, an enum code, a weight out of
   range, an empty required value and a repeated primary key. With `--fk` the referenced
   keys are stored in a DuckDB showcase database beside it, so references are checked too
   (the showcase's case); without, they are not (`ezhd flk FILE`'s case).
2. Runs, each in its own child process and interleaved `--repeat` times: `FlkEngine.check`
   (wall, CPU, peak RSS, the findings) and DuckDB's raw scan (`read_csv` with the same dialect,
   every column VARCHAR, `count()` of each column: every field read once, nothing checked).
   Medians are reported, and the engine's time over the raw scan's.
3. Runs frictionless (`pip install .[bench]`) on the same file (on its first
   `--frictionless-prefix` records when larger, and extrapolated) against a Table Schema
   generated from `specs/tables/marks.yaml` (types, required, lengths, ranges, enums, key
   pattern, primary key), and lists what each found.
4. Start-up: a 5-record file checked by a fresh process (`check_files`, imports included),
   the process's wall time, median of `--repeat`.

    PYTHONPATH=. python benchmarks/bench_flk.py --rows 100000,1000000 --repeat 5 --json /tmp/bench_flk.json

Targets (issue 18): ≥ 1 M records/s on 1 M records and ≤ 2× the raw scan, ≥ 10× frictionless
from 100 000 records up with the same findings; start-up under 0.3 s for a small file.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a child of --code imports the engine of that checkout, not this one
sys.path.insert(0, os.environ.get("EZHD_BENCH_CODE", str(ROOT)))

GIB = 1 << 30

# Sizes of the referenced tables, as in a region of about 100 000 learners.
LEARNERS, SUBJECTS, STAFF, PERIODS, LESSONS = 100_000, 400, 6_000, 16, 1_000_000


def _key(kind: str, n: str) -> str:
    return f"'EZHD-' || lpad(({n} % 135 + 1)::VARCHAR, 4, '0') || '.{kind}' || ({n})"


def fault_rows(rows: int) -> dict[str, int]:
    """The 0-based records that get one fault each, all within the first 100 000 records (so a
    frictionless prefix sees them too): rule -> record."""
    p = min(rows, 100_000)
    return {"type": 10, "enum": p // 10 + 1, "range": p // 5 + 2, "required": p // 2 + 3,
            "pk_unique": p * 9 // 10 + 4} if rows >= 50 else {}


def generate(path: Path, rows: int, db: Path | None, faults: bool = True) -> dict:
    """Write a marks file of `rows` records (and the referenced keys into `db`): spec-valid
    but for one fault in each record of `fault_rows` when `faults`."""
    import duckdb

    from specs.csvio import format_header
    from specs.tables import load_tables

    table = load_tables()["marks"]
    started = time.perf_counter()
    con = duckdb.connect()
    body = path.with_suffix(".body")
    f = fault_rows(rows) if faults else {}
    at = {rule: f.get(rule, -1) for rule in ("type", "enum", "range", "required", "pk_unique")}
    con.execute(f"""
        COPY (
          SELECT
            CASE WHEN i = {at['pk_unique']} THEN {_key('MRK', '12')} ELSE {_key('MRK', 'i')} END AS id,
            {_key('LRN', f'(i * 7919) % {LEARNERS}')} AS learner_id,
            {_key('SUB', f'(i // 3) % {SUBJECTS}')} AS subject_id,
            {_key('STF', f'(i // 5) % {STAFF}')} AS teacher_id,
            {_key('PER', f'(i // 11) % {PERIODS}')} AS period_id,
            CASE WHEN i % 10 = 0 THEN NULL ELSE {_key('LES', f'(i // 2) % {LESSONS}')} END AS lesson_id,
            CASE WHEN i = {at['enum']} THEN '9' WHEN i % 10 = 0 THEN (2 + i % 3)::VARCHAR ELSE '1' END AS mark_type,
            CASE WHEN i % 50 = 7 THEN '2' ELSE '1' END AS grade_system,
            CASE WHEN i = {at['required']} THEN NULL WHEN i % 50 = 7 THEN (CASE WHEN i % 2 = 0 THEN 'зч' ELSE 'нз' END)
                 ELSE (2 + (i * 31) % 4)::VARCHAR END AS value,
            CASE WHEN i = {at['range']} THEN '11' ELSE (1 + i % 10)::VARCHAR END AS weight,
            CASE WHEN i = {at['type']} THEN '2024-02-30'
                 ELSE strftime(DATE '2024-09-02' + (i % 270)::INTEGER, '%Y-%m-%d') END AS mark_date,
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
            "findings": sorted([e.line, e.rule] for e in result.errors),
            "load_before": os.getloadavg()[0]}


def child_raw(path: str, threads: int | None) -> dict:
    """DuckDB's scan of every column of the file, nothing checked: the limit of the engine."""
    import duckdb

    from specs.tables import load_tables

    names = load_tables()["marks"].column_names
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    cols = ", ".join(f"'{n}': 'VARCHAR'" for n in names)
    sql = (f"SELECT count(*), {', '.join(f'count({chr(34)}{n}{chr(34)})' for n in names)} FROM read_csv("
           f"'{path}', columns={{{cols}}}, delim=';', quote='\"', escape='\"', header=true, "
           f"auto_detect=false, strict_mode=true, allow_quoted_nulls=true)")
    cpu, started = _cpu(), time.perf_counter()
    rows = con.execute(sql).fetchall()[0][0]
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "rows": rows}


def child_small(path: str, n: int) -> dict:
    """A warm engine on a showcase-like connection (every table stored, empty) checking a small
    file `n` times, keeping the staged rows as the showcase does: seconds per check."""
    import duckdb

    from mocks.epgu.flk import SHOWCASE_SCHEMA, FlkEngine, ensure_showcase_schema

    con = duckdb.connect()
    ensure_showcase_schema(con)
    engine = FlkEngine(con=con)
    data = Path(path).read_bytes()
    times = []
    for i in range(n + 3):
        if i == 3:                      # the first checks compile the rules
            cpu = _cpu()
        started = time.perf_counter()
        result = engine.check(data, "marks", stored_schema=SHOWCASE_SCHEMA, keep_staged=True)
        engine.drop_staged(result)
        times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times[3:]), "cpu_s": (_cpu() - cpu) / n, "n": n}


def child_startup(path: str) -> dict:
    """A small file checked by a fresh process; the parent times the whole process."""
    from mocks.epgu.flk import check_files

    result = check_files([path], table_for="marks")[0]
    return {"rows": result.rows, "errors": result.error_count}


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
    return {"seconds": seconds, "cpu_seconds": _cpu() - cpu, "rows": task.stats.get("rows"),
            "errors": len(task.errors), "valid": report.valid,
            "findings": sorted([e.row_number, e.type] for e in task.errors if hasattr(e, "row_number"))}


NICE = 0     # niceness of the measured children (--nice)
CODE = ROOT  # the checkout the children import the engine from (--code)


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
                          env={**os.environ, "PYTHONPATH": str(CODE), "EZHD_BENCH_CODE": str(CODE)}, preexec_fn=_renice)
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


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure_size(work: Path, rows: int, args: argparse.Namespace) -> dict:
    marks, db = work / f"marks_{rows}" / "marks.csv", (work / f"store_{rows}.duckdb" if args.fk else None)
    marks.parent.mkdir(exist_ok=True)
    print(f"{rows:,} records: generating ...", flush=True)
    gen = generate(marks, rows, db)
    expected = sorted([r + 2, rule] for rule, r in fault_rows(rows).items())   # line = record + 2
    print(f"  {gen['bytes'] / 2**20:,.0f} MiB in {gen['seconds']:.1f} s; faults at {expected}", flush=True)
    threads = str(args.threads or 0)
    engine, raw = [], []
    for _ in range(args.repeat):               # interleaved, so both see the same load
        raw.append(run_child("raw", str(marks), threads))
        engine.append(run_child("engine", str(marks), str(db or ""), threads))
        e, r = engine[-1], raw[-1]
        print(f"  engine {e['seconds']:.2f} s (CPU {e['cpu_seconds']:.1f} s, peak RSS {e['peak_rss_mib']:,.0f} MiB,"
              f" {e['errors']} findings, path {e['path']}); raw scan {r['seconds']:.2f} s "
              f"(CPU {r['cpu_seconds']:.1f} s); load {e['load_before']:.1f}", flush=True)
    out = {"rows": rows, "bytes": gen["bytes"], "expected": expected,
           "engine_runs": engine, "raw_runs": raw,
           "engine_s": _median([e["seconds"] for e in engine]),
           "engine_cpu_s": _median([e["cpu_seconds"] for e in engine]),
           "raw_s": _median([r["seconds"] for r in raw]),
           "raw_cpu_s": _median([r["cpu_seconds"] for r in raw]),
           "engine_peak_rss_mib": max(e["peak_rss_mib"] for e in engine),
           "ratios_to_raw": sorted(e["seconds"] / r["seconds"] for e, r in zip(engine, raw)),
           "engine_findings": engine[0]["findings"],
           "same_findings": all(e["findings"] == expected for e in engine)}
    out["rows_per_s"] = rows / out["engine_s"]
    out["ratio_to_raw"] = _median(out["ratios_to_raw"])
    print(f"  median: engine {out['engine_s']:.2f} s = {out['rows_per_s']:,.0f} records/s; raw scan "
          f"{out['raw_s']:.2f} s; engine / raw {out['ratio_to_raw']:.2f} (runs {', '.join(f'{x:.2f}' for x in out['ratios_to_raw'])});"
          f" findings as seeded: {out['same_findings']}", flush=True)
    if not args.no_frictionless:
        n = min(args.frictionless_prefix, rows)
        target = marks
        if n < rows:
            target = marks.parent / "prefix" / "marks.csv"
            target.parent.mkdir(exist_ok=True)
            prefix(marks, target, n)
        fr = run_child("frictionless", str(target))
        fr["records"] = n
        fr["rows_per_s"] = n / fr["seconds"]
        fr["whole_file_s"] = rows / fr["rows_per_s"]
        fr["extrapolated"] = n < rows
        fr["same_findings"] = sorted(f[0] for f in fr["findings"]) == [line for line, _ in expected]
        out["frictionless"] = fr
        out["speedup"] = fr["whole_file_s"] / out["engine_s"]
        print(f"  frictionless on {n:,} records: {fr['seconds']:.1f} s, {fr['rows_per_s']:,.0f} records/s"
              f"{' (the whole file extrapolated)' if n < rows else ''}; found {fr['findings']}; "
              f"engine {out['speedup']:.1f}x faster", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000,1000000", help="records per file, comma-separated")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the engine and of the raw scan (medians)")
    ap.add_argument("--frictionless-prefix", type=int, default=100_000,
                    help="records frictionless validates; larger files are extrapolated from them")
    ap.add_argument("--no-frictionless", action="store_true", help="skip frictionless")
    ap.add_argument("--fk", action="store_true", help="store the referenced keys: references are checked")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all CPUs)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of the measured child processes (e.g. -15 on a shared machine, as root)")
    ap.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--code", type=Path, default=None,
                    help="also measure the small-file figures with the engine of this checkout "
                         "(e.g. `git archive main` unpacked), side by side")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global NICE
    NICE = args.nice

    if args.child:
        kind, *rest = args.child
        if kind == "engine":
            out = child_engine(rest[0], rest[1] or None, int(rest[2]) or None)
        elif kind == "raw":
            out = child_raw(rest[0], int(rest[1]) or None)
        elif kind == "startup":
            out = child_startup(rest[0])
        elif kind == "small":
            out = child_small(rest[0], int(rest[1]))
        elif kind == "none":            # a bare child: the cost of starting this script
            out = {}
        else:
            out = child_frictionless(rest[0])
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["niceness"] = os.nice(0)
        print(json.dumps(out, ensure_ascii=False))
        return 0

    work = args.dir or Path(tempfile.mkdtemp(prefix="ezhd-bench-flk-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        small = work / "small" / "marks.csv"
        small.parent.mkdir(exist_ok=True)
        generate(small, 5, None, faults=False)
        startup = [run_child("startup", str(small))["process_wall"] for _ in range(args.repeat)]
        bare = [run_child("none")["process_wall"] for _ in range(args.repeat)]
        print(f"start-up: a 5-record file in a fresh process {_median(startup):.2f} s (median of "
              f"{args.repeat}); a bare Python process {_median(bare):.2f} s", flush=True)
        small_checks: dict[str, list[float]] = {"this": []}
        small_cpu: dict[str, list[float]] = {"this": []}
        if args.code:
            small_checks["baseline"], small_cpu["baseline"] = [], []
        global CODE
        for _ in range(args.repeat):            # interleaved with the baseline's, same load
            for name in small_checks:
                CODE = args.code.resolve() if name == "baseline" else ROOT
                run = run_child("small", str(small), "50")
                small_checks[name].append(run["median_s"])
                small_cpu[name].append(run["cpu_s"])
        CODE = ROOT
        print("a 5-record file, warm engine, showcase-like (median ms per check, wall / CPU): " + ", ".join(
            f"{name} {1000 * _median(small_checks[name]):.1f} / {1000 * _median(small_cpu[name]):.1f}"
            for name in small_checks), flush=True)
        sizes = [measure_size(work, int(n), args) for n in args.rows.split(",")]
        targets = {"start-up < 0.3 s": _median(startup) < 0.3}
        for m in sizes:
            if m["rows"] >= 1_000_000:
                targets[f"{m['rows']:,}: >= 1M records/s"] = m["rows_per_s"] >= 1_000_000
                targets[f"{m['rows']:,}: <= 2x raw scan"] = m["ratio_to_raw"] <= 2
            if m["rows"] >= 100_000 and "speedup" in m:
                targets[f"{m['rows']:,}: >= 10x frictionless"] = m["speedup"] >= 10
            targets[f"{m['rows']:,}: findings as seeded"] = m["same_findings"]
        for name, met in targets.items():
            print(f"  target {name}: {'met' if met else 'NOT met'}")
        if args.json:
            args.json.write_text(json.dumps({
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "niceness": args.nice},
                "startup_s": startup, "bare_python_s": bare, "small_check_s": small_checks, "small_check_cpu_s": small_cpu,
                "sizes": sizes, "targets": targets,
            }, ensure_ascii=False, indent=2))
        return 0 if all(targets.values()) else 1
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
