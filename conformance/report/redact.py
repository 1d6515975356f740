"""Secret removal for everything a report or a package shows: by key name, never by guessing.

A value is secret when its key (JSON key, header name, form field, query parameter) is in
`SECRET_KEYS`, compared lower-cased with `-` and `_` alike; `code` (the ЕСИА authorization
code) only when its value is a string, so numeric status codes stay readable. In free text
(messages, bodies that are not JSON) PEM private-key blocks, `Bearer`/`Basic` credentials,
``name=value`` pairs and ``"name": "value"`` pairs of secret names are replaced.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SECRET_KEYS", "is_secret_key", "redact", "redact_text", "redact_url",
           "redact_body", "redact_exchange"]

REDACTED = "[REDACTED]"
SECRET_KEYS = frozenset({
    "authorization", "proxy_authorization", "cookie", "set_cookie", "password", "new_password",
    "client_secret", "secret", "token", "access_token", "id_token", "refresh_token", "code",
    "code_verifier", "private_key", "api_key", "x_api_key", "session", "sessionid",
    # also secret in conformance/evidence.py's transcripts
    "auth_request", "test_control_token", "admin_password", "current_password", "initial_password",
})
_STRING_ONLY = frozenset({"code"})  # secret only when a string: `"code": 404` stays
_NAMES = "|".join(sorted((re.escape(k).replace("_", "[-_]") for k in SECRET_KEYS), key=len, reverse=True))
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Digest|bearer)(\s+)[A-Za-z0-9._~+/=:-]{8,}")
_PAIR = re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_NAMES})(=)([^&\s\"';,]+)")
_JSON_PAIR = re.compile(rf"(?i)(\"(?:{_NAMES})\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"")
_HEADER_LINE = re.compile(rf"(?im)^((?:{_NAMES})\s*:[ \t]*)\S.*$")
# what every pattern above needs somewhere in the (lower-cased) text: most strings of a transcript
# have none, and a substring test is much cheaper than the patterns
_HINT = re.compile("|".join(re.escape(h) for h in sorted(
    {"private key", "bearer", "basic", "digest"} | {v for k in SECRET_KEYS for v in (k, k.replace("_", "-"))},
    key=len, reverse=True)))


def is_secret_key(name: Any, value: Any = "") -> bool:
    """True when a value stored under `name` must not be shown."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in SECRET_KEYS:
        return False
    return not (key in _STRING_ONLY and not isinstance(value, str))


def redact(data: Any) -> Any:
    """A copy of `data` (nested dicts, lists, pairs, scalars) with secret-named values replaced
    and free text scrubbed (`redact_text`)."""
    if isinstance(data, dict):
        return {k: (REDACTED if is_secret_key(k, v) and v not in (None, "") else redact(v))
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        if len(data) == 2 and isinstance(data[0], str) and is_secret_key(data[0], data[1]):
            return [data[0], REDACTED]  # a header as a [name, value] pair
        return [redact(v) for v in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


def redact_text(text: str) -> str:
    """`text` with private keys, credentials and secret name/value pairs replaced."""
    if not text:
        return text
    if not _HINT.search(text.lower()):
        return text
    text = _PEM_KEY.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _JSON_PAIR.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    text = _HEADER_LINE.sub(lambda m: m.group(0) if _status_code(m.group(1), m.group(0)[len(m.group(1)):])
                            else f"{m.group(1)}{REDACTED}", text)
    return _PAIR.sub(lambda m: m.group(0) if _status_code(m.group(1), m.group(3))
                     else f"{m.group(1)}={REDACTED}", text)


def _status_code(name: str, value: str) -> bool:
    """`code=404`, `Code: 404`: a status code, not a secret."""
    return name.strip(" :").lower() == "code" and value.strip().isdigit()


def redact_url(url: Any) -> Any:
    """A URL with secret query parameters replaced (and any left-over text scrubbed)."""
    if not isinstance(url, str) or "?" not in url:
        return redact(url)
    parts = urlsplit(url)
    query = urlencode([(k, REDACTED if is_secret_key(k, v) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="[]")
    return redact_text(urlunsplit(parts._replace(query=query)))


def redact_body(body: Any) -> Any:
    """A request or response body: JSON text is parsed, redacted and re-serialised; other text
    (a form, HTML) is scrubbed; structured bodies are redacted by key."""
    if isinstance(body, str):
        stripped = body.strip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return redact_text(body)
            dumped = json.dumps(parsed, ensure_ascii=False)
            # no secret name anywhere in its keys and strings: nothing to replace
            return json.dumps(redact(parsed), ensure_ascii=False) if _HINT.search(dumped.lower()) else dumped
        return redact_text(body)
    return redact(body)


def redact_exchange(exchange: Any) -> Any:
    """One transcript line: URLs, headers and bodies redacted, everything else by key."""
    if not isinstance(exchange, dict):
        return redact(exchange)
    out: dict[str, Any] = {}
    for key, value in exchange.items():
        lowered = str(key).lower()
        if is_secret_key(key, value) and value not in (None, ""):
            out[key] = REDACTED
        elif lowered in ("url", "location", "redirect", "request_url"):
            out[key] = redact_url(value)
        elif "body" in lowered or lowered in ("content", "text", "form", "json", "data"):
            out[key] = redact_body(value)
        elif isinstance(value, dict) and lowered in ("request", "response"):
            out[key] = redact_exchange(value)
        else:
            out[key] = redact(value)
    return out
