"""Fixtures of the EXP tests: one full export shared by every test that reads its result."""
from __future__ import annotations

from typing import Any

import pytest

from conformance.exp import _support as sup


@pytest.fixture(scope="package")
def full_export(test_control, epgu, run) -> dict[str, Any]:
    """A full export run now: the finished job, the channel it used, and the showcase's
    request number before it (its requests are those after)."""
    before = sup.last_request_seq(epgu)
    job = test_control.export(scope="full")
    sup.settled_since(epgu, before)
    return {"job": job, "before": before, "channel": sup.channel_of(job, run)}
