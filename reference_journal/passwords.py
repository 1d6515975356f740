"""Password hashing (scrypt, never plain text) and the password policy of ROLE-04.

A hash is `scrypt$N$r$p$salt$digest` (salt and digest base64), so a cost change keeps old
hashes verifiable. The policy is specs/password_policy.yaml.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from specs.password_policy import policy

POLICY = policy()


def hash_password(password: str, n: int = 2 ** 14, r: int = 8, p: int = 1) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=256 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=32, maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


@dataclass(frozen=True)
class Violation:
    rule: str
    message_ru: str
    message_en: str

    def detail(self, lang: str) -> dict[str, str]:
        return {"field": "password", "rule": self.rule,
                "message": self.message_en if lang == "en" else self.message_ru}


def policy_violations(password: str, length_only: bool = False) -> list[Violation]:
    """Every rule of the policy (specs/password_policy.yaml) the password breaks (empty =
    acceptable). `length_only` is the WEAK_PASSWORD_ACCEPTED defect."""
    rules = POLICY.broken(password)
    if length_only:
        rules = [r for r in rules if r.min_length is not None]
    return [Violation(r.id, r.ru, r.en) for r in rules]
