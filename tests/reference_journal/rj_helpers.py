"""Helpers of the reference journal's own tests (the fixtures are in conftest.py)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal

from reference_journal.config import Settings
from reference_journal.core import Journal, age_on

TOKEN = "test-control-token"
ADMIN_PASSWORD = "Auditor-Pass-1!"
PORTAL = {"X-Smev-Sender": "EPGU"}
REFERENCE = dt.date(2026, 5, 25)  # fixtures.dataset.DEFAULT_AS_OF
NOW = "2026-05-25T10:00:00+03:00"


class PortalTransport(httpx.BaseTransport):
    """A sync httpx transport over an ASGI app; app exceptions become 500 answers."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, Any, bytes]:
            req = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            resp = await self._inner.handle_async_request(req)
            return resp.status_code, resp.headers.raw, await resp.aread()

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)


def settings_for(db: str, **changes: Any) -> Settings:
    base: dict[str, Any] = {"test_control_token": TOKEN, "admin_password": ADMIN_PASSWORD, "scrypt_n": 2 ** 10,
                           "dataset_scrypt_n": 2 ** 4}
    return Settings(db=db, **{**base, **changes})


@dataclass
class World:
    """The loaded dataset and the people tests use."""

    directory: Path
    bundle: bytes
    personas: list[dict[str, Any]]
    template: Path
    rows: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"World({self.directory})"

    def persona(self, record_id: str) -> dict[str, Any]:
        return next(p for p in self.personas if p["record_id"] == record_id and p["internal_login"])

    def age(self, learner_id: str) -> int:
        learner = next(r for r in self.rows["learners"] if r["id"] == learner_id)
        return age_on(dt.date.fromisoformat(learner["birth_date"]), REFERENCE)  # type: ignore[arg-type]

    def children(self, representative_id: str) -> list[str]:
        return [r["learner_id"] for r in self.rows["learner_representatives"]  # type: ignore[misc]
                if r["representative_id"] == representative_id]

    def parent(self, child_under_14: bool, prelinked: bool = True) -> tuple[dict[str, Any], str]:
        """A representative persona and one of their children (under 14 or 14+)."""
        for p in self.personas:
            if p["kind"] != "representative" or p["prelinked"] != prelinked or not p["internal_login"]:
                continue
            for child in self.children(p["record_id"]):
                if (self.age(child) < 14) == child_under_14:
                    return p, child
        raise LookupError("no such parent in the dataset")

    def learner(self, under_14: bool, prelinked: bool = True) -> dict[str, Any]:
        for p in self.personas:
            if (p["kind"] == "learner" and p["internal_login"] and p["prelinked"] == prelinked
                    and (self.age(p["record_id"]) < 14) == under_14):
                return p
        raise LookupError("no such learner in the dataset")

    def stranger_of(self, parent: dict[str, Any]) -> str:
        """A learner of the same school who is not the parent's child nor a classmate of one."""
        mine = set(self.children(parent["record_id"]))
        classes = {r["class_id"] for r in self.rows["class_learners"] if r["learner_id"] in mine}
        mates = {r["learner_id"] for r in self.rows["class_learners"] if r["class_id"] in classes}
        org = next(r["organisation_id"] for r in self.rows["learners"] if r["id"] in mine)
        return next(r["id"] for r in self.rows["learners"]  # type: ignore[return-value]
                    if r["organisation_id"] == org and r["id"] not in mine | mates)

    def classmate_of(self, parent: dict[str, Any]) -> str:
        mine = set(self.children(parent["record_id"]))
        classes = {r["class_id"] for r in self.rows["class_learners"] if r["learner_id"] in mine}
        return next(r["learner_id"] for r in self.rows["class_learners"]  # type: ignore[return-value]
                    if r["class_id"] in classes and r["learner_id"] not in mine)


class JournalClient(httpx.Client):
    """An httpx client bound to one in-process journal, with helpers."""

    journal: Journal

    def tc(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
        return self.request(method, f"/test-control/v1{path}", headers=headers, **kwargs)

    def portal(self, path: str, oid: str | None, method: str = "GET", **kwargs: Any) -> httpx.Response:
        headers = {**PORTAL, **({"X-Esia-Oid": oid} if oid else {}), **kwargs.pop("headers", {})}
        return self.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def sign_in(self, login: str, password: str) -> str:
        resp = self.post("/web/api/v1/session", json={"login": login, "password": password})
        assert resp.status_code == 201, resp.text
        return resp.json()["token"]

    def web(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.request(method, f"/web/api/v1{path}", headers=headers, **kwargs)

    def event_log(self) -> list[dict[str, Any]]:
        return self.journal.events.read()


YEAR_PARAMS = {"from": "2025-09-01", "to": "2026-05-31"}
