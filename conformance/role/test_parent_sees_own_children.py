"""A parent sees only their own children (ROLE-01).

Families and classes come from the dataset's tables (`learner_representatives`,
`class_learners`). Parents are ЕСИА users the journal has linked; they ask through the portal
(`X-Esia-Oid`, the on-demand API of journal.yaml) and, once, in the journal's own interface
after an ЕСИА sign-in. Every on-demand section of a learner outside the family must be refused
with 403 and reveal no record; inside the family the same calls are answered 200."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from conformance.role._support import SECTIONS, item_ids, linked_parents
from conformance.verdicts import EnvironmentProblem

# no shrinking: a leak found is reported as found (shrinking would re-run slow leaking calls)
PROPERTY = settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                    phases=(Phase.explicit, Phase.generate))


@pytest.fixture(scope="module")
def families(people, dataset):
    """(inside, classmates, strangers): (parent oid, learner id) pairs; classmates share a class
    with one of the parent's children, strangers share neither family nor class."""
    parents = linked_parents(people, dataset)
    inside, classmates, strangers = [], [], []
    for oid, rep in sorted(parents.items()):
        children = dataset.children_of[rep]
        near: set[str] = set()
        for child in sorted(children):
            inside.append((oid, child))
            near |= dataset.classmates(child)
        classmates += [(oid, lid) for lid in sorted(near - children)]
        strangers += [(oid, lid) for lid in sorted(set(dataset.learners) - children - near)]
    if not inside or not classmates or not strangers:
        raise EnvironmentProblem("the dataset lacks linked parents with children, classmates or other learners")
    return inside, classmates, strangers


def _refused(portal, dataset, oid: str, learner_id: str, section: str) -> None:
    start, end = dataset.window
    resp = portal.section(oid, learner_id, section, start, end)
    where = f"parent oid {oid} asked for {section} of {learner_id}, not their child"
    assert resp.status_code == 403, f"{where}: HTTP {resp.status_code}, not 403 ({resp.text[:200]})"
    body = resp.json() if "json" in resp.headers.get("content-type", "") else {}
    assert body.get("error") == "not_in_family", f"{where}: the refusal is {body.get('error')!r}, not not_in_family"
    assert not item_ids(body) and "items" not in body, f"{where}: the refusal carries records: {resp.text[:200]}"
    learner = dataset.learners[learner_id]
    for fact in (learner["last_name"], learner.get("snils")):
        assert not fact or fact not in resp.text, f"{where}: the refusal names the learner's personal data"


@pytest.mark.requirement("ROLE-01")
def test_a_parent_reads_their_own_childs_diary(portal, people, dataset, families):
    inside, _, _ = families
    oid, child = inside[0]
    listed = portal.get("/api/v1/me/learners", oid)
    assert listed.status_code == 200, \
        f"getMyLearners for parent oid {oid}: HTTP {listed.status_code} {listed.text[:200]}"
    children = {x.get("learner_id") for x in listed.json().get("learners", []) if x.get("relation") == "child"}
    family = dataset.children_of[people.of(oid)["record_id"]]
    assert children == family, (f"getMyLearners lists {sorted(children)} as the children of parent oid {oid}; "
                                f"their children are {sorted(family)}")
    start, end = dataset.window
    for section in ("marks", "achievements"):
        resp = portal.section(oid, child, section, start, end)
        assert resp.status_code == 200, (f"parent oid {oid} was refused {section} of their own child {child}: "
                                         f"HTTP {resp.status_code} {resp.text[:200]}")


@pytest.mark.requirement("ROLE-01")
def test_a_parent_cannot_read_a_learner_of_another_family_by_id(portal, dataset, families):
    _, _, strangers = families
    # a learner with marks in the period, so a leak would show records
    oid, learner_id = next(((o, lid) for o, lid in strangers if dataset.marks_of.get(lid)), strangers[0])
    for section in SECTIONS:
        _refused(portal, dataset, oid, learner_id, section)


@pytest.mark.requirement("ROLE-01")
def test_a_parent_cannot_read_their_childs_classmates(portal, dataset, families):
    _, classmates, _ = families
    oid, learner_id = next(((o, lid) for o, lid in classmates if dataset.marks_of.get(lid)), classmates[0])
    for section in ("marks", "achievements"):
        _refused(portal, dataset, oid, learner_id, section)


@pytest.mark.requirement("ROLE-01")
def test_the_journals_own_interface_refuses_another_family_too(browser, driver, people, dataset, families):
    inside, classmates, strangers = families
    oid = next(o for o, _ in inside if any(x == o for x, _ in classmates))
    child = next(lid for o, lid in inside if o == oid)
    others = [next(lid for o, lid in pairs if o == oid) for pairs in (classmates, strangers)]
    landing = browser.sign_in(oid)
    assert landing.signed_in, f"the linked parent oid {oid} could not sign in through ЕСИА: {landing.describe()}"
    session = driver.session(browser)
    start, end = dataset.window
    own = session.diary(child, "marks", start, end)
    assert own.ok, f"the journal refused parent oid {oid} the marks of their own child {child}: {own.describe()}"
    for other in others:
        answer = session.diary(other, "marks", start, end)
        assert not answer.ok, (f"the journal showed parent oid {oid} the marks of {other}, who is not their "
                               f"child: {answer.describe()}")
        assert not item_ids(answer.data), f"the refusal of {other}'s marks carries records: {answer.describe()}"


@pytest.mark.requirement("ROLE-01")
def test_property_outside_the_family_refused_inside_answered(portal, dataset, families):
    inside, classmates, strangers = families
    outside = st.one_of(st.sampled_from(classmates), st.sampled_from(strangers))

    @PROPERTY
    @given(pair=outside, own=st.sampled_from(inside), section=st.sampled_from(SECTIONS))
    def check(pair, own, section):
        _refused(portal, dataset, *pair, section)
        oid, child = own
        start, end = dataset.window
        resp = portal.section(oid, child, section, start, end)
        assert resp.status_code == 200, (f"parent oid {oid} was refused {section} of their own child {child}: "
                                         f"HTTP {resp.status_code} {resp.text[:200]}")

    check()
