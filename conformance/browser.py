"""A "browser" for the conformance tests: one httpx client with cookies that talks to the
journal under test and to mock ЕСИА over HTTP only, following redirects by hand so each hop
can be checked.

Signing in as a person does what a browser does (DESIGN.md, "How the suite drives a journal"):
open the journal's sign-in URL, follow the redirect to ЕСИА's `/aas/oauth2/v2/ac`, post the
mock's login form, follow ЕСИА's redirect back to the journal's registered `redirect_uri`, then
follow the journal's redirects on its own host.

The journal is a black box, so "a session was established" is judged by what a browser sees:
the callback ends (after redirects on the journal's host) in a 2xx or 3xx page, not an error,
and the journal set a cookie it had not set before the callback (its session). A refusal is
anything else.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from conformance import evidence
from conformance.verdicts import EnvironmentProblem
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers

DEFAULT_ESIA_PASSWORD = "esia"   # mock ЕСИА's password for personas without one
_AUTH_REQUEST_RE = re.compile(r'name="auth_request"\s+value="([^"]+)"')


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Landing:
    """How the journal answered a callback: the last response and the cookies it set."""

    response: httpx.Response
    hops: list[httpx.Response]
    new_cookies: set[str]

    @property
    def signed_in(self) -> bool:
        return self.response.status_code < 400 and bool(self.new_cookies)

    def describe(self) -> str:
        return (f"HTTP {' → '.join(str(r.status_code) for r in self.hops)}, new cookies: "
                f"{sorted(self.new_cookies) or 'none'}")


class Browser(httpx.Client):
    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(follow_redirects=False, timeout=30.0, event_hooks=evidence.hooks("browser"),
                         verify=evidence.ssl_context())
        self.run = run
        self.journal_url: str = run["journal"]["base_url"]
        self.esia_url: str = run["mocks"]["esia"]

    # -- mock ЕСИА administration (the tester's side, not the SUT's) ------------------------------

    def esia_admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        resp = self.request(method, f"{self.esia_url}/_admin{path}",
                            headers=admin_headers(os.environ.get(ADMIN_TOKEN_ENV)), **kwargs)
        if resp.status_code >= 300:
            raise EnvironmentProblem(f"mock ЕСИА {method} /_admin{path}: {resp.status_code} {resp.text[:200]}")
        return resp

    def esia_fault(self, kind: str, token: str = "both", endpoint: str = "te", **extra: Any) -> None:
        self.esia_admin("POST", "/faults", json={"endpoint": endpoint, "kind": kind, "token": token, **extra})

    # -- sign-in, step by step ----------------------------------------------------------------------

    def start(self) -> str:
        """Open the journal's sign-in URL; the ЕСИА authorization URL it redirects to."""
        url = self.run["journal"]["sign_in_url"]
        resp = self.get(url)
        hops = 0
        while resp.status_code in (301, 302, 303, 307, 308) and hops < 5:
            location = urljoin(str(resp.url), resp.headers["location"])
            if location.startswith(self.esia_url):
                return location
            resp = self.get(location)
            hops += 1
        raise AssertionError(f"the journal's sign-in ({url}) did not redirect to ЕСИА: HTTP {resp.status_code}")

    def at_esia(self, ac_url: str, oid: int | str, password: str = DEFAULT_ESIA_PASSWORD,
                action: str = "allow") -> str:
        """Sign in at mock ЕСИА with its login form (or reuse its session); the callback URL."""
        resp = self.get(ac_url)
        if resp.status_code == 200:
            m = _AUTH_REQUEST_RE.search(resp.text)
            if not m:
                raise EnvironmentProblem("mock ЕСИА's login page has no auth_request field")
            resp = self.post(f"{self.esia_url}/login", data={"auth_request": m.group(1), "username": str(oid),
                                                             "password": password, "action": action})
        if resp.status_code not in (302, 303):
            raise AssertionError(f"ЕСИА did not accept the authorization request: HTTP {resp.status_code} "
                                 f"{resp.text[:300]}")
        location = urljoin(str(resp.url), resp.headers["location"])
        redirect_uri = self.run["journal"]["redirect_uri"]
        assert location.startswith(redirect_uri), f"ЕСИА returned to {location}, not to {redirect_uri}"
        return location

    def land(self, callback_url: str) -> Landing:
        """Open the callback URL and follow the journal's redirects on its own host."""
        journal = _origin(self.journal_url)
        before = {c.name for c in self.cookies.jar if c.value}
        resp = self.get(callback_url)
        hops = [resp]
        while resp.status_code in (301, 302, 303, 307, 308) and len(hops) < 6:
            location = urljoin(str(resp.url), resp.headers["location"])
            if _origin(location) != journal:
                break
            resp = self.get(location)
            hops.append(resp)
        after = {c.name for c in self.cookies.jar if c.value}
        return Landing(resp, hops, after - before)

    def sign_in(self, oid: int | str, password: str = DEFAULT_ESIA_PASSWORD) -> Landing:
        """The whole sign-in of ЕСИА user `oid`, as a browser."""
        return self.land(self.at_esia(self.start(), oid, password))
