"""The request journal every mock keeps: a bounded ring of exchanges, secrets redacted.

A secret is any field whose lower-cased name is in `SECRET_KEYS` (form fields, query
parameters, headers, JSON keys at any depth); its value becomes `[REDACTED]` before the
entry is stored, so nothing secret can leak through `/_admin/journal` or a report.

One shape for every mock: each entry has `seq`, `time` (UTC, seconds), `at` (Unix time with
milliseconds, for measuring the pauses between a journal's requests), and, when the request had
a body, `body_bytes` and `body_sha256` (never the body itself, so a resend of the same file and a
corrected file of the same size are told apart). A body whose recorded form or JSON fields held a
secret keeps its size only: a digest of a form with a weak password could be guessed offline."""
from __future__ import annotations

import collections
import hashlib
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
SECRET_KEYS = frozenset({
    "client_secret", "access_token", "id_token", "refresh_token", "password",
    "new_password", "code_verifier", "authorization", "cookie", "set-cookie", "token",
    "private_key", "secret", "x-api-key", "api_key",
})
"""Names secret everywhere. A mock adds its own (ЕСИА adds `code`, the authorization code;
elsewhere `code` is a status code and stays readable)."""


def redact(data: Any, keys: frozenset[str] = SECRET_KEYS) -> Any:
    """A copy of `data` (dict/list/scalar, nested) with every secret-named value replaced."""
    if isinstance(data, dict):
        return {k: (REDACTED if str(k).lower() in keys and v not in (None, "") else redact(v, keys))
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v, keys) for v in data]
    return data


def redact_url(url: str | None, keys: frozenset[str] = SECRET_KEYS) -> str | None:
    """The URL with secret query parameters replaced."""
    if not url or "?" not in url:
        return url
    parts = urlsplit(url)
    query = urlencode([(k, REDACTED if k.lower() in keys else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="[]")
    return urlunsplit(parts._replace(query=query))


def body_fields(body: Any) -> dict[str, Any]:
    """The journal's record of a request body: its size and SHA-256 ({} when there is none).
    `body` is the bytes, or the guard's `Body` (its digest was computed once while reading; a
    body that was refused as cut off or too large keeps its size only)."""
    if isinstance(body, (bytes, bytearray)):
        return {"body_bytes": len(body), "body_sha256": hashlib.sha256(body).hexdigest()} if body else {}
    if body is None or not body.size:
        return {}
    return {"body_bytes": body.size, **({"body_sha256": body.sha256} if body.ok else {})}


class RequestJournal:
    """Thread-safe bounded journal; entries get a growing `seq` and a UTC `time`."""

    def __init__(self, size: int = 10_000, secret_keys: frozenset[str] = SECRET_KEYS) -> None:
        self.secret_keys = secret_keys
        self._lock = threading.Lock()
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._seq = 0

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        # Exchange data (query, form, headers, JSON bodies) is redacted; the mock's own notes
        # (`error`, `fault`) and top-level metadata are kept as written.
        clean = {k: (v if k in ("error", "fault") or not isinstance(v, (dict, list))
                     else redact(v, self.secret_keys)) for k, v in entry.items()}
        if any(clean.get(k) != entry.get(k) for k in ("form", "json")):
            clean.pop("body_sha256", None)
        for k in ("location", "url"):
            if k in clean:
                clean[k] = redact_url(clean[k], self.secret_keys)
        with self._lock:
            self._seq += 1
            now = time.time()
            clean = {"seq": self._seq,
                     "time": clean.pop("time", None) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                     "at": clean.pop("at", None) or round(now, 3),
                     **clean}
            self._entries.append(clean)
        return clean

    def read(self, since: int = 0, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        return [e for e in entries
                if e["seq"] > since and (path is None or str(e.get("path", "")).startswith(path))]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
