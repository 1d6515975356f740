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
@pytest.mark.surface(journal_operation=["getMyLearners", "getMarks", "getAchievements"])
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
@pytest.mark.surface(lookalike="learner_id_other_family", journal_operation=["getMarks", "getAttendance", "getLessons", "getHomework", "getAchievements", "getEvents"])
def test_a_parent_cannot_read_a_learner_of_another_family_by_id(portal, dataset, families):
    _, _, strangers = families
    # a learner with marks in the period, so a leak would show records
    oid, learner_id = next(((o, lid) for o, lid in strangers if dataset.marks_of.get(lid)), strangers[0])
    for section in SECTIONS:
        _refused(portal, dataset, oid, learner_id, section)


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(lookalike="learner_id_other_family", journal_operation=["getMarks", "getAchievements"])
def test_a_parent_cannot_read_their_childs_classmates(portal, dataset, families):
    _, classmates, _ = families
    oid, learner_id = next(((o, lid) for o, lid in classmates if dataset.marks_of.get(lid)), classmates[0])
    for section in ("marks", "achievements"):
        _refused(portal, dataset, oid, learner_id, section)


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(session="esia", driver_operation="diary")
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
        for section in SECTIONS:
            _refused_in_interface(session, dataset, oid, other, section, "signed in through ЕСИА")


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(journal_operation=["getMarks", "getAttendance", "getLessons", "getHomework", "getAchievements", "getEvents"])
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


def _other_school_learner(dataset, child: str) -> str:
    org = dataset.organisation(child)
    other = [lid for lid in sorted(dataset.learners) if dataset.organisation(lid) != org and dataset.marks_of.get(lid)]
    if not other:
        raise EnvironmentProblem("the dataset has learners with marks in one school only")
    return other[0]


def _look_alikes(learner_id: str) -> list[str]:
    """Spellings of another learner's id that a lax lookup (case-insensitive collation, trimmed
    input) resolves to that learner."""
    return [f" {learner_id}", f"{learner_id} ", learner_id.lower(), learner_id.upper()]


def _refused_in_interface(session, dataset, oid: str, learner_id: str, section: str, how: str) -> None:
    start, end = dataset.window
    answer = session.diary(learner_id, section, start, end)
    assert not answer.ok, (f"the journal showed parent oid {oid} ({how}) the {section} of {learner_id!r}, "
                           f"who is not their child: {answer.describe()}")
    assert not item_ids(answer.data), f"the refusal of {learner_id!r}'s {section} carries records: {answer.describe()}"


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(session="school_login", driver_operation="diary",
                     lookalike=["learner_id_other_family", "learner_id_other_school"])
def test_a_parent_signed_in_with_the_journals_password_sees_only_their_children(driver, people, dataset, families):
    """The same parent, signed in with the journal's own login instead of ЕСИА: every section of
    their own child is answered, and every section of another family's learner (of the same
    school and of another school) is refused."""
    inside, _, strangers = families
    oid, child = next(((o, c) for o, c in inside if (people.of(o) or {}).get("internal_password")), inside[0])
    parent = people.of(oid) or {}
    if not parent.get("internal_login") or not parent.get("internal_password"):
        raise EnvironmentProblem("no linked parent of the dataset has a journal login and password")
    answer, session = driver.sign_in(parent["internal_login"], parent["internal_password"])
    assert session is not None, f"parent {parent['internal_login']} cannot sign in with their password: {answer.describe()}"
    stranger = next((lid for o, lid in strangers if o == oid and dataset.organisation(lid) == dataset.organisation(child)),
                    next(lid for o, lid in strangers if o == oid))
    far = _other_school_learner(dataset, child)
    start, end = dataset.window
    for section in SECTIONS:
        own = session.diary(child, section, start, end)
        assert own.ok, (f"the journal refused parent {parent['internal_login']} (password session) the {section} of "
                        f"their own child {child}: {own.describe()}")
        for other in (stranger, far):
            _refused_in_interface(session, dataset, oid, other, section, "signed in with the journal's password")


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(lookalike="case_and_padding", journal_operation="getMarks", session="esia",
                     driver_operation="diary")
def test_look_alike_spellings_of_another_learners_id_are_refused(portal, browser, driver, dataset, families):
    """Another family's learner id with spaces around it or in another case is no way around the
    family check, through the portal or the journal's own interface."""
    inside, _, strangers = families
    oid, learner_id = next(((o, lid) for o, lid in strangers if dataset.marks_of.get(lid)), strangers[0])
    start, end = dataset.window
    for spelling in _look_alikes(learner_id):
        resp = portal.section(oid, spelling, "marks", start, end)
        assert resp.status_code in (400, 403, 404), (
            f"parent oid {oid} asked for the marks of {spelling!r} (another family's {learner_id} spelt "
            f"differently): HTTP {resp.status_code}, not a refusal ({resp.text[:200]})")
        body = resp.json() if "json" in resp.headers.get("content-type", "") else {}
        assert not item_ids(body), f"the refusal of {spelling!r} carries records: {resp.text[:200]}"
    landing = browser.sign_in(oid)
    assert landing.signed_in, f"the linked parent oid {oid} could not sign in through ЕСИА: {landing.describe()}"
    session = driver.session(browser)
    for spelling in _look_alikes(learner_id):
        _refused_in_interface(session, dataset, oid, spelling, "marks", "signed in through ЕСИА")


@pytest.mark.requirement("ROLE-01")
@pytest.mark.surface(lookalike="id_prefix", journal_operation="getMarks")
def test_a_learner_whose_id_extends_an_own_childs_id_is_refused(portal, dataset, families):
    """Ids that begin with the id of the parent's own child (…LRN1 and …LRN14): a family check that
    matches a prefix (`LIKE 'id%'`) lets the parent read them."""
    inside, _, _ = families
    own = set(inside)
    pairs = [(oid, child, other) for oid, child in inside for other in sorted(dataset.learners)
             if other != child and other.startswith(child) and (oid, other) not in own]
    if not pairs:
        pytest.skip("no learner id of this dataset begins with the id of a linked parent's child")
    oid, child, other = next(((o, c, x) for o, c, x in pairs if dataset.marks_of.get(x)), pairs[0])
    _refused(portal, dataset, oid, other, "marks")
