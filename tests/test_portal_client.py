"""The suite's portal client (`conformance.clients.Portal`): after consent notifications stamped
ahead of the wall clock (AUTH-08's ordered stamps), the next consent notification about one of
those children waits until the wall clock has passed them, so its own wall-clock stamp is not
older than theirs; nothing else waits, a consent about another child neither (issue 18: the
wait is paid only by a test that sends a consent about the same child that soon; the journal
orders each child's consent by its own `changed_at`)."""
from __future__ import annotations

import datetime as dt
import time

import httpx

from conformance.clients import Portal

RUN = {"mocks": {"smev": "http://agent.test"}, "journal": {"mnemonic": "EZHD"}}


def _portal() -> tuple[Portal, list[float]]:
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(time.time())
        return httpx.Response(204)

    portal = Portal(RUN)
    portal.http = httpx.Client(transport=httpx.MockTransport(answer))
    return portal, sent


def test_a_consent_after_stamps_ahead_of_the_clock_waits_until_they_passed():
    portal, sent = _portal()
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5)
    portal.consents_stamped_until(ahead, ["L-1", "1001", "112-233-445 95"])
    portal.get("/api/v1/me/learners", 1)                      # not a consent: no wait
    assert sent[-1] < ahead.timestamp()
    portal.post(Portal.CONSENTS, 1, json={"learner_id": "L-2"})   # another child: no wait
    assert sent[-1] < ahead.timestamp()
    portal.post(Portal.CONSENTS, 1, json={"child_oid": 1001})      # the same child, another reference
    assert sent[-1] > ahead.timestamp() + 0.9                 # a whole second past the last stamp
    started = time.time()
    portal.post(Portal.CONSENTS, 1, json={"learner_id": "L-1"})  # once passed, no more waiting
    assert sent[-1] - started < 0.5
