"""Session fixtures of the conformance suite: the run `ezhd certify` prepared.

`ezhd certify` writes a run file (`conformance/runfile.py`) and sets `EZHD_RUN` to it before
running pytest over this package. Without a run (plain `pytest conformance/`, or `ezhd
requirements coverage` collecting) tests still collect, and any test that needs the run ends
in ERROR through `EnvironmentProblem`: nothing is proven about a journal nobody started.

- `run`: the run file as a `conformance.runfile.Run` (typed; also a read-only mapping of the
  file's JSON: URLs of the journal and mocks, the SUT, the dataset, the driver).
- `_reachable` (autouse, once per session): the run's preflight found no setup problem
  (`setup_problems` of the run file, `conformance/session/preflight.py`) and the journal and
  the mocks answer over HTTP, else every test ends in ERROR with the cause ("the journal at
  URL does not answer: connection refused — start the journal, ...") and no test body runs.
- `people`: the dataset's people (ЕСИА personas joined with the journal's view of them).
- `browser`: a fresh cookie-keeping HTTP client per test; mock ЕСИА faults are cleared before
  and after it.
- `esia`, `smev`, `epgu`: the mocks' admin APIs (`conformance/clients.py`); `portal`: the
  journal's on-demand API as the portal calls it, through the agent; `test_control`: the
  journal's test-control API; `driver`: the journal driver (`conformance/driver.py`), or the
  test is SKIPPED when the SUT has none.
- Every test's HTTP exchanges are recorded (`conformance/evidence.py`) and written to
  `<report dir>/transcripts/`, attached to its results as evidence.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from conformance import evidence
from conformance.browser import Browser
from conformance.clients import MockAdmin, Portal, TestControl
from conformance.driver import JournalDriver, load_driver
from conformance.people import People
from conformance.runfile import Run
from conformance.verdicts import EnvironmentProblem


@pytest.fixture(scope="session")
def run() -> Run:
    from conformance.runfile import RUN_ENV, load_run

    try:
        data = load_run()
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"cannot read the run file (${RUN_ENV}): {exc}") from None
    if data is None:
        raise EnvironmentProblem(f"no run: ${RUN_ENV} is not set; run the suite with `ezhd certify`")
    return data


@pytest.fixture(scope="session", autouse=True)
def _reachable() -> None:
    """Before any test: the journal and the mocks of the run answer. When one does not, every
    test ends in ERROR with that cause (nothing can be proven about a journal that is not
    there); without a run file nothing is checked here (`run` reports that)."""
    from conformance.runfile import load_run, unreachable

    try:
        data = load_run()
    except (OSError, ValueError):
        return
    if data is None:
        return
    problems = list(data.get("setup_problems") or []) or unreachable(data)
    if problems:
        raise EnvironmentProblem("; ".join(problems))


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


@pytest.fixture(autouse=True)
def _transcript(request: pytest.FixtureRequest, record_property) -> Iterator[evidence.Transcript]:
    """Record the test's HTTP exchanges; write them next to the run file when there is one."""
    import os
    from pathlib import Path

    from conformance.runfile import RUN_ENV

    transcript = evidence.start(request.node.nodeid)
    try:
        yield transcript
    finally:
        evidence.stop()
        where = os.environ.get(RUN_ENV)
        if where:
            path = transcript.write(Path(where).resolve().parent / "transcripts")
            if path is not None:
                record_property("ezhd_evidence", str(path))


@pytest.fixture(scope="session")
def esia(run: dict[str, Any]) -> Iterator[MockAdmin]:
    admin = MockAdmin("esia", run["mocks"]["esia"])
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def smev(run: dict[str, Any]) -> Iterator[MockAdmin]:
    admin = MockAdmin("smev", run["mocks"]["smev"])
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def epgu(run: dict[str, Any]) -> Iterator[MockAdmin]:
    admin = MockAdmin("epgu", run["mocks"]["epgu"])
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def portal(run: dict[str, Any]) -> Iterator[Portal]:
    client = Portal(run)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_control(run: dict[str, Any]) -> Iterator[TestControl]:
    client = TestControl(run)
    yield client
    client.close()


@pytest.fixture(scope="session")
def _driver(run: dict[str, Any]) -> Iterator[JournalDriver | None]:
    d = load_driver(run)
    yield d
    if d is not None:
        d.close()


@pytest.fixture
def driver(_driver: JournalDriver | None) -> JournalDriver:
    if _driver is None:
        pytest.skip("this check acts in the journal's own interface and the SUT declares no journal driver "
                    "(sut.toml [driver] class = \"package.module:Class\", see conformance/driver.py)")
    return _driver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """An operation the journal's driver does not implement skips the test, saying which."""
    try:
        return (yield)
    except NotImplementedError as exc:
        pytest.skip(f"the journal driver does not implement {exc}")
