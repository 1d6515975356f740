"""Children under 14 (AUTH-08): until a linked parent has consented in the journal to passing
the child's personal data, the child's ЕСИА sign-in is refused."""
from __future__ import annotations

import pytest


@pytest.mark.requirement("AUTH-08")
def test_a_child_without_the_parents_consent_is_refused(browser, people, run):
    child = people.pick("learner", "consent_pending")
    # ЕСИА itself lets the child through (consent to the client at ЕСИА); the journal has none
    browser.esia_admin("POST", "/consents", json={"child_oid": int(child["oid"]),
                                                   "client_id": run["journal"]["client_id"], "action": "grant"})
    landing = browser.sign_in(child["oid"])
    assert not landing.signed_in, f"a child without parental consent got a session: {landing.describe()}"
    assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
