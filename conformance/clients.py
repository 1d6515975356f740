"""The tester's HTTP clients, all recorded into the test's transcript (`conformance/evidence.py`).

- `MockAdmin`: a mock's `/_admin` API (ЕСИА, agent, ЕПГУ), with the stand's admin token from
  `$EZHD_MOCKS_ADMIN_TOKEN` when set. A refusal there is the tester's problem, not the
  journal's: it raises `EnvironmentProblem` (verdict ERROR).
- `Portal`: «Моё образование» calling the journal's on-demand API (`specs/openapi/journal.yaml`)
  through the ПОДД agent in OpenAPI mode, as the real portal does: `X-Smev-Sender` names the
  portal, `X-Esia-Oid` the signed-in user. Answers are returned as they are, for the test to
  judge; the agent's contract violations are read with `violations()`.
- `TestControl`: the journal's test-control API (`specs/openapi/test-control.yaml`): exports on
  demand, the clock.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, Iterable

import httpx

from conformance import evidence
from conformance.verdicts import EnvironmentProblem
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers

PORTAL_MNEMONIC = "EPGU"     # the portal's mnemonic at the agent (mocks/epgu settings)


def pauses(first: float = 0.01, most: float = 0.1):
    """Pauses between polls of something that is usually done at once: short first, doubling
    to `most` (most exports of the reference journal finish in tens of milliseconds)."""
    pause = first
    while True:
        yield pause
        pause = min(most, pause * 2)


class MockAdmin:
    """One mock's admin API (`{base}/_admin`)."""

    def __init__(self, name: str, base_url: str) -> None:
        self.name, self.base_url = name, base_url.rstrip("/")
        self.http = evidence.client(name, headers=admin_headers(os.environ.get(ADMIN_TOKEN_ENV)))

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self.http.request(method, f"{self.base_url}/_admin{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"mock {self.name} {method} /_admin{path}: {exc}") from None
        if resp.status_code >= 300:
            raise EnvironmentProblem(f"mock {self.name} {method} /_admin{path}: HTTP {resp.status_code} "
                                     f"{resp.text[:300]}")
        return resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def journal_seq(self) -> int:
        """The latest sequence number of the mock's request journal (to read what follows)."""
        return max((e.get("seq", 0) for e in self.get("/journal") or []), default=0)

    def journal_since(self, seq: int, path: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": seq}
        if path:
            params["path"] = path
        return self.get("/journal", params=params) or []

    def close(self) -> None:
        self.http.close()


class Portal:
    """The portal's side of the on-demand API, through the agent."""

    CONSENTS = "/api/v1/consents"

    def __init__(self, run: dict[str, Any]) -> None:
        self.agent = run["mocks"]["smev"].rstrip("/")
        self.mnemonic = run["journal"]["mnemonic"]
        self.base = f"{self.agent}/{self.mnemonic}/ezhd"
        self.http = evidence.client("portal→agent")
        self._consents_after: dict[str, float] = {}     # a child's reference -> wall-clock time

    def consents_stamped_until(self, when: dt.datetime, children: Iterable[str]) -> None:
        """Consent notifications about these children (any of their references: learner_id,
        child_oid, child_snils) were sent stamped (`changed_at`) up to `when`, ahead of the
        wall clock: the next one about any of them waits until the wall clock has passed it,
        so a later test that stamps with the wall clock is not taken for a stale change
        (journal.yaml: the later `changed_at` of the child's consent wins). Waiting here, not
        where the stamps were given, costs only a test that sends a consent about the same
        child that soon; a consent about another child does not wait."""
        for ref in children:
            self._consents_after[str(ref)] = max(self._consents_after.get(str(ref), 0.0), when.timestamp() + 1.0)

    def consent_waits(self, *children: str) -> bool:
        """Whether a consent about a child with these references would wait now."""
        now = time.time()
        return any(self._consents_after.get(str(ref), 0.0) > now for ref in children)

    def call(self, method: str, path: str, oid: int | str | None = None, sender: str | None = PORTAL_MNEMONIC,
             **kwargs: Any) -> httpx.Response:
        body = kwargs.get("json")
        if path == self.CONSENTS and self._consents_after and isinstance(body, dict):
            named = {str(body[k]) for k in ("learner_id", "child_oid", "child_snils") if body.get(k) is not None}
            until = max([self._consents_after.pop(ref, 0.0) for ref in named], default=0.0)   # each passed
            time.sleep(max(0.0, min(10.0, until - time.time())))
        headers = dict(kwargs.pop("headers", None) or {})
        if sender is not None:
            headers["X-Smev-Sender"] = sender
        if oid is not None:
            headers["X-Esia-Oid"] = str(oid)
        try:
            return self.http.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"the agent did not answer {method} {path}: {exc}") from None

    def get(self, path: str, oid: int | str | None = None, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, oid, **kwargs)

    def post(self, path: str, oid: int | str | None = None, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, oid, **kwargs)

    def section(self, oid: int | str, learner_id: str, section: str, start: str, end: str) -> httpx.Response:
        """GET /api/v1/learners/{id}/{section}?from=…&to=… as user `oid`."""
        return self.get(f"/api/v1/learners/{learner_id}/{section}", oid, params={"from": start, "to": end})

    def close(self) -> None:
        self.http.close()


class TestControl:
    """The journal's test-control API, with the bearer token from the environment."""

    __test__ = False   # not a pytest test class

    def __init__(self, run: dict[str, Any]) -> None:
        tc = run.get("test_control")
        if not tc:
            raise EnvironmentProblem("the SUT declares no test-control API; this test needs it to trigger exports "
                                     "and move the clock (sut.toml [test_control])")
        token = os.environ.get(tc["token_env"])
        if not token:
            raise EnvironmentProblem(f"the test-control token is not in ${tc['token_env']}")
        self.url = tc["url"].rstrip("/")
        self.http = evidence.client("test-control", headers={"Authorization": f"Bearer {token}"}, timeout=120.0)

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        try:
            resp = self.http.request(method, f"{self.url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"test-control {method} {path}: {exc}") from None
        if resp.status_code not in expect:
            raise EnvironmentProblem(f"test-control {method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def export(self, scope: str = "changes", timeout: float = 120.0, **extra: Any) -> dict[str, Any]:
        """Run an export now and wait for it; the finished job (state done or failed)."""
        started = self.call("POST", "/export", expect=(202,), json={"scope": scope, **extra})
        job_id = started["job_id"]
        deadline, waits = time.monotonic() + timeout, pauses()
        while True:
            job = self.call("GET", f"/export/{job_id}")
            if job["state"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"export job {job_id} still {job['state']} after {timeout:.0f} s")
            time.sleep(next(waits))

    def clock(self) -> dict[str, Any]:
        return self.call("GET", "/clock")

    def set_clock(self, **body: Any) -> dict[str, Any]:
        return self.call("POST", "/clock", json=body)

    def close(self) -> None:
        self.http.close()


def fetch(url: str, what: str, key: str | None = None) -> httpx.Response:
    """GET a document the journal publishes (its OpenAPI description, its SBOM), recorded in
    the transcript. No answer at all is the environment's problem (ERROR); any HTTP status
    other than 200 is the journal's (FAIL), with a hint at the sut.toml `key` that names the
    document's address (a journal that publishes it elsewhere declares it there)."""
    with evidence.client("sut") as http:
        try:
            resp = http.get(url)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"the journal did not answer GET {url} ({what}): {exc}") from None
    hint = (f" (if the journal publishes it at another address, declare that as [journal] {key} in sut.toml)"
            if key and resp.status_code == 404 else "")
    assert resp.status_code == 200, f"{what} at {url} answered HTTP {resp.status_code}{hint}"
    return resp
