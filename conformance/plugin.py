"""The `ezhd` pytest plugin. This file states the plugin contract.

It is registered through the `pytest11` entry point `ezhd`, so it is active in every pytest
run of an environment where ezhd-conformance is installed; it only implements hooks.

- Marker ``@pytest.mark.requirement(*ids)``: the requirement IDs (`specs/requirements.yaml`)
  a test verifies. Markers on the module, the class and the function add up.
- Marker ``@pytest.mark.surface(dimension=value | [values], ...)``: the parts of its
  requirements' surface (`specs/surfaces/`: actors, session kinds, tables, event kinds, …) a
  test exercises. Markers add up as requirement markers do; on a `pytest.param` they mark one
  parameter.
- At collection, a marker without an ID, a non-string ID or an ID the catalogue does not
  know is an error naming the test and the bad ID, and so is a surface value that is not part
  of the surface of the test's requirements; pytest stops with a usage error (exit 4) and
  writes no requirement map.
- ``--ezhd-requirements-out=FILE``: once collection is done (also under ``--collect-only``),
  write ``{"tests": {nodeid: [ids...]}, "surfaces": {nodeid: {dimension: [values]}}}`` for
  every collected test, ``[]`` for a test with no marker. `ezhd requirements coverage` is
  built on this file.
- ``--ezhd-results=FILE``: register a `conformance.results.ResultsCollector` that writes the
  run's canonical results (verdict per requirement and per test, `specs/schemas/
  results.schema.json`) to FILE at session finish. Without the option nothing is recorded.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from specs.requirements import Catalogue, SpecError, load_requirements
from specs.surfaces import Surfaces, load_surfaces, marked_parts

MARKER = "requirement"
SURFACE_MARKER = "surface"
RESULTS_PLUGIN = "ezhd-results"
_MARKERS_CHECKED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ezhd", "ezhd conformance suite")
    group.addoption(
        "--ezhd-requirements-out",
        dest="ezhd_requirements_out",
        metavar="FILE",
        default=None,
        help='after collection, write JSON {"tests": {nodeid: [requirement IDs]}} to FILE',
    )
    group.addoption(
        "--ezhd-results",
        dest="ezhd_results",
        metavar="FILE",
        default=None,
        help="write the run's results (verdicts per requirement, results.schema.json) to FILE",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*ids): requirement IDs this test verifies")
    config.addinivalue_line(
        "markers", f"{SURFACE_MARKER}(**parts): the parts of its requirements' surface a test exercises"
    )
    out = config.getoption("ezhd_results", None)
    if out is not None and not config.pluginmanager.has_plugin(RESULTS_PLUGIN):
        from conformance.results import ResultsCollector  # only runs that record results need it

        collector = ResultsCollector(config.invocation_params.dir / Path(out), _requirement_ids)
        config.pluginmanager.register(collector, RESULTS_PLUGIN)


@pytest.hookimpl(tryfirst=True)  # check every collected test, before any is deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems: list[str] = []
    catalogue: Catalogue | None = None
    for item in items:
        for mark in item.iter_markers(MARKER):
            if not mark.args:
                problems.append(f"{item.nodeid}: @pytest.mark.{MARKER}() names no requirement ID")
            for rid in mark.args:
                if not isinstance(rid, str):
                    problems.append(f"{item.nodeid}: requirement ID {rid!r} is not a string")
                    continue
                if catalogue is None:
                    catalogue = _catalogue()
                if rid not in catalogue:
                    hint = _hint(rid, catalogue)
                    problems.append(f"{item.nodeid}: unknown requirement ID {rid!r}{hint}")
        marks = surface_parts(item)
        if marks:
            problems.extend(f"{item.nodeid}: {problem}"
                            for problem in _surfaces().check_marks(_requirement_ids(item), marks))
    if problems:
        listed = "".join(f"\n  - {problem}" for problem in problems)
        raise pytest.UsageError(f"ezhd: bad requirement marker(s):{listed}")
    config.stash[_MARKERS_CHECKED] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    out = session.config.getoption("ezhd_requirements_out")
    if out is None or not session.config.stash.get(_MARKERS_CHECKED, False):
        return  # not asked for, or the markers failed the check: write no misleading map
    tests = {item.nodeid: _requirement_ids(item) for item in session.items}
    surfaces = {item.nodeid: surface_parts(item) for item in session.items}
    path = session.config.invocation_params.dir / Path(out)
    data = {"tests": tests, "surfaces": {nodeid: parts for nodeid, parts in surfaces.items() if parts}}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _requirement_ids(item: pytest.Item) -> list[str]:
    """The IDs of every requirement marker of `item`, without repeats, nearest marker first."""
    return list(dict.fromkeys(rid for mark in item.iter_markers(MARKER) for rid in mark.args))


requirement_ids = _requirement_ids   # the public name (conformance/session uses it)


def surface_parts(item: pytest.Item) -> dict[str, tuple[str, ...]]:
    """The surface parts (dimension -> values) the `surface` markers of `item` declare."""
    return marked_parts(item.iter_markers(SURFACE_MARKER))


def _surfaces() -> Surfaces:
    try:
        return load_surfaces()
    except SpecError as exc:
        raise pytest.UsageError(f"ezhd: cannot load the requirement surfaces: {exc}") from None


def _catalogue() -> Catalogue:
    try:
        return load_requirements()
    except SpecError as exc:
        raise pytest.UsageError(f"ezhd: cannot load the requirement catalogue: {exc}") from None


def _hint(rid: str, catalogue: Catalogue) -> str:
    close = catalogue.close_matches(rid)
    return f" (did you mean {', '.join(close)}?)" if close else ""
