"""The security event log (LOG-01…LOG-03): append-only, read back by an auditor for a period.

Each record has time (the journal's clock), actor, event, object, outcome (`success` or
`failure`), the client's IP, the agent's message id when the call came through the agent,
and small details. Secrets never enter it: details whose key names a secret (password,
token, secret, authorization, cookie, SNILS, document) are replaced by `[redacted]` before
storing, and values that look like a JWT are dropped too. Times are stored in UTC
(`YYYY-MM-DDThh:mm:ssZ`) so a period query compares text; they are shown in local time.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Mapping

from reference_journal.clock import Clock
from reference_journal.db import Database

SIGN_IN = "sign_in"
SIGN_OUT = "sign_out"
LINK = "link"
UNLINK = "unlink"
ROLE_CHANGE = "role_change"
PASSWORD_RESET = "password_reset"
CREDENTIAL_ISSUE = "credential_issue"
CONSENT = "consent"
DATA_CHANGE = "data_change"
DATA_EXPORT = "data_export"
UPLOAD = "upload"
JOIN_REQUEST = "join_request"
JOIN_DECISION = "join_decision"
ACCESS_DENIED = "access_denied"
ACCOUNT_CREATE = "account_create"
DATASET_LOAD = "dataset_load"
RESET = "reset"

SUCCESS, FAILURE = "success", "failure"
_SECRET_KEY = re.compile(r"pass|token|secret|authori|cookie|snils|document|credential_value", re.I)
_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")
_UTC = "%Y-%m-%dT%H:%M:%SZ"
REDACTED = "[redacted]"


def scrub(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Details without secrets (keys naming a secret, JWT-like values)."""
    clean: dict[str, Any] = {}
    for key, value in (details or {}).items():
        if _SECRET_KEY.search(key):
            clean[key] = REDACTED
        elif isinstance(value, str) and _JWT.match(value):
            clean[key] = REDACTED
        elif isinstance(value, Mapping):
            clean[key] = scrub(value)
        else:
            clean[key] = value
    return clean


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime(_UTC)


def parse_utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _UTC).replace(tzinfo=dt.timezone.utc)


class EventLog:
    """Writes and reads `event_log`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def record(self, event: str, actor: str, outcome: str = SUCCESS, object: str | None = None,
               ip: str | None = None, message_id: str | None = None,
               details: Mapping[str, Any] | None = None, *, unscrubbed: Mapping[str, Any] | None = None,
               empty_actor: bool = False) -> None:
        """Append one record. `unscrubbed` bypasses the secret filter and `empty_actor` writes
        no actor; only seeded defects use them (LOG_ATTEMPTED_PASSWORD, ANONYMOUS_ACTOR_EMPTY)."""
        if outcome not in (SUCCESS, FAILURE):
            raise ValueError(f"outcome must be {SUCCESS} or {FAILURE}")
        data = {**scrub(details), **(unscrubbed or {})}
        self.db.execute(
            "INSERT INTO event_log (time, actor, event, object, outcome, ip, message_id, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (utc_text(self.clock.now()), "" if empty_actor else actor or "anonymous", event, object, outcome, ip, message_id,
             json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None))

    def read(self, start: dt.datetime | None = None, end: dt.datetime | None = None,
             limit: int = 10000, latest_only: int | None = None) -> list[dict[str, Any]]:
        """Records with `start <= time <= end` (either bound optional), oldest first.
        `latest_only` returns just the newest N (the LOG_PERIOD_IGNORED defect)."""
        if latest_only is not None:
            rows = self.db.query("SELECT * FROM (SELECT * FROM event_log ORDER BY id DESC LIMIT ?) "
                                 "ORDER BY id", (latest_only,))
        else:
            sql, params = "SELECT * FROM event_log WHERE 1 = 1", []
            if start is not None:
                sql += " AND time >= ?"
                params.append(utc_text(start))
            if end is not None:
                sql += " AND time <= ?"
                params.append(utc_text(end))
            rows = self.db.query(sql + " ORDER BY id LIMIT ?", [*params, limit])
        return [self._shown(r) for r in rows]

    def _shown(self, row: Mapping[str, Any]) -> dict[str, Any]:
        moment = parse_utc(row["time"])
        return {"id": row["id"], "time": moment.astimezone(self.clock.tz).isoformat(timespec="seconds"),
                "actor": row["actor"], "event": row["event"], "object": row["object"],
                "outcome": row["outcome"], "ip": row["ip"], "message_id": row["message_id"],
                "details": json.loads(row["details"]) if row["details"] else {}}
