"""Upload verdicts (EXP-06): a transient failure is retried, a refused file is not resent
unchanged, and an upload counts as done only once the showcase has processed it.

Each test queues one fault in the mocks' fault queues (the agent's `upload` endpoint for the
edu-upload channel, the showcase's for the request-id channel; both are queued and the one
the journal does not use stays unused), runs a full export of one small table
(`organisations`) through test-control, and reads what the mocks saw: the journal's sends
(request journals) and the showcase's upload requests with their final status. Faults are
cleared in `finally`."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pytest

from conformance.exp import _support as sup
from conformance.verdicts import EnvironmentProblem

TABLE = "organisations"


@contextlib.contextmanager
def _faults(smev, epgu, lifecycle: dict[str, Any] | None = None, **upload: Any) -> Iterator[None]:
    for mock in (smev, epgu):
        mock.delete("/faults")
    try:
        if upload:
            smev.post("/faults", json={"endpoint": "upload", **upload})
            epgu.post("/faults", json={"endpoint": "upload", **upload})
        if lifecycle:
            epgu.post("/faults", json={"endpoint": "lifecycle", **lifecycle})
        yield
    finally:
        for mock in (smev, epgu):
            mock.delete("/faults")


def _export(run, test_control, smev, epgu, **faults: Any) -> dict[str, Any]:
    """Export TABLE with the faults queued; what the mocks saw."""
    marks = {"smev": smev.journal_seq(), "epgu": epgu.journal_seq(), "requests": sup.last_request_seq(epgu)}
    with _faults(smev, epgu, **faults):
        job = test_control.export(scope="full", tables=[TABLE])
    channel = sup.channel_of(job, run)
    mock = sup.upload_mock(channel, smev, epgu)
    path = sup.upload_path(run, channel, TABLE)
    return {"job": job, "channel": channel, "marks": marks,
            "sends": sup.sends(mock, marks["smev" if mock is smev else "epgu"], path),
            "requests": [r for r in sup.settled_since(epgu, marks["requests"], TABLE) if r["operation"] == "upload"]}


def _fault_hit(seen: dict[str, Any], status: int) -> None:
    if not seen["sends"] or seen["sends"][0].get("status") != status:
        raise EnvironmentProblem(f"the injected {status} did not answer the journal's first send of {TABLE} "
                                 f"({seen['channel']}): sends {[s.get('status') for s in seen['sends']]}")


def _no_duplicates(epgu) -> None:
    rows = sup.showcase_select(epgu, TABLE, sup.tables()[TABLE].primary_key)
    keys = [sup.key_of(sup.tables()[TABLE], r) for r in rows]
    assert len(keys) == len(set(keys)), f"the showcase holds duplicated {TABLE} records after the retry"


# EXP-06: "a transport failure or 5xx is retried with back-off without duplicating records"
TRANSIENT = {
    "http_500": {"kind": "status", "status": 500},
    "http_502": {"kind": "status", "status": 502},
    "http_504": {"kind": "status", "status": 504},
    "connection_drop": {"kind": "drop"},
}


@pytest.mark.requirement("EXP-06")
@pytest.mark.parametrize("failure", [pytest.param(f, marks=pytest.mark.surface(
    table_operation="upload", transient_failure=f)) for f in TRANSIENT])
def test_every_transient_failure_is_retried_without_duplicates(run, test_control, smev, epgu, failure):
    seen = _export(run, test_control, smev, epgu, count=1, **TRANSIENT[failure])
    if len(seen["sends"]) < 1:
        raise EnvironmentProblem(f"the journal sent no file of {TABLE} ({seen['channel']})")
    first = seen["sends"][0].get("status")
    if "status" in TRANSIENT[failure] and first != TRANSIENT[failure]["status"]:
        raise EnvironmentProblem(f"the injected {failure} did not answer the journal's first send of {TABLE}: "
                                 f"sends {[s.get('status') for s in seen['sends']]}")
    arrived = [r for r in seen["requests"] if r["code"] == sup.OK]
    assert len(seen["sends"]) > 1 and arrived, (
        f"the upload of {TABLE} met a transient failure ({failure}) and the file never reached the showcase: "
        f"{len(seen['sends'])} send(s), showcase requests {sup.describe_requests(seen['requests'])}")
    assert seen["job"]["state"] == "done", (f"after a retried {failure} the export job ended "
                                            f"{seen['job']['state']}: {seen['job'].get('error')!r}")
    _no_duplicates(epgu)


@pytest.mark.requirement("EXP-06")
@pytest.mark.surface(table_operation="upload", transient_failure="http_503")
def test_a_503_is_retried_and_the_file_arrives(run, test_control, smev, epgu):
    seen = _export(run, test_control, smev, epgu, kind="status", status=503, count=1)
    _fault_hit(seen, 503)
    later = [s.get("status") for s in seen["sends"][1:]]
    assert later, (f"the upload of {TABLE} was answered 503 (service unavailable, a transient failure) and the "
                   f"journal never sent it again")
    arrived = [r for r in seen["requests"] if r["code"] == sup.OK]
    assert arrived, (f"after the 503 the file of {TABLE} never reached the showcase "
                     f"(resends answered {later}; showcase requests: {sup.describe_requests(seen['requests'])})")
    _no_duplicates(epgu)


@pytest.mark.requirement("EXP-06")
def test_a_refused_file_is_not_resent_unchanged(run, test_control, smev, epgu):
    seen = _export(run, test_control, smev, epgu, kind="status", status=400, count=1)
    _fault_hit(seen, 400)
    again = sup.resent_unchanged(seen["sends"])
    assert not again, (f"the upload of {TABLE} was refused with 400 and the journal sent the same file again "
                       f"{len(again)} time(s) (a non-transient 4xx must be corrected or reported, not retried "
                       f"blindly)")


@pytest.mark.requirement("EXP-06")
def test_after_a_flk_report_the_named_record_is_held_and_the_rest_sent(run, test_control, smev, epgu):
    """The showcase's ФЛК reports the first record of the file (the `flk` lifecycle fault: status
    7, a report naming line 2): the journal must correct the file or hold that record back and
    send the rest (EXP-06: "after ФЛК errors it corrects and re-sends"), not resend it unchanged
    nor give the whole file up."""
    if len(sup.dataset(run, TABLE)) < 2:
        raise EnvironmentProblem(f"the dataset has fewer than two {TABLE} records: no rest to send")
    seen = _export(run, test_control, smev, epgu, lifecycle={"kind": "flk", "count": 1})
    requests = seen["requests"]
    if not requests or requests[0]["code"] != sup.FLK:
        raise EnvironmentProblem(f"the injected ФЛК report did not end the first request of {TABLE} in status "
                                 f"{sup.FLK}: {sup.describe_requests(requests)}")
    again = sup.resent_unchanged(seen["sends"])
    assert not again, (f"the showcase's ФЛК reported line 2 of {TABLE}.csv and the journal sent the same file "
                       f"again {len(again)} time(s): it must correct it or hold that record back")
    assert any(r["code"] == sup.OK for r in requests[1:]), (
        f"the showcase's ФЛК reported one record of {TABLE}.csv (status {sup.FLK}) and the journal never sent "
        f"the file's other records again: they did not reach the showcase (requests: "
        f"{sup.describe_requests(requests)}; the job: {str(seen['job'].get('error') or seen['job'].get('state'))[:200]})")


@pytest.mark.requirement("EXP-06")
def test_an_upload_counts_only_after_its_final_status(run, test_control, smev, epgu):
    seen = _export(run, test_control, smev, epgu, lifecycle={"kind": "fail", "count": 1})
    if seen["channel"] == sup.SHOWCASE:
        polled = {e.get("path") for e in epgu.journal_since(seen["marks"]["epgu"], "/v2/requests/")
                  if e.get("method") == "GET"}
        for upload in seen["job"]["uploads"]:
            rid = upload.get("request_id")
            if rid and f"/v2/requests/{rid}/status" not in polled:
                pytest.fail(f"the journal never asked the status of showcase request {rid} ({TABLE}) before "
                            f"recording the upload as {upload.get('outcome', 'done')}")
    requests = seen["requests"]
    if not requests or requests[0]["code"] != sup.FAILED:
        raise EnvironmentProblem(f"the injected processing failure did not end the first request of {TABLE} in "
                                 f"status 4: {sup.describe_requests(requests)}")
    assert any(r["code"] == sup.OK for r in requests[1:]), (
        f"the showcase failed to process the file of {TABLE} (status 4) and the journal never sent it again: "
        f"it counted the upload done without following it to its final status "
        f"(requests: {sup.describe_requests(requests)})")


def _gaps(sends: list[dict[str, Any]]) -> list[float]:
    """Seconds between the arrivals of the journal's consecutive sends, from the mock's request
    journal (`at`, when the answer was recorded, less `duration_ms`: a successful upload takes
    longer to answer than a refused one, and that is not the journal's pause)."""
    stamps = [s["at"] - (s.get("duration_ms") or 0) / 1000 for s in sends]
    return [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]


RETRY_AFTER = 2      # seconds; longer than a first back-off step (0.3 s for certify, 1 s by default), short enough for a run


@pytest.mark.requirement("EXP-06")
@pytest.mark.surface(timing="retry_after")
def test_a_503_is_not_retried_before_its_retry_after(run, test_control, smev, epgu):
    seen = _export(run, test_control, smev, epgu, kind="status", status=503, count=1, retry_after=RETRY_AFTER)
    _fault_hit(seen, 503)
    assert len(seen["sends"]) > 1, f"the upload of {TABLE} answered 503 was never sent again"
    (gap, *_) = _gaps(seen["sends"])
    assert gap >= RETRY_AFTER - 0.05, (
        f"the upload of {TABLE} was answered 503 with Retry-After: {RETRY_AFTER}, and the journal sent it again "
        f"after {gap:.2f} s (the mock's request journal): it must wait at least as long as the server asked")


@pytest.mark.requirement("EXP-06")
@pytest.mark.surface(timing="retry_backoff")
def test_the_pauses_between_retries_grow(run, test_control, smev, epgu):
    """Two 500s without Retry-After: the second pause must be longer than the first (back-off).
    Project reading: "нарастающая задержка" read as each pause ≥ 1.2 × the one before."""
    seen = _export(run, test_control, smev, epgu, kind="status", status=500, count=2)
    _fault_hit(seen, 500)
    statuses = [s.get("status") for s in seen["sends"]]
    if statuses[:2] != [500, 500]:
        raise EnvironmentProblem(f"the two injected 500s did not answer the first two sends of {TABLE}: {statuses}")
    assert len(seen["sends"]) > 2, f"after two 500s the journal never sent {TABLE} a third time ({statuses})"
    first, second, *_ = _gaps(seen["sends"])
    assert second >= 1.2 * first, (
        f"the journal retried {TABLE} after two 500s with pauses of {first:.2f} s and then {second:.2f} s "
        f"(the mock's request journal): the wait between retries does not grow (no back-off)")
