"""Mock ПОДД СМЭВ 4 agent: the local agent a regional e-journal uploads its export through,
the portal reaches the journal through (OpenAPI mode), and the suite reads the showcase
through (SQL mode).

Layers (each module imports only those above it):

- `errors`       `AgentError`, the one refusal type (`{error, message, message_en, details}`);
- `sql`          SQL mode without a database: the form, the read-only check (sqlglot), the
                 result format of agent-sql.yaml;
- `openapi_mode` OpenAPI mode without HTTP: a provider's spec, its path prefix, request and
                 response validation (openapi-core);
- `core`         all state and behaviour, no HTTP: mnemonics, providers, the showcase the
                 uploads go to (`mocks.epgu.showcase.Showcase`), faults, the request journal,
                 contract violations, asynchronous SQL requests;
- `admin`        the `/_admin` API over the core;
- `app`          the Starlette app (`create_app`): routing, forwarding with httpx, body cap,
                 faults (incl. a real connection drop), crash guard, journal.

Our readings where the sources are silent: specs/README.md, «Mock ПОДД agent».
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app", "AgentCore", "Settings"]


def __getattr__(name: str) -> Any:   # lazy, like mocks.epgu: `mocks.smev.sql` imports alone
    if name == "create_app":
        from mocks.smev.app import create_app
        return create_app
    if name in ("AgentCore", "Settings"):
        from mocks.smev import core
        return getattr(core, name)
    raise AttributeError(name)
