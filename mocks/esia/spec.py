"""What `specs/openapi/esia.yaml` says that the mock's code needs, read from the file.

The list of known scopes (`components.schemas.Scope`) and, for every ЕСИА error code, the
OAuth `error` it is paired with (`components.schemas.EsiaErrorCode.x-codes`). Nothing here
restates the spec: change the YAML and the mock follows.
"""
from __future__ import annotations

import functools
from typing import Any

import yaml

from specs import OPENAPI_DIR

ESIA_YAML = OPENAPI_DIR / "esia.yaml"


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with ESIA_YAML.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def _schema(name: str) -> dict[str, Any]:
    return document()["components"]["schemas"][name]


@functools.lru_cache(maxsize=1)
def known_scopes() -> frozenset[str]:
    """Person and child scopes a journal may ask for (§1.9)."""
    return frozenset(_schema("Scope")["enum"])


@functools.lru_cache(maxsize=1)
def error_codes() -> dict[str, dict[str, Any]]:
    """`"007014" -> {meaning, oauth_error, raised_by, ...}` from `EsiaErrorCode.x-codes`."""
    return {code.removeprefix("ESIA-"): dict(info)
            for code, info in _schema("EsiaErrorCode")["x-codes"].items()}


def oauth_error(code: str) -> str:
    """The RFC 6749 `error` paired with an ЕСИА code (`invalid_request` if the spec is silent)."""
    return error_codes().get(code, {}).get("oauth_error", "invalid_request")


def meaning(code: str) -> str:
    return error_codes().get(code, {}).get("meaning", "error")
