"""ЕСИА sign-in (AUTH-01, AUTH-02): people sign in to the journal through ЕСИА's
authorization-code flow, and the journal authenticates itself to ЕСИА as its registered
client. Everything goes over HTTP: the journal is a black box, mock ЕСИА is the tester's."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from conformance.browser import query


def _with_role(people, role: str):
    return lambda p: role in ((people.of(p["oid"]) or {}).get("roles") or [])


# who signs in: (persona kind, what else is asked of the person)
SIGNERS = {
    "parent": lambda people: people.confirmed_parent(prelinked=True),
    "learner_14_plus": lambda people: people.pick("learner", prelinked=True, account_type="confirmed",
                                                  under_14=False),
    "teacher": lambda people: people.pick("staff", prelinked=True, account_type="confirmed",
                                          where=_with_role(people, "teacher")),
    "school_admin": lambda people: people.pick("staff", "director", prelinked=True, account_type="confirmed",
                                               where=_with_role(people, "school_admin")),
}


@pytest.mark.requirement("AUTH-01")
@pytest.mark.surface(session="esia")
@pytest.mark.parametrize("actor", [pytest.param(a, marks=pytest.mark.surface(actor=a)) for a in SIGNERS])
def test_each_kind_of_person_signs_in_through_esia(browser, people, actor):
    person = SIGNERS[actor](people)
    landing = browser.sign_in(person["oid"])
    assert landing.signed_in, (f"no journal session after the ЕСИА sign-in of a {actor.replace('_', ' ')} "
                               f"(oid {person['oid']}, confirmed account): {landing.describe()}")


@pytest.mark.requirement("AUTH-02")
@pytest.mark.surface(esia_flow="v2_v3")
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
@pytest.mark.surface(esia_flow="v2_v3")
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
