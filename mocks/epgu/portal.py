"""The portal side of mock ЕПГУ «Моё образование», with no HTTP routing in it.

`Portal` answers, for one ЕСИА user (oid), what the portal would show: the user's learners
(self and/or children) and, per learner, marks, attendance, schedule, homework,
achievements and events. It knows people the way ЕПГУ does, by their ЕСИА persona
(`load_personas`, the `personas.jsonl` of the dataset), and finds them in the showcase by
SNILS — the export tables carry no ЕСИА oid — falling back to last name, first name and
birth date when there is no SNILS or it differs. Children are the learners linked to the
representative found (`learner_representatives`) plus the persona's own `kids`.

Fresh data comes on demand from the journal through the ПОДД agent:
`{agent_url}/{journal_mnemonic}/ezhd/api/v1/...` (specs/openapi/journal.yaml) with
`X-Smev-Sender: {portal_mnemonic}`, `X-Smev-Message-Id` and `X-Esia-Oid`. A section the
journal does not answer (transport error, 4xx, 5xx, malformed body) falls back to the
showcase and carries the journal's `error`, so the page still renders. The showcase is read
in-process (the portal and the showcase are one mock), not through the agent's SQL mode.

The inbox takes the journal's event notifications (specs/openapi/portal.yaml
`postNotification`): JSON Schema validation, sender check, idempotency by
`notification_id`, consistency checks. Passwords pass through to the journal and are
never kept or listed: the request journal redacts them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import yaml

from mocks.common.journal import redact
from mocks.epgu.showcase import Showcase
from specs import OPENAPI_DIR

OID_RE = re.compile(r"^[1-9][0-9]{0,18}$")
KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,32}-[A-Za-z0-9_.:-]{1,100}$")
MAX_PERIOD_DAYS = 366

# section name → (table, journal path after /api/v1/learners/{id}/, date column, dated)
SECTIONS: dict[str, tuple[str, str, str, bool]] = {
    "marks": ("marks", "marks", "mark_date", True),
    "attendance": ("attendance", "attendance", "lesson_date", True),
    "schedule": ("lessons", "lessons", "lesson_date", True),
    "homework": ("homework", "homework", "due_date", True),
    "achievements": ("achievements", "achievements", "achievement_date", False),
    "events": ("events", "events", "start_datetime", True),
}


class PortalError(Exception):
    """A refusal of the portal: HTTP `status`, `error` code, Russian and English messages."""

    def __init__(self, status: int, error: str, message_en: str, message: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message_en)
        self.status, self.error, self.message_en = status, error, message_en
        self.message = message or message_en
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "message_en": self.message_en,
                "details": self.details}


@functools.lru_cache(maxsize=1)
def notification_validator() -> jsonschema.Draft202012Validator:
    """Validator of `Notification` as specs/openapi/portal.yaml states it."""
    doc = yaml.safe_load((OPENAPI_DIR / "portal.yaml").read_text(encoding="utf-8"))
    schema = {"$ref": "#/components/schemas/Notification", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def esia_date(text: str | None) -> str | None:
    """dd.MM.yyyy (ЕСИА) → YYYY-MM-DD (export)."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%d.%m.%Y").date().isoformat()
    except ValueError:
        return None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Portal:
    """The portal over one `Showcase` (its settings, store, journal and faults).

    `transport` is the httpx transport toward the agent (None = the network); tests pass an
    `httpx.ASGITransport` of a fake journal."""

    def __init__(self, showcase: Showcase, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.showcase = showcase
        self.transport = transport
        self._lock = threading.Lock()
        self._personas: dict[str, dict[str, Any]] = {}
        self._inbox: dict[str, tuple[dict[str, Any], str]] = {}
        self._seq = 0
        for p in showcase.store.load_personas():
            self._personas[str(p["oid"])] = p
        for entry, digest in showcase.store.load_notifications():
            self._seq += 1
            self._inbox[entry["notification_id"]] = (entry, digest)

    @property
    def settings(self):
        return self.showcase.settings

    def reset(self) -> None:
        with self._lock:
            self._personas.clear()
            self._inbox.clear()

    # -- personas -------------------------------------------------------------------------------

    def load_personas(self, personas: list[dict[str, Any]]) -> int:
        """Add or replace personas (dicts with `oid`, as in personas.jsonl); returns how many."""
        clean = []
        for p in personas:
            if not isinstance(p, dict) or not OID_RE.match(str(p.get("oid", ""))):
                raise ValueError("every persona needs a numeric oid")
            clean.append(p)
        self.showcase.store.save_personas(clean)
        with self._lock:
            for p in clean:
                self._personas[str(p["oid"])] = p
        return len(clean)

    def persona(self, oid: str | int) -> dict[str, Any] | None:
        return self._personas.get(str(oid))

    def personas(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._personas.values())

    # -- dates ------------------------------------------------------------------------------------

    def today(self) -> dt.date:
        return dt.date.fromisoformat(self.settings.portal_date) if self.settings.portal_date else dt.date.today()

    def period(self, date_from: str | None, date_to: str | None) -> tuple[dt.date, dt.date]:
        today = self.today()
        try:
            start = dt.date.fromisoformat(date_from) if date_from else today - dt.timedelta(days=self.settings.portal_days_back)
            end = dt.date.fromisoformat(date_to) if date_to else today + dt.timedelta(days=self.settings.portal_days_ahead)
        except ValueError:
            raise PortalError(400, "invalid_parameter", "from and to must be dates YYYY-MM-DD",
                              "Параметры from и to должны быть датами ГГГГ-ММ-ДД") from None
        if start > end:
            raise PortalError(400, "invalid_period", "from is after to", "Начало периода позже его конца")
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise PortalError(400, "period_too_long", f"the period is longer than {MAX_PERIOD_DAYS} days",
                              f"Период длиннее {MAX_PERIOD_DAYS} дней")
        return start, end

    # -- the showcase side ------------------------------------------------------------------------

    def _q(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        return self.showcase.store.select(sql, params)

    def _typed(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = self.showcase.tables[table]
        out = dict(row)
        for col in spec.columns:
            v = out.get(col.name)
            if v is None:
                continue
            if col.type == "integer":
                try:
                    out[col.name] = int(v)
                except ValueError:
                    pass
            elif col.type == "boolean":
                out[col.name] = v == self.showcase.tables.conventions.true_text
        return out

    def _match(self, table: str, persona: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """Rows of learners/representatives that are this persona: by SNILS, else by name and
        birth date."""
        snils = persona.get("snils")
        if snils:
            rows = self._q(f"SELECT * FROM showcase.{table} WHERE snils = ?", [snils])
            if rows:
                return rows, "snils"
        birth = esia_date(persona.get("birthDate"))
        if persona.get("lastName") and persona.get("firstName") and birth:
            rows = self._q(f"SELECT * FROM showcase.{table} WHERE last_name = ? AND first_name = ? "
                           f"AND birth_date = ?", [persona["lastName"], persona["firstName"], birth])
            if rows:
                return rows, "name_birth_date"
        return [], None

    def showcase_learners(self, persona: dict[str, Any]) -> list[dict[str, Any]]:
        """The persona's learners as the showcase knows them: self, children of the matching
        representatives, and the persona's `kids` matched one by one."""
        found: dict[str, dict[str, Any]] = {}
        me, how = self._match("learners", persona)
        for row in me:
            found[row["id"]] = {**row, "relation": "self", "matched_by": how}
        reps, how = self._match("representatives", persona)
        if reps:
            marks = ", ".join("?" for _ in reps)
            for row in self._q(f"SELECT l.* FROM showcase.learner_representatives lr JOIN showcase.learners l "
                               f"ON l.id = lr.learner_id WHERE lr.representative_id IN ({marks}) ORDER BY l.birth_date, l.id",
                               [r["id"] for r in reps]):
                found.setdefault(row["id"], {**row, "relation": "child", "matched_by": how})
        for kid_oid in persona.get("kids") or []:
            kid = self.persona(kid_oid)
            if kid is None:
                continue
            rows, kid_how = self._match("learners", kid)
            for row in rows:
                found.setdefault(row["id"], {**row, "relation": "child", "matched_by": f"kid_{kid_how}"})
        return list(found.values())

    def learner_card(self, learner_id: str) -> dict[str, Any]:
        """Name, school and current class of a learner from the showcase (empty if unknown)."""
        rows = self._q("SELECT l.*, o.name AS organisation_name FROM showcase.learners l "
                       "LEFT JOIN showcase.organisations o ON o.id = l.organisation_id WHERE l.id = ?", [learner_id])
        if not rows:
            return {}
        card = rows[0]
        today = self.today().isoformat()
        cls = self._q("SELECT c.id, c.name, c.academic_year FROM showcase.class_learners cl "
                      "JOIN showcase.classes c ON c.id = cl.class_id WHERE cl.learner_id = ? "
                      "ORDER BY (cl.start_date <= ? AND (cl.end_date IS NULL OR cl.end_date >= ?)) DESC, "
                      "cl.start_date DESC LIMIT 1", [learner_id, today, today])
        if cls:
            card.update(class_id=cls[0]["id"], class_name=cls[0]["name"])
        return card

    def showcase_section(self, section: str, learner_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Rows of one section from the stored tables, in the journal's order, with display names."""
        a, b = start.isoformat(), end.isoformat()
        if section == "marks":
            rows = self._q("SELECT m.*, s.name AS subject_name FROM showcase.marks m LEFT JOIN showcase.subjects s "
                           "ON s.id = m.subject_id WHERE m.learner_id = ? AND m.mark_date BETWEEN ? AND ? "
                           "ORDER BY m.mark_date, m.id", [learner_id, a, b])
        elif section == "attendance":
            rows = self._q("SELECT a.*, s.name AS subject_name, CAST(l.lesson_number AS INTEGER) AS lesson_number "
                           "FROM showcase.attendance a LEFT JOIN showcase.lessons l ON l.id = a.lesson_id "
                           "LEFT JOIN showcase.subjects s ON s.id = l.subject_id WHERE a.learner_id = ? "
                           "AND a.lesson_date BETWEEN ? AND ? ORDER BY a.lesson_date, lesson_number, a.id",
                           [learner_id, a, b])
        elif section == "schedule":
            rows = self._q("SELECT l.*, s.name AS subject_name, c.name AS class_name FROM showcase.lessons l "
                           "JOIN showcase.class_learners cl ON cl.class_id = l.class_id AND cl.learner_id = ? "
                           "AND l.lesson_date >= cl.start_date AND (cl.end_date IS NULL OR l.lesson_date <= cl.end_date) "
                           "LEFT JOIN showcase.subjects s ON s.id = l.subject_id "
                           "LEFT JOIN showcase.classes c ON c.id = l.class_id "
                           "WHERE l.lesson_date BETWEEN ? AND ? "
                           "ORDER BY l.lesson_date, CAST(l.lesson_number AS INTEGER), l.id", [learner_id, a, b])
        elif section == "homework":
            rows = self._q("SELECT DISTINCT h.*, s.name AS subject_name FROM showcase.homework h "
                           "JOIN showcase.class_learners cl ON cl.class_id = h.class_id AND cl.learner_id = ? "
                           "AND h.due_date >= cl.start_date AND (cl.end_date IS NULL OR h.due_date <= cl.end_date) "
                           "LEFT JOIN showcase.subjects s ON s.id = h.subject_id "
                           "WHERE h.due_date BETWEEN ? AND ? ORDER BY h.due_date, h.id", [learner_id, a, b])
        elif section == "achievements":
            rows = self._q("SELECT a.*, s.name AS subject_name FROM showcase.achievements a "
                           "LEFT JOIN showcase.subjects s ON s.id = a.subject_id WHERE a.learner_id = ? "
                           "ORDER BY a.achievement_date, a.id", [learner_id])
        elif section == "events":
            rows = self._q("SELECT e.* FROM showcase.events e JOIN showcase.event_learners el "
                           "ON el.event_id = e.id AND el.learner_id = ? "
                           "WHERE substr(e.start_datetime, 1, 10) BETWEEN ? AND ? ORDER BY e.start_datetime, e.id",
                           [learner_id, a, b])
        else:
            raise KeyError(section)
        return [self._typed(SECTIONS[section][0], r) for r in rows]

    def _enrich(self, section: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add the display names a journal may leave out (`subject_name`, and for attendance
        `lesson_number`) from the showcase; the journal's own values win."""
        if section == "attendance":
            wanted = sorted({i["lesson_id"] for i in items if isinstance(i.get("lesson_id"), str)
                             and (i.get("subject_name") is None or i.get("lesson_number") is None)})
            if wanted:
                marks = ", ".join("?" for _ in wanted)
                info = {r["id"]: r for r in self._q(
                    f"SELECT l.id, CAST(l.lesson_number AS INTEGER) AS lesson_number, s.name AS subject_name "
                    f"FROM showcase.lessons l LEFT JOIN showcase.subjects s ON s.id = l.subject_id "
                    f"WHERE l.id IN ({marks})", wanted)}
                items = [{**{k: v for k, v in info.get(i.get("lesson_id"), {}).items() if k != "id"},
                          **{k: v for k, v in i.items() if v is not None}} for i in items]
            return items
        wanted = sorted({i["subject_id"] for i in items if isinstance(i.get("subject_id"), str)
                         and i.get("subject_name") is None})
        if not wanted:
            return items
        marks = ", ".join("?" for _ in wanted)
        names = {r["id"]: r["name"] for r in self._q(f"SELECT id, name FROM showcase.subjects WHERE id IN ({marks})",
                                                      wanted)}
        return [{**i, "subject_name": names.get(i.get("subject_id"))} if i.get("subject_name") is None else i
                for i in items]

    # -- the journal side ---------------------------------------------------------------------

    def _journal_url(self, path: str) -> str:
        return f"{self.settings.agent_url.rstrip('/')}/{self.settings.journal_mnemonic}/ezhd{path}"

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=self.settings.journal_timeout)

    async def _call(self, client: httpx.AsyncClient, method: str, oid: str, path: str,
                    params: dict[str, str] | None = None, body: Any = None) -> tuple[int | None, Any, dict | None]:
        """(status, JSON body or None, error) of one journal call through the agent; every call
        goes to the request journal (direction `out`, secrets redacted)."""
        url = self._journal_url(path)
        headers = {"X-Smev-Sender": self.settings.portal_mnemonic, "X-Smev-Message-Id": str(uuid.uuid4()),
                   "X-Esia-Oid": str(oid), "Accept": "application/json"}
        started = time.perf_counter()
        entry: dict[str, Any] = {"direction": "out", "endpoint": "journal", "method": method, "url": url,
                                 "path": path, "query": dict(params or {}), "headers": headers}
        if body is not None:
            entry["json"] = body
        status: int | None = None
        data: Any = None
        error: dict[str, Any] | None = None
        try:
            resp = await client.request(method, url, params=params, headers=headers,
                                        json=body if body is not None else None)
            status = resp.status_code
            if resp.content:
                try:
                    data = resp.json()
                except ValueError:
                    data = None
                    if status != 204:
                        error = {"error": "invalid_answer", "status": status,
                                 "message": "the journal's answer is not JSON"}
            if error is None and not 200 <= status < 300:
                error = {"error": (data or {}).get("error", "journal_error") if isinstance(data, dict) else "journal_error",
                         "status": status,
                         "message": (data or {}).get("message", f"the journal answered {status}")
                         if isinstance(data, dict) else f"the journal answered {status}"}
        except httpx.HTTPError as exc:
            error = {"error": "journal_unavailable", "status": None,
                     "message": f"{type(exc).__name__}: {str(exc)[:200]}"}
        entry.update(status=status, duration_ms=round((time.perf_counter() - started) * 1000, 3))
        if error:
            entry["error"] = error
        self.showcase.record(entry)
        return status, data, error

    async def _section(self, client: httpx.AsyncClient, oid: str, section: str, learner_id: str,
                       start: dt.date, end: dt.date) -> dict[str, Any]:
        table, path, _, dated = SECTIONS[section]
        error: dict[str, Any] | None = None
        if self.settings.agent_url:
            params = {"from": start.isoformat(), "to": end.isoformat()} if dated else None
            status, data, error = await self._call(client, "GET", oid,
                                                   f"/api/v1/learners/{quote(learner_id, safe='')}/{path}", params)
            if error is None:
                items = data.get("items") if isinstance(data, dict) else None
                if isinstance(items, list) and all(isinstance(i, dict) for i in items):
                    return {"source": "journal", "items": self._enrich(section, items), "error": None}
                error = {"error": "invalid_answer", "status": status, "message": "no items list in the answer"}
        return {"source": "showcase", "items": self.showcase_section(section, learner_id, start, end),
                "error": error}

    async def overview(self, oid: str, date_from: str | None = None, date_to: str | None = None) -> dict[str, Any]:
        """What «Моё образование» shows to user `oid` for a period (default around today)."""
        oid = self._check_oid(oid)
        persona = self.persona(oid)
        if persona is None:
            raise PortalError(404, "unknown_person", f"the portal knows no ЕСИА user {oid}",
                              f"Пользователь ЕСИА {oid} порталу не известен")
        start, end = self.period(date_from, date_to)
        learners: dict[str, dict[str, Any]] = {}
        learners_error = None
        async with self._client() as client:
            if self.settings.agent_url:
                status, data, learners_error = await self._call(client, "GET", oid, "/api/v1/me/learners")
                if learners_error is None and isinstance(data, dict) and isinstance(data.get("learners"), list):
                    for ref in data["learners"]:
                        if isinstance(ref, dict) and isinstance(ref.get("learner_id"), str):
                            learners[ref["learner_id"]] = {"learner_id": ref["learner_id"],
                                                           "relation": ref.get("relation"), "source": "journal",
                                                           "journal": ref}
            for row in self.showcase_learners(persona):
                if row["id"] not in learners:
                    learners[row["id"]] = {"learner_id": row["id"], "relation": row["relation"],
                                           "source": "showcase", "matched_by": row["matched_by"]}
            out = []
            for lid, item in learners.items():
                card = self.learner_card(lid)
                ref = item.pop("journal", {}) or {}
                item.update({k: ref.get(k, card.get(k)) for k in (
                    "last_name", "first_name", "middle_name", "birth_date", "organisation_id", "class_id",
                    "class_name")})
                item["organisation_name"] = card.get("organisation_name")
                item["in_showcase"] = bool(card)
                names = list(SECTIONS)
                results = await asyncio.gather(*(self._section(client, oid, s, lid, start, end) for s in names))
                item["sections"] = dict(zip(names, results))
                out.append(item)
        out.sort(key=lambda i: (i["relation"] != "self", i.get("birth_date") or "", i["learner_id"]))
        return {"oid": oid, "person": self._person(persona), "period": {"from": start.isoformat(), "to": end.isoformat()},
                "today": self.today().isoformat(), "learners": out, "learners_error": learners_error,
                "notifications": self.inbox(oid=oid, latest_per_event=True)}

    @staticmethod
    def _person(p: dict[str, Any]) -> dict[str, Any]:
        return {"oid": str(p.get("oid")), "kind": p.get("kind"), "last_name": p.get("lastName"),
                "first_name": p.get("firstName"), "middle_name": p.get("middleName")}

    @staticmethod
    def _check_oid(oid: str) -> str:
        if not OID_RE.match(str(oid)):
            raise PortalError(400, "invalid_parameter", "oid must be a positive integer (ЕСИА oid)",
                              "oid должен быть положительным целым числом (OID ЕСИА)")
        return str(oid)

    async def journal_login(self, oid: str) -> dict[str, Any]:
        """The user's internal journal login (and each child's), asked from the journal
        (`GET /api/v1/me/login`). Never a password: any secret-named field is redacted and
        reported in `warnings`."""
        oid = self._check_oid(oid)
        async with self._client() as client:
            status, data, error = await self._call(client, "GET", oid, "/api/v1/me/login")
        self._raise_journal(status, data, error)
        if not isinstance(data, dict) or not isinstance(data.get("login"), str):
            raise PortalError(502, "invalid_answer", "the journal's answer has no login",
                              "В ответе журнала нет логина")
        clean = redact(data)
        warnings = ["the journal sent a secret field; it was removed"] if clean != data else []
        return {**clean, "warnings": warnings}

    async def password_reset(self, oid: str, learner_id: str, body: Any) -> None:
        """A parent sets a child's journal password (`POST /api/v1/learners/{id}/password`)."""
        oid = self._check_oid(oid)
        if not KEY_RE.match(learner_id or ""):
            raise PortalError(400, "invalid_parameter", "learner_id is not a prefixed key",
                              "learner_id не является ключом вида ПРЕФИКС-значение")
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str) or not 1 <= len(password) <= 128 or set(body) != {"password"}:
            raise PortalError(400, "invalid_body", "the body must be {\"password\": \"...\"} (1..128 characters)",
                              "Тело запроса должно быть {\"password\": \"...\"} (1..128 символов)")
        async with self._client() as client:
            status, data, error = await self._call(client, "POST", oid,
                                                   f"/api/v1/learners/{quote(learner_id, safe='')}/password",
                                                   body={"password": password})
        self._raise_journal(status, data, error)

    @staticmethod
    def _raise_journal(status: int | None, data: Any, error: dict[str, Any] | None) -> None:
        if error is None:
            return
        if status is not None and 400 <= status < 500:
            details = data.get("details", []) if isinstance(data, dict) else []
            raise PortalError(status, error.get("error", "journal_error"),
                              f"the journal refused: {error.get('message')}",
                              f"Журнал отказал: {error.get('message')}",
                              details=details if isinstance(details, list) else [])
        raise PortalError(502, "journal_unavailable", f"the journal is not available: {error.get('message')}",
                          "Журнал недоступен, попробуйте позже")

    # -- the inbox --------------------------------------------------------------------------------

    def notify(self, sender: str | None, message_id: str | None, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Take one notification (portal.yaml `postNotification`); (202, receipt) or PortalError."""
        if not sender or not self.showcase.is_source(sender):
            raise PortalError(403, "unknown_sender", "X-Smev-Sender is missing or not a registered journal",
                              "Отправитель (X-Smev-Sender) не указан или не является зарегистрированным журналом")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise PortalError(400, "invalid_body", f"the body is not UTF-8 JSON: {exc}",
                              "Тело запроса не является JSON в UTF-8") from None
        found = sorted(notification_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
        if found:
            details = [{"field": "/".join(map(str, e.absolute_path)) or "(body)", "rule": str(e.validator),
                        "message": e.message[:300]} for e in found[:20]]
            raise PortalError(400, "invalid_body", f"the body does not match Notification: {found[0].message[:200]}",
                              "Тело запроса не соответствует схеме Notification", details=details)
        event = data["event"]
        if data["action"] == "cancelled" and event["status"] != 2:
            raise PortalError(422, "inconsistent_event", "action cancelled requires event.status 2",
                              "Для отмены (cancelled) статус события должен быть 2",
                              details=[{"field": "event/status", "message": "must be 2 for cancelled"}])
        if event.get("end_datetime") and event["end_datetime"] < event["start_datetime"]:
            raise PortalError(422, "inconsistent_event", "end_datetime is before start_datetime",
                              "Окончание события раньше его начала",
                              details=[{"field": "event/end_datetime", "message": "before start_datetime"}])
        unknown = [o for o in data["recipient_oids"] if self.persona(o) is None]
        if unknown:
            raise PortalError(422, "unknown_recipient", f"recipients unknown to the portal: {', '.join(unknown[:10])}",
                              "Получатели не известны порталу",
                              details=[{"field": "recipient_oids", "message": o} for o in unknown[:10]])
        digest = _digest({"sender": sender, "body": data})
        with self._lock:
            seen = self._inbox.get(data["notification_id"])
            if seen is not None:
                entry, old = seen
                if old != digest:
                    raise PortalError(409, "notification_conflict",
                                      "this notification_id was sent before with different content",
                                      "Уведомление с этим notification_id уже получено с другим содержимым")
                return 202, {"notification_id": entry["notification_id"], "received_at": entry["received_at"],
                             "duplicate": True}
            self._seq += 1
            entry = {"notification_id": data["notification_id"], "sender": sender, "message_id": message_id,
                     "received_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "action": data["action"], "event": event, "learner_ids": data["learner_ids"],
                     "recipient_oids": data["recipient_oids"], "seq": self._seq}
            self._inbox[entry["notification_id"]] = (entry, digest)
            self.showcase.store.save_notification(entry, self._seq, digest)
        return 202, {"notification_id": entry["notification_id"], "received_at": entry["received_at"],
                     "duplicate": False}

    def inbox(self, oid: str | None = None, latest_per_event: bool = False) -> list[dict[str, Any]]:
        """Received notifications (redacted), oldest first; for one recipient with `oid`;
        `latest_per_event` keeps only the newest notification of each event."""
        with self._lock:
            entries = [e for e, _ in self._inbox.values()]
        entries.sort(key=lambda e: e["seq"])
        if oid is not None:
            entries = [e for e in entries if str(oid) in e["recipient_oids"]]
        if latest_per_event:
            by_event: dict[str, dict[str, Any]] = {}
            for e in entries:
                by_event[e["event"]["id"]] = e
            entries = sorted(by_event.values(), key=lambda e: e["seq"])
        return [redact(e) for e in entries]

    def clear_inbox(self) -> None:
        with self._lock:
            self._inbox.clear()
            self.showcase.store.clear_meta(("notifications",))
