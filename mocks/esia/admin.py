"""The admin API of mock ЕСИА under `/_admin` (JSON in, JSON out; for tests and the suite).

| method and path | what |
|---|---|
| `GET /_admin/health` | `{"status": "ok"}` |
| `GET, PATCH /_admin/settings` | read or change `Settings` (lifetimes, window, issuer, clock_offset) |
| `GET, POST /_admin/clients` | list; register `{client_id, certificate (PEM, RSA or ГОСТ Р 34.10-2012), redirect_uris, scopes?, require_confirmed?, require_pkce?, child_consent?, token_alg? (RS256 or GOST3410_2012_256; default by the certificate)}` |
| `GET, DELETE /_admin/clients/{id}` | one client; remove it |
| `GET, POST /_admin/personas` | list (`?kind=&scenario=`); load a JSON list, `{"personas": [...]}` or JSON Lines (`personas.jsonl`) |
| `GET /_admin/personas/{oid}` | one persona (with `parents` / `kids` as linked) |
| `POST /_admin/personas/{oid}/password` | `{password}`; without one the default password (`Settings.default_password`) applies |
| `GET, POST /_admin/consents` | table of children × clients; `{child_oid, client_id, action: grant|revoke}` |
| `GET /_admin/keys`, `POST /_admin/keys/rotate[?alg=GOST3410_2012_256]` | signing keys; rotate (the old key still verifies and is downloadable by `?kid=` for `key_grace` s) |
| `GET, POST, DELETE /_admin/faults` | queue `{endpoint, kind, count, status?, seconds?, token?, value?}`; list; clear |
| `GET, DELETE /_admin/journal` | request journal (`?since=<seq>&path=<prefix>`), secrets redacted; clear |
| `GET /_admin/logouts` | logout calls seen (AUTH-11) |
| `GET /_admin/issued` | tokens handed out (`?since=<seq>&client_id=`): `{seq, at, client_id, oid, kind: access_token|id_token|refresh_token, token}`, for the suite's search of a journal's log (LOG-03); the only admin answer that holds secrets, so transcripts redact `token` |
| `POST /_admin/reset` | forget everything but settings (`{"keys": true}` also renews keys) |

Fault endpoints: `ac`, `te`, `login`, `consent`, `rest`, `logout`, `jwks`, `certificate`.
`jwks` is served only with `publish_jwks` on (a mock convenience; the real ЕСИА hands out its
certificate, `/.well-known/esia-signing-certificate[?alg=…]`).
Kinds: `status` (answer `status`, default 500; 503 = ESIA-007008, else ESIA-007007), `delay`
(`seconds`, then the normal answer), and for `te` the token faults `expired`,
`not_yet_valid`, `wrong_signature`, `alg_none`, `foreign_audience`, `foreign_issuer`
(spoiling `token` = `id` | `access` | `both`; consumed only by a token actually issued;
`expired` and `not_yet_valid` miss the validity by `seconds`, default one token lifetime).
Errors: 400/404 `{error, message}`.
"""
from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.common.admin import BadRequest as _Bad
from mocks.common.admin import endpoint, faults_endpoint, journal_endpoint, read_records
from mocks.common.admin import read_json as _json
from mocks.esia.core import TOKEN_ALGS, EsiaCore


def _core(request: Request) -> EsiaCore:
    return request.app.state.core


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "mock": "esia"})


async def settings(request: Request) -> Response:
    core = _core(request)
    if request.method == "PATCH":
        changes = await _json(request)
        if not isinstance(changes, dict):
            raise _Bad("expected an object")
        core.configure(**changes)
    return JSONResponse(core.settings.public())


async def clients(request: Request) -> Response:
    core = _core(request)
    if request.method == "POST":
        data = await _json(request)
        if not isinstance(data, dict):
            raise _Bad("expected an object")
        missing = [k for k in ("client_id", "certificate", "redirect_uris") if not data.get(k)]
        if missing:
            raise _Bad(f"missing: {', '.join(missing)}")
        client = core.register_client(
            data["client_id"], data["certificate"], data["redirect_uris"], data.get("scopes"),
            require_confirmed=bool(data.get("require_confirmed", False)),
            require_pkce=bool(data.get("require_pkce", False)),
            child_consent=bool(data.get("child_consent", True)), token_alg=data.get("token_alg"))
        return JSONResponse(client.public(), status_code=201)
    return JSONResponse([c.public() for c in core.clients.values()])


async def client(request: Request) -> Response:
    core = _core(request)
    cid = request.path_params["client_id"]
    if request.method == "DELETE":
        if not core.remove_client(cid):
            raise KeyError(cid)
        return Response(status_code=204)
    if cid not in core.clients:
        raise KeyError(cid)
    return JSONResponse(core.clients[cid].public())


async def personas(request: Request) -> Response:
    core = _core(request)
    if request.method == "POST":
        rows = await read_records(request, "personas")
        count = core.load_personas(rows)
        return JSONResponse({"loaded": count, "total": len(core.personas)}, status_code=201)
    kind = request.query_params.get("kind")
    tag = request.query_params.get("scenario")
    out = [p for p in core.personas.values()
           if (kind is None or p.get("kind") == kind) and (tag is None or tag in (p.get("scenario") or []))]
    return JSONResponse(out)


async def persona(request: Request) -> Response:
    core = _core(request)
    try:
        oid = int(request.path_params["oid"])
    except ValueError:
        raise _Bad("oid must be a number") from None
    p = core.persona(oid)
    if p is None:
        raise KeyError(oid)
    return JSONResponse({**p, "linked_kids": core.kids_of(oid), "linked_parents": core.parents_of(oid)})


async def password(request: Request) -> Response:
    core = _core(request)
    data = await _json(request)
    core.set_password(int(request.path_params["oid"]), str((data or {}).get("password", "")))
    return Response(status_code=204)


async def consents(request: Request) -> Response:
    core = _core(request)
    if request.method == "POST":
        data = await _json(request)
        if not isinstance(data, dict) or data.get("action") not in ("grant", "revoke"):
            raise _Bad("expected {child_oid, client_id, action: grant|revoke}")
        if data.get("client_id") not in core.clients:
            raise KeyError(data.get("client_id"))
        core.set_consent(int(data["child_oid"]), data["client_id"], data["action"] == "grant",
                         parent_oid=data.get("parent_oid"))
        return JSONResponse({"child_oid": int(data["child_oid"]), "client_id": data["client_id"],
                             "granted": data["action"] == "grant"})
    return JSONResponse(core.consent_table())


async def keys(request: Request) -> Response:
    core = _core(request)
    return JSONResponse([{"kid": k.kid, "alg": k.alg, "created": k.created, "retired": k.retired,
                          "current": k.retired is None} for k in core.keys])


async def rotate(request: Request) -> Response:
    alg = request.query_params.get("alg", "RS256")
    if alg not in TOKEN_ALGS:
        raise _Bad(f"alg must be one of {', '.join(TOKEN_ALGS)}")
    key = _core(request).rotate_key(alg)
    return JSONResponse({"kid": key.kid}, status_code=201)


async def logouts(request: Request) -> Response:
    return JSONResponse(_core(request).logouts)


async def issued(request: Request) -> Response:
    q = request.query_params
    try:
        since = int(q.get("since", "0"))
    except ValueError:
        raise _Bad("since must be a number (a seq of an earlier answer)") from None
    return JSONResponse(_core(request).read_issued(since, q.get("client_id")))


async def reset(request: Request) -> Response:
    data = await _json(request)
    _core(request).reset(keys=bool((data or {}).get("keys", False)))
    return Response(status_code=204)


def routes() -> list[Route]:
    def w(fn):
        return endpoint(fn, {PermissionError: lambda exc: (400, "not_allowed")})

    return [
        Route("/health", w(health), methods=["GET"]),
        Route("/settings", w(settings), methods=["GET", "PATCH"]),
        Route("/clients", w(clients), methods=["GET", "POST"]),
        Route("/clients/{client_id}", w(client), methods=["GET", "DELETE"]),
        Route("/personas", w(personas), methods=["GET", "POST"]),
        Route("/personas/{oid}", w(persona), methods=["GET"]),
        Route("/personas/{oid}/password", w(password), methods=["POST"]),
        Route("/consents", w(consents), methods=["GET", "POST"]),
        Route("/keys", w(keys), methods=["GET"]),
        Route("/keys/rotate", w(rotate), methods=["POST"]),
        Route("/faults", w(faults_endpoint(_core, ("status", "seconds", "token", "value"))), methods=["GET", "POST", "DELETE"]),
        Route("/journal", w(journal_endpoint(lambda r: _core(r).journal)), methods=["GET", "DELETE"]),
        Route("/logouts", w(logouts), methods=["GET"]),
        Route("/issued", w(issued), methods=["GET"]),
        Route("/reset", w(reset), methods=["POST"]),
    ]
