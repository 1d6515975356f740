"""Manual linking needs a signed-in user (AUTH-07): the personal-settings link address
(`run["journal"]["link_url"]`, else the reference journal's `/auth/esia/link`) opened without a
journal session (an expired session, a bookmarked link) must be answered — refused, or sent to
sign in — not end in a server error."""
from __future__ import annotations

import pytest

from conformance.auth._support import link_url
from conformance.browser import Browser


@pytest.mark.requirement("AUTH-07")
def test_linking_without_a_session_is_answered_not_a_server_error(run):
    with Browser(run) as b:
        resp = b.post(link_url(run))
    assert resp.status_code < 500, (
        f"starting to link a ЕСИА account without a journal session ended in a server error: HTTP "
        f"{resp.status_code} {resp.text[:200]} (a user whose session expired must be refused or sent to sign in)")
