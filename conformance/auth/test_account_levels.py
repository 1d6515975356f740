"""Who may sign in with which ЕСИА account (AUTH-12, AUTH-13). Mock ЕСИА serves a persona with a
changed account level, role or organisation for one sign-in and restores it afterwards.

- AUTH-12: a teacher needs a confirmed account and an ЕСИА role in the school's confirmed
  organisation account (its OGRN/INN): a standard or simplified teacher account, a role in
  another organisation, no role, or an unconfirmed organisation account gives no session.
- AUTH-13: a parent or a learner of 14 or over with a simplified or standard account is refused
  with an answer that tells how to confirm it; a learner under 14 signs in only with a child
  account (`urn:esia:sbj:lvl` KD), not with an adult-level account.
"""
from __future__ import annotations

import pytest

from conformance.auth._support import esia_persona, mentions, persona_changed, sign_in_anew
from conformance.verdicts import EnvironmentProblem

CONFIRM_WORDS = ("подтвер", "confirm")
HOW_WORDS = ("мфц", "центр обслуживания", "банк", "почт", "госуслуг", "service cent", "bank", "post office",
             "gosuslugi", "profile", "профил")


def _teacher(people) -> dict:
    return people.pick("staff", prelinked=True, account_type="confirmed",
                       where=lambda p: bool(p.get("roles")) and p["oid"] not in people.claimed)


@pytest.mark.requirement("AUTH-12")
@pytest.mark.surface(actor="teacher")
@pytest.mark.parametrize("account_type", [
    pytest.param(level, marks=pytest.mark.surface(account_level=level)) for level in ("standard", "simplified")])
def test_a_teacher_with_an_unconfirmed_account_is_refused(run, people, esia, account_type):
    teacher = _teacher(people)
    with persona_changed(esia, teacher["oid"], account_type=account_type, level="P", trusted=False):
        landing = sign_in_anew(run, teacher["oid"])
    assert not landing.signed_in, f"a teacher with a {account_type} ЕСИА account got a session: {landing.describe()}"
    assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"


def _organisation_change(people, esia, teacher, how: str) -> tuple[int, dict]:
    """(oid, changes) of the persona to change so that ЕСИА no longer vouches for the school."""
    role = teacher["roles"][0]
    if how == "no_role":
        return teacher["oid"], {"roles": []}
    if how == "foreign_organisation":
        others = [p for p in people.esia.values()
                  if p.get("kind") == "organisation" and p.get("ogrn") and p.get("ogrn") != role.get("ogrn")]
        if not others:
            raise EnvironmentProblem("the dataset has a single organisation")
        return teacher["oid"], {"roles": [{**role, "oid": others[0]["oid"], "ogrn": others[0]["ogrn"]}]}
    org = esia_persona(esia, role["oid"])
    return org["oid"], {"trusted": False}


@pytest.mark.requirement("AUTH-12")
@pytest.mark.surface(actor="teacher", account_level="confirmed")
@pytest.mark.parametrize("how", ["foreign_organisation", "no_role", "unconfirmed_organisation"])
def test_a_teacher_needs_the_schools_organisation_account(run, people, esia, how):
    teacher = _teacher(people)
    oid, changes = _organisation_change(people, esia, teacher, how)
    with persona_changed(esia, oid, **changes):
        landing = sign_in_anew(run, teacher["oid"])
    assert not landing.signed_in, (f"a teacher got a session although ЕСИА does not place them in the school's "
                                   f"confirmed organisation ({how}): {landing.describe()}")


@pytest.mark.requirement("AUTH-13")
@pytest.mark.surface(account_level=["simplified", "standard"])
@pytest.mark.parametrize("kind", [pytest.param("representative", marks=pytest.mark.surface(actor="parent")),
                                  pytest.param("learner", marks=pytest.mark.surface(actor="learner_14_plus"))])
def test_an_adult_with_an_unconfirmed_account_is_told_to_confirm_it(run, people, kind):
    person = people.pick(kind, "unconfirmed_adult", fresh=True)   # a wrong journal links it
    landing = sign_in_anew(run, person["oid"])
    who = "parent" if kind == "representative" else "learner of 14 or over"
    assert not landing.signed_in, (f"a {who} with a {person['account_type']} ЕСИА account got a session: "
                                   f"{landing.describe()}")
    assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
    assert mentions(landing, *CONFIRM_WORDS) and mentions(landing, *HOW_WORDS), (
        f"the refusal of a {person['account_type']} account does not say how to confirm it: "
        f"{landing.response.text[:400]}")


@pytest.mark.requirement("AUTH-13")
@pytest.mark.surface(actor="learner_under_14", account_level=["child", "confirmed"])
def test_a_child_under_14_signs_in_only_with_a_child_account(run, people, esia):
    child = people.pick("learner", prelinked=True, account_type="child", under_14=True,
                        where=lambda p: p.get("consent") == "granted" and p["oid"] not in people.claimed)
    landing = sign_in_anew(run, child["oid"])
    assert landing.signed_in, f"a consenting child with a child account (KD) cannot sign in: {landing.describe()}"
    with persona_changed(esia, child["oid"], account_type="confirmed", level="PR", trusted=True):
        landing = sign_in_anew(run, child["oid"])
    assert not landing.signed_in, (f"a learner under 14 signed in with an adult-level account (lvl PR): "
                                   f"{landing.describe()}")


@pytest.mark.requirement("AUTH-13")
@pytest.mark.surface(actor="learner_14_plus", account_level="child")
def test_a_learner_of_14_or_over_is_refused_with_a_child_account(run, people, esia):
    """A child account (`urn:esia:sbj:lvl` KD) is for children under 14: a learner of 14 or over
    whose ЕСИА account is still a child one (not re-issued yet) must be refused and told how to
    get a confirmed account, as any unconfirmed adult account is."""
    teen = people.pick("learner", prelinked=True, account_type="confirmed", under_14=False,
                       where=lambda p: p["oid"] not in people.claimed)
    client_id = run["journal"]["client_id"]
    # mock ЕСИА asks a parent's consent for a child account before it sends the browser back:
    # given here, so that the refusal, if any, is the journal's
    esia.post("/consents", json={"child_oid": int(teen["oid"]), "client_id": client_id, "action": "grant"})
    try:
        with persona_changed(esia, teen["oid"], account_type="child", level="KD", trusted=False):
            landing = sign_in_anew(run, teen["oid"])
    finally:
        esia.post("/consents", json={"child_oid": int(teen["oid"]), "client_id": client_id, "action": "revoke"})
    assert not landing.signed_in, (f"a learner of 14 or over (oid {teen['oid']}) signed in with a child account "
                                   f"(lvl KD): {landing.describe()}")
    assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
    assert mentions(landing, *CONFIRM_WORDS), (
        f"the refusal of a child account of a learner of 14 or over does not say a confirmed account is needed: "
        f"{landing.response.text[:400]}")
