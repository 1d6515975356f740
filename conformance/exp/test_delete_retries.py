"""A delete call that meets a transient failure is retried too (EXP-06).

EXP-06 asks that "a transport failure or 5xx is retried with back-off" for every file the
journal sends, and EXP-01 names two operations per table: upload and delete. A teacher adds a
mark in the journal's own interface (the driver), an incremental export takes it to the
showcase, the teacher deletes it, and the next incremental export meets a 503 at its first
send — the delete file of `marks` (the agent's `DELETE` on the table's path, or the showcase's
`…/tables/marks/delete`). The journal must send it again and the mark must leave the showcase;
the job ends done."""
from __future__ import annotations

import pytest

from conformance.exp import _support as sup
from conformance.verdicts import EnvironmentProblem

TABLE = "marks"


def _delete_sends(run, channel: str, smev, epgu, seq: dict[str, int]) -> list[dict]:
    mock = sup.upload_mock(channel, smev, epgu)
    if channel == sup.SHOWCASE:
        path, method = sup.upload_path(run, channel, TABLE, "delete"), "POST"
    else:
        path, method = sup.upload_path(run, channel, TABLE), "DELETE"
    return sup.sends(mock, seq["smev" if mock is smev else "epgu"], path, method)


@pytest.mark.requirement("EXP-06")
@pytest.mark.surface(table_operation="delete", transient_failure="http_503")
def test_a_delete_met_by_a_503_is_retried_and_the_record_leaves_the_showcase(full_export, run, people, _driver,
                                                                            test_control, smev, epgu):
    browser, session, school = sup.teacher_or_skip(run, people, _driver, "a teacher adds and deletes a mark")
    mark_id = None
    try:
        base = sup.base_mark(run, school)
        added = session.add_mark(base["learner_id"], **{**sup.mark_fields(base), "comment": "EXP-06 delete retry"})
        assert added.ok and isinstance(added.data, dict) and added.data.get("id"), \
            f"a teacher could not add a mark: {added.describe()}"
        mark_id = str(added.data["id"])
        sup.export_changes(test_control, epgu, [TABLE])
        if not sup.showcase_rows(epgu, TABLE, "id", mark_id):
            raise EnvironmentProblem(f"the new mark {mark_id} did not reach the showcase after an incremental "
                                     f"export, so its deletion cannot be tried (EXP-04 judges that)")
        gone = session.delete_mark(mark_id)
        assert gone.ok, f"a teacher could not delete the mark they added: {gone.describe()}"
        mark_id = None
        seq = {"smev": smev.journal_seq(), "epgu": epgu.journal_seq()}
        before = sup.last_request_seq(epgu)
        for mock in (smev, epgu):
            mock.delete("/faults")
            mock.post("/faults", json={"endpoint": "upload", "kind": "status", "status": 503, "count": 1})
        try:
            job = test_control.export(scope="changes", tables=[TABLE])
        finally:
            for mock in (smev, epgu):
                mock.delete("/faults")
        sup.settled_since(epgu, before, TABLE)
        channel = sup.channel_of(job, run)
        sends = _delete_sends(run, channel, smev, epgu, seq)
        if not sends or sends[0].get("status") != 503:
            raise EnvironmentProblem(f"the injected 503 did not answer the journal's delete of {TABLE} ({channel}): "
                                     f"delete sends {[s.get('status') for s in sends]}")
        left = sup.showcase_rows(epgu, TABLE, "id", str(added.data["id"]))
        assert len(sends) > 1 and not left, (
            f"the delete of mark {added.data['id']} was answered 503 (a transient failure) and the journal "
            f"{'never sent it again' if len(sends) == 1 else 'sent it again'}; the showcase "
            f"{'still holds the mark' if left else 'no longer holds it'}")
        assert job["state"] == "done", (f"after a retried delete the export job ended {job['state']}: "
                                        f"{job.get('error')!r}")
    finally:
        if mark_id:
            session.delete_mark(mark_id)
        browser.close()
