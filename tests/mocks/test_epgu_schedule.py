"""The showcase's schedule (`_Schedule`) against its rules written as a plain pass over every
request in flight: the same request is offered, and the same time to wait, after any sequence
of arrivals, transitions, stalls, releases and failures; and the oldest unfinished request is
the one step mode moves."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.epgu.showcase import UploadRequest, _Schedule, final_codes

NEXT = {0: 1, 1: 2, 2: 6}          # the lifecycle's order; 6 ends in 3, 7 or 4


def by_scan(live: list[UploadRequest], now: float, served: dict[str, float], busy: set[str]):
    """The rules, as one pass in arrival order: (the request to move now, or None; seconds
    until one may be due, at most 0.5)."""
    best, best_key, wait, seen = None, None, 0.5, set()
    for rec in live:
        head = rec.source not in seen
        seen.add(rec.source)
        if rec.request_id in busy or (rec.code == 6 and not head):
            continue
        due = rec.next_at
        if rec.code == 6 and rec.stall_until is not None:
            due = max(due, rec.stall_until)
        if due <= now:
            key = (served.get(rec.source, 0.0) if rec.code == 6 else 0.0, rec.next_at)
            if best_key is None or key < best_key:
                best, best_key = rec, key
        elif due - now < wait:
            wait = due - now
    return best, wait


def _step(i: int) -> st.SearchStrategy:
    """Most steps move requests, so that many reach 6, stall, and end."""
    if i < 2:
        return st.tuples(st.just("arrive"), st.sampled_from("ABC"), st.floats(0, 0.5))
    if i == 2:
        return st.tuples(st.just("release"), st.integers(0, 30), st.just(0))
    if i == 3:
        return st.tuples(st.just("finish_busy"), st.integers(0, 30), st.floats(0, 0.6))
    return st.tuples(st.just("take"), st.floats(0, 0.6), st.sampled_from(
        ["advance"] * 8 + ["stall", "stall", "stall_forever", "fail", "keep_busy"]))


step = st.integers(0, 15).flatmap(_step)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=40, max_size=150))
def test_the_schedule_offers_what_a_pass_over_every_request_would(steps):
    schedule, now, seq = _Schedule(), 0.0, 0
    live: list[UploadRequest] = []          # unfinished, in arrival order
    served: dict[str, float] = {}
    busy: dict[str, UploadRequest] = {}
    final = final_codes()

    def moved(rec: UploadRequest) -> None:
        if rec.code in final:
            live.remove(rec)
        schedule.moved(rec, rec.code in final)

    def transition(rec: UploadRequest, how: str) -> None:
        if how == "fail":
            rec.code = 4
        elif rec.code == 6:
            rec.code, rec.stall_until = 3, None
        else:
            rec.code = NEXT[rec.code]
            if rec.code == 6 and how.startswith("stall"):
                rec.stall_until = math.inf if how == "stall_forever" else now + 0.7
        rec.next_at = now + 0.3

    for kind, a, b in steps:
        if kind == "arrive":
            seq += 1
            rec = UploadRequest(f"r{seq}", seq, a, "myedu", "t", "upload", None, 0, "", "", code=0,
                                next_at=now + b)
            live.append(rec)
            schedule.add(rec)
        elif kind == "take":
            now += a
            expected, wait = by_scan(live, now, served, set(busy))
            got, got_wait = schedule.take(now, served, set(busy))
            if expected is None:
                assert got is None
                assert abs(got_wait - max(wait, 0.0)) < 1e-9, (got_wait, wait)
                continue
            assert got is expected, (got and got.request_id, expected.request_id)
            if got.code == 6:
                served[got.source] = now
            if b == "keep_busy":
                busy[got.request_id] = got
                continue
            transition(got, b)
            moved(got)
        elif kind == "release":
            stalled = [r for r in live if r.stall_until is not None and r.request_id not in busy]
            if stalled:
                rec = stalled[a % len(stalled)]
                rec.stall_until = None
                moved(rec)
        elif kind == "finish_busy" and busy:
            rec = busy.pop(sorted(busy)[a % len(busy)])
            now += b
            transition(rec, "advance")
            moved(rec)
        assert schedule.live == len(live)
        assert schedule.oldest() is (live[0] if live else None), "step mode moves the oldest"
