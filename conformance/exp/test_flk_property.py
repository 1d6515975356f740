"""Faulty input never reaches the showcase as an accepted row (EXP-02, property).

Hypothesis draws marks with exactly one named ФЛК fault (`fixtures.strategies`: a fault in
one of the fields a teacher enters through the journal's interface: value, weight, mark
type, grade system, date, subject, period, lesson, control form, comment), the other fields
copied from a dataset mark of the teacher's school. A teacher signed in through ЕСИА gives
each one through the driver. The journal must refuse it with a client error (its own input
checks), or, when it accepts it, the next incremental export must not make it an accepted row
of the showcase (ФЛК catches it and the journal handles the refusal). Accepted marks are
deleted again at the end."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.exp import _support as sup
from fixtures.strategies import broken_records, row_faults


def _faults():
    return [f for f in row_faults("marks", sup.tables()) if f.column in sup.MARK_FIELDS and f.rule != "order"]


@pytest.mark.requirement("EXP-02")
def test_single_fault_marks_never_reach_the_showcase(run, people, driver, test_control, epgu):
    browser, session, school = sup.teacher_session(run, people, driver)
    accepted: list[tuple[str, str]] = []
    try:
        base = sup.base_mark(run, school)
        learner = base["learner_id"]
        faults = _faults()
        assert faults, "specs/tables/marks.yaml gives no single-field fault for the fields a teacher enters"
        cases = st.sampled_from(faults).flatmap(lambda f: broken_records("marks", f, sup.tables()))

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def give(case):
            record, fault = case
            fields = sup.mark_fields({**base, fault.column: record.get(fault.column)})
            if record.get(fault.column) is None:
                fields.pop(fault.column, None)
            answer = session.add_mark(learner, **fields)
            if answer.ok:
                mark_id = answer.data.get("id") if isinstance(answer.data, dict) else None
                assert mark_id, f"the journal accepted a mark ({fault}) but named no id: {answer.describe()}"
                accepted.append((mark_id, str(fault)))
            else:
                assert 400 <= answer.status < 500, (
                    f"a mark with the fault {fault} ({fault.column}={record.get(fault.column)!r}) was answered "
                    f"{answer.describe()}: invalid input must be refused by an input check, not crash")

        give()
        if accepted:
            before = sup.last_request_seq(epgu)
            job = test_control.export(scope="changes", tables=["marks"])
            assert job["state"] == "done", f"the incremental export failed: {job.get('error')!r}"
            sup.settled_since(epgu, before)
            reached = [f"{mark_id} ({fault})" for mark_id, fault in accepted
                       if sup.showcase_rows(epgu, "marks", "id", mark_id)]
            assert not reached, (f"marks with a ФЛК fault became accepted rows of the showcase: "
                                 f"{', '.join(reached[:10])}")
    finally:
        try:
            for mark_id, _ in accepted:
                session.delete_mark(mark_id)
            if accepted:
                test_control.export(scope="changes", tables=["marks"])
        finally:
            browser.close()
