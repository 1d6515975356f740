"""The showcase's request status codes as `openapi/showcase.yaml` states them
(`components.schemas.StatusCode.x-codes`): code → key, Russian text, final, success.
Code elsewhere names a status by its key (`code("FLC_ERROR")`), never by its number."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from specs import OPENAPI_DIR, load_yaml


@dataclass(frozen=True)
class Status:
    code: int
    key: str
    ru: str
    final: bool
    success: bool


@functools.lru_cache(maxsize=1)
def statuses() -> dict[int, Status]:
    doc = load_yaml(OPENAPI_DIR / "showcase.yaml")
    codes = doc["components"]["schemas"]["StatusCode"]["x-codes"]
    return {int(k): Status(int(k), v["key"], v["ru"], bool(v["final"]), bool(v.get("success", False)))
            for k, v in codes.items()}


def code(key: str) -> int:
    """The number of the status named `key` (KeyError naming the known keys otherwise)."""
    for status in statuses().values():
        if status.key == key:
            return status.code
    raise KeyError(f"no showcase status {key!r} (known: {', '.join(s.key for s in statuses().values())})")


@functools.lru_cache(maxsize=1)
def final_codes() -> frozenset[int]:
    return frozenset(s.code for s in statuses().values() if s.final)
