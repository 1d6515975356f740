"""The journal's own login and password on the portal (CRED-01, CRED-02).

- CRED-01: `getInternalLogin`, called as «Моё образование» calls it (through the agent, for the
  signed-in ЕСИА user), returns the user's own internal login and, for a parent, each child's
  (the dataset's logins); a query parameter naming another ЕСИА oid does not change whose
  login is returned — only `X-Esia-Oid`, set by the portal, names the user.
- CRED-02: the answer carries no password (no password-named field, no known password as a
  value); a parent sets the password of their own child under 14 through the portal's
  password-reset path (`setLearnerPassword` behind it): a policy-conforming password is taken
  and works for the child's sign-in, a weak one is refused, a child of another family is
  refused, and the new password appears neither in the login answer nor in the event log.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

from conformance.notif._support import journal_now, portal_knows_people, rows

SECRET_KEY = re.compile(r"pass|secret|pin\b|pwd|token", re.I)


def _walk(value: Any, path: str = ""):
    """(path, key, value) for every entry of a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}/{k}", k, v
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}/{i}")


def _children(run: dict[str, Any], representative_id: str) -> set[str]:
    return {r["learner_id"] for r in rows(run, "learner_representatives")
            if r["representative_id"] == representative_id}


def _login_of_record(people, record_id: str) -> str | None:
    for jp in people.journal.values():
        if jp.get("record_id") == record_id:
            return jp.get("internal_login")
    return None


def _parent_with_children(run, people, **pick: Any) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """A pre-linked parent whose children are in the journal: ЕСИА persona, journal persona, children."""
    def fits(p: dict[str, Any]) -> bool:
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("internal_login") and jp.get("internal_password") and jp.get("record_id")
                    and _children(run, jp["record_id"]))
    parent = people.pick("representative", prelinked=True, where=fits, **pick)
    jp = people.of(parent["oid"])
    return parent, jp, _children(run, jp["record_id"])


def _login(portal, oid: Any, **params: Any):
    resp = portal.get("/api/v1/me/login", oid, params=params or None)
    assert resp.status_code == 200, f"getInternalLogin answered HTTP {resp.status_code}: {resp.text[:300]}"
    try:
        return resp.json()
    except ValueError:
        raise AssertionError(f"getInternalLogin did not answer JSON: {resp.text[:300]}") from None


@pytest.mark.requirement("CRED-01")
@pytest.mark.surface(actor="parent")
def test_the_login_answer_names_the_user_and_each_child(run, people, portal):
    parent, jp, children = _parent_with_children(run, people)
    answer = _login(portal, parent["oid"])
    assert answer.get("login") == jp["internal_login"], (
        f"getInternalLogin for a parent gave login {answer.get('login')!r}, not their own "
        f"{jp['internal_login']!r}")
    listed = {c.get("learner_id"): c.get("login") for c in answer.get("learners") or [] if isinstance(c, dict)}
    assert set(listed) == children, (f"getInternalLogin for a parent lists children {sorted(listed)}, not their "
                                     f"children {sorted(children)}")
    for learner_id in children:
        expected = _login_of_record(people, learner_id)
        if expected:
            assert listed[learner_id] == expected, (f"getInternalLogin gives child {learner_id} the login "
                                                    f"{listed[learner_id]!r}, not {expected!r}")


@pytest.mark.requirement("CRED-01", "CRED-02")
def test_a_query_parameter_does_not_choose_the_user(run, people, portal):
    parent, jp, _ = _parent_with_children(run, people)
    other = people.pick("staff", prelinked=True,
                        where=lambda p: bool((people.of(p["oid"]) or {}).get("internal_login")))
    other_login = people.of(other["oid"])["internal_login"]
    for name in ("oid", "esia_oid", "user"):
        resp = portal.get("/api/v1/me/login", parent["oid"], params={name: str(other["oid"])})
        if resp.status_code >= 400:
            continue                 # refusing an unknown parameter is fine
        answer = resp.json()
        assert answer.get("login") != other_login, (
            f"getInternalLogin for user {parent['oid']} with ?{name}={other['oid']} returned the other user's "
            f"login {other_login!r}: a query parameter overrides the portal's X-Esia-Oid")
        assert answer.get("login") == jp["internal_login"], (
            f"getInternalLogin with ?{name}= returned {answer.get('login')!r}, not the user's own login")


@pytest.mark.requirement("CRED-02")
@pytest.mark.surface(secret_kind="password", actor="parent")
def test_the_login_answer_carries_no_password(run, people, portal):
    parent, jp, children = _parent_with_children(run, people)
    answer = _login(portal, parent["oid"])
    secrets = {jp["internal_password"]}
    for p in people.journal.values():
        if p.get("record_id") in children and p.get("internal_password"):
            secrets.add(p["internal_password"])
    for path, key, value in _walk(answer):
        assert not SECRET_KEY.search(str(key)), (f"getInternalLogin answers a secret-named field {path}: "
                                                 f"a password must never be handed over")
        assert not (isinstance(value, str) and value in secrets), (
            f"getInternalLogin answers a password in {path}")


def _young_child_with_parent(run, people, epgu, test_control) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A fresh learner under 13 (by the journal's date) with an internal login and a pre-linked parent
    the portal knows; (learner persona, parent persona, learner's internal login)."""
    today = journal_now(test_control).date()
    known = portal_knows_people(run, epgu)

    def fits(p: dict[str, Any]) -> bool:
        jp = people.of(p["oid"]) or {}
        if not (jp.get("internal_login") and jp.get("record_id") and jp.get("birth_date")):
            return False
        born = dt.date.fromisoformat(jp["birth_date"])
        if (today - born).days >= 13 * 365:
            return False
        return any((people.of(o) or {}).get("prelinked") and str(o) in known for o in p.get("parents") or [])
    child = people.pick("learner", fresh=True, where=fits)
    # the parent's own account is not changed, so another test may have used them too
    parent_oid = next(o for o in child["parents"] if (people.of(o) or {}).get("prelinked") and str(o) in known)
    return child, people.esia[int(parent_oid)], people.of(child["oid"])["internal_login"]


def _reset(epgu, parent_oid: Any, learner_id: str, password: str):
    """The portal's password-reset form, as the parent submits it (mock ЕПГУ → agent → journal)."""
    return epgu.http.post(f"{epgu.base_url}/portal/api/v1/people/{parent_oid}/learners/{learner_id}/password-reset",
                          json={"password": password})


@pytest.mark.requirement("CRED-02")
@pytest.mark.surface(actor="parent", secret_kind="password")
def test_a_parent_resets_their_young_childs_password_through_the_portal(run, people, epgu, portal, test_control,
                                                                      driver):
    child, parent, login = _young_child_with_parent(run, people, epgu, test_control)
    learner_id = people.of(child["oid"])["record_id"]
    started = journal_now(test_control) - dt.timedelta(seconds=1)
    weak = "abcdefghijkl"
    resp = _reset(epgu, parent["oid"], learner_id, weak)
    assert resp.status_code >= 400, (f"the journal took {weak!r} (lower-case letters only) as a child's password: "
                                     f"the password policy is not enforced (HTTP {resp.status_code})")
    password = f"Cf{uuid.uuid4().hex[:10]}!7"
    resp = _reset(epgu, parent["oid"], learner_id, password)
    assert resp.status_code == 204, (f"a parent could not set the password of their child under 14 through the "
                                     f"portal: HTTP {resp.status_code} {resp.text[:300]}")
    answer, session = driver.sign_in(login, password)
    assert session is not None, (f"the child cannot sign in with the password their parent set through the "
                                 f"portal: {answer.describe()}")
    session.sign_out()
    handed_back = password in portal.get("/api/v1/me/login", parent["oid"]).text
    assert not handed_back, "the new password is handed back in getInternalLogin"
    ended = journal_now(test_control) + dt.timedelta(seconds=1)
    log = driver.administrator().audit_events(started.isoformat(), ended.isoformat())
    assert log.ok, f"the auditor could not read the event log: {log.describe()}"
    logged = json.dumps(log.data, ensure_ascii=False)
    new_logged, weak_logged = password in logged, weak in logged
    assert not new_logged, "the new password is written to the event log"
    assert not weak_logged, "a refused password is written to the event log"


@pytest.mark.requirement("CRED-02")
@pytest.mark.surface(actor="parent_other_family")
def test_a_parent_cannot_set_the_password_of_another_familys_child(run, people, epgu):
    parent, jp, children = _parent_with_children(run, people)
    portal_knows_people(run, epgu)
    school_learners = [r["id"] for r in rows(run, "learners") if r["id"] not in children]
    assert school_learners, "the dataset has no learner outside the parent's family"
    other = school_learners[0]
    resp = _reset(epgu, parent["oid"], other, f"Xx{uuid.uuid4().hex[:10]}!5")
    assert resp.status_code in (403, 404), (f"a parent set the password of {other}, a child of another family, "
                                            f"through the portal: HTTP {resp.status_code}")


@pytest.mark.requirement("CRED-01")
@pytest.mark.parametrize("actor", [pytest.param(a, marks=pytest.mark.surface(actor=a))
                                   for a in ("learner_14_plus", "learner_under_14", "teacher")])
def test_the_login_answer_names_learners_and_staff_too(people, portal, actor):
    """Not only parents: a learner of 14 or over, a child under 14 signed in with their child
    account, and a teacher who signed in to «Моё образование» get their own journal login, and
    no child's."""
    kind = "staff" if actor == "teacher" else "learner"

    def fits(p):
        jp = people.of(p["oid"]) or {}
        return bool(jp.get("internal_login")) and (kind == "learner" or "teacher" in (jp.get("roles") or []))
    if actor == "learner_under_14":
        person = people.pick(kind, prelinked=True, account_type="child", under_14=True, where=fits)
    else:
        person = people.pick(kind, prelinked=True, account_type="confirmed", where=fits,
                             **({"under_14": False} if kind == "learner" else {}))
    jp = people.of(person["oid"])
    answer = _login(portal, person["oid"])
    assert answer.get("login") == jp["internal_login"], (
        f"getInternalLogin for a {actor.replace('_', ' ')} (oid {person['oid']}) gave login {answer.get('login')!r}, "
        f"not their own {jp['internal_login']!r}")
    assert not (answer.get("learners") or []), (
        f"getInternalLogin for a {actor.replace('_', ' ')} lists children's logins: {answer.get('learners')}")
