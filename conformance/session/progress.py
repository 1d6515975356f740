"""Live progress of a certify run: one line per requirement as its last test finishes."""
from __future__ import annotations

from typing import Any

import click
import pytest

__all__ = ["Progress"]


class Progress:
    """One line per requirement as its last test finishes: its counts and the run's so far.
    pytest's progress letters are blanked (the failure details at the end stay)."""

    _KINDS = ("pass", "fail", "error", "skip")

    def __init__(self, run_plugin: Any) -> None:
        self.run_plugin = run_plugin
        self.ids: dict[str, list[str]] = {}          # nodeid -> requirement IDs
        self.left: dict[str, int] = {}               # requirement -> tests not finished
        self.counts: dict[str, dict[str, int]] = {}  # requirement -> kind -> n
        self.totals = dict.fromkeys(self._KINDS, 0)
        self.done = 0
        self.config: Any = None

    def pytest_configure(self, config: Any) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: Any) -> None:
        from conformance.plugin import requirement_ids

        for item in session.items:
            ids = requirement_ids(item)
            if not ids:
                continue
            self.ids[item.nodeid] = ids
            for rid in ids:
                self.left[rid] = self.left.get(rid, 0) + 1
                self.counts.setdefault(rid, dict.fromkeys(self._KINDS, 0))

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: Any, config: Any):
        result = yield
        if isinstance(result, tuple) and len(result) == 3:
            category, _letter, word = result
            return category, "", word
        return result

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        from conformance.verdicts import Outcome

        ids = self.ids.get(nodeid)
        collector = self.run_plugin.collector
        record = collector.records.get(nodeid) if collector is not None else None
        if not ids or record is None:
            return
        kind = {Outcome.PASSED: "pass", Outcome.FAILED: "fail", Outcome.ERROR: "error",
                Outcome.SKIPPED: "skip"}[record.outcome]
        self.totals[kind] += 1
        self.done += 1
        for rid in ids:
            self.counts[rid][kind] += 1
            self.left[rid] -= 1
            if self.left[rid] == 0:
                self._line(rid)

    def _line(self, rid: str) -> None:
        c = self.counts[rid]
        own = ", ".join(f"{c[k]} {k}" for k in self._KINDS if c[k]) or "none"
        run = " ".join(f"{k} {self.totals[k]}" for k in self._KINDS)
        line = f"{rid:<10} {own:<28} | run: {run} ({self.done}/{len(self.ids)} tests)"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter") if self.config else None
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(line)
        else:
            click.echo(line)
