"""Benchmark of the dataset generator: wall time, rows per second, peak memory, file sizes.

    PYTHONPATH=. python benchmarks/bench_dataset.py [--size region] [--seed 1] [--workers N]

Generates into a temporary directory (removed afterwards unless --keep DIR is given) and
prints a report; `--json FILE` also writes the figures as JSON. Peak RSS is
`resource.getrusage` ru_maxrss of this process and of its largest worker process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from fixtures.dataset import PROFILES, Options, generate


def _mib(kib: int) -> float:
    return kib / 1024  # ru_maxrss is in KiB on Linux


def run(size: str, seed: int, workers: int | None, keep: Path | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench_dataset_") as scratch:
        out = keep or Path(scratch) / "out"
        started = time.perf_counter()
        result = generate(Options(seed=seed, size=size), out, force=keep is not None, workers=workers)
        wall = time.perf_counter() - started
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    rows = sum(result.manifest["tables"].values())
    return {
        "size": size,
        "seed": seed,
        "workers": workers or "default",
        "wall_seconds": round(wall, 1),
        "rows": rows,
        "rows_per_second": round(rows / wall),
        "tables": result.manifest["tables"],
        "personas": result.manifest["personas"],
        "peak_rss_mib": round(_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), 1),
        "peak_rss_worker_mib": round(_mib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), 1),
        "file_bytes": sizes,
        "total_bytes": sum(sizes.values()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
    }


def report(figures: dict[str, object]) -> str:
    tables = figures["tables"]
    assert isinstance(tables, dict)
    sizes = figures["file_bytes"]
    assert isinstance(sizes, dict)
    lines = [
        f"dataset {figures['size']} (seed {figures['seed']}, workers {figures['workers']}) "
        f"on {figures['machine']}, Python {figures['python']}",
        f"wall time     {figures['wall_seconds']} s",
        f"rows          {figures['rows']:,} ({figures['rows_per_second']:,} rows/s); "
        f"learners {tables['learners']:,}, marks {tables['marks']:,}, personas {figures['personas']:,}",
        f"peak RSS      {figures['peak_rss_mib']} MiB (main), "
        f"{figures['peak_rss_worker_mib']} MiB (largest worker)",
        f"output        {int(figures['total_bytes']) / 2**20:,.1f} MiB",
    ]
    lines += [f"  {name:<28} {count / 2**20:>10,.1f} MiB" for name, count in
              sorted(sizes.items(), key=lambda item: -item[1])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(PROFILES), default="region")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep the output")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    figures = run(args.size, args.seed, args.workers, args.keep)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
