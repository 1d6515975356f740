"""The journal driver: what a test needs to do in a journal's own user interface.

Some requirements can only be checked by acting as a user of the journal itself: a learner of
14 adding an achievement (ROLE-03), a learner under 14 trying to write (ROLE-02), a teacher
changing a mark so the change must reach the showcase (EXP-03/04), a school administrator
deciding a join request (ROLE-05), the auditor reading the event log (LOG-02). Each journal
has its own screens for this, so the suite talks to it through a driver, as browser tests do
through page objects: `JournalDriver` names the operations, a journal supplies the class
(sut.toml `[driver] class = "package.module:Class"`), and `ReferenceDriver` implements them
for the bundled reference journal over its web API (`/web/api/v1`).

Every operation returns an `Answer`: `ok` when the journal did it, else refused (the status
and body say how). A driver that cannot do an operation raises `NotImplementedError`; the
test is then SKIPPED with that reason (an untested MUST still blocks sign-off). Without a
driver the tests that need one are SKIPPED the same way.

Identifiers are the journal's record ids as in the exported tables (`learner_id`, `mark_id`,
…); field names and values are those of `specs/tables/*.yaml`.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import httpx

from conformance import evidence
from conformance.verdicts import EnvironmentProblem

ADMIN_PASSWORD_ENV = "EZHD_JOURNAL_ADMIN_PASSWORD"


@dataclass
class Answer:
    """How the journal answered one operation."""

    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        text = str(self.data)
        return f"HTTP {self.status}: {text[:300]}"


class UserSession:
    """One signed-in user of the journal. Override every operation for another journal."""

    def me(self) -> Answer:
        """Who the session belongs to; not ok once the session has ended."""
        raise NotImplementedError("me")

    def diary(self, learner_id: str, section: str, start: str, end: str) -> Answer:
        """A learner's marks/attendance/lessons/homework/achievements/events for a period."""
        raise NotImplementedError("diary")

    def add_achievement(self, learner_id: str, **fields: Any) -> Answer:
        raise NotImplementedError("add_achievement")

    def delete_achievement(self, achievement_id: str) -> Answer:
        raise NotImplementedError("delete_achievement")

    def add_mark(self, learner_id: str, **fields: Any) -> Answer:
        raise NotImplementedError("add_mark")

    def change_mark(self, mark_id: str, **fields: Any) -> Answer:
        raise NotImplementedError("change_mark")

    def delete_mark(self, mark_id: str) -> Answer:
        raise NotImplementedError("delete_mark")

    def record_attendance(self, learner_id: str, **fields: Any) -> Answer:
        raise NotImplementedError("record_attendance")

    def add_event(self, **fields: Any) -> Answer:
        raise NotImplementedError("add_event")

    def change_event(self, event_id: str, **fields: Any) -> Answer:
        raise NotImplementedError("change_event")

    def cancel_event(self, event_id: str) -> Answer:
        raise NotImplementedError("cancel_event")

    def change_password(self, new_password: str, current_password: str | None = None) -> Answer:
        raise NotImplementedError("change_password")

    def file_join_request(self, **fields: Any) -> Answer:
        raise NotImplementedError("file_join_request")

    def join_requests(self) -> Answer:
        raise NotImplementedError("join_requests")

    def decide_join_request(self, request_id: str, decision: str, **fields: Any) -> Answer:
        raise NotImplementedError("decide_join_request")

    def create_account(self, login: str, password: str) -> Answer:
        raise NotImplementedError("create_account")

    def audit_events(self, start: str, end: str) -> Answer:
        """The security event log of a period (journal administrator / auditor)."""
        raise NotImplementedError("audit_events")

    def sign_out(self) -> Answer:
        raise NotImplementedError("sign_out")


class JournalDriver:
    """A journal's driver: makes sessions. Subclass it for a vendor's journal."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run

    def session(self, browser: httpx.Client) -> UserSession:
        """The session of a browser that signed in through ЕСИА (its cookies)."""
        raise NotImplementedError("session")

    def sign_in(self, login: str, password: str) -> tuple[Answer, UserSession | None]:
        """Sign in with the journal's own login and password (CRED-01, AUTH-10)."""
        raise NotImplementedError("sign_in")

    def browser_sign_in(self, browser: httpx.Client, login: str, password: str) -> Answer:
        """Sign in with the journal's own login and password *in `browser`*, so that the
        browser carries the session (its cookies) to the journal's pages, e.g. to link ЕСИА
        from the personal settings (AUTH-07)."""
        raise NotImplementedError("browser_sign_in")

    def administrator(self) -> UserSession:
        """The journal's administrator, who creates accounts and reads the event log."""
        raise NotImplementedError("administrator")

    def close(self) -> None:
        pass


class _ReferenceSession(UserSession):
    def __init__(self, http: httpx.Client, base: str, headers: dict[str, str] | None = None) -> None:
        self.http, self.base, self.headers = http, base, headers or {}

    def _call(self, method: str, path: str, **kwargs: Any) -> Answer:
        try:
            resp = self.http.request(method, self.base + path, headers=self.headers, **kwargs)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"the journal did not answer {method} {path}: {exc}") from None
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = resp.text
        return Answer(resp.status_code, data)

    def me(self) -> Answer:
        return self._call("GET", "/me")

    def diary(self, learner_id: str, section: str, start: str, end: str) -> Answer:
        return self._call("GET", f"/learners/{learner_id}/{section}", params={"from": start, "to": end})

    def add_achievement(self, learner_id: str, **fields: Any) -> Answer:
        return self._call("POST", f"/learners/{learner_id}/achievements", json=fields)

    def delete_achievement(self, achievement_id: str) -> Answer:
        return self._call("DELETE", f"/achievements/{achievement_id}")

    def add_mark(self, learner_id: str, **fields: Any) -> Answer:
        return self._call("POST", f"/learners/{learner_id}/marks", json=fields)

    def change_mark(self, mark_id: str, **fields: Any) -> Answer:
        return self._call("PATCH", f"/marks/{mark_id}", json=fields)

    def delete_mark(self, mark_id: str) -> Answer:
        return self._call("DELETE", f"/marks/{mark_id}")

    def record_attendance(self, learner_id: str, **fields: Any) -> Answer:
        return self._call("POST", f"/learners/{learner_id}/attendance", json=fields)

    def add_event(self, **fields: Any) -> Answer:
        return self._call("POST", "/events", json=fields)

    def change_event(self, event_id: str, **fields: Any) -> Answer:
        return self._call("PATCH", f"/events/{event_id}", json=fields)

    def cancel_event(self, event_id: str) -> Answer:
        return self._call("POST", f"/events/{event_id}/cancel")

    def change_password(self, new_password: str, current_password: str | None = None) -> Answer:
        body = {"new_password": new_password}
        if current_password is not None:
            body["current_password"] = current_password
        return self._call("PUT", "/me/password", json=body)

    def file_join_request(self, **fields: Any) -> Answer:
        return self._call("POST", "/join-requests", json=fields)

    def join_requests(self) -> Answer:
        return self._call("GET", "/join-requests")

    def decide_join_request(self, request_id: str, decision: str, **fields: Any) -> Answer:
        return self._call("POST", f"/join-requests/{request_id}/decision", json={"decision": decision, **fields})

    def create_account(self, login: str, password: str) -> Answer:
        return self._call("POST", "/accounts", json={"login": login, "password": password})

    def audit_events(self, start: str, end: str) -> Answer:
        return self._call("GET", "/audit/events", params={"from": start, "to": end})

    def sign_out(self) -> Answer:
        return self._call("DELETE", "/session")


class ReferenceDriver(JournalDriver):
    """The bundled reference journal's driver, over its web API (`/web/api/v1`)."""

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(run)
        self.base = run["journal"]["base_url"].rstrip("/") + "/web/api/v1"
        self.http = evidence.client("sut")
        self._clients: list[httpx.Client] = []

    def session(self, browser: httpx.Client) -> UserSession:
        return _ReferenceSession(browser, self.base)     # the browser's session cookie

    def sign_in(self, login: str, password: str) -> tuple[Answer, UserSession | None]:
        answer = _ReferenceSession(self.http, self.base)._call(
            "POST", "/session", json={"login": login, "password": password})
        if not answer.ok or not isinstance(answer.data, dict) or not answer.data.get("token"):
            return answer, None
        # a session of its own: bearer token, no cookie shared with other sessions
        client = evidence.client("sut")
        self._clients.append(client)
        return answer, _ReferenceSession(client, self.base, {"Authorization": f"Bearer {answer.data['token']}"})

    def browser_sign_in(self, browser: httpx.Client, login: str, password: str) -> Answer:
        return _ReferenceSession(browser, self.base)._call("POST", "/session",
                                                           json={"login": login, "password": password})

    def administrator(self) -> UserSession:
        info = self.run.get("driver") or {}
        login, env = info.get("admin_login"), info.get("admin_password_env", ADMIN_PASSWORD_ENV)
        password = os.environ.get(env or "")
        if not login or not password:
            raise EnvironmentProblem(f"the journal administrator's login or password is not known "
                                     f"(run file driver.admin_login, ${env})")
        answer, session = self.sign_in(login, password)
        if session is None:
            raise EnvironmentProblem(f"the journal administrator could not sign in: {answer.describe()}")
        return session

    def close(self) -> None:
        for client in [self.http, *self._clients]:
            client.close()


def load_driver(run: dict[str, Any]) -> JournalDriver | None:
    """The driver the run names (`run["driver"]["class"]`, "module:Class"), or None."""
    info = run.get("driver") or {}
    spec = info.get("class")
    if not spec:
        return None
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise EnvironmentProblem(f"cannot load the journal driver {spec!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, JournalDriver)):
        raise EnvironmentProblem(f"the journal driver {spec!r} is not a conformance.driver.JournalDriver")
    return cls(run)
