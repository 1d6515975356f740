"""Journal accounts and sessions.

An account has an optional internal login and password (scrypt hash), a role (`admin`,
`teacher`, `parent`, `student`, or none until a join request is approved), an optional link
to a person record (`learners`, `representatives` or `staff`) and an optional ЕСИА oid.
A session is a random bearer token; only its SHA-256 is stored. Sessions expire by the
journal's clock.

These are also the seams of the auth slot: it finds accounts (`by_oid`, `for_person`),
links ЕСИА accounts (`link_esia`, `unlink_esia`, which log LINK/UNLINK) and opens sessions
(`Sessions.open(account_id, method="esia", ...)`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from reference_journal import events as ev
from reference_journal.passwords import hash_password

if TYPE_CHECKING:  # pragma: no cover
    from reference_journal.core import Journal

ROLES = ("admin", "teacher", "parent", "student")
ROLE_OF_TABLE = {"learners": "student", "representatives": "parent", "staff": "teacher"}
_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p",
                      "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "iu", "ia"]))


@dataclass(frozen=True)
class Account:
    id: int
    login: str | None
    role: str | None
    person_table: str | None
    person_id: str | None
    esia_oid: str | None
    has_password: bool
    issued_password: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "Account":
        return cls(row["id"], row["login"], row["role"], row["person_table"], row["person_id"],
                   row["esia_oid"], bool(row["password_hash"]), row["issued_password"])

    @property
    def label(self) -> str:
        """How the event log names the account (never a secret)."""
        return f"account:{self.id}" + (f" ({self.login})" if self.login else "")

    def public(self) -> dict[str, Any]:
        return {"account_id": self.id, "login": self.login, "role": self.role,
                "person_table": self.person_table, "person_id": self.person_id,
                "esia_linked": self.esia_oid is not None}


def translit(text: str) -> str:
    out = "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())
    return re.sub(r"[^a-z0-9]", "", out)


class Accounts:
    """The `accounts` table."""

    def __init__(self, journal: "Journal") -> None:
        self.j = journal
        self.db = journal.db

    def _one(self, where: str, params: tuple[Any, ...]) -> Account | None:
        row = self.db.one(f"SELECT * FROM accounts WHERE {where}", params)
        return Account.of(row) if row else None

    def get(self, account_id: int) -> Account | None:
        return self._one("id = ?", (account_id,))

    def by_login(self, login: str) -> Account | None:
        return self._one("login = ?", (login,))

    def by_oid(self, oid: str) -> Account | None:
        return self._one("esia_oid = ?", (str(oid),))

    def for_person(self, table: str, person_id: str) -> Account | None:
        return self._one("person_table = ? AND person_id = ?", (table, person_id))

    def password_hash(self, account_id: int) -> str | None:
        row = self.db.one("SELECT password_hash FROM accounts WHERE id = ?", (account_id,))
        return row["password_hash"] if row else None

    def create(self, login: str | None, password: str | None, role: str | None,
               person_table: str | None = None, person_id: str | None = None,
               esia_oid: str | None = None, link_method: str | None = None) -> Account:
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        keep = password if self.j.defect_on("PASSWORD_IN_LOGIN_ANSWER") else None
        cur = self.db.execute(
            "INSERT INTO accounts (login, password_hash, role, person_table, person_id, esia_oid, "
            "esia_linked_at, esia_link_method, issued_password, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (login, hash_password(password, self.j.settings.scrypt_n) if password else None, role,
             person_table, person_id, str(esia_oid) if esia_oid else None,
             self.j.clock.iso() if esia_oid else None, link_method if esia_oid else None, keep,
             self.j.clock.iso()))
        return self.get(cur.lastrowid)  # type: ignore[arg-type, return-value]

    def set_password(self, account_id: int, password: str) -> None:
        keep = password if self.j.defect_on("PASSWORD_IN_LOGIN_ANSWER") else None
        self.db.execute("UPDATE accounts SET password_hash = ?, issued_password = ? WHERE id = ?",
                        (hash_password(password, self.j.settings.scrypt_n), keep, account_id))

    def set_role(self, account_id: int, role: str | None, person_table: str | None,
                 person_id: str | None, actor: str, ip: str | None = None) -> Account:
        before = self.get(account_id)
        self.db.execute("UPDATE accounts SET role = ?, person_table = ?, person_id = ? WHERE id = ?",
                        (role, person_table, person_id, account_id))
        after = self.get(account_id)
        self.j.events.record(ev.ROLE_CHANGE, actor, object=after.label if after else f"account:{account_id}",
                             ip=ip, details={"from": before.role if before else None, "to": role,
                                             "person": f"{person_table}:{person_id}" if person_id else None})
        return after  # type: ignore[return-value]

    def link_esia(self, account_id: int, oid: str, method: str, actor: str, ip: str | None = None,
                  log: bool = True) -> Account:
        """Link a ЕСИА oid (method: prelinked, auto, manual, reissue); logs LINK unless `log` is
        False (only the AUTO_LINK_NOT_LOGGED defect asks for that)."""
        self.db.execute("UPDATE accounts SET esia_oid = ?, esia_linked_at = ?, esia_link_method = ? WHERE id = ?",
                        (str(oid), self.j.clock.iso(), method, account_id))
        account = self.get(account_id)
        if log:
            self.j.events.record(ev.LINK, actor, object=account.label if account else f"account:{account_id}",
                                 ip=ip, details={"oid": str(oid), "method": method})
        return account  # type: ignore[return-value]

    def unlink_esia(self, account_id: int, actor: str, ip: str | None = None) -> None:
        before = self.get(account_id)
        self.db.execute("UPDATE accounts SET esia_oid = NULL, esia_linked_at = NULL, esia_link_method = NULL "
                        "WHERE id = ?", (account_id,))
        self.j.events.record(ev.UNLINK, actor, object=f"account:{account_id}", ip=ip,
                             details={"oid": before.esia_oid if before else None})

    def new_login(self, last_name: str, first_name: str) -> str:
        """A free login `familiya.i` (with a number when taken)."""
        stem = (translit(last_name) or "user") + "." + (translit(first_name)[:1] or "x")
        login, n = stem, 1
        while self.by_login(login) is not None:
            n += 1
            login = f"{stem}{n}"
        return login


class Sessions:
    """Bearer-token sessions (only token digests are stored)."""

    def __init__(self, journal: "Journal") -> None:
        self.j = journal
        self.db = journal.db

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def open(self, account_id: int, method: str, ip: str | None = None,
             extra: Mapping[str, Any] | None = None) -> str:
        """A new session for the account; returns the token (shown once, never stored)."""
        token = secrets.token_urlsafe(32)
        now = self.j.clock.now()
        expires = now + dt.timedelta(seconds=self.j.settings.session_ttl)
        self.db.execute("INSERT INTO sessions (token_hash, account_id, method, created_at, expires_at, ip, extra) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self.digest(token), account_id, method, now.isoformat(), expires.isoformat(), ip,
                         json.dumps(dict(extra)) if extra else None))
        return token

    def get(self, token: str | None) -> tuple[dict[str, Any], Account] | None:
        """The live session of a token and its account, or None."""
        if not token:
            return None
        row = self.db.one("SELECT * FROM sessions WHERE token_hash = ?", (self.digest(token),))
        if row is None or row["ended_at"] is not None:
            return None
        if dt.datetime.fromisoformat(row["expires_at"]) <= self.j.clock.now():
            return None
        account = self.j.accounts.get(row["account_id"])
        if account is None:
            return None
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        return row, account

    def end(self, token: str) -> bool:
        cur = self.db.execute("UPDATE sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                              (self.j.clock.iso(), self.digest(token)))
        return cur.rowcount > 0

    def end_all(self, account_id: int) -> int:
        cur = self.db.execute("UPDATE sessions SET ended_at = ? WHERE account_id = ? AND ended_at IS NULL",
                              (self.j.clock.iso(), account_id))
        return cur.rowcount
