"""Mock ЕСИА: the identity provider a regional e-journal signs its users in through.

Layers (each module imports only those above it):

- `spec`     what `specs/openapi/esia.yaml` states that the code needs (known scopes, the
             OAuth error paired with each ЕСИА code): read, never restated;
- `errors`   `EsiaError`, the one refusal type (`{error, error_description, state}`);
- `crypto`   client authentication: certificate hash, the signed strings of every flow,
             CMS/PKCS#7 detached and raw signature verification;
- `signing`  RS256 JWTs (joserfc) here or in a pool of signing processes that get finished
             claims only (`create_app(signers=N)`; `cryptography` signs one at a time
             per process);
- `core`     all state and behaviour, no HTTP: clients, personas, consents, sessions,
             codes, tokens, keys with rotation, faults, the request journal;
- `pages`    the Russian/English sign-in, consent and parent's-cabinet pages (Jinja2);
- `admin`    the `/_admin` API over the core;
- `app`      the Starlette app (`create_app`), routing, body cap, journal, HTTP faults;
- `testing`  in-process use: test certificates and a signing client, sync and async httpx
             transports, respx and responses routers.
"""
from mocks.esia.app import create_app
from mocks.esia.core import EsiaCore, Settings

__all__ = ["create_app", "EsiaCore", "Settings"]
