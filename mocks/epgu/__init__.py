"""Mock ЕПГУ «Моё образование»: the regional showcase (РВД) a journal uploads its export
tables to, and the portal side that shows a family what the showcase and the journal hold.

Layers (each module imports only those above it):

- `flk`       the vectorised ФЛК: the table specs compiled to SQL (`flk_sql`) over DuckDB;
- `store`     the embedded DuckDB: the `showcase` tables, the request history, atomic
              merges (upsert / delete by key), checksums, the read-only query of SQL mode;
- `showcase`  the `Showcase` core, no HTTP: registered source systems, the upload request
              lifecycle (status codes −1…7 of PROTOCOLS.md §3.3) driven by a worker thread
              or stepped by tests, ФЛК reports, lifecycle faults, the request journal;
- `portal`    the portal core: personas (ЕСИА identity), the family overview assembled from
              the showcase and from on-demand journal calls through the ПОДД agent, the
              journal-login and child-password calls, the notification inbox;
- `pages`     the Russian/English portal page (Jinja2);
- `admin`     the `/_admin` API over both cores;
- `app`       the Starlette app (`create_app`): routing, body cap, HTTP faults, journal;
- `testing`   in-process use: a fake journal app, dataset upload helpers.

Our readings where the sources are silent are listed in specs/README.md («Mock ЕПГУ
showcase and portal»).
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app", "Showcase", "Settings"]


def __getattr__(name: str) -> Any:   # lazy: `mocks.epgu.flk` imports without the app
    if name == "create_app":
        from mocks.epgu.app import create_app
        return create_app
    if name in ("Showcase", "Settings"):
        from mocks.epgu import showcase
        return getattr(showcase, name)
    raise AttributeError(name)
