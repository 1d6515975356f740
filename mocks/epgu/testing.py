"""In-process use of mock ЕПГУ: a fake journal behind a fake agent, and upload helpers.

- `FakeJournal(dataset)` — a small ASGI app answering a few operations of
  specs/openapi/journal.yaml (`/api/v1/me/learners`, `/api/v1/me/login`, the six
  learner-scoped diary reads, `POST /api/v1/learners/{id}/password`) under the agent prefix
  `/{journal_mnemonic}/ezhd`, from the rows and personas of a generated dataset. It checks
  the caller (`X-Smev-Sender`), the user (`X-Esia-Oid`) and the family as journal.yaml says,
  records every call in `calls`, and fails a section on request (`fail["marks"] = 503`).
  Point the portal at it with `create_app(agent_transport=httpx.ASGITransport(app=fake.app),
  agent_url="http://agent.test")`.
- `upload_directory(client, directory, sender=...)` — POST every `{table}.csv` of a dataset
  directory in export order; `wait_final(client, request_id, sender)` — poll to a final code.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from specs.tables import TableSet, load_tables
from specs.values import format_value

OID_RE = re.compile(r"^[1-9][0-9]{0,18}$")
FINAL = {3, 4, 5, 7}
SECTION_PATHS = ("marks", "attendance", "lessons", "homework", "achievements", "events")


def _err(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "details": []}, status_code=status)


class FakeJournal:
    """A journal that knows a generated dataset (`fixtures.dataset.Dataset`)."""

    def __init__(self, dataset: Any, mnemonic: str = "MNSV03", portal_mnemonic: str = "EPGU",
                 tables: TableSet | None = None) -> None:
        self.tables = tables or load_tables()
        self.mnemonic = mnemonic
        self.portal_mnemonic = portal_mnemonic
        self.calls: list[dict[str, Any]] = []
        self.fail: dict[str, int] = {}          # section or "learners"/"login"/"password" → status
        self.passwords: dict[str, str] = {}
        self.login_extra: dict[str, Any] = {}    # merged into the getInternalLogin answer
        self.rows = {name: [self._json_row(name, r) for r in rows] for name, rows in dataset.rows.items()}
        self.personas = {str(p["oid"]): p for p in dataset.personas}
        self.learners = {r["id"]: r for r in self.rows["learners"]}
        self.children: dict[str, list[str]] = defaultdict(list)
        for link in self.rows["learner_representatives"]:
            self.children[link["representative_id"]].append(link["learner_id"])
        self.by_learner: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for name in ("marks", "attendance", "achievements"):
            for r in self.rows[name]:
                self.by_learner[name][r["learner_id"]].append(r)
        self.classes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for cl in self.rows["class_learners"]:
            self.classes[cl["learner_id"]].append(cl)
        self.lessons_by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows["lessons"]:
            self.lessons_by_class[r["class_id"]].append(r)
        self.homework_by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows["homework"]:
            self.homework_by_class[r["class_id"]].append(r)
        events = {r["id"]: r for r in self.rows["events"]}
        self.events_by_learner: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows["event_learners"]:
            self.events_by_learner[r["learner_id"]].append(events[r["event_id"]])
        lesson_number = {r["id"]: r["lesson_number"] for r in self.rows["lessons"]}
        self._order = {
            "marks": lambda r: (r["mark_date"], r["id"]),
            "attendance": lambda r: (r["lesson_date"], lesson_number.get(r["lesson_id"], 0), r["id"]),
            "lessons": lambda r: (r["lesson_date"], r["lesson_number"], r["id"]),
            "homework": lambda r: (r["due_date"], r["id"]),
            "achievements": lambda r: (r["achievement_date"], r["id"]),
            "events": lambda r: (r["start_datetime"], r["id"]),
        }
        prefix = f"/{mnemonic}/ezhd/api/v1"
        self.app = Starlette(routes=[
            Route(prefix + "/me/learners", self._me_learners, methods=["GET"]),
            Route(prefix + "/me/login", self._me_login, methods=["GET"]),
            Route(prefix + "/learners/{learner_id}/password", self._password, methods=["POST"]),
            Route(prefix + "/learners/{learner_id}/{section}", self._section, methods=["GET"]),
        ])

    def _json_row(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        spec, conv = self.tables[table], self.tables.conventions
        out: dict[str, Any] = {}
        for col in spec.columns:
            value = row.get(col.name)
            if value is None:
                out[col.name] = None
            elif col.type == "integer":
                out[col.name] = int(value)
            elif col.type == "boolean":
                out[col.name] = bool(value)
            else:
                out[col.name] = format_value(col, value, conv)
        return out

    # -- checks common to every operation --------------------------------------------------------

    def _caller(self, request: Request, op: str) -> tuple[dict[str, Any] | None, Response | None]:
        call = {"method": request.method, "path": request.url.path, "query": dict(request.query_params),
                "sender": request.headers.get("x-smev-sender"), "oid": request.headers.get("x-esia-oid"),
                "message_id": request.headers.get("x-smev-message-id"), "op": op}
        self.calls.append(call)
        if request.headers.get("x-smev-sender") != self.portal_mnemonic:
            return None, _err(403, "caller_not_portal", "the caller is not the portal")
        oid = request.headers.get("x-esia-oid", "")
        if not OID_RE.match(oid):
            return None, _err(400, "missing_parameter", "X-Esia-Oid is missing or not an oid")
        if op in self.fail:
            return None, _err(self.fail[op], "injected", f"{op} fails (fake journal)")
        persona = self.personas.get(oid)
        if persona is None:
            return None, _err(404, "user_not_linked", "no journal user is linked to this oid")
        return persona, None

    def family(self, persona: dict[str, Any]) -> list[tuple[str, str]]:
        if persona["kind"] == "learner":
            return [(persona["journal_id"], "self")]
        if persona["kind"] == "representative":
            return [(lid, "child") for lid in self.children.get(persona["journal_id"], [])]
        return []

    # -- operations ---------------------------------------------------------------------------------

    async def _me_learners(self, request: Request) -> Response:
        persona, refusal = self._caller(request, "learners")
        if refusal:
            return refusal
        out = []
        for lid, relation in self.family(persona):
            r = self.learners[lid]
            cls = sorted(self.classes.get(lid, []), key=lambda c: c["start_date"])
            out.append({"learner_id": lid, "relation": relation, "last_name": r["last_name"],
                        "first_name": r["first_name"], "middle_name": r["middle_name"],
                        "birth_date": r["birth_date"], "organisation_id": r["organisation_id"],
                        "class_id": cls[-1]["class_id"] if cls else None})
        return JSONResponse({"oid": str(persona["oid"]), "learners": out})

    async def _me_login(self, request: Request) -> Response:
        persona, refusal = self._caller(request, "login")
        if refusal:
            return refusal
        kids = [{"learner_id": lid, "login": f"learner.{lid.lower()}"}
                for lid, rel in self.family(persona) if rel == "child"]
        return JSONResponse({"oid": str(persona["oid"]), "login": f"user{persona['oid']}", "learners": kids,
                             **self.login_extra})

    def _learner(self, persona: dict[str, Any], learner_id: str) -> Response | None:
        if learner_id not in self.learners:
            return _err(404, "learner_not_found", "no learner with this id")
        if learner_id not in [lid for lid, _ in self.family(persona)]:
            return _err(403, "not_in_family", "the learner is not linked to this user")
        return None

    async def _password(self, request: Request) -> Response:
        persona, refusal = self._caller(request, "password")
        if refusal:
            return refusal
        lid = request.path_params["learner_id"]
        refusal = self._learner(persona, lid)
        if refusal:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return _err(400, "invalid_body", "not JSON")
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str) or len(password) < 8:
            return JSONResponse({"error": "password_policy", "message": "the password does not satisfy the policy",
                                 "details": [{"field": "password", "rule": "min_length",
                                              "message": "at least 8 characters are required"}]}, status_code=400)
        self.passwords[lid] = password
        return Response(status_code=204)

    async def _section(self, request: Request) -> Response:
        section = request.path_params["section"]
        persona, refusal = self._caller(request, section)
        if refusal:
            return refusal
        if section not in SECTION_PATHS:
            return _err(404, "not_found", "no such method")
        lid = request.path_params["learner_id"]
        refusal = self._learner(persona, lid)
        if refusal:
            return refusal
        start, end = request.query_params.get("from"), request.query_params.get("to")
        if section != "achievements" and not (start and end):
            return _err(400, "missing_parameter", "from and to are required")
        try:
            if start:
                dt.date.fromisoformat(start)
            if end:
                dt.date.fromisoformat(end)
        except ValueError:
            return _err(400, "invalid_parameter", "from/to are not dates")

        def within(day: str | None) -> bool:
            return day is not None and (not start or day[:10] >= start) and (not end or day[:10] <= end)

        if section in ("marks", "attendance", "achievements"):
            column = {"marks": "mark_date", "attendance": "lesson_date", "achievements": "achievement_date"}[section]
            items = [r for r in self.by_learner[section][lid] if within(r[column])]
        elif section in ("lessons", "homework"):
            column = "lesson_date" if section == "lessons" else "due_date"
            source = self.lessons_by_class if section == "lessons" else self.homework_by_class
            items = [r for cl in self.classes.get(lid, []) for r in source[cl["class_id"]]
                     if within(r[column]) and r[column] >= cl["start_date"]
                     and (cl["end_date"] is None or r[column] <= cl["end_date"])]
        else:
            items = [r for r in self.events_by_learner[lid] if within(r["start_datetime"])]
        items.sort(key=self._order[section])        # the orders journal.yaml states
        return JSONResponse({"learner_id": lid, "from": start, "to": end, "items": items})


# --- upload helpers --------------------------------------------------------------------------------

def upload_directory(client: httpx.Client, directory: Path | str, *, sender: str, datamart: str = "myedu",
                     tables: Iterable[str] | None = None) -> dict[str, str]:
    """POST each `{table}.csv` of `directory` in export order; {table: request id}."""
    spec = load_tables()
    wanted = list(tables) if tables is not None else list(spec.export_order())
    out: dict[str, str] = {}
    for name in spec.export_order():
        path = Path(directory) / f"{name}.csv"
        if name not in wanted or not path.exists():
            continue
        r = client.post(f"/v2/datamarts/{datamart}/tables/{name}/upload", content=path.read_bytes(),
                        headers={"Content-Type": "text/csv", "X-Smev-Sender": sender})
        if r.status_code != 200:
            raise AssertionError(f"upload of {name} answered {r.status_code}: {r.text[:300]}")
        out[name] = r.text
    return out


def wait_final(client: httpx.Client, request_id: str, *, sender: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the status until a final code; the last status."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v2/requests/{request_id}/status", headers={"X-Smev-Sender": sender}).json()
        if body["code"] in FINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.01)
