"""The one refusal type of the mock ПОДД agent.

Every refusal the agent itself makes has the project's error shape (specs/openapi/README.md,
"Errors"): `{error, message, details[]}` with an enumerated `error` code of the interface
concerned (`UploadError` of edu-upload.yaml, `SqlError` of agent-sql.yaml, `AgentError` of
OpenAPI mode). `message` is Russian; `message_en` carries the same in English.
"""
from __future__ import annotations

from typing import Any


class AgentError(Exception):
    def __init__(self, status: int, error: str, message: str, message_en: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.message_en = message_en or message
        self.details = details or []
        self.headers = headers or {}
        super().__init__(f"{error}: {self.message_en}")

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "message_en": self.message_en,
                "details": self.details}

    def note(self) -> dict[str, Any]:
        """What the request journal keeps of a refusal."""
        return {"error": self.error, "message": self.message_en,
                "details": self.details[:20]}
