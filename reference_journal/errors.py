"""Refusals with a status, an error code and a message in Russian and English.

Every JSON API of the journal answers errors as `{error, message, details}` (the `Error`
schema of journal.yaml and test-control.yaml); `message` and each detail's `message` are
Russian unless the caller asks for English (`Accept-Language: en…` or `?lang=en`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


@dataclass(frozen=True)
class Detail:
    message_ru: str
    message_en: str
    field: str | None = None
    rule: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def render(self, lang: str) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        if self.field is not None:
            out["field"] = self.field
        if self.rule is not None:
            out["rule"] = self.rule
        out["message"] = self.message_en if lang == "en" else self.message_ru
        return out


class JournalError(Exception):
    """A refusal the HTTP layer turns into `{error, message, details}`."""

    def __init__(self, status: int, error: str, message_ru: str, message_en: str,
                 details: list[Detail] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message_en)
        self.status, self.error = status, error
        self.message_ru, self.message_en = message_ru, message_en
        self.details = details or []
        self.headers = headers or {}

    def body(self, lang: str = "ru") -> dict[str, Any]:
        return {"error": self.error, "message": self.message_en if lang == "en" else self.message_ru,
                "details": [d.render(lang) for d in self.details]}

    def response(self, request: Request | None = None, lang: str | None = None) -> JSONResponse:
        lang = lang or (lang_of(request) if request is not None else "ru")
        return JSONResponse(self.body(lang), status_code=self.status,
                            headers={"Cache-Control": "no-store", **self.headers})


def lang_of(request: Request) -> str:
    """`en` when the caller asks for English (query `lang=en` or Accept-Language), else `ru`."""
    if request.query_params.get("lang") == "en":
        return "en"
    accept = request.headers.get("accept-language", "").strip().lower()
    return "en" if accept.startswith("en") else "ru"
