"""Reading the journal's security event log as its auditor does (`driver.administrator()
.audit_events(from, to)`), and judging records without knowing the journal's field names:
a record is any JSON object of the answer's list (`items`, `events`, `records` or the answer
itself); its time is the first field named like a time; its outcome any field named like one."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from conformance.notif._support import journal_now

TIME_KEYS = ("time", "timestamp", "at", "when", "datetime", "date_time", "occurred_at", "created_at", "ts")
OUTCOME_KEYS = ("outcome", "result", "status", "success", "succeeded")
# LOG-01's "actor": a field named like one of these (lower-cased, `-` as `_`), or holding
# "actor" or starting with "user" in its name
ACTOR_KEYS = frozenset({"actor", "user", "who", "subject", "principal", "initiator", "performed_by", "by", "author",
                        "login", "account", "account_id", "oid", "пользователь", "инициатор", "субъект"})
FAILURE = re.compile(r"fail|denied|refus|reject|invalid|error|wrong|unauthori", re.I)
SUCCESS = re.compile(r"^(success|succeeded|ok|allowed|granted|accepted|done|true)$", re.I)
# How a record says what happened, in words its auditor reads (Russian or English): the
# suite's reading of LOG-01's "action", since the standard fixes no field names or codes. A
# record is of a kind when any of its texts matches the kind's words.
ACTION_WORDS = {
    "sign_in": r"sign.?in|log.?in|logon|auth|session|вход|авториз|аутентиф",
    "link": r"link|bind|привяз|связ",
    "unlink": r"unlink|unbind|отвяз",
    "consent": r"consent|согласи",
    "role_change": r"role|роль|рол[иь]|join|заявк|approv|member|членств|права",
    "data_change": r"chang|updat|edit|modif|delet|insert|creat|add|измен|удал|добав|созд|mark|оцен",
    "upload": r"upload|export|выгруз|отправ|передач|send",
    "credential_issue": r"credential|password|парол|issu|выда|выпуск",
}


class AuditLog:
    """The auditor's session and the journal's clock, for reading windows of the log."""

    def __init__(self, driver, test_control) -> None:
        self.session = driver.administrator()
        self.test_control = test_control

    def now(self) -> dt.datetime:
        return journal_now(self.test_control)

    def read(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        answer = self.session.audit_events(start.isoformat(), end.isoformat())
        assert answer.ok, f"the auditor could not read the event log for {start} … {end}: {answer.describe()}"
        return records(answer.data)


def records(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("items", "events", "records", "entries", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    assert isinstance(data, list), f"the event log answer holds no list of records: {str(data)[:300]}"
    return [r for r in data if isinstance(r, dict)]


def text(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


def mentioning(items: list[dict[str, Any]], *needles: str) -> list[dict[str, Any]]:
    return [r for r in items if any(n and n in text(r) for n in needles)]


def named(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The records that say in words they are of `kind` (a key of ACTION_WORDS)."""
    words = re.compile(ACTION_WORDS[kind], re.I)
    return [r for r in items if words.search(text(r))]


def time_of(record: dict[str, Any]) -> dt.datetime | None:
    for key in TIME_KEYS:
        value = record.get(key)
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else None
    return None


def outcome_of(record: dict[str, Any]) -> str | None:
    """"failure", "success" or None when the record states no outcome."""
    for key in OUTCOME_KEYS:
        if key not in record:
            continue
        value = record[key]
        if isinstance(value, bool):
            return "success" if value else "failure"
        if isinstance(value, str) and FAILURE.search(value):
            return "failure"
        if isinstance(value, str) and SUCCESS.match(value.strip()):
            return "success"
    return None


def actor_of(record: dict[str, Any]) -> str | None:
    """The text of the record's actor field (`ACTOR_KEYS`) when it holds a value; else None."""
    for key, value in record.items():
        name = str(key).strip().lower().replace("-", "_")
        if name in ACTOR_KEYS or "actor" in name or name.startswith("user"):
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            if isinstance(value, (dict, list)) and value:
                return text(value)
    return None


def check_record(record: dict[str, Any], start: dt.datetime, end: dt.datetime, outcome: str, what: str) -> None:
    """The record has a time within the window (1 s of slack either side), the outcome and an
    actor (a field such as `actor`, `user` or `login` with a value; LOG-01: "each record has
    time, actor, …"). Who the actor is is not judged: a journal may name a user by an id of its
    own, which the suite cannot know (the tests ask that the record names the subject)."""
    moment = time_of(record)
    assert moment is not None, f"the log record of {what} has no time with a UTC offset: {text(record)[:300]}"
    slack = dt.timedelta(seconds=1)
    assert start - slack <= moment <= end + slack, (
        f"the log record of {what} is timed {moment.isoformat()}, outside {start.isoformat()} … {end.isoformat()}")
    assert outcome_of(record) == outcome, (f"the log record of {what} does not state the outcome {outcome}: "
                                           f"{text(record)[:300]}")
    who = actor_of(record)
    assert who, (f"the log record of {what} names no actor (LOG-01: each record has one; a field such as actor, "
                 f"user or login with a value, \"anonymous\" when nobody signed in): {text(record)[:300]}")
