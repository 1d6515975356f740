"""Session fixtures of the conformance suite: the run `ezhd certify` prepared.

`ezhd certify` writes a run file (`conformance/runfile.py`) and sets `EZHD_RUN` to it before
running pytest over this package. Without a run (plain `pytest conformance/`, or `ezhd
requirements coverage` collecting) tests still collect, and any test that needs the run ends
in ERROR through `EnvironmentProblem`: nothing is proven about a journal nobody started.

- `run`: the run file's dict (URLs of the journal and mocks, the SUT, the dataset).
- `people`: the dataset's people (ЕСИА personas joined with the journal's view of them).
- `browser`: a fresh cookie-keeping HTTP client per test; mock ЕСИА faults are cleared before
  and after it.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from conformance.browser import Browser
from conformance.people import People
from conformance.verdicts import EnvironmentProblem


@pytest.fixture(scope="session")
def run() -> dict[str, Any]:
    from conformance.runfile import RUN_ENV, load_run

    try:
        data = load_run()
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"cannot read the run file (${RUN_ENV}): {exc}") from None
    if data is None:
        raise EnvironmentProblem(f"no run: ${RUN_ENV} is not set; run the suite with `ezhd certify`")
    return data


@pytest.fixture(scope="session")
def people(run: dict[str, Any]) -> People:
    return People.load(run)


@pytest.fixture
def browser(run: dict[str, Any]) -> Iterator[Browser]:
    b = Browser(run)
    b.esia_admin("DELETE", "/faults")
    try:
        yield b
    finally:
        try:
            b.esia_admin("DELETE", "/faults")
        finally:
            b.close()
