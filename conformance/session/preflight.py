"""Preflight: the setup checks made before any test, also behind `ezhd sut check --live`.

A vendor's setup mistake must never read as the journal's non-conformance. Each check that
fails is a `Problem` naming the cause and the fix; `ezhd certify` then runs no test body
(every selected test ends in ERROR with that cause), still writes the report and exits 3.

In order (a check that cannot be made after an earlier failure is left out):
1. the mocks were attached (`--mocks`), for a vendor journal that had to be configured with
   their URLs before it started; each mock answers `/_admin/health`;
2. the journal answers at `journal.base_url`;
3. the journal uses *these* mocks: its sign-in (`journal.sign_in_url`) redirects to this mock
   ЕСИА, as the ЕСИА client `esia.client_id` of sut.toml;
4. the test-control token is accepted (`GET {test_control.url}/clock`);
5. the dataset is loaded: sample learners of the run's dataset are found by the journal when
   the portal asks through the agent (`GET /api/v1/me/learners` as each of them);
6. the journal driver signs the administrator in (when the declaration names one).
"""
from __future__ import annotations

import os

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from conformance.clients import PORTAL_MNEMONIC
from conformance.evidence import ssl_context
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers

__all__ = ["Problem", "preflight", "SAMPLE_LEARNERS"]

SAMPLE_LEARNERS = 3          # learners of the dataset asked for in check 5
TIMEOUT = 15.0


@dataclass(frozen=True)
class Problem:
    """One setup mistake: what is wrong and how to fix it."""

    cause: str
    fix: str

    def line(self) -> str:
        return f"{self.cause} — {self.fix}"


def _get(url: str, **kwargs: Any) -> httpx.Response | str:
    """The response, or why nothing answered."""
    try:
        return httpx.get(url, timeout=TIMEOUT, verify=ssl_context(), **kwargs)
    except httpx.ConnectError as exc:
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
    except httpx.TimeoutException:
        return f"no answer within {TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def check_mocks(urls: dict[str, str], attached: bool, vendor: bool) -> list[Problem]:
    if vendor and not attached:
        return [Problem("no --mocks: a vendor journal must be configured with the mocks' URLs before it starts, "
                        "and mocks started by certify have URLs it cannot know",
                        "start them first (`ezhd mocks up --ready-file mocks.json`), configure the journal "
                        "with the URLs written there, and run `ezhd certify --sut sut.toml --mocks mocks.json`")]
    problems = []
    for name, url in urls.items():
        token = os.environ.get(ADMIN_TOKEN_ENV)
        got = _get(f"{url}/_admin/health", headers=admin_headers(token))
        if isinstance(got, str):
            problems.append(Problem(f"mock {name} at {url} does not answer: {got}",
                                    "is `ezhd mocks up` still running? start it again and configure the journal "
                                    "with the new URLs"))
        elif got.status_code == 401:
            problems.append(Problem(
                f"mock {name} at {url} refuses the suite's admin calls (HTTP 401): the stand was started with "
                f"--admin-token and the suite {'sends another token' if token else 'has none'}",
                f"give the ready file `ezhd mocks up` wrote (it holds the token) to --mocks, or set "
                f"${ADMIN_TOKEN_ENV} to the stand's token"))
    return problems


def check_journal(sut: Any) -> list[Problem]:
    got = _get(sut.base_url)
    if isinstance(got, str):
        return [Problem(f"the journal at {sut.base_url} does not answer: {got}",
                        "start the journal, or correct journal.base_url in sut.toml")]
    return []


def check_sign_in(sut: Any, esia_url: str) -> list[Problem]:
    """The journal's sign-in redirects to this mock ЕСИА as the declared client."""
    got = _get(sut.sign_in_url, follow_redirects=False)
    if isinstance(got, str):
        return [Problem(f"the journal's sign-in {sut.sign_in_url} does not answer: {got}",
                        "correct journal.sign_in_url in sut.toml")]
    location = got.headers.get("location", "")
    if not got.is_redirect or not location:
        return [Problem(f"the journal's sign-in {sut.sign_in_url} does not redirect to ЕСИА (HTTP {got.status_code})",
                        "give the URL where a browser starts ЕСИА sign-in as journal.sign_in_url in sut.toml")]
    target = httpx.URL(got.url).join(location)
    mock = httpx.URL(esia_url)
    if (target.scheme, target.host, target.port) != (mock.scheme, mock.host, mock.port):
        return [Problem(f"the journal's sign-in redirects to ЕСИА at {target.scheme}://{target.netloc.decode()}, "
                        f"not to the mock ЕСИА at {esia_url}",
                        f"configure the journal's ЕСИА URL as {esia_url} (from the mocks' ready file) and restart it")]
    client_id = (parse_qs(urlsplit(str(target)).query).get("client_id") or [None])[0]
    if client_id != sut.esia.client_id:
        return [Problem(f"the journal signs in to ЕСИА as client {client_id!r}, sut.toml declares "
                        f"esia.client_id = {sut.esia.client_id!r}",
                        "make the journal's ЕСИА client id and sut.toml's esia.client_id the same")]
    return []


def check_test_control(sut: Any) -> list[Problem]:
    tc = sut.test_control
    if tc is None:
        return []
    got = _get(f"{tc.url}/clock", headers={"Authorization": f"Bearer {tc.token}"})
    where = f"${tc.token_env}" if tc.token_env else "test_control.token in sut.toml"
    if isinstance(got, str):
        return [Problem(f"the test-control API at {tc.url} does not answer: {got}",
                        "correct test_control.url in sut.toml")]
    if got.status_code in (401, 403):
        return [Problem(f"the test-control API at {tc.url} refuses the token (HTTP {got.status_code})",
                        f"set {where} to the journal's test-control token")]
    if got.status_code != 200:
        return [Problem(f"the test-control API at {tc.url} answers GET /clock with HTTP {got.status_code}",
                        "check test_control.url in sut.toml (it implements specs/openapi/test-control.yaml)")]
    return []


def sample_learners(journal_personas: Path, n: int = SAMPLE_LEARNERS) -> list[dict[str, Any]]:
    """Learners of the dataset linked to ЕСИА from the start, the first `n`."""
    people = json.loads(journal_personas.read_text(encoding="utf-8"))
    return [p for p in people if p.get("kind") == "learner" and p.get("prelinked") and p.get("esia")][:n]


def check_dataset(sut: Any, agent_url: str, journal_personas: Path, seed: int, dataset_zip: Path | None,
                  loaded: bool) -> list[Problem]:
    """Sample learners of the dataset are known to the journal (asked as the portal does)."""
    base = f"{agent_url}/{sut.agent.mnemonic}/ezhd/api/v1/me/learners"
    missing = []
    for person in sample_learners(journal_personas):
        oid = person["esia"]["oid"]
        got = _get(base, headers={"X-Smev-Sender": PORTAL_MNEMONIC, "X-Esia-Oid": str(oid)})
        if isinstance(got, str):
            return [Problem(f"the agent at {agent_url} does not answer: {got}", "is `ezhd mocks up` still running?")]
        try:
            body = got.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if got.status_code == 404 and error == "unknown_mnemonic":
            return [Problem(f"the agent does not know the journal's mnemonic {sut.agent.mnemonic} as a provider",
                            "run again; if it persists, the mocks were reset while certify ran")]
        ids = [x.get("learner_id") for x in (body or {}).get("learners", [])] if got.status_code == 200 else []
        if person.get("record_id") not in ids:
            missing.append(f"oid {oid} (learner {person.get('record_id')}): HTTP {got.status_code}"
                           + (f" {error}" if error else ""))
    if not missing:
        return []
    how = ("the journal refused or lost the dataset test-control loaded; check its log" if loaded else
           f"load the dataset into the journal before the run: {dataset_zip or 'the files'} of "
           f"`ezhd dataset generate --seed {seed}`, or declare [test_control] so certify loads it")
    return [Problem(f"the journal does not know the dataset's learners ({'; '.join(missing)})", how)]


def check_driver(run: dict[str, Any], load_driver: Callable[[dict[str, Any]], Any]) -> list[Problem]:
    """The driver loads and signs the administrator in (when an administrator is declared)."""
    from conformance.verdicts import EnvironmentProblem

    info = run.get("driver") or {}
    if not (info.get("class") or info.get("url")):
        return []
    try:
        driver = load_driver(run)
    except EnvironmentProblem as exc:
        return [Problem(f"the journal driver cannot be used: {exc}", "fix [driver] in sut.toml")]
    try:
        if info.get("admin_login"):
            driver.administrator()
    except NotImplementedError:
        pass                     # the tests that need it are SKIPPED, saying so
    except EnvironmentProblem as exc:
        return [Problem(f"the journal driver cannot sign the administrator in: {exc}",
                        f"check driver.admin_login and ${info.get('admin_password_env')} in sut.toml and the "
                        "environment" + (", and that the driver service answers at driver.url" if info.get("url") else ""))]
    finally:
        driver.close()
    return []


def preflight(sut: Any, urls: dict[str, str], *, attached: bool, vendor: bool, run: dict[str, Any] | None,
              journal_personas: Path | None, seed: int, dataset_zip: Path | None = None, loaded: bool = False,
              load_driver: Callable[[dict[str, Any]], Any] | None = None) -> list[Problem]:
    """Every setup problem found, in the order above; empty when the run can start."""
    problems = check_mocks(urls, attached, vendor)
    if problems:
        return problems
    problems = check_journal(sut)
    if problems:
        return problems
    problems = check_sign_in(sut, urls["esia"]) + check_test_control(sut)
    if problems:
        return problems
    if journal_personas is not None:
        problems += check_dataset(sut, urls["smev"], journal_personas, seed, dataset_zip, loaded)
    if run is not None and load_driver is not None:
        problems += check_driver(run, load_driver)
    return problems
