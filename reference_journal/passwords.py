"""Password hashing (scrypt, never plain text) and the password policy of ROLE-04.

A hash is `scrypt$N$r$p$salt$digest` (salt and digest base64), so a cost change keeps old
hashes verifiable. The policy: at least 8 characters, with upper- and lower-case Latin
letters, digits and symbols; only printable ASCII (no spaces, no Cyrillic) is allowed, so the
password can be typed on any keyboard layout the portal shows.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

MIN_LENGTH = 8
SYMBOLS = frozenset(string.punctuation)
ALLOWED = frozenset(string.ascii_letters + string.digits) | SYMBOLS


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
    """Every rule of the policy the password breaks (empty = acceptable). `length_only` is
    the WEAK_PASSWORD_ACCEPTED defect."""
    found: list[Violation] = []
    if len(password) < MIN_LENGTH:
        found.append(Violation("min_length", f"нужно не меньше {MIN_LENGTH} символов",
                               f"at least {MIN_LENGTH} characters are required"))
    if length_only:
        return found
    if not any(c in string.ascii_uppercase for c in password):
        found.append(Violation("uppercase", "нужна хотя бы одна заглавная латинская буква",
                               "at least one upper-case Latin letter is required"))
    if not any(c in string.ascii_lowercase for c in password):
        found.append(Violation("lowercase", "нужна хотя бы одна строчная латинская буква",
                               "at least one lower-case Latin letter is required"))
    if not any(c in string.digits for c in password):
        found.append(Violation("digit", "нужна хотя бы одна цифра", "at least one digit is required"))
    if not any(c in SYMBOLS for c in password):
        found.append(Violation("symbol", "нужен хотя бы один символ (например, !, -, #)",
                               "at least one symbol (e.g. !, -, #) is required"))
    if any(c not in ALLOWED for c in password):
        found.append(Violation("allowed_characters",
                               "допустимы только латинские буквы, цифры и символы, без пробелов",
                               "only Latin letters, digits and symbols are allowed, no spaces"))
    return found


def generate_password() -> str:
    """A random password that satisfies the policy (for issued credentials)."""
    rng = secrets.SystemRandom()
    chars = [rng.choice(string.ascii_uppercase), rng.choice(string.ascii_lowercase),
             rng.choice(string.digits), rng.choice("!#%+-=?@")]
    chars += [rng.choice(string.ascii_letters + string.digits) for _ in range(8)]
    rng.shuffle(chars)
    return "".join(chars)
