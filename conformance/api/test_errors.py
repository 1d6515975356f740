"""API-08: errors are explicit. An unknown learner is 404 `learner_not_found`, `from` after `to`
or a period over 366 days is 422, a malformed or missing parameter is 400 — each with
journal.yaml's `Error {error, message, details}` — and no input gives a 5xx or an empty 200.

How: what the agent forwards (a well-formed call for an unknown learner, a reversed or too
long period) is asked through the agent as the portal asks. What the agent itself refuses
before forwarding (dates that are not dates, missing parameters, SQL-like values) is sent to
the journal's base URL as the agent would forward it (`X-Smev-Sender` of the portal, a message
id, the parent's oid), as journal.yaml says the suite does, and also through the agent, where
no answer may be a 5xx or a 200. A normal call afterwards must still answer the same.
"""
from __future__ import annotations

import uuid

import pytest

from conformance.api import _support as sup

MONTH = {"from": "2025-09-01", "to": "2025-09-30"}
BAD_DATES = ["01.09.2025", "2025-13-01", "2025-02-30", "2025-9-1", "20250901", "yesterday", " 2025-09-01",
             "2025-09-01T00:00:00", "2025-09-01' OR '1'='1", "2025-09-01; DROP TABLE marks;--", "0000-00-00"]
BAD_LEARNERS = ["EZHD-1' OR '1'='1", "1 OR 1=1", "EZHD-0001.LRN1'--", "EZHD-0001.LRN1;DROP TABLE learners",
                "%27%20OR%201%3D1", "a" * 200]
SECTIONS = ("marks", "attendance", "lessons", "homework", "achievements")


def _sections(error: str) -> list:
    """SECTIONS as parameters, each marked with its operation and the kind of bad request."""
    return [pytest.param(s, id=s, marks=pytest.mark.surface(journal_operation=sup.operation_of(s), answer_error=error))
            for s in SECTIONS]


@pytest.fixture(scope="module")
def fam(people, run) -> sup.Family:
    ds = sup.dataset(run["dataset"]["directory"])
    found, _ = sup.first_family(people, ds, "marks", lambda r: True)
    return found


@pytest.fixture(scope="module")
def journal(run):
    client = sup.DirectJournal(run)
    yield client
    client.close()


def unknown_learner(fam: sup.Family) -> str:
    prefix = fam.learner_id.split("-", 1)[0]
    return f"{prefix}-NOSUCH.{uuid.uuid4().hex[:12]}"


def assert_error(resp, status: int | tuple[int, ...], code: str | tuple[str, ...] | None, what: str) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code < 500, f"{what}: HTTP {resp.status_code} — no input may produce a 5xx: {resp.text[:300]}"
    assert resp.status_code in statuses, (
        f"{what}: HTTP {resp.status_code}, expected {' or '.join(map(str, statuses))} with an Error body: "
        f"{resp.text[:300]}")
    problem = sup.error_problem(resp)
    assert problem is None, f"{what}: {problem}"
    if code is not None:
        codes = (code,) if isinstance(code, str) else code
        assert resp.json()["error"] in codes, f"{what}: error {resp.json()['error']!r}, expected {' or '.join(codes)}"


@pytest.mark.requirement("API-08")
@pytest.mark.parametrize("section", _sections("unknown_learner"))
def test_unknown_learner_is_404(portal, fam, section):
    """A well-formed id of a learner the journal does not know: 404 `learner_not_found`, not an empty 200."""
    lid = unknown_learner(fam)
    resp = portal.get(f"/api/v1/learners/{lid}/{section}", fam.parent_oid, params=MONTH)
    assert_error(resp, 404, "learner_not_found", f"GET {section} of unknown learner {lid} through the agent")


@pytest.mark.requirement("API-08")
@pytest.mark.surface(journal_operation=["getMarks", "getAchievements"], answer_error="reversed_period")
def test_reversed_and_too_long_periods_are_422(portal, fam):
    """`from` after `to` is 422 `invalid_period`; more than 366 days is 422 `period_too_long`."""
    path = f"/api/v1/learners/{fam.learner_id}/marks"
    resp = portal.get(path, fam.parent_oid, params={"from": "2025-09-30", "to": "2025-09-01"})
    assert_error(resp, 422, "invalid_period", "from 2025-09-30 after to 2025-09-01")
    resp = portal.get(path, fam.parent_oid, params={"from": "2024-09-01", "to": "2025-09-02"})
    assert_error(resp, 422, "period_too_long", "a period of 367 days")
    resp = portal.get(f"/api/v1/learners/{fam.learner_id}/achievements", fam.parent_oid,
                      params={"from": "2024-09-01", "to": "2025-09-01"})
    assert resp.status_code == 200, f"a period of exactly 366 days is allowed: HTTP {resp.status_code} {resp.text[:200]}"


@pytest.mark.requirement("API-08")
@pytest.mark.parametrize("section", _sections("malformed_parameter"))
def test_malformed_dates_are_400(portal, journal, fam, section):
    """Dates that are not `YYYY-MM-DD` (including SQL-like text): 400 `invalid_parameter` with the
    Error shape from the journal, never a 5xx; through the agent, never a 5xx nor a 200."""
    path = f"/api/v1/learners/{fam.learner_id}/{section}"
    for bad in BAD_DATES:
        for params in ({"from": bad, "to": "2025-09-30"}, {"from": "2025-09-01", "to": bad}):
            resp = journal.get(path, fam.parent_oid, params=params)
            assert_error(resp, 400, "invalid_parameter", f"GET {section} with {params} sent to the journal")
    via = portal.get(path, fam.parent_oid, params={"from": BAD_DATES[0], "to": "2025-09-30"})
    assert 400 <= via.status_code < 500, (f"GET {section} with from={BAD_DATES[0]} through the agent: "
                                          f"HTTP {via.status_code} {via.text[:200]}")


@pytest.mark.requirement("API-08")
@pytest.mark.surface(journal_operation=["getMarks", "getLessons", "getAchievements"], answer_error="missing_parameter")
def test_missing_parameters_are_400(journal, fam):
    """A missing `from` or `to` (or only one for achievements) is 400 `missing_parameter`; a missing
    or malformed `X-Esia-Oid` is 400."""
    base = f"/api/v1/learners/{fam.learner_id}"
    assert_error(journal.get(base + "/marks", fam.parent_oid, params={"to": "2025-09-30"}), 400,
                 ("missing_parameter", "invalid_parameter"), "marks without from")
    assert_error(journal.get(base + "/lessons", fam.parent_oid, params={"from": "2025-09-01"}), 400,
                 ("missing_parameter", "invalid_parameter"), "lessons without to")
    assert_error(journal.get(base + "/achievements", fam.parent_oid, params={"from": "2025-09-01"}), 400,
                 ("missing_parameter", "invalid_parameter"), "achievements with from but no to")
    assert_error(journal.get(base + "/marks", None, params=MONTH), 400, ("missing_parameter", "invalid_parameter"),
                 "marks without X-Esia-Oid")
    for oid in ("0", "-5", "abc", "1 OR 1=1", "1000100001' --"):
        assert_error(journal.get(base + "/marks", oid, params=MONTH), 400, "invalid_parameter",
                     f"marks with X-Esia-Oid {oid!r}")


@pytest.mark.requirement("API-08")
@pytest.mark.parametrize("section", _sections("malformed_parameter"))
def test_the_message_id_is_optional_and_a_malformed_one_is_400(journal, fam, section):
    """journal.yaml: `X-Smev-Message-Id` is optional and, when sent, a UUID. A call without it is
    answered as with one; one that is not a UUID is 400 `invalid_parameter`, not a 5xx and not
    data."""
    path = f"/api/v1/learners/{fam.learner_id}/{section}"
    with_id = journal.get(path, fam.parent_oid, params=MONTH)
    assert with_id.status_code == 200, f"the control call failed: HTTP {with_id.status_code} {with_id.text[:200]}"
    without = journal.get(path, fam.parent_oid, params=MONTH, message_id=False)
    assert without.status_code == 200, (f"GET {section} without X-Smev-Message-Id (optional in journal.yaml): "
                                        f"HTTP {without.status_code} {without.text[:200]}")
    assert without.json() == with_id.json(), f"GET {section} answers differently without X-Smev-Message-Id"
    for bad in ("not-a-uuid", "1234", "' OR '1'='1"):
        assert_error(journal.get(path, fam.parent_oid, params=MONTH, message_id=bad), 400, "invalid_parameter",
                     f"GET {section} with X-Smev-Message-Id {bad!r}")


@pytest.mark.requirement("API-08")
@pytest.mark.surface(journal_operation=["postConsent", "setLearnerPassword"], answer_error="hostile_input")
def test_an_oversized_body_is_a_structured_4xx(journal, fam):
    """A write with a 2 MB JSON body (sent directly, as the agent would forward it) is refused
    with 400 or 413 and journal.yaml's Error: never a 5xx, never taken for an authorisation
    problem (401/403), and nothing is changed (the consent is not revoked)."""
    padding = "x" * (2 * 1024 * 1024)
    calls = {
        "postConsent": ("/api/v1/consents", {"consent_id": str(uuid.uuid4()), "action": "revoked",
                                             "changed_at": "2026-05-25T09:00:00+03:00",
                                             "learner_id": fam.learner_id, "consent_type": padding}),
        "setLearnerPassword": (f"/api/v1/learners/{fam.learner_id}/password", {"password": "Aa1!" + padding}),
    }
    for operation, (path, body) in calls.items():
        resp = journal.request("POST", path, fam.parent_oid, json=body)
        assert_error(resp, (400, 413), None, f"{operation} with a 2 MB body")


@pytest.mark.requirement("API-08")
@pytest.mark.surface(journal_operation="getMarks", answer_error="hostile_input")
def test_sql_like_learner_ids_are_refused_cleanly(portal, journal, fam):
    """Learner ids carrying SQL-like text are refused with 400 (malformed) or 404 (unknown), never a
    5xx or data; the journal answers normally afterwards."""
    before = journal.get(f"/api/v1/learners/{fam.learner_id}/marks", fam.parent_oid, params=MONTH)
    assert before.status_code == 200, f"the control call failed: HTTP {before.status_code} {before.text[:200]}"
    for bad in BAD_LEARNERS:
        from urllib.parse import quote

        path = f"/api/v1/learners/{quote(bad, safe='')}/marks"
        resp = journal.get(path, fam.parent_oid, params=MONTH)
        assert_error(resp, (400, 404), ("invalid_parameter", "learner_not_found"), f"learner id {bad!r}")
        via = portal.get(path, fam.parent_oid, params=MONTH)
        assert via.status_code < 500 and via.status_code != 200, (
            f"learner id {bad!r} through the agent: HTTP {via.status_code} {via.text[:200]}")
    after = journal.get(f"/api/v1/learners/{fam.learner_id}/marks", fam.parent_oid, params=MONTH)
    ids = [[i.get("id") for i in r.json().get("items", [])] for r in (before, after)]
    assert after.status_code == 200 and ids[0] == ids[1], (
        "after the SQL-like ids the same call answers differently: "
        f"HTTP {after.status_code} {after.text[:200]}")
