"""A parent manages the journal password of their child under 14, under the password policy
(ROLE-04).

The parent asks through the portal (`setLearnerPassword`, `X-Esia-Oid` = the parent). A strong
password for a child under 14 must be set (the child then signs in with it); weak passwords —
too short, or without an upper-case or lower-case Latin letter, a digit or a symbol — must be
refused with 400 `password_policy` naming every broken rule (specs/password_policy.yaml) and leave the child's password as it was; a child of 14 or
over manages their own password, so the parent is refused (403). Age is counted on the
journal's date by the day: on the day before the 14th birthday the parent may still set it.
Every child's issued password is put back at the end."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.role._support import (STRONG_PASSWORD, age_on, clock_on, day_before_14,
                                       journal_today, linked_parents, pick_learner, thirteen_this_year)
from conformance.verdicts import EnvironmentProblem
from specs.password_policy import policy

POLICY = policy()
# Passwords each close to a strong one; `_breaking(rule)` picks one that breaks that rule only.
CANDIDATES = ("Ab1!xyz", "rol-check-2026!", "ROL-CHECK-2026!", "Rol-Check-Two!", "RolCheck2026",
              "Rol Check-2026!", "Rol-Чек-2026!x", "Rol-Check-2026!\u00e9")


def _breaking(rule_id: str) -> str:
    found = next((c for c in CANDIDATES if [r.id for r in POLICY.broken(c)] == [rule_id]), None)
    if found is None:
        raise EnvironmentProblem(f"the suite has no sample password that breaks only the rule {rule_id} of "
                                 f"specs/password_policy.yaml: add one to CANDIDATES")
    return found


def _refusal_problem(resp, expected: set[str]) -> str | None:
    """Why `resp` is not the refusal journal.yaml states: 400 `password_policy` with one
    `details` entry per broken rule (`field` password, `rule`, a message)."""
    if resp.status_code != 400:
        return f"HTTP {resp.status_code} {resp.text[:120]}"
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP 400 without a JSON body: {resp.text[:120]}"
    if body.get("error") != "password_policy":
        return f"error {body.get('error')!r}, not password_policy"
    details = body.get("details") if isinstance(body.get("details"), list) else []
    named = {d.get("rule") for d in details if isinstance(d, dict)}
    if named != expected:
        return f"details name the rules {sorted(map(str, named))}, the password breaks {sorted(expected)}"
    bad = [d for d in details if d.get("field") != "password" or not str(d.get("message") or "").strip()]
    if bad:
        return f"details entries without field 'password' or a message: {bad[:2]}"
    return None


def _set(portal, parent_oid: str, learner_id: str, password: str):
    return portal.post(f"/api/v1/learners/{learner_id}/password", parent_oid, json={"password": password})


def _put_back(portal, parent_oid: str, child: dict) -> None:
    _set(portal, parent_oid, child["record_id"], child["internal_password"])


def _signs_in(driver, child: dict, password: str) -> bool:
    answer, _ = driver.sign_in(child["internal_login"], password)
    return answer.ok


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent")
def test_a_parent_sets_a_strong_password_for_a_child_under_14(driver, portal, people, dataset, test_control):
    today = journal_today(test_control)
    child, parent_oid = pick_learner(people, dataset, thirteen_this_year(today),
                                     lambda born: age_on(born, today) <= 12,
                                     lambda born: age_on(born, today) < 14, parent=True,
                                     claim=False)  # the issued password is put back
    resp = _set(portal, parent_oid, child["record_id"], STRONG_PASSWORD)
    try:
        assert resp.status_code == 204, (f"the parent (oid {parent_oid}) could not set a policy-conforming password "
                                         f"for their child {child['record_id']} under 14: HTTP {resp.status_code} "
                                         f"{resp.text[:300]}")
        assert _signs_in(driver, child, STRONG_PASSWORD), "the child cannot sign in with the password the parent set"
        assert not _signs_in(driver, child, child["internal_password"]), \
            "the child's previous password still works after the parent set a new one"
    finally:
        _put_back(portal, parent_oid, child)


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent")
def test_weak_passwords_are_refused(driver, portal, people, dataset, test_control):
    today = journal_today(test_control)
    child, parent_oid = pick_learner(people, dataset, thirteen_this_year(today),
                                     lambda born: age_on(born, today) <= 12,
                                     lambda born: age_on(born, today) < 14, parent=True,
                                     claim=False)  # refused changes leave the child as it was
    accepted, wrong_answer = [], []
    try:
        for rule in POLICY.rules:
            weak = _breaking(rule.id)
            resp = _set(portal, parent_oid, child["record_id"], weak)
            if resp.status_code < 300:
                accepted.append(f"{weak!r} ({rule.en})")
            elif problem := _refusal_problem(resp, {rule.id}):
                wrong_answer.append(f"{weak!r}: {problem}")
        assert not accepted, f"the journal accepted weak passwords for a child ({', '.join(accepted)})"
        assert not wrong_answer, (f"a weak password was not refused as journal.yaml states (400 password_policy naming "
                                  f"each broken rule): {'; '.join(wrong_answer)}")
        assert _signs_in(driver, child, child["internal_password"]), \
            "the child's password changed although every new one was refused"
    finally:
        if accepted:
            _put_back(portal, parent_oid, child)


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent")
def test_the_journal_applies_the_policy_as_specs_state_it(driver, portal, people, dataset, test_control):
    """Passwords drawn by Hypothesis (Latin letters, digits, symbols, spaces, Cyrillic and other
    letters, lengths around the minimum): the journal takes exactly those the policy of
    specs/password_policy.yaml takes, and refuses the others naming exactly the broken rules."""
    today = journal_today(test_control)
    child, parent_oid = pick_learner(people, dataset, thirteen_this_year(today),
                                     lambda born: age_on(born, today) <= 12,
                                     lambda born: age_on(born, today) < 14, parent=True, claim=False)
    alphabet = st.sampled_from(sorted(set().union(*POLICY.classes.values())) + [" ", "ж", "Ё", "é", "\t"])
    passwords = st.text(alphabet, min_size=POLICY.min_length - 2, max_size=POLICY.min_length + 6)
    mismatches: list[str] = []
    changed = False

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(password=passwords)
    def check(password: str) -> None:
        nonlocal changed
        broken = {r.id for r in POLICY.broken(password)}
        resp = _set(portal, parent_oid, child["record_id"], password)
        if resp.status_code < 300:
            changed = True
            if broken:
                mismatches.append(f"{password!r} accepted although it breaks {sorted(broken)}")
        elif not broken:
            mismatches.append(f"{password!r} (conforming) refused: HTTP {resp.status_code} {resp.text[:120]}")
        elif problem := _refusal_problem(resp, broken):
            mismatches.append(f"{password!r}: {problem}")

    try:
        check()
        assert not mismatches, ("the journal's password policy differs from specs/password_policy.yaml: "
                                + "; ".join(mismatches[:5]))
    finally:
        if changed:
            _put_back(portal, parent_oid, child)


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent")
def test_a_parent_cannot_set_the_password_of_a_child_of_14_or_over(driver, portal, people, dataset, test_control):
    today = journal_today(test_control)
    teen, parent_oid = pick_learner(people, dataset, lambda born: age_on(born, today) >= 14, parent=True)
    resp = _set(portal, parent_oid, teen["record_id"], STRONG_PASSWORD)
    try:
        assert resp.status_code == 403, (f"the parent (oid {parent_oid}) set the password of {teen['record_id']}, "
                                         f"who is {age_on(dataset.birth_date(teen['record_id']), today)}: "
                                         f"HTTP {resp.status_code} (expected 403 learner_too_old)")
        assert resp.json().get("error") == "learner_too_old", f"the refusal is not learner_too_old: {resp.text[:200]}"
        assert _signs_in(driver, teen, teen["internal_password"]), "the teen's own password stopped working"
    finally:
        if resp.status_code < 300:
            _put_back(portal, parent_oid, teen)


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent", timing="birthday_14")
def test_a_parent_manages_the_password_until_the_14th_birthday(driver, portal, people, dataset, test_control):
    """Late in the year of the 14th birthday, before it, the child is still under 14."""
    today = journal_today(test_control)
    child, parent_oid = pick_learner(people, dataset,
                                     lambda born: (born.month, born.day) > (1, 1) and age_on(born, today) >= 13,
                                     lambda born: (born.month, born.day) > (1, 1), parent=True)
    with clock_on(test_control, day_before_14(dataset.birth_date(child["record_id"]))) as eve:
        resp = _set(portal, parent_oid, child["record_id"], STRONG_PASSWORD)
        try:
            assert resp.status_code == 204, (f"the parent could not set the password of {child['record_id']} "
                                             f"(born {child['birth_date']}, 13 on the journal's date {eve}): "
                                             f"HTTP {resp.status_code} {resp.text[:200]}")
        finally:
            if resp.status_code < 300:
                _put_back(portal, parent_oid, child)


@pytest.mark.requirement("ROLE-04")
@pytest.mark.surface(actor="parent_other_family")
def test_a_parent_cannot_set_the_password_of_another_familys_young_child(driver, portal, people, dataset, test_control):
    """The right to manage a child's password belongs to that child's parents: a linked parent of
    another family (of the same school first) is refused, and the child's password still works."""
    today = journal_today(test_control)
    child, own_parent = pick_learner(people, dataset, lambda born: age_on(born, today) < 14, claim=False)
    parents = linked_parents(people, dataset)
    family = dataset.parents_of.get(child["record_id"], set())
    school = dataset.organisation(child["record_id"])
    strangers = sorted((oid for oid, rep in parents.items() if rep not in family),
                       key=lambda oid: not any(dataset.organisation(c) == school
                                               for c in dataset.children_of.get(parents[oid], ())))
    if not strangers:
        raise EnvironmentProblem("the dataset has no linked parent outside the child's family")
    resp = _set(portal, strangers[0], child["record_id"], STRONG_PASSWORD)
    try:
        assert resp.status_code in (403, 404), (
            f"a parent of another family (oid {strangers[0]}) set the password of {child['record_id']}: "
            f"HTTP {resp.status_code} {resp.text[:200]}")
        assert _signs_in(driver, child, child["internal_password"]), "the child's own password stopped working"
    finally:
        if resp.status_code < 300:
            _put_back(portal, strangers[0], child)
