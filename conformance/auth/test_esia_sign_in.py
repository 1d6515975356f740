"""ЕСИА sign-in (AUTH-01, AUTH-02): people sign in to the journal through ЕСИА's
authorization-code flow, and the journal authenticates itself to ЕСИА as its registered
client. Everything goes over HTTP: the journal is a black box, mock ЕСИА is the tester's."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from conformance.browser import query


@pytest.mark.requirement("AUTH-01")
def test_a_confirmed_parent_signs_in_through_esia(browser, people):
    parent = people.confirmed_parent(prelinked=True)
    landing = browser.sign_in(parent["oid"])
    assert landing.signed_in, f"no journal session after ЕСИА sign-in of a confirmed parent: {landing.describe()}"


@pytest.mark.requirement("AUTH-01")
def test_a_teacher_signs_in_through_esia(browser, people):
    teacher = people.pick("staff", prelinked=True, account_type="confirmed")
    landing = browser.sign_in(teacher["oid"])
    assert landing.signed_in, f"no journal session after ЕСИА sign-in of a teacher: {landing.describe()}"


@pytest.mark.requirement("AUTH-02")
def test_the_authorization_request_is_the_registered_client_on_v2(browser, run):
    ac = browser.start()
    params = query(ac)
    assert urlsplit(ac).path == "/aas/oauth2/v2/ac", f"not the v2 authorization endpoint: {ac}"
    assert params.get("client_id") == run["journal"]["client_id"]
    assert params.get("redirect_uri") == run["journal"]["redirect_uri"]
    assert params.get("response_type") == "code"
    for name in ("client_secret", "client_certificate_hash", "timestamp", "state"):
        assert params.get(name), f"the authorization request has no {name}"


@pytest.mark.requirement("AUTH-02")
def test_esia_accepts_the_journals_token_request(browser, people):
    """Mock ЕСИА checks client_secret, client_certificate_hash, timestamp and redirect_uri of
    the token request; a sign-in that ends in a session and no ЕСИА error shows they held."""
    since = browser.esia_admin("GET", "/journal").json()
    seq = max((e.get("seq", 0) for e in since), default=0)
    landing = browser.sign_in(people.confirmed_parent()["oid"])
    entries = browser.esia_admin("GET", "/journal", params={"since": seq}).json()
    te = [e for e in entries if str(e.get("path", "")).startswith("/aas/oauth2/v3/te")]
    assert te, "the journal never called ЕСИА's v3 token endpoint"
    bad = [(e.get("status"), e.get("error")) for e in te if (e.get("status") or 0) >= 400 or e.get("error")]
    assert not bad, f"ЕСИА refused the journal's token request: {bad}"
    assert landing.signed_in, landing.describe()
