"""Helpers of the AUTH tests: sign-in in a fresh browser, temporary changes of a mock ЕСИА
persona, the portal's view of a link (getInternalLogin, getMyLearners) and its consent signal
(postConsent). Everything goes through the mocks and the journal's public interfaces."""
from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import httpx

from conformance.browser import Browser, Landing
from conformance.clients import MockAdmin, Portal

CONSENT_TYPE = "SCHOOL_EJOURNAL"      # the consent mnemonic mock ЕПГУ sends (journal.yaml)


def sign_in_anew(run: dict[str, Any], oid: int | str) -> Landing:
    """The ЕСИА sign-in of `oid` in a browser of its own (no ЕСИА or journal session before)."""
    with Browser(run) as b:
        return b.sign_in(oid)


def text_of(landing: Landing) -> str:
    return landing.response.text.lower()


def mentions(landing: Landing, *words: str) -> bool:
    """Whether the journal's answer names any of `words` (case-insensitive)."""
    text = text_of(landing)
    return any(w.lower() in text for w in words)


# -- mock ЕСИА personas ---------------------------------------------------------------------------

def esia_persona(esia: MockAdmin, oid: int | str) -> dict[str, Any]:
    """The persona as mock ЕСИА holds it now (without the links it derives)."""
    p = esia.get(f"/personas/{oid}")
    return {k: v for k, v in p.items() if k not in ("linked_kids", "linked_parents")}


@contextmanager
def persona_changed(esia: MockAdmin, oid: int | str, **changes: Any) -> Iterator[dict[str, Any]]:
    """Mock ЕСИА serves the persona with `changes` inside the block; restored after it."""
    original = esia_persona(esia, oid)
    esia.post("/personas", json=[{**original, **changes}])
    try:
        yield {**original, **changes}
    finally:
        esia.post("/personas", json=[original])


# -- the portal's view of links and consent ----------------------------------------------------------

def internal_login(portal: Portal, oid: int | str) -> httpx.Response:
    """getInternalLogin as ЕСИА user `oid`: 200 only when the oid is linked to an account."""
    return portal.get("/api/v1/me/login", oid)


def my_learners(portal: Portal, oid: int | str) -> httpx.Response:
    return portal.get("/api/v1/me/learners", oid)


def post_consent(portal: Portal, parent_oid: int | str, learner_id: str, action: str,
                 changed_at: dt.datetime | None = None) -> httpx.Response:
    """postConsent: the parent granted or revoked consent in their ЕПГУ cabinet."""
    when = changed_at or dt.datetime.now(dt.timezone.utc)
    body = {"consent_id": str(uuid.uuid4()), "action": action, "learner_id": learner_id,
            "changed_at": when.isoformat(timespec="seconds"), "consent_type": CONSENT_TYPE}
    return portal.post("/api/v1/consents", parent_oid, json=body)


def linked_parent(people, child: dict[str, Any]) -> dict[str, Any] | None:
    """A parent of `child` the journal has linked to ЕСИА with a plain confirmed account."""
    for oid in child.get("parents") or []:
        p, jp = people.esia.get(int(oid)), people.of(oid)
        if p and jp and jp.get("prelinked") and p.get("account_type") == "confirmed" and not (
                set(p.get("scenario") or []) & {"mismatch:name", "unconfirmed_adult"}):
            return p
    return None


def link_url(run: dict[str, Any]) -> str:
    """Where a signed-in journal user starts linking a ЕСИА account (personal settings)."""
    journal = run["journal"]
    return journal.get("link_url") or journal["base_url"].rstrip("/") + "/auth/esia/link"
