"""Paid educational content (CONT-01, SHOULD, optional feature `paid_content`).

The requirement applies only to a journal that declares `paid_content` in its SUT declaration
(sut.toml `[features] paid_content = true`); for any other the test is skipped and the
requirement is NOT_APPLICABLE (conformance/results.py). The standard publishes no method for
it (specs/openapi/journal.yaml has none), so for a journal that declares it the check reads the
journal's own published API description (`openapi_url`): it must offer a learner-scoped GET
operation about content, and that operation, called through the agent as «Моё образование»
calls it for a parent and their child, must answer 200 with JSON.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from conformance.clients import fetch
from conformance.notif._support import rows

FEATURE = "paid_content"
CONTENT = re.compile(r"content|контент", re.I)


def _declared(run: dict[str, Any]) -> bool:
    return FEATURE in ((run.get("sut") or {}).get("features") or [])


def _content_paths(url: str) -> list[str]:
    resp = fetch(url, "the journal's API description", "openapi_url")
    try:
        doc = yaml.safe_load(resp.text)
    except yaml.YAMLError as exc:
        raise AssertionError(f"the journal's API description {url} does not parse: {exc}") from None
    out = []
    for path, item in ((doc or {}).get("paths") or {}).items():
        get = (item or {}).get("get") if isinstance(item, dict) else None
        if get and "{learner_id}" in path and (CONTENT.search(path) or CONTENT.search(str(get.get("operationId", "")))
                                               or CONTENT.search(str(get.get("summary", "")))):
            out.append(path)
    return out


@pytest.mark.requirement("CONT-01")
@pytest.mark.surface(artefact="paid_content_list")
def test_paid_content_is_listed_for_a_learner(run, request):
    if not _declared(run):
        pytest.skip(f"the journal does not declare the optional feature {FEATURE!r}: CONT-01 does not apply")
    people, portal = request.getfixturevalue("people"), request.getfixturevalue("portal")
    url = (run.get("journal") or {}).get("openapi_url")
    assert url, "the journal declares paid_content but publishes no API description (openapi_url)"
    paths = _content_paths(url)
    assert paths, (f"the journal declares paid_content but its API description {url} has no learner-scoped GET "
                   f"operation about content, so the portal cannot list a learner's paid content")
    parent = people.pick("representative", prelinked=True, where=lambda p: bool(p.get("kids")))
    child = people.of(parent["kids"][0]) or {}
    learner_id = child.get("record_id") or next(
        (r["learner_id"] for r in rows(run, "learner_representatives")
         if r["representative_id"] == (people.of(parent["oid"]) or {}).get("record_id")), None)
    assert learner_id, "the dataset gives the chosen parent no child in the journal"
    path = paths[0].replace("{learner_id}", learner_id)
    resp = portal.get(path, parent["oid"])
    assert resp.status_code == 200, f"GET {path} for the learner's parent answered HTTP {resp.status_code}"
    try:
        resp.json()
    except ValueError:
        raise AssertionError(f"GET {path} did not answer JSON") from None
