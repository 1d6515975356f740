"""The on-demand API the portal calls through the ПОДД agent (specs/openapi/journal.yaml).

How a call is recognised (API-09). The agent forwards `{agent}/{journal_mnemonic}/ezhd{path}`
to the journal and asserts the caller's mnemonic in `X-Smev-Sender`; the journal answers only
when it equals `Settings.portal_mnemonic` (default `EPGU`), otherwise 403
`caller_not_portal`. In production the agent→journal hop is mutually authenticated TLS
(journal.yaml `agentMtls`), which is the deployment's job (a TLS-terminating proxy that
admits only the agent's certificate); on the loopback test bench the header alone decides,
as journal.yaml says.

How the user is identified. `X-Esia-Oid` names the ЕСИА user on whose behalf the portal asks;
it must be linked to a journal account (prelinked by the dataset, or linked at ЕСИА sign-in),
else 404 `user_not_linked`. The account's person record decides what it sees: a learner
itself (`self`), a representative the linked learners (`child`); staff and unapproved
accounts see no learner here. Checks run in journal.yaml's order: caller, parameters, learner
exists, family, period. Every refusal is `{error, message, details}`; no input gives a 5xx.

`GET /api/v1/openapi.yaml` (and `.json`) publishes the description (API-01): journal.yaml
with this journal's URL as the server.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_journal import events as ev
from reference_journal import spec
from reference_journal.accounts import Account
from reference_journal.core import CHILD, SELF, Journal
from reference_journal.diary import SECTIONS
from reference_journal.errors import Detail, JournalError, lang_of
from reference_journal.passwords import policy_violations

OID_RE = re.compile(r"^[1-9][0-9]{0,18}$")
KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,32}-[A-Za-z0-9_.:-]{1,100}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_PERIOD_DAYS = 366
MAX_BODY = 64 * 1024
JOURNAL_YAML = "journal.yaml"


def _journal(request: Request) -> Journal:
    return request.app.state.journal


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class Call:
    """A checked on-demand call: who asks (portal user oid) and the agent's message id."""

    def __init__(self, request: Request, oid: str, message_id: str | None) -> None:
        self.request, self.oid, self.message_id = request, oid, message_id
        self.lang = lang_of(request)
        self.ip = client_ip(request)


def _bad(error: str, field: str, rule: str, ru: str, en: str) -> JournalError:
    return JournalError(400, error, ru, en, [Detail(ru, en, field=field, rule=rule)])


def _is_portal(j: Any, sender: str | None, path: str) -> bool:
    """The caller is the portal: `X-Smev-Sender` equals the portal's mnemonic exactly (the
    CALLER_* defects compare it loosely, or skip it for one operation)."""
    portal = j.settings.portal_mnemonic
    if j.defect_on("CALLER_PREFIX_MATCH"):
        return bool(sender) and sender.startswith(portal)
    if j.defect_on("CALLER_CASE_INSENSITIVE"):
        return bool(sender) and sender.strip().casefold() == portal.casefold()
    if j.defect_on("CALLER_UNCHECKED_FOR_HOMEWORK") and path.endswith("/homework"):
        return True
    return sender == portal


def guard(request: Request) -> Call:
    """Caller check (API-09), then the headers every operation needs."""
    j = _journal(request)
    sender = request.headers.get("x-smev-sender")
    if not _is_portal(j, sender, request.url.path) and not j.defect_on("ACCEPT_ANY_CALLER"):
        j.events.record(ev.ACCESS_DENIED, f"system:{sender}" if sender else "unknown caller", ev.FAILURE,
                        object=request.url.path, ip=client_ip(request),
                        details={"reason": "caller_not_portal"})
        raise JournalError(403, "caller_not_portal", "запрос пришёл не от портала", "the caller is not the portal")
    message_id = request.headers.get("x-smev-message-id")
    if message_id is None and j.defect_on("MESSAGE_ID_REQUIRED"):
        raise _bad("missing_parameter", "X-Smev-Message-Id", "required", "нет заголовка X-Smev-Message-Id",
                   "header X-Smev-Message-Id is missing")
    if message_id is not None:
        try:
            uuid.UUID(message_id)
        except ValueError:
            raise _bad("invalid_parameter", "X-Smev-Message-Id", "format.uuid", "X-Smev-Message-Id — не UUID",
                       "X-Smev-Message-Id is not a UUID") from None
    oid = request.headers.get("x-esia-oid")
    if oid is None:
        raise _bad("missing_parameter", "X-Esia-Oid", "required", "нет заголовка X-Esia-Oid",
                   "header X-Esia-Oid is missing")
    if not OID_RE.match(oid):
        raise _bad("invalid_parameter", "X-Esia-Oid", "pattern", "X-Esia-Oid — не oid ЕСИА (положительное число)",
                   "X-Esia-Oid is not an ЕСИА oid (a positive integer)")
    return Call(request, oid, message_id)


def _learner_id(request: Request) -> str:
    learner_id = request.path_params["learner_id"]
    if not KEY_RE.match(learner_id):
        raise _bad("invalid_parameter", "learner_id", "pattern", "learner_id — не ключ вида ПРЕФИКС-значение",
                   "learner_id is not a key of the form PREFIX-value")
    return learner_id


def _date(request: Request, name: str, required: bool) -> dt.date | None:
    j = _journal(request)
    text = request.query_params.get(name)
    if text is None or (text == "" and not required):
        if required:
            raise _bad("missing_parameter", name, "required", f"нет параметра «{name}»", f'parameter "{name}" is missing')
        return None
    if j.defect_on("BAD_DATE_500"):
        return dt.datetime.strptime(text, "%Y-%m-%d").date()  # the seeded crash: no check
    try:
        if not DATE_RE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise JournalError(400, "invalid_parameter", f"параметр «{name}» — не дата ГГГГ-ММ-ДД",
                           f'parameter "{name}" is not a date (YYYY-MM-DD)',
                           [Detail(f"получено «{text[:40]}»", f'got "{text[:40]}"', field=name,
                                   rule="format.date")]) from None


def _check_period(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise JournalError(422, "invalid_period", "начало периода позже его конца", "`from` is after `to`",
                           [Detail("from > to", "from > to", field="from", rule="order")])
    span = (end - start).days + 1
    if span > MAX_PERIOD_DAYS:
        raise JournalError(422, "period_too_long",
                           f"период длиной {span} дн., допускается не больше {MAX_PERIOD_DAYS}",
                           f"the period spans {span} days, at most {MAX_PERIOD_DAYS} are allowed",
                           [Detail(str(MAX_PERIOD_DAYS), str(MAX_PERIOD_DAYS), field="to", rule="max_span_days")])


def _user(j: Journal, call: Call) -> Account:
    account = j.accounts.by_oid(call.oid)
    if account is None:
        raise JournalError(404, "user_not_linked", "пользователь ЕСИА не привязан к учётной записи журнала",
                           "no journal user is linked to this ЕСИА oid")
    return account


def _learner_not_found() -> JournalError:
    return JournalError(404, "learner_not_found", "обучающийся не найден", "no learner with this id")


def _not_in_family(j: Journal, call: Call, account: Account, learner_id: str) -> JournalError:
    j.events.record(ev.ACCESS_DENIED, account.label, ev.FAILURE, object=f"learner:{learner_id}", ip=call.ip,
                    message_id=call.message_id, details={"reason": "not_in_family", "path": call.request.url.path})
    return JournalError(403, "not_in_family", "обучающийся не связан с этим пользователем",
                        "the learner is not linked to this user")


async def _json_body(request: Request, schema: str) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise JournalError(400, "invalid_body", "тело запроса слишком велико", "the body is too large")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise JournalError(400, "invalid_body", "тело запроса должно быть application/json",
                           "the body must be application/json")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JournalError(400, "invalid_body", "тело запроса — не JSON", "the body is not JSON") from None
    found = spec.problems(JOURNAL_YAML, schema, data)
    if found:
        raise JournalError(400, "invalid_body", f"тело запроса не соответствует {schema}",
                           f"the body does not match {schema}",
                           [Detail(msg if "password" not in path else "invalid value",
                                   msg if "password" not in path else "invalid value", field=path, rule="schema")
                            for path, msg in found])
    return data


def _ok(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


# --- account -------------------------------------------------------------------------------

def learner_ref(j: Journal, row: dict[str, Any], relation: str) -> dict[str, Any]:
    cls = j.current_class(row["id"])
    return {"learner_id": row["id"], "relation": relation, "last_name": row["last_name"],
            "first_name": row["first_name"], "middle_name": row["middle_name"], "birth_date": row["birth_date"],
            "organisation_id": row["organisation_id"], "class_id": cls["id"] if cls else None,
            "class_name": cls["name"] if cls else None}


async def get_my_learners(request: Request) -> Response:
    j, call = _journal(request), guard(request)
    account = _user(j, call)
    return _ok({"oid": call.oid, "learners": [learner_ref(j, row, rel) for row, rel in j.learners_of(account)]})


def _ensure_login(j: Journal, account: Account, actor: str, call: Call) -> str:
    """The account's internal login, issued now if it has none (CRED-01)."""
    if account.login:
        return account.login
    person = j.person(account) or {"last_name": "user", "first_name": str(account.id)}
    login = j.accounts.new_login(person["last_name"], person["first_name"])
    j.db.execute("UPDATE accounts SET login = ? WHERE id = ?", (login, account.id))
    j.events.record(ev.CREDENTIAL_ISSUE, actor, object=account.label.split(" ")[0], ip=call.ip,
                    message_id=call.message_id, details={"what": "login issued", "login": login})
    return login


async def get_internal_login(request: Request) -> Response:
    j, call = _journal(request), guard(request)
    oid = call.oid
    if j.defect_on("LOGIN_BY_QUERY_OID") and OID_RE.match(request.query_params.get("oid", "")):
        oid = request.query_params["oid"]
    account = j.accounts.by_oid(oid)
    young = account is not None and account.person_table == "learners" and j.defect_on("LOGIN_FOR_ADULTS_ONLY") \
        and (learner := j.learner(account.person_id or "")) is not None and j.under_14(learner)
    if account is None or young:
        raise JournalError(404, "user_not_linked", "пользователь ЕСИА не привязан к учётной записи журнала",
                           "no journal user is linked to this ЕСИА oid")
    answer: dict[str, Any] = {"oid": call.oid, "login": _ensure_login(j, account, account.label, call),
                              "learners": []}
    if account.person_table == "representatives" and not j.defect_on("LOGIN_OMITS_CHILDREN"):
        for row, _ in j.learners_of(account):
            child = j.accounts.for_person("learners", row["id"])
            answer["learners"].append({"learner_id": row["id"], "login": child.login if child else None})
    if j.defect_on("PASSWORD_IN_LOGIN_ANSWER") and account.issued_password:
        answer["password"] = account.issued_password
    j.events.record(ev.CREDENTIAL_ISSUE, account.label, object=account.label, ip=call.ip,
                    message_id=call.message_id,
                    details={"what": "internal login handed to the portal",
                             "learners": [c["learner_id"] for c in answer["learners"]]})
    return _ok(answer)


async def set_learner_password(request: Request) -> Response:
    j, call = _journal(request), guard(request)
    learner_id = _learner_id(request)
    body = await _json_body(request, "PasswordChange")
    learner = j.learner(learner_id)
    if learner is None:
        raise _learner_not_found()
    account = _user(j, call)
    relation = j.relation(account, learner_id)
    if relation != CHILD and not (relation == SELF and j.defect_on("CHILD_SETS_OWN_PASSWORD")):
        raise _not_in_family(j, call, account, learner_id)
    if not j.under_14(learner) and not j.defect_on("PASSWORD_FOR_TEEN"):
        j.events.record(ev.PASSWORD_RESET, account.label, ev.FAILURE, object=f"learner:{learner_id}", ip=call.ip,
                        message_id=call.message_id, details={"reason": "learner_too_old"})
        raise JournalError(403, "learner_too_old", "обучающемуся 14 лет или больше: он меняет пароль сам",
                           "the learner is 14 or over and manages their own password")
    violations = policy_violations(body["password"], length_only=j.defect_on("WEAK_PASSWORD_ACCEPTED"))
    if violations:
        j.events.record(ev.PASSWORD_RESET, account.label, ev.FAILURE, object=f"learner:{learner_id}", ip=call.ip,
                        message_id=call.message_id, details={"reason": "password_policy",
                                                             "rules": [v.rule for v in violations]})
        raise JournalError(400, "password_policy", "пароль не соответствует требованиям",
                           "the password does not satisfy the password policy",
                           [Detail(v.message_ru, v.message_en, field="password", rule=v.rule) for v in violations])
    child = j.accounts.for_person("learners", learner_id)
    if child is None:
        child = j.accounts.create(j.accounts.new_login(learner["last_name"], learner["first_name"]), None,
                                  "student", "learners", learner_id)
        j.events.record(ev.ACCOUNT_CREATE, account.label, object=child.label, ip=call.ip,
                        message_id=call.message_id, details={"role": "student"})
    j.accounts.set_password(child.id, body["password"])
    ended = j.sessions.end_all(child.id)
    j.events.record(ev.PASSWORD_RESET, account.label, object=child.label, ip=call.ip, message_id=call.message_id,
                    details={"by": "representative", "sessions_ended": ended})
    return Response(status_code=204)


async def post_consent(request: Request) -> Response:
    j, call = _journal(request), guard(request)
    body = await _json_body(request, "ConsentNotification")
    changed_at = spec.parse_datetime(body["changed_at"])
    if changed_at is None:
        raise _bad("invalid_body", "changed_at", "format.date-time", "changed_at — не дата-время RFC 3339 со смещением",
                   "changed_at is not an RFC 3339 date-time with an offset")
    candidates: dict[str, str] = {}
    if "learner_id" in body and j.learner(body["learner_id"]):
        candidates["learner_id"] = body["learner_id"]
    by_id_only = j.defect_on("CONSENT_CHILD_BY_LEARNER_ID_ONLY")
    if "child_oid" in body and not by_id_only:
        child = j.accounts.by_oid(body["child_oid"])
        if child and child.person_table == "learners" and child.person_id:
            candidates["child_oid"] = child.person_id
    if "child_snils" in body and not by_id_only:
        rows = j.db.query("SELECT id FROM learners WHERE snils = ?", (body["child_snils"],))
        if len(rows) == 1:
            candidates["child_snils"] = rows[0]["id"]
    if not candidates:
        raise JournalError(404, "learner_not_found", "ребёнок не найден в журнале", "no learner matches the child")
    if len(set(candidates.values())) > 1:
        raise JournalError(400, "invalid_body", "признаки ребёнка указывают на разных обучающихся",
                           "the child's identifiers name different learners",
                           [Detail(k, k, field=k, rule="consistency") for k in candidates])
    learner_id = next(iter(candidates.values()))
    account = j.accounts.by_oid(call.oid)
    relation = j.relation(account, learner_id)
    if relation != CHILD and not (relation == SELF and j.defect_on("CHILD_CHANGES_OWN_CONSENT")):
        raise JournalError(403, "not_representative", "пользователь не является представителем этого ребёнка в журнале",
                           "the user is not a representative of this child in the journal")
    digest = hashlib.sha256(json.dumps({**body, "_oid": call.oid}, sort_keys=True).encode()).hexdigest()
    seen = j.db.one("SELECT digest FROM consent_notifications WHERE consent_id = ?", (body["consent_id"],))
    if seen is not None:
        if seen["digest"] != digest and not j.defect_on("CONSENT_CONFLICT_APPLIED"):
            raise JournalError(409, "consent_conflict", "это согласие уже получено с другим содержанием",
                               "this consent_id was received before with different content")
        if seen["digest"] == digest:
            return Response(status_code=204)
    granted = body["action"] == "granted"
    with j.db.transaction():
        j.db.execute("INSERT OR REPLACE INTO consent_notifications (consent_id, digest, learner_id, account_id, action, "
                     "changed_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (body["consent_id"], digest, learner_id, account.id, body["action"],
                      ev.utc_text(changed_at), ev.utc_text(j.clock.now())))
        current = j.consent_changed_at(learner_id)
        ignored = not granted and j.defect_on("CONSENT_REVOCATION_IGNORED")
        in_order = current is None or changed_at >= current or j.defect_on("CONSENT_APPLIED_BY_ARRIVAL")
        if not ignored and in_order:
            j.set_consent(learner_id, granted, changed_at, "portal", body["consent_id"])
    if not j.defect_on("CONSENT_NOT_LOGGED"):
        j.events.record(ev.CONSENT, account.label, object=f"learner:{learner_id}", ip=call.ip,
                        message_id=call.message_id, details={"action": body["action"],
                                                             "consent_id": body["consent_id"]})
    return Response(status_code=204)


# --- diary ---------------------------------------------------------------------------------

def section_endpoint(section: str):
    optional = section == "achievements"

    async def endpoint(request: Request) -> Response:
        j, call = _journal(request), guard(request)
        learner_id = _learner_id(request)
        start, end = _date(request, "from", not optional), _date(request, "to", not optional)
        if optional and (start is None) != (end is None):
            missing = "to" if end is None else "from"
            raise _bad("missing_parameter", missing, "together", "укажите оба параметра from и to или ни одного",
                       "give both from and to, or neither")
        learner = j.learner(learner_id)
        if learner is None:
            if j.defect_on("UNKNOWN_LEARNER_EMPTY"):
                return _ok({"learner_id": learner_id, "from": start and start.isoformat(),
                            "to": end and end.isoformat(), "items": []})
            raise _learner_not_found()
        account = _user(j, call)
        relation = j.relation(account, learner_id)
        if relation is None:
            raise _not_in_family(j, call, account, learner_id)
        if start is not None and end is not None:
            _check_period(start, end)
        items = SECTIONS[section](j, learner_id, start, end, relation)
        return _ok({"learner_id": learner_id, "from": start and start.isoformat(), "to": end and end.isoformat(),
                    "items": items})

    endpoint.__name__ = f"get_{section}"
    return endpoint


# --- published description (API-01) --------------------------------------------------------

def published_description(j: Journal) -> dict[str, Any]:
    doc = copy.deepcopy(spec.document(JOURNAL_YAML))
    doc["servers"] = [{"url": j.settings.public_url, "description": "this journal"},
                      {"url": f"{j.settings.agent_url}/{j.settings.journal_mnemonic}/ezhd",
                       "description": "the same API through the ПОДД agent"}]
    if j.defect_on("OPENAPI_INCOMPATIBLE"):
        for name in ("From", "To", "FromOptional", "ToOptional"):
            param = doc["components"]["parameters"][name]
            param["name"] = "date_" + param["name"]
    return doc


async def openapi_yaml(request: Request) -> Response:
    import yaml

    text = yaml.safe_dump(published_description(_journal(request)), allow_unicode=True, sort_keys=False)
    return Response(text, media_type="application/yaml")


async def openapi_json(request: Request) -> Response:
    return JSONResponse(published_description(_journal(request)))


def routes() -> list[Route]:
    out = [
        Route("/api/v1/openapi.yaml", openapi_yaml, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
        Route("/api/v1/me/learners", get_my_learners, methods=["GET"]),
        Route("/api/v1/me/login", get_internal_login, methods=["GET"]),
        Route("/api/v1/learners/{learner_id}/password", set_learner_password, methods=["POST"]),
        Route("/api/v1/consents", post_consent, methods=["POST"]),
    ]
    for section in SECTIONS:
        out.append(Route(f"/api/v1/learners/{{learner_id}}/{section}", section_endpoint(section), methods=["GET"]))
    return out
