"""Sign-out (AUTH-11): signing out of the journal ends its session and sends the browser
through ЕСИА's logout, which returns it to the registered logout redirect URI. "Ended" is
checked on the server's side: a request that still carries the old session cookie value after
sign-out (a copied cookie, a second tab) is not served, whether the user signed out in the
browser (`sign_out_url`) or in the journal's interface (the driver's sign-out)."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from conformance.browser import Browser, query
from conformance.verdicts import EnvironmentProblem


def _journal_cookies(browser: Browser, names: set[str]) -> list[tuple[str, str, str, str]]:
    return [(c.name, c.value, c.domain, c.path) for c in browser.cookies.jar if c.name in names and c.value]


def _old_session_served(run, driver, cookies) -> tuple[bool, str]:
    """Whether the journal still serves a browser that carries the old session cookies."""
    with Browser(run) as replay:
        for name, value, domain, path in cookies:
            replay.cookies.set(name, value, domain=domain, path=path)
        me = driver.session(replay).me()
    return me.ok, me.describe()


def _check_replay_works(run, driver, cookies) -> None:
    """The control: before sign-out a second browser with the same cookies is served."""
    served, how = _old_session_served(run, driver, cookies)
    if not served:
        raise EnvironmentProblem(f"a second browser carrying the session cookies is not served even before "
                                 f"sign-out, so the test cannot replay them: {how}")


@pytest.mark.requirement("AUTH-11")
@pytest.mark.surface(session="esia")
def test_sign_out_goes_through_esia_logout(browser, people, run, driver):
    parent = people.confirmed_parent()
    landing = browser.sign_in(parent["oid"])
    assert landing.signed_in, landing.describe()
    session_cookies = set(landing.new_cookies)
    old = _journal_cookies(browser, session_cookies)
    _check_replay_works(run, driver, old)
    resp = browser.post(run["journal"]["sign_out_url"])
    assert resp.status_code in (302, 303), f"sign-out answered HTTP {resp.status_code}, not a redirect"
    logout = urljoin(str(resp.url), resp.headers["location"])
    assert logout.startswith(run["mocks"]["esia"]) and urlsplit(logout).path == "/idp/ext/Logout", (
        f"sign-out did not redirect to ЕСИА's logout: {logout}")
    params = query(logout)
    assert params.get("client_id") == run["journal"]["client_id"]
    assert params.get("redirect_url") == run["journal"]["logout_redirect_uri"]
    remaining = {c.name for c in browser.cookies.jar if c.value} & session_cookies
    assert not remaining, f"the journal's session cookie survived sign-out: {sorted(remaining)}"
    served, how = _old_session_served(run, driver, old)
    assert not served, f"the old session cookie is still served after sign-out: {how}"
    back = browser.get(logout)
    assert back.status_code in (302, 303) and back.headers["location"] == run["journal"]["logout_redirect_uri"]
    seen = browser.esia_admin("GET", "/logouts").json()
    assert seen and str(seen[-1].get("oid")) == str(parent["oid"]), "ЕСИА saw no logout of this user"
    page = browser.get(back.headers["location"])
    assert page.status_code == 200, f"the logout redirect URI answered HTTP {page.status_code}"


@pytest.mark.requirement("AUTH-11")
def test_sign_out_in_the_journal_ends_the_session_on_the_server(browser, people, run, driver):
    parent = people.confirmed_parent()
    landing = browser.sign_in(parent["oid"])
    assert landing.signed_in, landing.describe()
    old = _journal_cookies(browser, set(landing.new_cookies))
    session = driver.session(browser)
    assert session.me().ok, "the ЕСИА session does not serve the user before sign-out"
    _check_replay_works(run, driver, old)
    out = session.sign_out()
    assert out.ok, f"sign-out in the journal failed: {out.describe()}"
    served, how = _old_session_served(run, driver, old)
    assert not served, f"a request carrying the old session cookie is still served after sign-out: {how}"


@pytest.mark.requirement("AUTH-11")
@pytest.mark.surface(session="school_login")
def test_sign_out_of_a_password_session_ends_it(driver, people):
    """A session opened with the journal's own login ends on sign-out too: its handle serves
    nothing afterwards."""
    def fits(p):
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("internal_login") and jp.get("internal_password"))
    person = people.of(people.pick("staff", where=fits)["oid"])
    answer, session = driver.sign_in(person["internal_login"], person["internal_password"])
    assert session is not None, f"{person['internal_login']} cannot sign in with their password: {answer.describe()}"
    assert session.me().ok, "the password session does not serve its user before sign-out"
    out = session.sign_out()
    assert out.ok, f"sign-out of the password session failed: {out.describe()}"
    after = session.me()
    assert not after.ok, f"the password session still serves its user after sign-out: {after.describe()}"
