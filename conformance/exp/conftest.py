"""Fixtures of the EXP tests: one full export shared by every test that reads its result."""
from __future__ import annotations

from typing import Any

import pytest

from conformance.exp import _support as sup


@pytest.fixture(scope="package")
def full_export(test_control, smev, epgu, run) -> dict[str, Any]:
    """A full export run now: the finished job, the channel it used, and the showcase's
    request number before it (its requests are those after)."""
    before = sup.last_request_seq(epgu)
    journal_seq = {sup.EDU_UPLOAD: smev.journal_seq(), sup.SHOWCASE: epgu.journal_seq()}
    job = test_control.export(scope="full")
    sup.settled_since(epgu, before)
    return {"job": job, "before": before, "channel": sup.channel_of(job, run),
            "journal_seq": journal_seq}
