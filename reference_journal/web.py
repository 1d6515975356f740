"""The journal's own web API (what its pages and mobile app use), under `/web/api/v1`, and the
status page `/`.

Sessions. `POST /web/api/v1/session` signs in with the internal login and password (the
login the portal hands over, CRED-01; AUTH-10 for children under 14) and returns a bearer
token, also set as the `ezhd_session` cookie; the auth slot opens sessions the same way after
a ЕСИА sign-in. `DELETE /web/api/v1/session` signs out (AUTH-11; with the auth slot, the
answer carries ЕСИА's logout URL).

Rules (ROLE-*). Reading a learner's diary: the learner, their linked representatives, staff
of the learner's school; an account whose join request is not approved sees nothing
(ROLE-05). Writing: a learner under 14 writes nothing (ROLE-02); a learner of 14 or over adds
and removes their own achievements (ROLE-03), which their parents see; staff add
achievements and marks for learners of their school, record attendance (absence and lateness
per lesson) of those learners and create, change and cancel the school's events with their
learners (values checked against `specs/tables`); a representative writes no diary data.
School administrators decide join requests of their school; the journal administrator
(`Settings.admin_login`) creates accounts and reads the event log for a period (LOG-02).
Every change of data is a DATA_CHANGE event and a change-log entry for the export.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from reference_journal import __version__
from reference_journal import events as ev
from reference_journal.accounts import Account
from reference_journal.api import KEY_RE, _check_period, _date, client_ip, learner_ref
from reference_journal.core import CHILD, SELF, STAFF, Journal
from reference_journal.diary import SECTIONS
from reference_journal.errors import Detail, JournalError
from reference_journal.passwords import policy_violations, verify_password
from specs.values import ValueRuleError, check_value, format_value

COOKIE = "ezhd_session"
LATE = 4  # attendance_status: опоздал (ОП)
MAX_BODY = 64 * 1024
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                          autoescape=jinja2.select_autoescape(["html"]))


def _journal(request: Request) -> Journal:
    return request.app.state.journal


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.cookies.get(COOKIE)


def _not_signed_in() -> JournalError:
    return JournalError(401, "not_signed_in", "нужно войти в журнал", "sign in first",
                        headers={"WWW-Authenticate": "Bearer"})


def session_of(request: Request) -> tuple[dict[str, Any], Account]:
    found = _journal(request).sessions.get(_token(request))
    if found is None:
        raise _not_signed_in()
    return found


def _forbidden(error: str, ru: str, en: str) -> JournalError:
    return JournalError(403, error, ru, en)



def _data_change(j, request: Request, account, table: str, row_id: str, operation: str, **details: Any) -> None:
    """Log a change of school data (LOG-01): who, which row, what operation, from where."""
    if table == "marks" and j.defect_on("MARK_CHANGE_NOT_LOGGED"):
        return
    j.events.record(ev.DATA_CHANGE, account.label, object=f"{table}:{row_id}", ip=client_ip(request),
                    details={"operation": operation, **details})

async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise JournalError(413, "too_large", "тело запроса слишком велико", "the body is too large")
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise JournalError(400, "invalid_body", "тело запроса должно быть объектом JSON", "the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = True,
           max_length: int | None = None, choices: Any = None) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise JournalError(400, "invalid_body", f"не заполнено поле «{name}»", f'field "{name}" is required',
                               [Detail("обязательное поле", "required", field=name, rule="required")])
        return None
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is int)
    if ok and isinstance(value, str):
        ok = bool(value.strip()) and (max_length is None or len(value) <= max_length)
    if ok and choices is not None:
        ok = value in choices
    if not ok:
        raise JournalError(400, "invalid_body", f"недопустимое значение поля «{name}»", f'field "{name}" is invalid',
                           [Detail("недопустимое значение", "invalid value", field=name, rule="value")])
    return value


def _date_field(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    text = _field(data, name, str, required)
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise JournalError(400, "invalid_body", f"поле «{name}» — не дата ГГГГ-ММ-ДД", f'field "{name}" is not a date',
                           [Detail("ожидается ГГГГ-ММ-ДД", "expected YYYY-MM-DD", field=name, rule="format.date")]) from None


def _codes(j: Journal, table: str, column: str) -> set[int]:
    enum = j.tables[table].column(column).enum
    return set(enum.codes) if enum else set()


def _new_key(j: Journal, tag: str) -> str:
    prefix = j.db.meta("key_prefix") or "EZHD"
    return f"{prefix}-J.{tag}{uuid.uuid4().hex[:12].upper()}"


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


# --- sessions ----------------------------------------------------------------------------------

async def sign_in(request: Request) -> Response:
    j = _journal(request)
    data = await _body(request)
    login = _field(data, "login", str, max_length=255)
    password = _field(data, "password", str, max_length=128)
    ip = client_ip(request)
    account = j.accounts.by_login(login)
    if account is None or not verify_password(password, j.accounts.password_hash(account.id)):
        if not j.defect_on("FAILED_SIGN_IN_NOT_LOGGED"):
            j.events.record(ev.SIGN_IN, f"login:{login[:64]}", ev.FAILURE, ip=ip,
                            details={"method": "password", "reason": "invalid_credentials"},
                            unscrubbed={"attempt": password} if j.defect_on("LOG_ATTEMPTED_PASSWORD") else None)
        raise JournalError(401, "invalid_credentials", "неверный логин или пароль", "wrong login or password",
                           headers={"WWW-Authenticate": "Bearer"})
    token = j.sessions.open(account.id, "password", ip)
    j.events.record(ev.SIGN_IN, account.label, object=account.label, ip=ip, details={"method": "password"})
    found = j.sessions.get(token)
    resp = _json({"token": token, "expires_at": found[0]["expires_at"] if found else None,
                  "account": account.public()}, 201)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", path="/",
                    secure=j.settings.public_url.startswith("https://"))
    return resp


async def sign_out(request: Request) -> Response:
    j = _journal(request)
    session, account = session_of(request)
    if not j.defect_on("SIGN_OUT_KEEPS_SESSION"):
        j.sessions.end(_token(request) or "")
    j.events.record(ev.SIGN_OUT, account.label, object=account.label, ip=client_ip(request),
                    details={"method": session["method"]})
    logout = getattr(j.auth, "logout_url", None)
    url = logout(session) if callable(logout) else None
    resp: Response = _json({"logout_url": url}) if url else Response(status_code=204)
    resp.delete_cookie(COOKIE, path="/")
    return resp


async def me(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    requests = j.db.query("SELECT id, organisation_id, kind, status, created_at FROM join_requests "
                          "WHERE account_id = ? ORDER BY id", (account.id,))
    return _json({"account": account.public(),
                  "learners": [learner_ref(j, row, rel) for row, rel in j.learners_of(account)],
                  "join_requests": requests})


def _may_write(j: Journal, account: Account, session: dict[str, Any]) -> None:
    """ROLE-02: a learner under 14 writes nothing, however they signed in."""
    if session.get("method") == "esia" and j.defect_on("UNDER_14_WRITES_VIA_ESIA"):
        return
    if account.person_table == "learners" and account.person_id and not j.defect_on("UNDER_14_CAN_WRITE"):
        learner = j.learner(account.person_id)
        if learner is not None and j.under_14(learner):
            raise _forbidden("read_only", "обучающемуся младше 14 лет доступен только просмотр",
                             "a learner under 14 may only view")


async def change_password(request: Request) -> Response:
    j = _journal(request)
    session, account = session_of(request)
    _may_write(j, account, session)
    data = await _body(request)
    new = _field(data, "new_password", str, max_length=128)
    current = _field(data, "current_password", str, required=account.has_password, max_length=128)
    if account.has_password and not verify_password(current, j.accounts.password_hash(account.id)):
        j.events.record(ev.PASSWORD_RESET, account.label, ev.FAILURE, object=account.label,
                        ip=client_ip(request), details={"reason": "wrong current password"})
        raise _forbidden("invalid_credentials", "текущий пароль неверен", "the current password is wrong")
    violations = policy_violations(new, length_only=j.defect_on("WEAK_PASSWORD_ACCEPTED"))
    if violations:
        raise JournalError(400, "password_policy", "пароль не соответствует требованиям",
                           "the password does not satisfy the password policy",
                           [Detail(v.message_ru, v.message_en, field="new_password", rule=v.rule) for v in violations])
    j.accounts.set_password(account.id, new)
    j.events.record(ev.PASSWORD_RESET, account.label, object=account.label, ip=client_ip(request),
                    details={"by": "self"})
    return Response(status_code=204)


# --- diary -------------------------------------------------------------------------------------

def _relation(j: Journal, account: Account, learner_id: str) -> str:
    if j.learner(learner_id) is None:
        raise JournalError(404, "learner_not_found", "обучающийся не найден", "no learner with this id")
    relation = j.relation(account, learner_id, allow_staff=True)
    if relation is None:
        if account.role is None or account.person_id is None:
            raise _forbidden("not_approved", "заявка на доступ к школе ещё не одобрена администратором",
                             "your request to join the school has not been approved")
        raise _forbidden("not_in_family", "обучающийся не связан с этим пользователем",
                         "the learner is not linked to this user")
    return relation


def diary_endpoint(section: str):
    optional = section == "achievements"

    async def endpoint(request: Request) -> Response:
        j = _journal(request)
        _, account = session_of(request)
        learner_id = request.path_params["learner_id"]
        if not KEY_RE.match(learner_id):
            raise JournalError(400, "invalid_parameter", "learner_id — не ключ", "learner_id is not a key")
        start, end = _date(request, "from", not optional), _date(request, "to", not optional)
        if (start is None) != (end is None):
            raise JournalError(400, "missing_parameter", "укажите оба параметра from и to", "give both from and to")
        relation = _relation(j, account, learner_id)
        if start is not None and end is not None:
            _check_period(start, end)
        items = SECTIONS[section](j, learner_id, start, end, relation)
        if optional and relation == CHILD and j.defect_on("TEEN_ACHIEVEMENTS_HIDDEN_IN_PARENT_DIARY"):
            items = [i for i in items if i.get("added_by") != 2]
        return _json({"learner_id": learner_id, "from": start and start.isoformat(),
                      "to": end and end.isoformat(), "items": items})

    endpoint.__name__ = f"web_{section}"
    return endpoint


def _item(j: Journal, table: str, row: dict[str, Any]) -> dict[str, Any]:
    item = j.db.to_json(j.tables[table], row)
    if item.get("send_datetime") is None:
        item["send_datetime"] = j.clock.stamp()
    return item


async def add_achievement(request: Request) -> Response:
    j = _journal(request)
    session, account = session_of(request)
    learner_id = request.path_params["learner_id"]
    relation = _relation(j, account, learner_id)
    if relation == SELF:
        _may_write(j, account, session)
        if j.defect_on("TEEN_CANNOT_ADD_ACHIEVEMENT") or (
                session.get("method") == "esia" and j.defect_on("TEEN_WRITES_WITH_PASSWORD_ONLY")):
            raise _forbidden("not_allowed", "достижения вносит только школа", "only school staff add achievements")
        added_by = 2
    elif relation == STAFF:
        added_by = 1
    else:
        raise _forbidden("not_allowed", "достижения вносит сам обучающийся (с 14 лет) или школа",
                         "achievements are added by the learner (14 or over) or the school")
    data = await _body(request)
    learner = j.learner(learner_id)
    row = {
        "id": _new_key(j, "ACH"), "learner_id": learner_id,
        "title": _field(data, "title", str, max_length=1000),
        "category": _field(data, "category", int, choices=_codes(j, "achievements", "category")),
        "level": _field(data, "level", int, choices=_codes(j, "achievements", "level")),
        "result": _field(data, "result", int, choices=_codes(j, "achievements", "result")),
        "achievement_date": _date_field(data, "achievement_date"),
        "subject_id": _field(data, "subject_id", str, required=False, max_length=132),
        "added_by": added_by, "create_datetime": j.clock.stamp(), "send_datetime": None,
    }
    if added_by == 2 and j.defect_on("LEARNER_ACHIEVEMENT_LEVEL_IGNORED"):
        row["level"] = min(_codes(j, "achievements", "level"))
    if row["achievement_date"] > j.clock.today().isoformat():
        raise JournalError(400, "invalid_body", "дата достижения в будущем", "the achievement date is in the future",
                           [Detail("дата в будущем", "in the future", field="achievement_date", rule="not_future")])
    if row["subject_id"] is not None:
        subject = j.db.get("subjects", row["subject_id"])
        if subject is None or subject["organisation_id"] != learner["organisation_id"]:
            raise JournalError(400, "invalid_body", "нет такого предмета в школе", "no such subject in the school",
                               [Detail("нет такого предмета", "unknown subject", field="subject_id", rule="reference")])
    j.db.upsert("achievements", row, j.clock.stamp())
    _data_change(j, request, account, "achievements", row["id"], "create", learner=learner_id)
    return _json(_item(j, "achievements", row), 201)


async def delete_achievement(request: Request) -> Response:
    j = _journal(request)
    session, account = session_of(request)
    row = j.db.get("achievements", request.path_params["achievement_id"])
    if row is None:
        raise JournalError(404, "not_found", "достижение не найдено", "no such achievement")
    relation = _relation(j, account, row["learner_id"])
    if relation == SELF:
        _may_write(j, account, session)
        if row["added_by"] != 2:
            raise _forbidden("not_allowed", "это достижение внесла школа", "the school added this achievement")
    elif relation != STAFF:
        raise _forbidden("not_allowed", "удалять достижения может обучающийся или школа",
                         "only the learner or the school may delete achievements")
    j.db.delete("achievements", [row["id"]], j.clock.stamp())
    _data_change(j, request, account, "achievements", row["id"], "delete", learner=row["learner_id"])
    return Response(status_code=204)


def _staff_for(j: Journal, account: Account, learner_id: str, ru: str = "отметки ставит учитель школы",
               en: str = "marks are given by the school's teachers") -> None:
    if _relation(j, account, learner_id) != STAFF or account.role not in ("teacher", "admin"):
        raise _forbidden("not_allowed", ru, en)


async def add_mark(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    learner_id = request.path_params["learner_id"]
    _staff_for(j, account, learner_id)
    data = await _body(request)
    learner = j.learner(learner_id)
    row = {
        "id": _new_key(j, "MRK"), "learner_id": learner_id,
        "subject_id": _field(data, "subject_id", str, max_length=132),
        "teacher_id": account.person_id,
        "period_id": _field(data, "period_id", str, max_length=132),
        "lesson_id": _field(data, "lesson_id", str, required=False, max_length=132),
        "mark_type": _field(data, "mark_type", int, choices=_codes(j, "marks", "mark_type")),
        "grade_system": _field(data, "grade_system", int, choices=_codes(j, "marks", "grade_system")),
        "value": _field(data, "value", str, max_length=10),
        "weight": _field(data, "weight", int, choices=range(1, 11)),
        "mark_date": _date_field(data, "mark_date"),
        "control_form": _field(data, "control_form", str, required=False, max_length=255),
        "comment": _field(data, "comment", str, required=False, max_length=1000),
        "create_datetime": j.clock.stamp(), "send_datetime": None,
    }
    for name, table in (("subject_id", "subjects"), ("period_id", "academic_periods")):
        ref = j.db.get(table, row[name])
        if ref is None or ref["organisation_id"] != learner["organisation_id"]:
            raise JournalError(400, "invalid_body", f"поле «{name}» ссылается не на запись школы",
                               f'field "{name}" does not name a record of the school',
                               [Detail("неизвестная запись", "unknown record", field=name, rule="reference")])
    if row["lesson_id"] is not None and j.db.get("lessons", row["lesson_id"]) is None:
        raise JournalError(400, "invalid_body", "нет такого урока", "no such lesson",
                           [Detail("неизвестный урок", "unknown lesson", field="lesson_id", rule="reference")])
    j.db.upsert("marks", row, j.clock.stamp())
    _data_change(j, request, account, "marks", row["id"], "create", learner=learner_id)
    return _json(_item(j, "marks", row), 201)


async def change_mark(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    row = j.db.get("marks", request.path_params["mark_id"])
    if row is None:
        raise JournalError(404, "not_found", "отметка не найдена", "no such mark")
    _staff_for(j, account, row["learner_id"])
    if request.method == "DELETE":
        j.db.delete("marks", [row["id"]], j.clock.stamp())
        _data_change(j, request, account, "marks", row["id"], "delete", learner=row["learner_id"])
        return Response(status_code=204)
    data = await _body(request)
    unknown = sorted(set(data) - {"value", "weight", "comment", "control_form"})
    if unknown or not data:
        raise JournalError(400, "invalid_body", "изменить можно value, weight, comment, control_form",
                           "only value, weight, comment and control_form can be changed",
                           [Detail("поле нельзя изменить", "not changeable", field=f) for f in unknown])
    for name, kind, extra in (("value", str, {"max_length": 10}), ("weight", int, {"choices": range(1, 11)}),
                              ("comment", str, {"max_length": 1000}), ("control_form", str, {"max_length": 255})):
        if name in data:
            row[name] = _field(data, name, kind, required=False, **extra)
    row["teacher_id"] = account.person_id if account.person_table == "staff" else row["teacher_id"]
    j.db.upsert("marks", row, j.clock.stamp())
    _data_change(j, request, account, "marks", row["id"], "update", learner=row["learner_id"], fields=sorted(data))
    return _json(_item(j, "marks", row))


# --- attendance and school events (staff of the school) ---------------------------------------

def _spec_field(j: Journal, data: dict[str, Any], table: str, name: str, required: bool | None = None) -> Any:
    """A body field checked against its column of `specs/tables/{table}.yaml` (type, length,
    range, enum, pattern) with `specs.values.check_value`; dates and datetimes in the export
    text form (`YYYY-MM-DD`, `YYYY-MM-DD hh:mm:ss`). `required` defaults to the column's."""
    column = j.tables[table].column(name)
    value = data.get(name)
    if value is None:
        if column.required if required is None else required:
            raise JournalError(400, "invalid_body", f"не заполнено поле «{name}»", f'field "{name}" is required',
                               [Detail("обязательное поле", "required", field=name, rule="required")])
        return None
    kind = int if column.type == "integer" else str
    if not isinstance(value, kind) or isinstance(value, bool):
        problem: tuple[str, str] | None = ("type", f"expected {'an integer' if kind is int else 'a string'}")
    elif isinstance(value, str) and not value.strip():
        problem = ("required", "empty")
    else:
        problem = check_value(column, str(value), j.tables.conventions)
    if problem is not None:
        raise JournalError(400, "invalid_body", f"недопустимое значение поля «{name}»", f'field "{name}" is invalid',
                           [Detail(f"недопустимое значение ({problem[1]})", f"invalid value ({problem[1]})",
                                   field=name, rule=problem[0])])
    return value


def _only(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown or not data:
        names = ", ".join(allowed)
        raise JournalError(400, "invalid_body", f"изменить можно {names}", f"only {names} can be changed",
                           [Detail("поле нельзя изменить", "not changeable", field=f, rule="not_changeable")
                            for f in unknown])


def _late_minutes(status: int, minutes: int | None) -> None:
    """`minutes_late` goes with status 4 (late) only."""
    if minutes is not None and status != LATE:
        raise JournalError(400, "invalid_body", "опоздание в минутах указывают только при статусе 4 (опоздал)",
                           "minutes_late is given only with status 4 (late)",
                           [Detail("только при опоздании", "only when late", field="minutes_late", rule="status")])


async def add_attendance(request: Request) -> Response:
    """A staff member of the learner's school records an absence or lateness for a lesson of
    the learner's class (one record per learner and lesson; presence is no record)."""
    j = _journal(request)
    _, account = session_of(request)
    learner_id = request.path_params["learner_id"]
    _staff_for(j, account, learner_id, "посещаемость отмечает учитель школы",
               "attendance is recorded by the school's teachers")
    data = await _body(request)
    lesson_id = _spec_field(j, data, "attendance", "lesson_id")
    status = _spec_field(j, data, "attendance", "status")
    minutes = _spec_field(j, data, "attendance", "minutes_late")
    _late_minutes(status, minutes)
    learner = j.learner(learner_id)
    lesson = j.db.get("lessons", lesson_id)
    cls = j.db.get("classes", lesson["class_id"]) if lesson else None
    if lesson is None or cls is None or cls["organisation_id"] != learner["organisation_id"]:
        raise JournalError(400, "invalid_body", "в школе нет такого урока", "no such lesson in the school",
                           [Detail("неизвестный урок", "unknown lesson", field="lesson_id", rule="reference")])
    if j.db.one("SELECT 1 FROM class_learners WHERE class_id = ? AND learner_id = ? AND start_date <= ? "
                "AND (end_date IS NULL OR end_date >= ?)",
                (lesson["class_id"], learner_id, lesson["lesson_date"], lesson["lesson_date"])) is None:
        raise JournalError(400, "invalid_body", "обучающийся не учится в классе этого урока",
                           "the learner is not in the class of this lesson",
                           [Detail("не в классе урока", "not in the lesson's class", field="lesson_id",
                                   rule="class_membership")])
    if lesson["status"] != 1:
        raise JournalError(400, "invalid_body", "урок отменён", "the lesson is cancelled",
                           [Detail("урок отменён", "cancelled lesson", field="lesson_id", rule="lesson_status")])
    if lesson["lesson_date"] > j.clock.today().isoformat():
        raise JournalError(400, "invalid_body", "урок ещё не прошёл", "the lesson is in the future",
                           [Detail("урок в будущем", "in the future", field="lesson_id", rule="not_future")])
    existing = j.db.one("SELECT id FROM attendance WHERE learner_id = ? AND lesson_id = ?", (learner_id, lesson_id))
    if existing is not None:
        raise JournalError(409, "already_recorded", "отметка за этот урок уже есть — измените её",
                           "the lesson already has an attendance record; change it",
                           [Detail("уже есть", "exists", field="lesson_id", rule="unique",
                                   extra=(("id", existing["id"]),))])
    row = {"id": _new_key(j, "ATT"), "learner_id": learner_id, "lesson_id": lesson_id,
           "lesson_date": lesson["lesson_date"], "status": status, "minutes_late": minutes,
           "create_datetime": j.clock.stamp(), "send_datetime": None}
    j.db.upsert("attendance", row, j.clock.stamp())
    _data_change(j, request, account, "attendance", row["id"], "create", learner=learner_id)
    return _json(_item(j, "attendance", row), 201)


async def change_attendance(request: Request) -> Response:
    """Change (`PATCH {status, minutes_late}`) or delete an attendance record."""
    j = _journal(request)
    _, account = session_of(request)
    row = j.db.get("attendance", request.path_params["attendance_id"])
    if row is None:
        raise JournalError(404, "not_found", "отметка посещаемости не найдена", "no such attendance record")
    _staff_for(j, account, row["learner_id"], "посещаемость отмечает учитель школы",
               "attendance is recorded by the school's teachers")
    if request.method == "DELETE":
        j.db.delete("attendance", [row["id"]], j.clock.stamp())
        _data_change(j, request, account, "attendance", row["id"], "delete", learner=row["learner_id"])
        return Response(status_code=204)
    data = await _body(request)
    _only(data, ("status", "minutes_late"))
    if "status" in data:
        row["status"] = _spec_field(j, data, "attendance", "status")
        if "minutes_late" not in data and row["status"] != LATE:
            row["minutes_late"] = None       # no longer late: the minutes go with it
    if "minutes_late" in data:
        row["minutes_late"] = _spec_field(j, data, "attendance", "minutes_late")
    _late_minutes(row["status"], row["minutes_late"])
    j.db.upsert("attendance", row, j.clock.stamp())
    _data_change(j, request, account, "attendance", row["id"], "update", learner=row["learner_id"], fields=sorted(data))
    return _json(_item(j, "attendance", row))


EVENT_FIELDS = ("event_type", "title", "start_datetime", "end_datetime", "place", "link")


def _school_staff(j: Journal, account: Account) -> str:
    """The school of a teacher or school administrator; 403 for everybody else."""
    if account.role is None or account.person_id is None:
        raise _forbidden("not_approved", "заявка на доступ к школе ещё не одобрена администратором",
                         "your request to join the school has not been approved")
    org = j.organisation_of(account)
    if org is None or account.role not in ("teacher", "admin"):
        raise _forbidden("not_allowed", "события вносят сотрудники школы", "events are entered by the school's staff")
    return org


def _school_event(j: Journal, account: Account, event_id: str) -> dict[str, Any]:
    org = _school_staff(j, account)
    row = j.db.one("SELECT * FROM events WHERE id = ?", (event_id,))
    if row is None:
        raise JournalError(404, "not_found", "событие не найдено", "no such event")
    if row["organisation_id"] != org:
        raise _forbidden("not_allowed", "событие другой школы", "the event belongs to another school")
    return row


def _event_learners(j: Journal, data: dict[str, Any], org: str) -> list[str]:
    value = data.get("learners")
    if not isinstance(value, list) or not value or len(value) > 5000 or not all(isinstance(v, str) for v in value):
        raise JournalError(400, "invalid_body", "«learners» — непустой список ключей обучающихся",
                           '"learners" must be a non-empty list of learner ids',
                           [Detail("нужен список обучающихся", "a list of learners", field="learners", rule="value")])
    bad = [i for i, learner_id in enumerate(value)
           if (learner := j.learner(learner_id)) is None or learner["organisation_id"] != org]
    if bad:
        raise JournalError(400, "invalid_body", "в школе нет таких обучающихся", "no such learners in the school",
                           [Detail("неизвестный обучающийся", "unknown learner", field=f"learners/{i}",
                                   rule="reference") for i in bad[:20]])
    return sorted(set(value))


def _check_event_times(row: dict[str, Any]) -> None:
    if row["end_datetime"] is not None and row["end_datetime"] < row["start_datetime"]:
        raise JournalError(400, "invalid_body", "событие заканчивается раньше, чем начинается",
                           "the event ends before it starts",
                           [Detail("конец раньше начала", "end before start", field="end_datetime", rule="order")])


def _event_view(j: Journal, row: dict[str, Any]) -> dict[str, Any]:
    learners = [r["learner_id"] for r in j.db.query(
        "SELECT learner_id FROM event_learners WHERE event_id = ? ORDER BY learner_id", (row["id"],))]
    return {**_item(j, "events", row), "learners": learners}


def _set_event_learners(j: Journal, event_id: str, learners: list[str], now: str) -> None:
    current = {r["learner_id"] for r in j.db.query("SELECT learner_id FROM event_learners WHERE event_id = ?",
                                                   (event_id,))}
    for learner_id in sorted(current - set(learners)):
        j.db.delete("event_learners", [event_id, learner_id], now)
    for learner_id in learners:
        if learner_id not in current:
            j.db.upsert("event_learners", {"event_id": event_id, "learner_id": learner_id, "create_datetime": now,
                                           "send_datetime": None}, now)


async def add_event(request: Request) -> Response:
    """A teacher or administrator creates an event of their school for some of its learners."""
    j = _journal(request)
    _, account = session_of(request)
    org = _school_staff(j, account)
    data = await _body(request)
    row: dict[str, Any] = {"id": _new_key(j, "EVT"), "organisation_id": org}
    row.update({name: _spec_field(j, data, "events", name) for name in EVENT_FIELDS})
    row.update({"status": 1, "create_datetime": j.clock.stamp(), "send_datetime": None})
    _check_event_times(row)
    learners = _event_learners(j, data, org)
    now = j.clock.stamp()
    with j.db.transaction():
        j.db.upsert("events", row, now)
        _set_event_learners(j, row["id"], learners, now)
    _data_change(j, request, account, "events", row["id"], "create", learners=len(learners))
    return _json(_event_view(j, row), 201)


async def change_event(request: Request) -> Response:
    """Change an active event's fields and/or replace its learners."""
    j = _journal(request)
    _, account = session_of(request)
    row = _school_event(j, account, request.path_params["event_id"])
    if row["status"] != 1:
        raise JournalError(409, "event_cancelled", "событие отменено", "the event is cancelled")
    data = await _body(request)
    _only(data, (*EVENT_FIELDS, "learners"))
    for name in EVENT_FIELDS:
        if name in data:
            row[name] = _spec_field(j, data, "events", name)
    _check_event_times(row)
    learners = _event_learners(j, data, row["organisation_id"]) if "learners" in data else None
    now = j.clock.stamp()
    with j.db.transaction():
        j.db.upsert("events", row, now)
        if learners is not None:
            _set_event_learners(j, row["id"], learners, now)
    _data_change(j, request, account, "events", row["id"], "update", fields=sorted(data))
    return _json(_event_view(j, row))


async def cancel_event(request: Request) -> Response:
    """Cancel an event (status 2, «отменено»): it stays, so the export and the parents'
    notification (`cancelled`) carry it."""
    j = _journal(request)
    _, account = session_of(request)
    row = _school_event(j, account, request.path_params["event_id"])
    if row["status"] == 2:
        raise JournalError(409, "event_cancelled", "событие уже отменено", "the event is already cancelled")
    row["status"] = 2
    j.db.upsert("events", row, j.clock.stamp())
    _data_change(j, request, account, "events", row["id"], "cancel")
    return _json(_event_view(j, row))


async def get_event(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    return _json(_event_view(j, _school_event(j, account, request.path_params["event_id"])))


# --- join requests (ROLE-05) -------------------------------------------------------------------

def _request_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "account_id", "organisation_id", "kind", "class_id", "grade_level",
                                "record_id", "last_name", "first_name", "middle_name", "birth_date", "status",
                                "created_at", "decided_at")}


async def file_join_request(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    if account.person_id is not None:
        raise JournalError(409, "already_linked", "учётная запись уже связана с человеком в журнале",
                           "the account is already linked to a person")
    data = await _body(request)
    kind = _field(data, "kind", str, choices=("learner", "representative"))
    org = _field(data, "organisation_id", str, max_length=132)
    if j.db.get("organisations", org) is None:
        raise JournalError(404, "organisation_not_found", "школа не найдена", "no such school")
    class_id = _field(data, "class_id", str, required=False, max_length=132)
    grade = _field(data, "grade_level", int, required=False, choices=range(1, 12))
    if class_id is None and grade is None:
        raise JournalError(400, "invalid_body", "укажите класс или параллель", "give the class or the grade level",
                           [Detail("нужен class_id или grade_level", "class_id or grade_level required",
                                   field="class_id", rule="required")])
    if class_id is not None:
        cls = j.db.get("classes", class_id)
        if cls is None or cls["organisation_id"] != org:
            raise JournalError(400, "invalid_body", "в этой школе нет такого класса", "no such class in the school",
                               [Detail("неизвестный класс", "unknown class", field="class_id", rule="reference")])
    record_id = None
    if kind == "representative":
        record_id = _field(data, "learner_id", str, max_length=132)
        child = j.learner(record_id)
        if child is None or child["organisation_id"] != org:
            raise JournalError(400, "invalid_body", "в этой школе нет такого обучающегося",
                               "no such learner in the school",
                               [Detail("неизвестный обучающийся", "unknown learner", field="learner_id", rule="reference")])
        _field(data, "relation", int, choices=_codes(j, "learner_representatives", "relation"))
    gender = _field(data, "gender", int, choices=_codes(j, "learners", "gender"))
    birth = _date_field(data, "birth_date", required=kind == "learner")
    if j.db.one("SELECT 1 FROM join_requests WHERE account_id = ? AND status = 'pending'", (account.id,)):
        raise JournalError(409, "already_pending", "заявка уже ждёт решения", "a request is already pending")
    cur = j.db.execute(
        "INSERT INTO join_requests (account_id, organisation_id, kind, class_id, grade_level, record_id, last_name, "
        "first_name, middle_name, birth_date, gender, relation, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        (account.id, org, kind, class_id, grade, record_id, _field(data, "last_name", str, max_length=100),
         _field(data, "first_name", str, max_length=100), _field(data, "middle_name", str, False, 100),
         birth, gender, data.get("relation"), j.clock.iso()))
    req_id = cur.lastrowid
    j.events.record(ev.JOIN_REQUEST, account.label, object=f"join_request:{req_id}", ip=client_ip(request),
                    details={"organisation": org, "kind": kind})
    if (kind == "representative" and j.defect_on("JOIN_REQUEST_AUTO_APPROVED")) or (
            class_id is None and j.defect_on("GRADE_JOIN_AUTO_APPROVED")):
        _approve(j, req_id, None, None, "system", client_ip(request))  # type: ignore[arg-type]
    row = j.db.one("SELECT * FROM join_requests WHERE id = ?", (req_id,))
    return _json(_request_view(row), 201)  # type: ignore[arg-type]


async def list_join_requests(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    if account.role == "admin":
        org = None if j.defect_on("JOIN_REQUESTS_SHOWN_TO_EVERY_SCHOOL") else j.organisation_of(account)
        rows = j.db.query("SELECT * FROM join_requests WHERE status = 'pending' AND (? IS NULL OR organisation_id = ?) "
                          "ORDER BY id", (org, org))
    else:
        rows = j.db.query("SELECT * FROM join_requests WHERE account_id = ? ORDER BY id", (account.id,))
    return _json({"items": [_request_view(r) for r in rows]})


def _approve(j: Journal, req_id: int, admin: Account | None, class_id: str | None, actor: str, ip: str | None) -> None:
    req: dict[str, Any] = j.db.one("SELECT * FROM join_requests WHERE id = ?", (req_id,))  # type: ignore[assignment]
    now = j.clock.stamp()
    with j.db.transaction():
        if req["kind"] == "learner":
            class_id = class_id or req["class_id"]
            cls = j.db.get("classes", class_id) if class_id else None
            if cls is None or cls["organisation_id"] != req["organisation_id"]:
                raise JournalError(400, "invalid_body", "укажите класс этой школы", "give a class of the school",
                                   [Detail("нужен класс", "class required", field="class_id", rule="required")])
            person_id = _new_key(j, "LRN")
            j.db.upsert("learners", {"id": person_id, "organisation_id": req["organisation_id"],
                                     "last_name": req["last_name"], "first_name": req["first_name"],
                                     "middle_name": req["middle_name"], "birth_date": req["birth_date"],
                                     "gender": req["gender"], "create_datetime": now}, now)
            if not j.defect_on("JOIN_LEARNER_NOT_ENROLLED"):
                j.db.upsert("class_learners", {"class_id": class_id, "learner_id": person_id,
                                               "start_date": j.clock.today().isoformat(), "create_datetime": now}, now)
            table, role = "learners", "student"
        else:
            person_id = _new_key(j, "REP")
            j.db.upsert("representatives", {"id": person_id, "last_name": req["last_name"],
                                            "first_name": req["first_name"], "middle_name": req["middle_name"],
                                            "birth_date": req["birth_date"], "gender": req["gender"],
                                            "create_datetime": now}, now)
            j.db.upsert("learner_representatives", {"learner_id": req["record_id"], "representative_id": person_id,
                                                    "relation": req["relation"], "create_datetime": now}, now)
            table, role = "representatives", "parent"
        j.db.execute("UPDATE join_requests SET status = 'approved', decided_at = ?, decided_by = ? WHERE id = ?",
                     (j.clock.iso(), admin.id if admin else None, req_id))
        j.accounts.set_role(req["account_id"], role, table, person_id, actor, ip)
    j.events.record(ev.JOIN_DECISION, actor, object=f"join_request:{req_id}", ip=ip,
                    details={"decision": "approve", "person": f"{table}:{person_id}"})


async def decide_join_request(request: Request) -> Response:
    j = _journal(request)
    _, account = session_of(request)
    if account.role != "admin":
        raise _forbidden("not_allowed", "решение принимает администратор школы", "a school administrator decides")
    try:
        req_id = int(request.path_params["request_id"])
    except ValueError:
        raise JournalError(404, "not_found", "заявка не найдена", "no such request") from None
    req = j.db.one("SELECT * FROM join_requests WHERE id = ?", (req_id,))
    if req is None:
        raise JournalError(404, "not_found", "заявка не найдена", "no such request")
    org = j.organisation_of(account)
    if org is not None and org != req["organisation_id"] and not j.defect_on("JOIN_APPROVED_BY_OTHER_SCHOOL"):
        raise _forbidden("not_allowed", "заявка подана в другую школу", "the request is for another school")
    if req["status"] != "pending" and not (j.defect_on("JOIN_DECISION_REVERSIBLE") and req["status"] == "approved"):
        raise JournalError(409, "already_decided", "решение по заявке уже принято", "the request is already decided")
    data = await _body(request)
    decision = _field(data, "decision", str, choices=("approve", "reject"))
    ip = client_ip(request)
    if decision == "approve":
        _approve(j, req_id, account, _field(data, "class_id", str, required=False, max_length=132), account.label, ip)
    else:
        j.db.execute("UPDATE join_requests SET status = 'rejected', decided_at = ?, decided_by = ? WHERE id = ?",
                     (j.clock.iso(), account.id, req_id))
        j.events.record(ev.JOIN_DECISION, account.label, object=f"join_request:{req_id}", ip=ip,
                        details={"decision": "reject"})
    return _json(_request_view(j.db.one("SELECT * FROM join_requests WHERE id = ?", (req_id,))))  # type: ignore[arg-type]


# --- administration ----------------------------------------------------------------------------

def _journal_admin(j: Journal, account: Account) -> None:
    if account.role != "admin" or account.person_id is not None:
        raise _forbidden("not_allowed", "доступно только администратору журнала", "only the journal administrator may do this")


async def create_account(request: Request) -> Response:
    j = _journal(request)
    _, admin = session_of(request)
    if admin.role != "admin":
        raise _forbidden("not_allowed", "учётные записи создаёт администратор", "accounts are created by an administrator")
    data = await _body(request)
    login = _field(data, "login", str, max_length=255)
    password = _field(data, "password", str, max_length=128)
    violations = policy_violations(password, length_only=j.defect_on("WEAK_PASSWORD_ACCEPTED"))
    if violations:
        raise JournalError(400, "password_policy", "пароль не соответствует требованиям",
                           "the password does not satisfy the password policy",
                           [Detail(v.message_ru, v.message_en, field="password", rule=v.rule) for v in violations])
    if j.accounts.by_login(login) is not None:
        raise JournalError(409, "login_taken", "такой логин уже есть", "the login is taken")
    account = j.accounts.create(login, password, None)
    j.events.record(ev.ACCOUNT_CREATE, admin.label, object=account.label, ip=client_ip(request),
                    details={"role": None})
    if not j.defect_on("CREDENTIAL_ISSUE_NOT_LOGGED"):
        j.events.record(ev.CREDENTIAL_ISSUE, admin.label, object=account.label, ip=client_ip(request),
                        details={"what": "initial password"})
    return _json(account.public(), 201)


# --- any school record (the administrator's record editor; driver add/change/delete_record) -----

def _record_texts(j: Journal, table, data: Any, what: str, only: tuple[str, ...] | None = None) -> dict[str, str | None]:
    """`data` (column -> export text) checked against specs/tables: known columns only, each
    value valid for its column; a `hashed` column takes the clear document number (the export
    hashes it)."""
    if not isinstance(data, dict) or not data:
        raise JournalError(400, "invalid_body", f"«{what}» — объект столбец → значение",
                           f'"{what}" must be an object column -> value')
    allowed = only if only is not None else table.column_names
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise JournalError(400, "invalid_body", f"неизвестные или неизменяемые столбцы: {', '.join(unknown)}",
                           f"unknown or unchangeable columns: {', '.join(unknown)}",
                           [Detail("столбец", "column", field=f, rule="column") for f in unknown])
    texts = {}
    for name, value in data.items():
        text = None if value is None else str(value)
        column = table.column(name)
        problem = None if column.hashed else check_value(column, text, j.tables.conventions)
        if problem is not None:
            raise JournalError(400, "invalid_body", f"недопустимое значение «{name}» ({problem[1]})",
                               f'field "{name}" is invalid ({problem[1]})',
                               [Detail(problem[1], problem[1], field=name, rule=problem[0])])
        texts[name] = text
    return texts


def _from_text(j: Journal, table, texts: dict[str, str | None]) -> dict[str, Any]:
    try:
        return j.db.from_text(table, texts)
    except ValueRuleError as exc:
        name = getattr(exc, "column", "?")
        raise JournalError(400, "invalid_body", f"недопустимое значение «{name}»", f'field "{name}" is invalid',
                           [Detail(exc.detail, exc.detail, field=name, rule=exc.rule)]) from None


async def school_record(request: Request) -> Response:
    """POST (add), PATCH (change) or DELETE one record of a table of specs/tables, by the
    journal administrator: body `{"fields": {...}}` to add, `{"key": {...}, "fields": {...}}`
    to change, `{"key": {...}}` to delete; values in the export text form."""
    j = _journal(request)
    _, account = session_of(request)
    _journal_admin(j, account)
    name = request.path_params["table"]
    if name not in j.tables.names:
        raise JournalError(404, "not_found", "нет такой таблицы", "no such table")
    table = j.tables[name]
    data = await _body(request)
    stamp = j.clock.stamp()
    if request.method == "POST":
        row = _from_text(j, table, _record_texts(j, table, data.get("fields"), "fields"))
        key = [row[k] for k in table.primary_key]
        if j.db.get(name, *key) is not None:
            raise JournalError(409, "exists", "такая запись уже есть", "the record exists")
        j.db.upsert(name, row, stamp)
        _data_change(j, request, account, name, json.dumps(key, ensure_ascii=False), "create")
        return _json(j.db.to_json(table, row), 201)
    texts = _record_texts(j, table, data.get("key"), "key", table.primary_key)
    if set(texts) != set(table.primary_key):
        raise JournalError(400, "invalid_body", f"ключ — столбцы {', '.join(table.primary_key)}",
                           f"the key is the columns {', '.join(table.primary_key)}")
    stored = _from_text(j, table, texts)
    key = [stored[k] for k in table.primary_key]
    row = j.db.get(name, *key)
    if row is None:
        raise JournalError(404, "not_found", "запись не найдена", "no such record")
    object_id = json.dumps(key, ensure_ascii=False)
    if request.method == "DELETE":
        j.db.delete(name, key, stamp)
        _data_change(j, request, account, name, object_id, "delete")
        return Response(status_code=204)
    changeable = tuple(c for c in table.column_names if c not in table.primary_key)
    changes = _record_texts(j, table, data.get("fields"), "fields", changeable)
    typed = j.db.to_typed(table, row)
    current = {c.name: (None if typed[c.name] is None else format_value(c, typed[c.name], j.tables.conventions))
               for c in table.columns}
    row = _from_text(j, table, {**current, **changes})
    j.db.upsert(name, row, stamp)
    _data_change(j, request, account, name, object_id, "update", fields=sorted(changes))
    return _json(j.db.to_json(table, row))


def _moment(request: Request, name: str, end: bool) -> dt.datetime:
    j = _journal(request)
    text = request.query_params.get(name)
    if not text:
        raise JournalError(400, "missing_parameter", f"нет параметра «{name}»", f'parameter "{name}" is missing',
                           [Detail("обязательный параметр", "required", field=name, rule="required")])
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time.max if end else dt.time.min, j.clock.tz)
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=j.clock.tz)
    except ValueError:
        raise JournalError(400, "invalid_parameter", f"параметр «{name}» — не дата или дата-время",
                           f'parameter "{name}" is not a date or date-time',
                           [Detail("ожидается ГГГГ-ММ-ДД или RFC 3339", "expected YYYY-MM-DD or RFC 3339",
                                   field=name, rule="format")]) from None


async def audit_events(request: Request) -> Response:
    """LOG-02: the event log for a period, for the journal administrator."""
    j = _journal(request)
    _, account = session_of(request)
    _journal_admin(j, account)
    start, end = _moment(request, "from", False), _moment(request, "to", True)
    if start > end:
        raise JournalError(422, "invalid_period", "начало периода позже его конца", "`from` is after `to`")
    limit = 10000
    if j.defect_on("LOG_PERIOD_IGNORED"):
        items = j.events.read(latest_only=20)
    else:
        items = j.events.read(start, end, limit=limit + 1)
    truncated = len(items) > limit
    items = items[:limit]
    j.events.record(ev.DATA_EXPORT, account.label, object="event_log", ip=client_ip(request),
                    details={"from": start.isoformat(), "to": end.isoformat(), "records": len(items)})
    return _json({"from": start.isoformat(), "to": end.isoformat(), "truncated": truncated, "items": items})


# --- status page -------------------------------------------------------------------------------

TEXTS = {
    "ru": {"title": "Эталонный электронный журнал", "note": "тестовая сборка: не для реальных данных",
           "other": "English", "other_lang": "en", "dataset": "Набор данных", "none": "не загружен",
           "loaded": "загружен", "counts": "Записи", "organisations": "организации", "learners": "обучающиеся",
           "representatives": "представители", "staff": "сотрудники", "marks": "отметки", "accounts": "учётные записи",
           "clock": "Часы журнала", "frozen": "остановлены", "running": "идут", "defects": "Включённые дефекты",
           "no_defects": "нет", "slots": "Модули", "auth": "вход через ЕСИА", "export": "выгрузка на витрину",
           "present": "подключён", "absent": "не подключён", "links": "Ссылки",
           "openapi": "описание API по запросу портала (OpenAPI)", "sbom": "перечень компонентов (SBOM)",
           "health": "готовность (test-control)"},
    "en": {"title": "Reference e-journal", "note": "test build: not for real data", "other": "Русский",
           "other_lang": "ru", "dataset": "Dataset", "none": "not loaded", "loaded": "loaded", "counts": "Records",
           "organisations": "organisations", "learners": "learners", "representatives": "representatives",
           "staff": "staff", "marks": "marks", "accounts": "accounts", "clock": "Journal clock",
           "frozen": "frozen", "running": "running", "defects": "Defects switched on", "no_defects": "none",
           "slots": "Modules", "auth": "ЕСИА sign-in", "export": "export to the showcase",
           "present": "installed", "absent": "not installed", "links": "Links",
           "openapi": "on-demand API description (OpenAPI)", "sbom": "software bill of materials (SBOM)",
           "health": "readiness (test-control)"},
}


async def status_page(request: Request) -> Response:
    j = _journal(request)
    lang = "en" if request.query_params.get("lang") == "en" else "ru"
    html = _env.get_template("status.html").render(lang=lang, t=TEXTS[lang], s=j.status(), version=__version__)
    return HTMLResponse(html)


def routes() -> list[Route]:
    base = "/web/api/v1"
    out = [
        Route("/", status_page, methods=["GET"]),
        Route(f"{base}/session", sign_in, methods=["POST"]),
        Route(f"{base}/session", sign_out, methods=["DELETE"]),
        Route(f"{base}/me", me, methods=["GET"]),
        Route(f"{base}/me/password", change_password, methods=["PUT"]),
        Route(f"{base}/learners/{{learner_id}}/achievements", add_achievement, methods=["POST"]),
        Route(f"{base}/achievements/{{achievement_id}}", delete_achievement, methods=["DELETE"]),
        Route(f"{base}/learners/{{learner_id}}/marks", add_mark, methods=["POST"]),
        Route(f"{base}/marks/{{mark_id}}", change_mark, methods=["PATCH", "DELETE"]),
        Route(f"{base}/learners/{{learner_id}}/attendance", add_attendance, methods=["POST"]),
        Route(f"{base}/attendance/{{attendance_id}}", change_attendance, methods=["PATCH", "DELETE"]),
        Route(f"{base}/events", add_event, methods=["POST"]),
        Route(f"{base}/events/{{event_id}}", get_event, methods=["GET"]),
        Route(f"{base}/events/{{event_id}}", change_event, methods=["PATCH"]),
        Route(f"{base}/events/{{event_id}}/cancel", cancel_event, methods=["POST"]),
        Route(f"{base}/join-requests", file_join_request, methods=["POST"]),
        Route(f"{base}/join-requests", list_join_requests, methods=["GET"]),
        Route(f"{base}/join-requests/{{request_id}}/decision", decide_join_request, methods=["POST"]),
        Route(f"{base}/accounts", create_account, methods=["POST"]),
        Route(f"{base}/records/{{table}}", school_record, methods=["POST", "PATCH", "DELETE"]),
        Route(f"{base}/audit/events", audit_events, methods=["GET"]),
    ]
    for section in SECTIONS:
        out.append(Route(f"{base}/learners/{{learner_id}}/{section}", diary_endpoint(section), methods=["GET"]))
    return out
