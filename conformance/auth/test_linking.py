"""Linking ЕСИА accounts to journal accounts (AUTH-06, AUTH-07, AUTH-09).

Whether an oid is linked, and to which account, is read from the portal's side: getInternalLogin
as that oid answers only for a linked oid, with the account's login; getMyLearners names the
learner record a student's oid belongs to.

- AUTH-06: the first ЕСИА sign-in of a matched, not yet linked person — a parent, a teacher, a
  child under 14 with a child account and consent, a learner of 14 or over — opens a session and links the oid to that
  person's account (a second sign-in works, the portal finds the account).
- AUTH-07: a user signed in with the journal's own login links a ЕСИА account from personal
  settings (`run["journal"]["link_url"]`, else the reference journal's `/auth/esia/link`),
  whatever its type: a simplified or standard account, and a confirmed one whose data differ so
  that automatic linking refused it.
- AUTH-09: the account that replaced a child's account at 14 (new oid, same SNILS) signs in to
  the same learner record; no second learner appears.
"""
from __future__ import annotations

import contextlib
from urllib.parse import urljoin

import pytest

from conformance.auth._support import internal_login, link_url, my_learners, persona_changed, sign_in_anew
from conformance.browser import Browser
from conformance.verdicts import EnvironmentProblem


def _login_of(portal, oid) -> str | None:
    resp = internal_login(portal, oid)
    return resp.json().get("login") if resp.status_code == 200 else None


# who signs in for the first time: a person of each kind the journal holds, matched and not linked
FIRST_SIGNERS = {
    "parent": lambda people: people.pick("representative", prelinked=False, account_type="confirmed", fresh=True),
    "teacher": lambda people: people.pick("staff", prelinked=False, account_type="confirmed", fresh=True),
    "learner_under_14": lambda people: people.pick("learner", prelinked=False, account_type="child",
                                                   under_14=True, fresh=True),
    "learner_14_plus": lambda people: people.pick("learner", prelinked=False, account_type="confirmed",
                                                  under_14=False, fresh=True),
}


@pytest.mark.requirement("AUTH-06")
@pytest.mark.surface(session="esia")
@pytest.mark.parametrize("actor", [pytest.param(a, marks=pytest.mark.surface(actor=a)) for a in FIRST_SIGNERS])
def test_the_first_sign_in_links_the_account(run, people, portal, driver, actor):
    person = FIRST_SIGNERS[actor](people)
    jp = people.of(person["oid"])
    if _login_of(portal, person["oid"]) is not None:
        raise EnvironmentProblem(f"ЕСИА user {person['oid']} is already linked before the test")
    with Browser(run) as b:
        landing = b.sign_in(person["oid"])
        assert landing.signed_in, (f"the first ЕСИА sign-in of a matched {actor.replace('_', ' ')} (oid "
                                   f"{person['oid']}) gave no session (automatic linking): {landing.describe()}")
        me = driver.session(b).me()
        assert me.ok, f"the session after the first ЕСИА sign-in does not serve the user: {me.describe()}"
    login = _login_of(portal, person["oid"])
    assert login is not None, "after the first ЕСИА sign-in the oid is not linked (getInternalLogin refused)"
    if jp.get("internal_login"):
        assert login == jp["internal_login"], (
            f"the oid was linked to another account: login {login!r}, the person's is {jp['internal_login']!r}")
    again = sign_in_anew(run, person["oid"])
    assert again.signed_in, f"the second ЕСИА sign-in after automatic linking failed: {again.describe()}"


def _link_in_settings(run, driver, jp, oid, tamper=None) -> tuple[int, str]:
    """Sign in with the journal's login and password, then link ЕСИА user `oid` from the settings;
    `tamper(callback_url)` changes ЕСИА's callback before the browser opens it."""
    with Browser(run) as b:
        answer = driver.browser_sign_in(b, jp["internal_login"], jp["internal_password"])
        assert answer.ok, f"the person cannot sign in with the journal's login and password: {answer.describe()}"
        resp = b.post(link_url(run))
        hops = 0
        while resp.status_code in (301, 302, 303, 307, 308) and hops < 5:
            location = urljoin(str(resp.url), resp.headers["location"])
            if location.startswith(run["mocks"]["esia"]):
                break
            resp = b.get(location)
            hops += 1
        assert resp.status_code in (302, 303) and resp.headers["location"].startswith(run["mocks"]["esia"]), (
            f"linking from the settings did not send the browser to ЕСИА: HTTP {resp.status_code} {resp.text[:200]}")
        callback = b.at_esia(urljoin(str(resp.url), resp.headers["location"]), oid)
        done = b.get(tamper(callback) if tamper else callback)
        hops = 0
        while done.status_code in (301, 302, 303, 307, 308) and hops < 5:
            location = urljoin(str(done.url), done.headers["location"])
            if not location.startswith(run["journal"]["base_url"]):
                break
            done = b.get(location)
            hops += 1
        return done.status_code, done.text


@pytest.mark.requirement("AUTH-07")
@pytest.mark.surface(session="manual_link")
@pytest.mark.parametrize(("tag", "level"), [
    pytest.param("unconfirmed_adult", "simplified", marks=pytest.mark.surface(account_level="simplified")),
    pytest.param("unconfirmed_adult", "standard", marks=pytest.mark.surface(account_level="standard")),
    pytest.param("mismatch:name", "confirmed", marks=pytest.mark.surface(account_level="confirmed")),
])
def test_a_esia_account_is_linked_from_personal_settings(run, people, portal, esia, driver, tag, level):
    try:
        person, served = people.pick("representative", tag, account_type=level, fresh=True), {}
    except EnvironmentProblem:
        if tag != "unconfirmed_adult":
            raise
        # the dataset's few unconfirmed adults were taken by other tests: mock ЕСИА serves an unlinked
        # parent's persona at that level instead (as ЕСИА would after a downgrade)
        person = people.pick("representative", prelinked=False, account_type="confirmed", fresh=True,
                             where=lambda p: bool((people.of(p["oid"]) or {}).get("internal_password")))
        served = {"account_type": level, "level": "P", "trusted": False}
        person = {**person, **served}
    with persona_changed(esia, person["oid"], **served) if served else contextlib.nullcontext():
        _link_and_check(run, people, portal, driver, person)


def _link_and_check(run, people, portal, driver, person) -> None:
    jp = people.of(person["oid"])
    if not jp.get("internal_login") or not jp.get("internal_password"):
        raise EnvironmentProblem(f"the dataset gives person {person['oid']} no journal login")
    if _login_of(portal, person["oid"]) is not None:
        raise EnvironmentProblem(f"ЕСИА user {person['oid']} is already linked before the test")
    status, text = _link_in_settings(run, driver, jp, person["oid"])
    assert status < 400, (f"linking a {person['account_type']} ЕСИА account from personal settings was "
                          f"refused: HTTP {status} {text[:300]}")
    login = _login_of(portal, person["oid"])
    assert login == jp["internal_login"], (
        f"after manual linking of a {person['account_type']} account the oid is not linked to the user's "
        f"account (getInternalLogin gives login {login!r}, expected {jp['internal_login']!r})")
    if person["account_type"] == "confirmed":
        landing = sign_in_anew(run, person["oid"])
        assert landing.signed_in, f"the manually linked confirmed account cannot sign in: {landing.describe()}"


@pytest.mark.requirement("AUTH-09")
@pytest.mark.surface(actor="learner_14_plus")
def test_a_reissued_account_is_relinked_to_the_same_learner(run, people, portal, driver):
    new = people.pick("learner", "reissued", fresh=True)
    record = people.of(new["oid"])["record_id"]
    with Browser(run) as b:
        landing = b.sign_in(new["oid"])
        assert landing.signed_in, f"the account re-issued at 14 gave no session: {landing.describe()}"
        assert driver.session(b).me().ok, "the session of the re-issued account does not serve the user"
    resp = my_learners(portal, new["oid"])
    assert resp.status_code == 200, f"the portal cannot find the re-issued account's user: HTTP {resp.status_code}"
    own = [x.get("learner_id") for x in resp.json().get("learners") or [] if x.get("relation") == "self"]
    assert own == [record], (f"the re-issued account (new oid, same SNILS) belongs to learner record(s) {own}, "
                             f"not to the existing record {record}: a duplicate person was created")


def _with_state(callback: str, state: str | None) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(callback)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    if state is not None:
        query.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.requirement("AUTH-03")
@pytest.mark.surface(session="manual_link")
@pytest.mark.parametrize("state", ["forged", "missing"])
def test_a_manual_link_with_a_forged_or_missing_state_is_refused(run, people, portal, driver, state):
    """The state of the link flow started in the personal settings is checked as that of a
    sign-in: a callback with another state, or none, links nothing."""
    person = people.pick("representative", prelinked=False, account_type="confirmed", fresh=True,
                         where=lambda p: bool((people.of(p["oid"]) or {}).get("internal_password")))
    jp = people.of(person["oid"])
    if _login_of(portal, person["oid"]) is not None:
        raise EnvironmentProblem(f"ЕСИА user {person['oid']} is already linked before the test")
    forged = None if state == "missing" else "forged-" + "0" * 24
    status, text = _link_in_settings(run, driver, jp, person["oid"], tamper=lambda cb: _with_state(cb, forged))
    linked = _login_of(portal, person["oid"])
    assert linked is None, (f"a manual-link callback with a {state} state linked ЕСИА user {person['oid']} to the "
                            f"account {linked!r} (HTTP {status} {text[:200]})")
