"""A child under 14 signs in with the school's login and password (AUTH-10, SHOULD): the portal
hands the parent the child's journal login (getInternalLogin through the agent), the parent sets
the child's password (setLearnerPassword), and the child signs in to the journal with them. The
parent then sets the dataset's password again, so the child is left as the dataset has it."""
from __future__ import annotations

import secrets

import pytest

from conformance.auth._support import internal_login, linked_parent


@pytest.mark.requirement("AUTH-10")
def test_a_child_under_14_signs_in_with_the_school_login(people, portal, driver):
    # not `fresh`: the password is set back; a child others changed is passed over
    child = people.pick("learner", prelinked=True, account_type="child", under_14=True,
                        where=lambda p: p["oid"] not in people.claimed and linked_parent(people, p) is not None
                        and bool((people.of(p["oid"]) or {}).get("internal_password")))
    parent = linked_parent(people, child)
    jp = people.of(child["oid"])
    record = jp["record_id"]
    path = f"/api/v1/learners/{record}/password"
    password = f"Kid{secrets.token_hex(4)}-7!"
    resp = portal.post(path, parent["oid"], json={"password": password})
    assert resp.status_code == 204, (f"the parent could not set the child's journal password: HTTP {resp.status_code} "
                                     f"{resp.text[:300]}")
    try:
        resp = internal_login(portal, parent["oid"])
        assert resp.status_code == 200, f"the portal cannot get the family's journal logins: HTTP {resp.status_code}"
        logins = [x.get("login") for x in resp.json().get("learners") or [] if x.get("learner_id") == record]
        assert logins and logins[0], f"the parent is not handed the child's journal login: {resp.json()}"
        answer, session = driver.sign_in(logins[0], password)
        assert session is not None, (f"the child under 14 cannot sign in with the school login and the password "
                                     f"the parent set: {answer.describe()}")
        me = session.me()
        assert me.ok, f"the child's password session does not serve the child: {me.describe()}"
    finally:
        portal.post(path, parent["oid"], json={"password": jp["internal_password"]})
