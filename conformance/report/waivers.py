"""Waivers (`waivers.yaml`, schema `specs/schemas/waivers.schema.json`): accepted failures.

    waivers:
      - requirement: AUTH-02
        test: conformance/auth/test_tokens_and_state.py::test_state   # optional
        reason: state check lands in release 2.4
        ticket: JRN-1234
        expires: 2026-12-31

`load_waivers` reports every problem at once (`WaiverError.problems`). `apply_waivers` marks
each failing test (FAIL, WARN, ERROR) that a live waiver covers; a waiver past its expiry day
is not applied and is listed as expired, one that covers no failing test as unused. Waivers
never change the base-level result: a waived MUST still blocks sign-off.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import yaml

from specs import SCHEMAS_DIR

__all__ = ["SCHEMA_FILE", "WAIVABLE", "Waiver", "WaiverError", "Applied", "load_waivers",
           "parse_waivers", "apply_waivers"]

SCHEMA_FILE = SCHEMAS_DIR / "waivers.schema.json"
WAIVABLE = frozenset({"FAIL", "WARN", "ERROR"})


class WaiverError(ValueError):
    """waivers.yaml is unusable; `problems` lists every problem, one line each."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems, self.source = list(problems), source
        n = len(self.problems)
        super().__init__(f"{source or 'waivers'}: {n} problem{'s' if n != 1 else ''}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Waiver:
    """One accepted failure; `index` is its position in the file (for messages)."""

    index: int
    requirement: str
    reason: str
    ticket: str
    expires: dt.date
    test: str | None = None

    def covers(self, requirement_id: str, nodeid: str) -> bool:
        if requirement_id != self.requirement:
            return False
        if self.test is None:
            return True
        return nodeid == self.test or nodeid.endswith(("::" + self.test, "/" + self.test))

    def as_dict(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "test": self.test, "reason": self.reason,
                "ticket": self.ticket, "expires": self.expires.isoformat()}


@dataclass
class Applied:
    """The outcome of `apply_waivers`: (requirement ID, nodeid) -> waiver, and the leftovers."""

    waived: dict[tuple[str, str], Waiver] = field(default_factory=dict)
    expired: list[Waiver] = field(default_factory=list)
    unused: list[Waiver] = field(default_factory=list)
    all: list[Waiver] = field(default_factory=list)

    def for_test(self, requirement_id: str, nodeid: str) -> Waiver | None:
        return self.waived.get((requirement_id, nodeid))


def load_waivers(path: Path | str, known_ids: Iterable[str] | None = None) -> list[Waiver]:
    """Read and check waivers.yaml; raise WaiverError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError([f"cannot read: {exc.strerror or exc}"], str(path)) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, ValueError) as exc:
        raise WaiverError([f"not valid YAML: {' '.join(str(exc).split())}"], str(path)) from None
    return parse_waivers(data, known_ids, source=str(path))


def parse_waivers(data: Any, known_ids: Iterable[str] | None = None, *, source: str | None = None) -> list[Waiver]:
    """Check parsed waivers data against the schema and the catalogue; every problem at once."""
    data = _dates_as_text(data)
    problems = [f"{_where(e.absolute_path)}: {e.message}"
                for e in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
    known = set(known_ids) if known_ids is not None else None
    waivers: list[Waiver] = []
    seen: dict[tuple[str, str | None], int] = {}
    entries = data.get("waivers") if isinstance(data, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        where = f"waivers[{index}]"
        rid, expires = entry.get("requirement"), entry.get("expires")
        date = None
        if isinstance(expires, str):
            try:
                date = dt.date.fromisoformat(expires)
            except ValueError:
                problems.append(f"{where}.expires: {expires!r} is not a calendar date (YYYY-MM-DD)")
        if known is not None and isinstance(rid, str) and rid not in known:
            problems.append(f"{where}.requirement: {rid} is not a requirement of the catalogue")
        key = (rid, entry.get("test"))
        if key in seen:
            problems.append(f"{where}: repeats waivers[{seen[key]}] for the same requirement and test")
        seen.setdefault(key, index)
        if date and all(isinstance(entry.get(k), str) for k in ("requirement", "reason", "ticket")):
            waivers.append(Waiver(index, rid, entry["reason"], entry["ticket"], date, entry.get("test")))
    if problems:
        raise WaiverError(problems, source)
    return waivers


def apply_waivers(results: Mapping[str, Any], waivers: Iterable[Waiver], today: dt.date | None = None) -> Applied:
    """Which failing tests of `results` each live waiver covers; expired and unused waivers."""
    today = today or dt.date.today()
    applied = Applied(all=list(waivers))
    for waiver in applied.all:
        if waiver.expires < today:
            applied.expired.append(waiver)
            continue
        used = False
        for requirement in results["requirements"]:
            for test in requirement["tests"]:
                if test["verdict"] in WAIVABLE and waiver.covers(requirement["id"], test["nodeid"]):
                    applied.waived.setdefault((requirement["id"], test["nodeid"]), waiver)
                    used = True
        if not used:
            applied.unused.append(waiver)
    return applied


class _Loader(yaml.SafeLoader):
    """SafeLoader keeping dates as text, so a bad date is a problem to report, not a crash."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _dates_as_text(data: Any) -> Any:
    """YAML reads 2026-12-31 as a date; the schema checks text."""
    if isinstance(data, dict):
        return {k: _dates_as_text(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_dates_as_text(v) for v in data]
    if isinstance(data, (dt.date, dt.datetime)):
        return data.isoformat()[:10] if not isinstance(data, dt.datetime) else data.isoformat()
    return data


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"
