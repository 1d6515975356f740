"""The journal driver: what a test needs to do in a journal's own user interface.

Some requirements can only be checked by acting as a user of the journal itself: a learner of
14 adding an achievement (ROLE-03), a learner under 14 trying to write (ROLE-02), a teacher
changing a mark so the change must reach the showcase (EXP-03/04), a school administrator
deciding a join request (ROLE-05), the auditor reading the event log (LOG-02). Each journal
has its own screens for this, so the suite talks to it through a driver, as browser tests do
through page objects: `JournalDriver` names the operations. A journal supplies them in one
of two ways: a driver *service* in any language speaking `specs/openapi/driver.yaml` (sut.toml
`[driver] url`), which `HttpDriver` talks to — its operations are read from that file, so an
operation is one path there plus the `UserSession` method naming it — or a Python class
(sut.toml `[driver] class = "package.module:Class"`). `ReferenceDriver` implements them for the
bundled reference journal over its web API (`/web/api/v1`); the reference journal also serves
the driver service (`reference_journal/driver_api.py`).

Every operation returns an `Answer`: `ok` when the journal did it, else refused (the status
and body say how). A driver that cannot do an operation raises `NotImplementedError`; the
test is then SKIPPED with that reason (an untested MUST still blocks sign-off). Without a
driver the tests that need one are SKIPPED the same way.

Identifiers are the journal's record ids as in the exported tables (`learner_id`, `mark_id`,
…); field names and values are those of `specs/tables/*.yaml`.
"""
from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import httpx

from conformance import evidence
from conformance.verdicts import EnvironmentProblem
from specs import OPENAPI_DIR, load_yaml

ADMIN_PASSWORD_ENV = "EZHD_JOURNAL_ADMIN_PASSWORD"
DRIVER_SPEC = OPENAPI_DIR / "driver.yaml"


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

    def add_record(self, table: str, **fields: Any) -> Answer:
        """Add one record of an export table (specs/tables; values in the export text form; a
        hashed column takes the clear value the journal must depersonalise). Administrator."""
        raise NotImplementedError("add_record")

    def change_record(self, table: str, key: dict[str, str], **fields: Any) -> Answer:
        """Change fields of the record of `table` with primary key `key` (column -> text)."""
        raise NotImplementedError("change_record")

    def delete_record(self, table: str, key: dict[str, str]) -> Answer:
        """Delete the record of `table` with primary key `key` (column -> text)."""
        raise NotImplementedError("delete_record")

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
        """The journal's administrator, who creates accounts and reads the event log: signed
        in with the run's `driver.admin_login` and the password in `$driver.admin_password_env`."""
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

    def add_record(self, table: str, **fields: Any) -> Answer:
        return self._call("POST", f"/records/{table}", json={"fields": fields})

    def change_record(self, table: str, key: dict[str, str], **fields: Any) -> Answer:
        return self._call("PATCH", f"/records/{table}", json={"key": key, "fields": fields})

    def delete_record(self, table: str, key: dict[str, str]) -> Answer:
        return self._call("DELETE", f"/records/{table}", json={"key": key})

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

    def close(self) -> None:
        for client in [self.http, *self._clients]:
            client.close()


# --- the driver service over HTTP (specs/openapi/driver.yaml) ---------------------------------

@dataclass(frozen=True)
class Operation:
    """One operation of driver.yaml: `POST path` with `args` (positional, in order) and, when
    `fields`, the keyword arguments as the body's `fields`."""

    name: str
    path: str
    args: tuple[str, ...]
    fields: bool
    required: tuple[str, ...] = ()

    def body(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of a call `name(*args, **kwargs)`, as the Python method takes them."""
        if len(args) > len(self.args):
            raise TypeError(f"{self.name}() takes {len(self.args)} positional arguments, {len(args)} given")
        body = dict(zip(self.args, args))
        kwargs = dict(kwargs)
        for name in self.args[len(args):]:
            if name in kwargs:
                body[name] = kwargs.pop(name)
        missing = [a for a in self.required if a not in body]
        if missing:
            raise TypeError(f"{self.name}() is missing arguments: {', '.join(missing)}")
        if self.fields:
            body["fields"] = kwargs
        elif kwargs:
            raise TypeError(f"{self.name}() got unexpected keyword arguments {', '.join(sorted(kwargs))}")
        return body


@functools.lru_cache(maxsize=1)
def driver_operations() -> dict[str, Operation]:
    """The session operations of specs/openapi/driver.yaml (tag `operation`), by name."""
    doc = load_yaml(DRIVER_SPEC)
    ops = {}
    for path, item in doc["paths"].items():
        op = item.get("post") or {}
        if "operation" not in op.get("tags", []):
            continue
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        ops[op["operationId"]] = Operation(op["operationId"], path, tuple(schema.get("x-args") or ()),
                                           "fields" in (schema.get("properties") or {}),
                                           tuple(schema.get("required") or ()))
    return ops


class HttpSession(UserSession):
    """A session of the driver service; its methods are made from driver.yaml (below)."""

    def __init__(self, driver: "HttpDriver", handle: str) -> None:
        self.driver, self.handle = driver, handle


def _operation_method(op: Operation) -> Callable[..., Answer]:
    def method(self: HttpSession, *args: Any, **kwargs: Any) -> Answer:
        path = op.path.replace("{session}", quote(self.handle, safe=""))
        return self.driver.answer(op.name, self.driver.post(path, op.body(args, kwargs)))

    method.__name__ = method.__qualname__ = op.name
    method.__doc__ = f"`POST {op.path}` of specs/openapi/driver.yaml."
    return method


for _op in driver_operations().values():
    setattr(HttpSession, _op.name, _operation_method(_op))


class HttpDriver(JournalDriver):
    """A driver service in any language, speaking specs/openapi/driver.yaml at the run's
    `driver.url` (with `Authorization: Bearer $driver.token_env` when the run names one).
    A 501 from the service is `NotImplementedError` (the test is SKIPPED, saying which)."""

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(run)
        info = run.get("driver") or {}
        self.base = str(info["url"]).rstrip("/")
        self.journal_host = httpx.URL(run["journal"]["base_url"]).host
        token = os.environ.get(info.get("token_env") or "") if info.get("token_env") else None
        self.http = evidence.client("driver", headers={"Authorization": f"Bearer {token}"} if token else {})
        self._handles: list[str] = []

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self.http.post(self.base + path, json=body)
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"the driver service at {self.base} did not answer POST {path}: {exc}") from None

    def answer(self, what: str, resp: httpx.Response) -> Answer:
        """The journal's answer inside the service's 200, or the service's own error raised."""
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 501:
            raise NotImplementedError(what)
        if resp.status_code != 200 or not isinstance(data, dict) or not isinstance(data.get("status"), int):
            error = data.get("error") if isinstance(data, dict) else None
            message = data.get("message") if isinstance(data, dict) else resp.text[:200]
            raise EnvironmentProblem(f"the driver service refused {what}: HTTP {resp.status_code}"
                                     + (f" {error}" if error else "") + (f": {message}" if message else ""))
        return Answer(data["status"], data.get("data"))

    def _session(self, handle: Any) -> HttpSession | None:
        if not isinstance(handle, str) or not handle:
            return None
        self._handles.append(handle)
        return HttpSession(self, handle)

    def sign_in(self, login: str, password: str) -> tuple[Answer, UserSession | None]:
        resp = self.post("/sessions", {"login": login, "password": password})
        answer = self.answer("sign_in", resp)
        return answer, (self._session(resp.json().get("session")) if answer.ok else None)

    def session(self, browser: httpx.Client) -> UserSession:
        cookies = {c.name: c.value for c in browser.cookies.jar if c.domain.lstrip(".") == self.journal_host}
        resp = self.post("/sessions/browser", {"cookies": cookies})
        if resp.status_code == 501:
            raise NotImplementedError("session")
        handle = resp.json().get("session") if resp.status_code == 200 else None
        session = self._session(handle)
        if session is None:
            raise EnvironmentProblem(f"the driver service gave no session for the browser: HTTP {resp.status_code} "
                                     f"{resp.text[:200]}")
        return session

    def browser_sign_in(self, browser: httpx.Client, login: str, password: str) -> Answer:
        resp = self.post("/browser-sign-in", {"login": login, "password": password})
        answer = self.answer("browser_sign_in", resp)
        for cookie in resp.json().get("cookies") or []:
            browser.cookies.set(cookie["name"], cookie["value"], domain=self.journal_host,
                                path=cookie.get("path") or "/")
        return answer

    def close(self) -> None:
        for handle in self._handles:
            try:
                self.http.delete(f"{self.base}/sessions/{quote(handle, safe='')}")
            except httpx.HTTPError:
                break
        self.http.close()


def load_driver(run: dict[str, Any]) -> JournalDriver | None:
    """The driver the run names: `HttpDriver` for `run["driver"]["url"]`, else the class
    `run["driver"]["class"]` ("module:Class"), or None."""
    info = run.get("driver") or {}
    if info.get("url"):
        return HttpDriver(run)
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
