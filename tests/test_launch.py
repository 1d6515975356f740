"""certify's start-up order (issue 18): the mocks' ports are bound first, so the journal can be
started with their URLs while the mocks are still being built; a request that arrives before
a mock serves waits in the socket's backlog instead of failing."""
from __future__ import annotations

import threading
from contextlib import ExitStack

import httpx

from conformance.session.launch import MOCK_NAMES, reserve_sockets, start_mocks


def test_a_request_sent_before_the_mocks_serve_is_answered_once_they_do(tmp_path):
    with ExitStack() as stack:
        sockets, urls = reserve_sockets(stack)
        assert set(urls) == set(MOCK_NAMES)
        answers: list[int] = []
        early = threading.Thread(target=lambda: answers.append(
            httpx.get(f"{urls['esia']}/_admin/health", timeout=60).status_code))
        early.start()                       # connects now; nothing serves the port yet
        served = start_mocks(stack, tmp_path, sockets)
        early.join(60)
        assert served == urls               # the mocks serve exactly the URLs given out before
        assert answers == [200]
        for name in MOCK_NAMES:
            assert httpx.get(f"{urls[name]}/_admin/health", timeout=10).status_code == 200
