"""Matching a ЕСИА user to the journal's person (AUTH-05): by SNILS, full name and date of
birth. The dataset's ЕСИА personas tagged `mismatch:*` differ from the journal's record in one
field; a sign-in with one of them must be refused with an answer that names the field, and must
not link the oid to any account (the portal's getInternalLogin for that oid stays refused). A
ЕСИА account without SNILS is refused the same way (the answer names SNILS); when the dataset has
no unlinked learner without SNILS, mock ЕСИА serves an unlinked parent's persona without its
SNILS for the test."""
from __future__ import annotations

import pytest

from conformance.auth._support import esia_persona, internal_login, mentions, persona_changed, sign_in_anew
from conformance.people import SIGN_IN_SCENARIOS
from conformance.verdicts import EnvironmentProblem

# words that name each field in a refusal (Russian or English page)
FIELD_WORDS = {
    "mismatch:birthDate": ("рожден", "birth"),
    "mismatch:name": ("фамили", "фио", "last name", "surname", "family name"),
    "mismatch:snils": ("снилс", "snils"),
}


def _pick(people, tag: str) -> dict:
    for kind in ("learner", "representative"):
        try:
            # fresh: a journal that wrongly links the person changes it for other tests
            return people.pick(kind, tag, fresh=True,
                               where=lambda p: not (set(p.get("scenario") or []) - {tag}) & SIGN_IN_SCENARIOS)
        except EnvironmentProblem:
            continue
    raise EnvironmentProblem(f"the dataset has no person tagged {tag}")


def _refused_unlinked(landing, portal, oid, what: str) -> None:
    assert not landing.signed_in, f"a ЕСИА user whose {what} got a journal session: {landing.describe()}"
    assert landing.response.status_code >= 400, f"the refusal is not an error answer: {landing.describe()}"
    linked = internal_login(portal, oid)
    assert linked.status_code != 200, (
        f"after the refused sign-in the journal has the oid linked to an account (getInternalLogin "
        f"answered {linked.status_code}: {linked.text[:200]})")


@pytest.mark.requirement("AUTH-05")
@pytest.mark.parametrize("tag", [
    pytest.param(tag, marks=pytest.mark.surface(identity_mismatch=field))
    for tag, field in (("mismatch:birthDate", "birth_date"), ("mismatch:name", "last_name"), ("mismatch:snils", "snils"))])
def test_a_data_mismatch_is_refused_naming_the_field(run, people, portal, tag):
    person = _pick(people, tag)
    landing = sign_in_anew(run, person["oid"])
    field = tag.split(":", 1)[1]
    _refused_unlinked(landing, portal, person["oid"], f"{field} differs from the journal's record")
    assert mentions(landing, *FIELD_WORDS[tag]), (
        f"the refusal does not say that the {field} differs (none of {FIELD_WORDS[tag]} in the answer): "
        f"{landing.response.text[:400]}")


@pytest.mark.requirement("AUTH-05")
@pytest.mark.surface(identity_mismatch="snils_missing")
def test_an_account_without_snils_is_refused(run, people, portal, esia):
    try:
        person = people.pick("learner", "no_snils", prelinked=False, fresh=True,
                             where=lambda p: not (set(p.get("scenario") or []) - {"no_snils"}) & SIGN_IN_SCENARIOS)
        original = None
    except EnvironmentProblem:
        # no unlinked learner without SNILS: mock ЕСИА serves an unlinked parent's persona without it
        person = people.pick("representative", prelinked=False, account_type="confirmed", fresh=True,
                             where=lambda p: bool(p.get("snils")))
        original = esia_persona(esia, person["oid"])
        esia.post("/personas", json=[{k: v for k, v in original.items() if k != "snils"}])
    try:
        landing = sign_in_anew(run, person["oid"])
    finally:
        if original is not None:
            esia.post("/personas", json=[original])
    _refused_unlinked(landing, portal, person["oid"], "ЕСИА account has no SNILS")
    assert mentions(landing, "снилс", "snils"), (
        f"the refusal does not say that SNILS is missing: {landing.response.text[:400]}")


# the first or middle name changed by one letter at ЕСИА: words that name it (a refusal that speaks
# of the full name, «ФИО», names it too)
NAME_FIELDS = {
    "firstName": ("first_name", ("имя", "имени", "фио", "first name", "given name", "full name")),
    "middleName": ("middle_name", ("отчеств", "фио", "middle name", "patronymic", "full name")),
}


@pytest.mark.requirement("AUTH-05")
@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.surface(identity_mismatch=field))
                                 for k, (field, _) in NAME_FIELDS.items()])
def test_a_first_or_middle_name_mismatch_is_refused(run, people, portal, esia, key):
    """An unlinked parent whose SNILS, last name and birth date match the journal's record, but
    whose first (or middle) name at ЕСИА differs by one letter: a journal that matches on SNILS
    and last name alone links the wrong person."""
    field, words = NAME_FIELDS[key]
    person = people.pick("representative", prelinked=False, account_type="confirmed", fresh=True,
                         where=lambda p: bool(p.get("snils") and p.get(key)))
    changed = person[key][:-1] + ("а" if person[key][-1] != "а" else "я")
    with persona_changed(esia, person["oid"], **{key: changed}):
        landing = sign_in_anew(run, person["oid"])
    _refused_unlinked(landing, portal, person["oid"], f"{field.replace('_', ' ')} differs from the journal's record")
    assert mentions(landing, *words), (f"the refusal does not say that the {field.replace('_', ' ')} differs "
                                       f"(none of {words} in the answer): {landing.response.text[:400]}")
