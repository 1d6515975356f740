"""Register the journal under test at the mocks, everywhere its declaration needs it.

A vendor journal is known by the values of its sut.toml, never by the reference journal's
defaults: ЕСИА knows its client id, certificate and both redirect URIs; the ПОДД agent knows
its mnemonic as a *system* (allowed to upload through edu-upload) and as the *provider* of
journal.yaml (the portal's on-demand calls); the showcase knows it as a *source* allowed to
write to its datamart, and the agent's edu-upload channel writes into that datamart; the
portal asks that mnemonic for diaries and accepts its notifications.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["register_journal", "registration_calls"]

# (mock, method, admin path, JSON body) — an admin call made with the mock's URL
Call = tuple[str, str, str, dict[str, Any]]
JOURNAL_TITLE = "journal under test"


def registration_calls(sut: Any) -> list[Call]:
    """The admin calls that make the mocks know the journal `sut` declares, in order. The
    showcase source comes before the agent system, because the agent registers a new system
    with the showcase under its own datamart only when the showcase does not know it yet."""
    mnemonic, datamart = sut.agent.mnemonic, sut.agent.datamart
    return [
        ("esia", "POST", "/clients", {
            "client_id": sut.esia.client_id, "certificate": sut.esia.certificate.read_text(encoding="utf-8"),
            "redirect_uris": [sut.esia.redirect_uri, sut.esia.logout_redirect_uri]}),
        ("epgu", "POST", "/sources", {"mnemonic": mnemonic, "datamarts": [datamart], "title": JOURNAL_TITLE}),
        ("smev", "PATCH", "/settings", {"datamart": datamart}),
        ("smev", "POST", "/mnemonics", {"mnemonic": mnemonic, "kind": "system", "title": JOURNAL_TITLE}),
        ("smev", "POST", "/providers", {"mnemonic": mnemonic, "base_url": sut.base_url, "spec": "journal.yaml",
                                        "title": JOURNAL_TITLE}),
        ("epgu", "PATCH", "/settings", {"journal_mnemonic": mnemonic}),
    ]


def register_journal(admin: Callable[..., Any], urls: dict[str, str], sut: Any) -> None:
    """Make every registration call through `admin(base_url, method, path, json=body)`."""
    for mock, method, path, body in registration_calls(sut):
        admin(urls[mock], method, path, json=body)
