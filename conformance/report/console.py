"""What `ezhd certify` prints: one summary, worded the same whether or not `--only` narrowed
the run, and failures told as the check that failed and the exchange that decided it.

`summary_lines(results, only, report_dir)` gives the summary and whether the base level of
the requirements run passed (the exit code's basis). `ConciseFailures` is a pytest plugin
object: the failure text of each failed test becomes its location, the assertion's message
without pytest's "where" explanations (which print the reprs of fixtures and responses), and
the last exchange with the journal recorded before it failed (`conformance/evidence.py`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pytest

from conformance import evidence

__all__ = ["summary_lines", "ConciseFailures", "concise_failure"]


def summary_lines(results: Mapping[str, Any], only: tuple[str, ...] | list[str], report_dir: Path
                  ) -> tuple[list[str], bool]:
    """The summary of a run, and whether the base level of the requirements it ran passed.

    Without `only` the requirements run are the whole catalogue, so both base-level lines
    agree; with it, the first is about the selection and decides the exit code."""
    from conformance.verdicts import base_level_result

    requirements = results["requirements"]
    chosen = set(only)
    ran = [r for r in requirements if r["id"] in chosen] if chosen else list(requirements)
    lines = ["", "requirement  strength  verdict         tests"]
    for r in requirements:
        if r["tests"] or r["id"] in chosen:
            lines.append(f"{r['id']:<12} {r['strength']:<9} {r['verdict']:<15} {len(r['tests'])}")
    counts = ", ".join(f"{n} {v}" for v, n in results["summary"]["verdicts"].items() if n)
    lines.append(f"requirements: {counts}")
    scoped = base_level_result((r["id"], r["strength"], r["level"], r["verdict"]) for r in ran)
    which = ", ".join(r["id"] for r in ran) if chosen else f"all {len(ran)}"
    lines.append(f"base level of the requirements run ({which}): {scoped.result}"
                 + (f"; blocking: {', '.join(scoped.blocking)}" if scoped.blocking else ""))
    full = results["summary"]["base_level"]
    lines.append(f"base level of the whole catalogue: {full['result']}"
                 + (f"; {len(full['blocking'])} base MUST not passed" if full["blocking"] else ""))
    written = [name for name in ("results.json", "junit.xml", "report.html", "report.pdf")
               if (report_dir / name).exists()]
    lines.append(f"written to {report_dir}: {', '.join(written)}")
    return lines, scoped.passed


def concise_failure(report: pytest.TestReport, exchanges: list[dict[str, Any]] | None = None) -> str:
    """A failed phase in a few lines: where, the message, the deciding exchange."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "") or "")
    if not message:
        text = report.longreprtext.strip()
        message = text.splitlines()[-1] if text else "failed"
    kept = [line for line in message.splitlines() if not line.lstrip().startswith("+")]
    path, lineno, _ = report.location
    where = f"{path}:{(lineno or 0) + 1}"
    if crash is not None and getattr(crash, "lineno", None):
        crashed = Path(str(crash.path))
        where = (f"{path}:{crash.lineno}" if crashed.as_posix().endswith(path)
                 else f"{where}, raised in {crashed.name}:{crash.lineno}")
    kept = [line for line in kept if line.strip()] or ["failed"]
    lines = [kept[0], *("  " + line for line in kept[1:]), f"  at {where} ({report.when})"]
    judged = [e for e in (exchanges or []) if not e.get("setup")]
    if judged:
        last = judged[-1]
        lines.append(f"  deciding exchange: {last.get('from', '?')} → {last.get('to', '?')}: "
                     f"{last.get('method', '')} {last.get('url', '')} → {last.get('status', '?')}")
    return "\n".join(lines)


class ConciseFailures:
    """pytest plugin object: replaces each failed report's long text by `concise_failure`
    (after every other plugin has read it; results.json keeps the full message)."""

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        transcript = evidence._current
        exchanges = list(transcript.exchanges) if transcript is not None else []
        report.longrepr = concise_failure(report, exchanges)
