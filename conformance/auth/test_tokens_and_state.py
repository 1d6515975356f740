"""Tokens and state (AUTH-03, AUTH-04): the journal checks `state` on return and validates
every token ЕСИА gives it. Mock ЕСИА's fault injection issues expired, not-yet-valid, wrongly
signed, `alg: none`, foreign-audience and foreign-issuer tokens; none may yield a session."""
from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from conformance.browser import Browser, query


def _with(callback: str, **params: str | None) -> str:
    merged = {**query(callback), **params}
    base = callback.split("?", 1)[0]
    return base + "?" + urlencode({k: v for k, v in merged.items() if v is not None})


@pytest.mark.requirement("AUTH-04")
@pytest.mark.parametrize("token", ["id", "access"])
@pytest.mark.parametrize("kind", [
    pytest.param(kind, marks=pytest.mark.surface(token_fault=fault)) for kind, fault in (
        ("alg_none", "alg_none"), ("expired", "expired"), ("foreign_audience", "foreign_audience"),
        ("wrong_signature", "forged_signature"), ("not_yet_valid", "not_yet_valid"),
        ("foreign_issuer", "foreign_issuer"))])
def test_a_bad_token_yields_no_session(browser, people, kind, token):
    parent = people.confirmed_parent()
    browser.esia_fault(kind, token=token)
    landing = browser.sign_in(parent["oid"])
    assert not landing.signed_in, f"a {kind} {token} token gave a journal session: {landing.describe()}"


SKEW_MARGIN = 600      # seconds: far beyond any clock-skew allowance, well inside a token's hour


@pytest.mark.requirement("AUTH-04")
@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.surface(token_fault=k))
                                  for k in ("expired", "not_yet_valid")])
def test_a_token_ten_minutes_outside_its_validity_yields_no_session(browser, people, kind):
    """`exp`/`nbf` missed by 10 minutes, not by a whole token lifetime: a journal whose clock-skew
    allowance is counted in hours (or in milliseconds against seconds) is caught."""
    parent = people.confirmed_parent()
    browser.esia_fault(kind, token="id", seconds=SKEW_MARGIN)
    landing = browser.sign_in(parent["oid"])
    assert not landing.signed_in, (f"an id token {SKEW_MARGIN // 60} minutes "
                                   f"{'past its exp' if kind == 'expired' else 'before its nbf'} gave a journal "
                                   f"session: {landing.describe()}")


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="esia")
def test_a_forged_state_is_refused(browser, people):
    callback = browser.at_esia(browser.start(), people.confirmed_parent()["oid"])
    landing = browser.land(_with(callback, state=str(uuid.uuid4())))
    assert not landing.signed_in, f"a callback with a foreign state gave a session: {landing.describe()}"


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="esia")
def test_a_missing_state_is_refused(browser, people):
    callback = browser.at_esia(browser.start(), people.confirmed_parent()["oid"])
    landing = browser.land(_with(callback, state=None))
    assert not landing.signed_in, f"a callback without state gave a session: {landing.describe()}"


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="esia")
def test_a_replayed_callback_is_refused(browser, people):
    callback = browser.at_esia(browser.start(), people.confirmed_parent()["oid"])
    first = browser.land(callback)
    assert first.signed_in, f"the first use of the callback failed: {first.describe()}"
    browser.cookies.clear()        # a fresh browser replays the same callback URL
    again = browser.land(callback)
    assert not again.signed_in, f"a replayed callback (used state) gave a session: {again.describe()}"


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="esia")
def test_the_state_differs_per_attempt(browser, run):
    states = {query(browser.start()).get("state") for _ in range(3)}
    assert len(states) == 3 and None not in states, f"state is not fresh per attempt: {states}"


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="esia")
def test_another_browsers_callback_is_refused(browser, people, run):
    callback = browser.at_esia(browser.start(), people.confirmed_parent()["oid"])
    with Browser(run) as other:
        landing = other.land(callback)
    assert not landing.signed_in, f"a callback opened in another browser gave a session: {landing.describe()}"
