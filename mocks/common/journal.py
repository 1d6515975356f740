"""The request journal every mock keeps: a bounded ring of exchanges, secrets redacted.

A secret is any field whose lower-cased name is in `SECRET_KEYS` (form fields, query
parameters, headers, JSON keys at any depth); its value becomes `[REDACTED]` before the
entry is stored, so nothing secret can leak through `/_admin/journal` or a report."""
from __future__ import annotations

import collections
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
        for k in ("location", "url"):
            if k in clean:
                clean[k] = redact_url(clean[k], self.secret_keys)
        with self._lock:
            self._seq += 1
            clean = {"seq": self._seq,
                     "time": clean.pop("time", None) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
