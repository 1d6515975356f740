"""Sign-out (AUTH-11): signing out of the journal ends its session and sends the browser
through ЕСИА's logout, which returns it to the registered logout redirect URI."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from conformance.browser import query


@pytest.mark.requirement("AUTH-11")
def test_sign_out_goes_through_esia_logout(browser, people, run):
    parent = people.confirmed_parent()
    landing = browser.sign_in(parent["oid"])
    assert landing.signed_in, landing.describe()
    session_cookies = set(landing.new_cookies)
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
    back = browser.get(logout)
    assert back.status_code in (302, 303) and back.headers["location"] == run["journal"]["logout_redirect_uri"]
    seen = browser.esia_admin("GET", "/logouts").json()
    assert seen and str(seen[-1].get("oid")) == str(parent["oid"]), "ЕСИА saw no logout of this user"
    page = browser.get(back.headers["location"])
    assert page.status_code == 200, f"the logout redirect URI answered HTTP {page.status_code}"
