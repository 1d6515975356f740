"""Who uploads to the showcase: `X-Smev-Sender`, the datamart's source, or the Datamart Studio
proxy (PROTOCOLS.md §3.1, §3.2, §8.2). No HTTP state outside this module's `Iam`.

Real clients (BARS `uploader-client`) send no identity header of their own: in the base
configuration they call `/v2/...` plainly; in the `contrib/rdm` variant they take an IAM token
from `POST /api/v1/auth_system` (form `username`, `password`, `organization_ogrn`,
`datamart_memonic`) and call
`/api/v1/secure/{ogrn}/{datamart}/{installation_name}/{installation_id}/{original path}` with
`Authorization: Bearer`. Our reading (specs/README.md, showcase.yaml):

- an upload with `X-Smev-Sender` is that source's (as the agent's hop would assert it);
- an upload without it is the source registered for the datamart, when exactly one is
  (the showcase knows which system feeds a datamart); none or several → 401;
- a status or error-report call without it is answered for the request id (the id, a random
  UUID the upload returned, is what the caller proves it knows);
- through the proxy the caller is the token's source; the path's OGRN and datamart must be
  the token's (401 otherwise); the installation segments are recorded, not checked.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.common.admin import BadRequest, endpoint, read_json
from mocks.epgu.showcase import Showcase, ShowcaseAuthError

TOKEN_TTL = 3600                      # expires_in of the proxy token (uploader-client's example)
ISSUER = "http://mock-datamart-studio/realms/studio"
SECURE_RE = re.compile(r"^/api/v1/secure/([^/]+)/([^/]+)/([^/]+)/([^/]+)/(.+)$")
OGRN_RE = re.compile(r"^[0-9]{13}$")


def source_of(showcase: Showcase, sender: str | None, datamart: str | None) -> str | None:
    """The source an upload (datamart given) or a status call (None) is attributed to."""
    if sender or datamart is None:
        return sender or None
    owners = [s["mnemonic"] for s in showcase.sources() if datamart in s["datamarts"]]
    if len(owners) == 1:
        return owners[0]
    why = ("no source system is registered for this datamart" if not owners else
           "several source systems write to this datamart; name yours in X-Smev-Sender")
    raise ShowcaseAuthError(f"the source system is not identified: {why}")


@dataclass
class IamUser:
    username: str
    password: str
    source: str
    organization_ogrn: str

    def public(self) -> dict[str, Any]:
        return {"username": self.username, "source": self.source,
                "organization_ogrn": self.organization_ogrn}


@dataclass
class Grant:
    source: str
    organization_ogrn: str
    datamart: str
    expires: float


class Iam:
    """IAM users of the proxy and the tokens issued to them."""

    def __init__(self) -> None:
        self.users: dict[str, IamUser] = {}
        self.tokens: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def add_user(self, username: str, password: str, source: str, organization_ogrn: str) -> IamUser:
        if not username or not password:
            raise ValueError("username and password are required")
        if not OGRN_RE.match(organization_ogrn or ""):
            raise ValueError("organization_ogrn must be 13 digits")
        user = IamUser(username, password, source, organization_ogrn)
        with self._lock:
            self.users[username] = user
        return user

    def issue(self, form: dict[str, str], showcase: Showcase) -> dict[str, Any]:
        user = self.users.get(form.get("username", ""))
        if user is None or not secrets.compare_digest(user.password.encode(), form.get("password", "").encode()):
            raise PermissionError("Invalid user credentials")
        if form.get("organization_ogrn") != user.organization_ogrn:
            raise PermissionError("organization_ogrn is not the user's organisation")
        datamart = form.get("datamart_memonic", "")
        source = next((s for s in showcase.sources() if s["mnemonic"] == user.source), None)
        if source is None or datamart not in source["datamarts"]:
            raise PermissionError("the user's system may not write to this datamart")
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self.tokens = {k: g for k, g in self.tokens.items() if g.expires > now}
            self.tokens[token] = Grant(user.source, user.organization_ogrn, datamart, now + TOKEN_TTL)
        # Keycloak's token response, as uploader-client's rdm.json shows it.
        return {"access_token": token, "expires_in": TOKEN_TTL, "refresh_expires_in": 0,
                "refresh_token": "", "token_type": "Bearer", "id_token": "", "not-before-policy": 0,
                "session_state": secrets.token_hex(16), "scope": "openid"}

    def grant(self, authorization: str | None) -> Grant | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        g = self.tokens.get(token.strip())
        return g if g is not None and g.expires > time.time() else None


def iam_of(request: Request) -> Iam:
    return request.app.state.iam


async def auth_system(request: Request) -> Response:
    """`POST /api/v1/auth_system`: an IAM token for the proxy (Keycloak's error shape)."""
    from mocks.epgu.app import FORM_TYPE, _media_type
    mime, _ = _media_type(request)
    if mime != FORM_TYPE:
        return JSONResponse({"error": "invalid_request",
                             "error_description": f"Content-Type must be {FORM_TYPE}"}, status_code=400)
    form = {k: str(v) for k, v in (await request.form()).items()}
    missing = [k for k in ("username", "password", "organization_ogrn", "datamart_memonic") if not form.get(k)]
    if missing:
        return JSONResponse({"error": "invalid_request",
                             "error_description": "missing: " + ", ".join(missing)}, status_code=400)
    try:
        body = iam_of(request).issue(form, request.app.state.showcase)
    except PermissionError as exc:
        return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, status_code=401)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


class SecureProxy:
    """`/api/v1/secure/{ogrn}/{datamart}/{installation_name}/{installation_id}/{path}`: the
    showcase API behind a Bearer token; the inner call runs as the token's source."""

    def __init__(self, router: Any, iam: Iam) -> None:
        self.router = router
        self.iam = iam

    async def __call__(self, scope, receive, send) -> None:
        from mocks.epgu.app import api_error
        m = SECURE_RE.match(scope.get("path", ""))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        grant = self.iam.grant(headers.get("authorization"))
        exc = None
        if m is None:
            exc = ShowcaseAuthError("a proxy path is /api/v1/secure/{ogrn}/{datamart}/{installation_name}/"
                                    "{installation_id}/{path}")
            exc.status = 404
        elif grant is None:
            exc = ShowcaseAuthError("the Bearer token of /api/v1/auth_system is missing, unknown or expired")
        elif (m.group(1), m.group(2)) != (grant.organization_ogrn, grant.datamart):
            exc = ShowcaseAuthError("the path's OGRN and datamart are not the token's")
        if exc is not None:
            await api_error(exc)(scope, receive, send)
            return
        inner = "/" + m.group(5)
        scope.setdefault("epgu_note", {}).update(proxy={"installation_name": m.group(3),
                                                        "installation_id": m.group(4)})
        kept = [(k, v) for k, v in scope.get("headers", [])
                if k.lower() not in (b"authorization", b"x-smev-sender")]
        kept.append((b"x-smev-sender", grant.source.encode("latin-1")))
        await self.router(dict(scope, path=inner, raw_path=inner.encode(), root_path="", headers=kept),
                          receive, send)


# --- admin: IAM users (`/_admin/iam/users`) -------------------------------------------------

async def iam_users(request: Request) -> Response:
    iam = iam_of(request)
    if request.method == "POST":
        data = await read_json(request)
        if not isinstance(data, dict):
            raise BadRequest("expected {username, password, source, organization_ogrn}")
        if data.get("source") not in {s["mnemonic"] for s in request.app.state.showcase.sources()}:
            raise BadRequest("source must be a registered source system (POST /_admin/sources)")
        user = iam.add_user(str(data.get("username") or ""), str(data.get("password") or ""),
                            data["source"], str(data.get("organization_ogrn") or ""))
        return JSONResponse(user.public(), status_code=201)
    return JSONResponse([u.public() for u in iam.users.values()])


def admin_routes() -> list[Route]:
    return [Route("/users", endpoint(iam_users, {}), methods=["GET", "POST"])]
