"""Matching a ЕСИА user to the journal's person (AUTH-05): by SNILS, full name and date of
birth. The dataset's ЕСИА personas tagged `mismatch:*` differ from the journal's record in one
field; a sign-in with one of them must be refused with an answer that names the field, and must
not link the oid to any account (the portal's getInternalLogin for that oid stays refused). A
ЕСИА account without SNILS is refused the same way (the answer names SNILS); when the dataset has
no unlinked learner without SNILS, mock ЕСИА serves an unlinked parent's persona without its
SNILS for the test."""
from __future__ import annotations

import pytest

from conformance.auth._support import esia_persona, internal_login, mentions, sign_in_anew
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
@pytest.mark.parametrize("tag", sorted(FIELD_WORDS))
def test_a_data_mismatch_is_refused_naming_the_field(run, people, portal, tag):
    person = _pick(people, tag)
    landing = sign_in_anew(run, person["oid"])
    field = tag.split(":", 1)[1]
    _refused_unlinked(landing, portal, person["oid"], f"{field} differs from the journal's record")
    assert mentions(landing, *FIELD_WORDS[tag]), (
        f"the refusal does not say that the {field} differs (none of {FIELD_WORDS[tag]} in the answer): "
        f"{landing.response.text[:400]}")


@pytest.mark.requirement("AUTH-05")
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
