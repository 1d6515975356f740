"""Fault injection for the next N requests of an endpoint, shared by the mocks.

A mock names its endpoints and fault kinds; `FaultQueue.add()` checks a fault against them
and `take()` consumes one use of the first matching fault, so "the next 3 uploads answer
503" is `add("upload", "status", count=3, status=503)`."""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Fault:
    endpoint: str
    kind: str
    count: int = 1
    status: int = 500
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(out.pop("params"))
        return out

    def __getattr__(self, name: str) -> Any:  # fault-specific parameters, e.g. fault.token
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(name)


class FaultQueue:
    """Queued faults; `endpoints` and `kinds` are what this mock supports."""

    def __init__(self, endpoints: Iterable[str], kinds: Iterable[str]) -> None:
        self.endpoints = tuple(endpoints)
        self.kinds = tuple(kinds)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, endpoint: str, kind: str, count: int = 1, status: int = 500,
            seconds: float = 0.0, **params: Any) -> Fault:
        """Queue a fault; `ValueError` names what is wrong."""
        if endpoint not in self.endpoints:
            raise ValueError(f"endpoint must be one of {', '.join(self.endpoints)}")
        if kind not in self.kinds:
            raise ValueError(f"kind must be one of {', '.join(self.kinds)}")
        try:
            count, status, seconds = int(count), int(status), float(seconds)
        except (TypeError, ValueError):
            raise ValueError("count and status must be integers, seconds a number") from None
        if count < 1:
            raise ValueError("count must be at least 1")
        if kind == "status" and not 400 <= status <= 599:
            raise ValueError("status must be 4xx or 5xx")
        if not 0 <= seconds <= 600:
            raise ValueError("seconds must be between 0 and 600")
        if "retry_after" in params:     # the Retry-After a 503 carries (whole seconds)
            try:
                params["retry_after"] = int(params["retry_after"])
            except (TypeError, ValueError):
                raise ValueError("retry_after must be a whole number of seconds") from None
            if not 0 <= params["retry_after"] <= 600:
                raise ValueError("retry_after must be between 0 and 600")
        fault = Fault(endpoint, kind, count, status, seconds, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, endpoint: str, kinds: Iterable[str] | None = None) -> Fault | None:
        """Consume one use of the first queued fault of `endpoint` among `kinds`."""
        wanted = tuple(kinds) if kinds is not None else None
        with self._lock:
            for f in self._faults:
                if f.endpoint == endpoint and (wanted is None or f.kind in wanted):
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.public() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
