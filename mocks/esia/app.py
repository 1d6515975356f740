"""The HTTP layer of mock ЕСИА: a Starlette app over one `EsiaCore`.

`create_app(core=None, **settings)` returns the app; `app.state.core` is the core. The
layer only parses requests, calls the core and renders: the ESIA error shape for refusals
(302 to a registered `redirect_uri`, otherwise 400 HTML or JSON), JSON for tokens and REST,
HTML pages for people. The outer layer is the mocks' common `RequestGuard`: the admin token,
bodies used only when whole (over the cap 413 + ESIA-007038), the queued HTTP faults (status,
delay), any crash turned into 500 + ESIA-007007 so the mock keeps serving, and every exchange
written to the request journal with secrets redacted.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from mocks.esia import errors, pages, rest
from mocks.common.journal import body_fields
from mocks.common.guard import Exchange, RequestGuard, incomplete_text
from mocks.esia.core import RS256, TOKEN_ALGS, EsiaCore, Session, Settings
from mocks.esia.errors import EsiaError

MAX_QUERY = 16 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")     # control characters but TAB
FORM_TYPE = "application/x-www-form-urlencoded"


def endpoint_of(path: str) -> str:
    if path.startswith("/_admin"):
        return "admin"
    if path in ("/aas/oauth2/v2/ac", "/aas/oauth2/ac"):
        return "ac"
    if path in ("/aas/oauth2/v3/te", "/aas/oauth2/te"):
        return "te"
    if path.startswith("/rs/"):
        return "rest"
    if path == "/login":
        return "login"
    if path == "/consent":
        return "consent"
    if path == "/idp/ext/Logout":
        return "logout"
    if path == "/.well-known/jwks.json":
        return "jwks"
    if path == "/.well-known/esia-signing-certificate":
        return "certificate"
    return "other"


# --- helpers -----------------------------------------------------------------------------

def core_of(request: Request) -> EsiaCore:
    return request.app.state.core


def _bad_params(text: str, state: str | None = None) -> EsiaError:
    return EsiaError("007038", f"Cannot read request parameters: {text}", state=state)


def read_query(request: Request) -> tuple[dict[str, str], list[str]]:
    raw = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY:
        raise _bad_params(f"query longer than {MAX_QUERY} bytes")
    return _pairs(raw)


def _pairs(raw: bytes) -> tuple[dict[str, str], list[str]]:
    try:
        text = raw.decode("ascii") if raw.isascii() else raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad_params(f"not valid UTF-8 / URL encoding ({type(exc).__name__})") from None
    out: dict[str, str] = {}
    dups: list[str] = []
    for k, v in pairs:
        if _CONTROL.search(k) or _CONTROL.search(v):
            raise _bad_params(f"control characters in the parameter {errors.quoted(k, 'name')}",
                              out.get("state"))
        if k in out and k not in dups:
            dups.append(k)
        out.setdefault(k, v)
    return out, dups


async def read_form(request: Request) -> tuple[dict[str, str], list[str]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if ctype != FORM_TYPE:
        raise _bad_params(f"Content-Type must be {FORM_TYPE}")
    form, dups = _pairs(body)
    if not dups:        # the journal's record of the form, parsed once (with duplicates it re-reads)
        request.scope["esia_form"] = form
    return form, dups


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def base_url(request: Request) -> str:
    return core_of(request).settings.base_url or str(request.base_url).rstrip("/")


def error_json(exc: EsiaError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{exc.error}", error_description="{exc.description}"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def error_page(request: Request, exc: EsiaError, lang: str) -> Response:
    if wants_json(request):
        return error_json(exc)
    html = pages.render("message.html", lang, heading=pages.TEXTS[lang]["error_title"],
                        code=exc.code, error=exc.error, description=exc.description,
                        title=f"ESIA-{exc.code}")
    return HTMLResponse(html, status_code=exc.status)


def _note(request: Request, exc: EsiaError) -> None:
    request.scope["esia_error"] = {"code": exc.code, "detail": exc.detail}


def set_session_cookie(core: EsiaCore, resp: Response, session: Session | None) -> None:
    if session is not None:
        resp.set_cookie(core.settings.session_cookie, session.cookie, httponly=True,
                        samesite="lax", path="/")


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})


# --- authorization -----------------------------------------------------------------------

def _login_page(request: Request, req, lang: str, message: str | None = None,
                username: str = "", status: int = 200) -> HTMLResponse:
    t = pages.TEXTS[lang]
    html = pages.render("login.html", lang, query={"auth_request": req.id} if req else None,
                        title=t["login_title"], action="/login", auth_request=req.id if req else "",
                        scopes=pages.scope_items(req.scopes, lang) if req else [],
                        client_id=req.client_id if req else "", message=t.get(message or "", message),
                        username=username, next=None)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _decide(request: Request, decision, lang: str) -> Response:
    core = core_of(request)
    if decision.kind == "redirect":
        if decision.message:
            request.scope["esia_error"] = {"code": decision.message}
        resp: Response = redirect(decision.location)
    elif decision.kind == "consent":
        p = core.persona(decision.session.oid) or {}
        html = pages.render("consent.html", lang, query={"auth_request": decision.request.id},
                            title=pages.TEXTS[lang]["rights_title"], action="/consent",
                            auth_request=decision.request.id, client_id=decision.request.client_id,
                            scopes=pages.scope_items(decision.request.scopes, lang),
                            person=pages.person_name(p))
        resp = HTMLResponse(html, headers={"Cache-Control": "no-store"})
    else:
        resp = _login_page(request, decision.request, lang, decision.message)
    set_session_cookie(core, resp, decision.session)
    return resp


async def authorize(request: Request) -> Response:
    core = core_of(request)
    version = "v2" if request.url.path == "/aas/oauth2/v2/ac" else "v1"
    lang = pages.lang_of(request.query_params.get("lang"))
    try:
        params, dups = read_query(request)
        req = core.start_authorization(params, version, dups)
    except EsiaError as exc:
        _note(request, exc)
        target = getattr(exc, "redirect_uri", None)
        if target:
            from mocks.esia.core import callback_url
            return redirect(callback_url(target, exc.body()))
        return error_page(request, exc, lang)
    session = core.session(request.cookies.get(core.settings.session_cookie))
    return _decide(request, core.continue_authorization(req, session), lang)


async def login(request: Request) -> Response:
    core = core_of(request)
    try:
        form, _ = await read_form(request)
    except EsiaError as exc:
        _note(request, exc)
        return error_page(request, exc, "ru")
    lang = pages.lang_of(form.get("lang"))
    try:
        decision = core.sign_in(form.get("auth_request", ""), form.get("username", ""),
                                form.get("password", ""), form.get("action", "allow"))
    except EsiaError as exc:
        _note(request, exc)
        return error_page(request, exc, lang)
    if decision.kind == "login":
        resp = _login_page(request, decision.request, lang, decision.message,
                           username=form.get("username", ""))
        return resp
    return _decide(request, decision, lang)


async def consent(request: Request) -> Response:
    core = core_of(request)
    session = core.session(request.cookies.get(core.settings.session_cookie))
    if request.method == "GET":
        lang = pages.lang_of(request.query_params.get("lang"))
        req = core.auth_request(request.query_params.get("auth_request", ""))
        if req is None:
            return error_page(request, EsiaError("007003", "The authorization request is unknown or "
                                                 "has expired; start again from the system"), lang)
        return _decide(request, core.continue_authorization(req, session), lang)
    try:
        form, _ = await read_form(request)
        lang = pages.lang_of(form.get("lang"))
        decision = core.give_consent(form.get("auth_request", ""), session, form.get("action", ""))
    except EsiaError as exc:
        _note(request, exc)
        return error_page(request, exc, "ru")
    return _decide(request, decision, lang)


async def token(request: Request) -> Response:
    core = core_of(request)
    version = "v3" if request.url.path == "/aas/oauth2/v3/te" else "v1"
    form: dict[str, str] = {}
    try:
        form, dups = await read_form(request)
        body = await core.exchange_async(form, version, dups)
    except EsiaError as exc:
        if exc.state is None and form.get("state"):
            exc.state = form["state"]
        _note(request, exc)
        return error_json(exc)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def logout(request: Request) -> Response:
    core = core_of(request)
    lang = pages.lang_of(request.query_params.get("lang"))
    try:
        params, _ = read_query(request)
        if not params.get("client_id"):
            raise errors.missing("client_id")
        target = core.logout(params["client_id"], params.get("redirect_url") or None,
                             request.cookies.get(core.settings.session_cookie))
    except EsiaError as exc:
        _note(request, exc)
        return error_page(request, exc, lang)
    t = pages.TEXTS[lang]
    resp: Response = (redirect(target) if target else
                      HTMLResponse(pages.render("message.html", lang, heading=t["signed_out"],
                                                text=t["signed_out_text"], title=t["signed_out"])))
    resp.delete_cookie(core.settings.session_cookie, path="/")
    return resp


# --- person REST and keys ----------------------------------------------------------------

async def rest_endpoint(request: Request) -> Response:
    core = core_of(request)
    try:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise EsiaError("007011", "Bearer access token required", status=401, error="invalid_token")
        claims = core.check_access_token(value.strip())
        embed = rest.parse_embed(request.query_params.get("embed"))
        parts = [p for p in request.url.path.split("/")[2:] if p]
        body = rest.handle(core, claims, parts, embed, base_url(request))
    except EsiaError as exc:
        _note(request, exc)
        return error_json(exc)
    return JSONResponse(body)


async def jwks(request: Request) -> Response:
    """A mock convenience, off unless `Settings.publish_jwks`: the real ЕСИА has no JWKS."""
    core = core_of(request)
    if not core.settings.publish_jwks:
        return await not_found(request, HTTPException(404))
    return JSONResponse(core.jwks(), headers={"Cache-Control": "max-age=60"})


async def signing_certificate(request: Request) -> Response:
    """ЕСИА's token-signing certificate, the key distribution a journal configures (the real
    one is downloaded from ЕСИА's site); `?alg=GOST3410_2012_256` for the ГОСТ one."""
    core = core_of(request)
    alg = request.query_params.get("alg", RS256)
    if alg not in TOKEN_ALGS:
        return JSONResponse({"error": "invalid_request", "error_description":
                             f"ESIA-007003: alg must be one of {', '.join(TOKEN_ALGS)}"}, status_code=400)
    key = core.key_by_kid(request.query_params.get("kid"), alg)
    if key is None:
        return JSONResponse({"error": "not_found", "error_description": "ESIA-007003: unknown kid"},
                            status_code=404)
    if "application/pkix-cert" in request.headers.get("accept", ""):
        return Response(key.cert_der, media_type="application/pkix-cert")
    return Response(key.cert_pem, media_type="application/x-pem-file")


# --- the parent's cabinet («Согласия и доверенности») -------------------------------------

async def cabinet(request: Request) -> Response:
    core = core_of(request)
    session = core.session(request.cookies.get(core.settings.session_cookie))
    lang = pages.lang_of(request.query_params.get("lang"))
    message = None
    if request.method == "POST":
        try:
            form, _ = await read_form(request)
        except EsiaError as exc:
            return error_page(request, exc, lang)
        lang = pages.lang_of(form.get("lang"))
        if form.get("username") is not None and form.get("password") is not None:
            p = core.find_login(form["username"])
            if p is None or not core.check_password(p, form["password"]):
                message = pages.TEXTS[lang]["bad_credentials"]
            else:
                session = core.open_session(p["oid"])
                resp: Response = RedirectResponse(f"/lk/consents?lang={lang}", status_code=303)
                set_session_cookie(core, resp, session)
                return resp
        elif session is not None:
            try:
                core.set_consent(int(form.get("child_oid", "0")), form.get("client_id", ""),
                                 form.get("action") == "grant", parent_oid=session.oid)
                return RedirectResponse(f"/lk/consents?lang={lang}", status_code=303)
            except (PermissionError, KeyError, ValueError):
                message = pages.TEXTS[lang]["not_parent"]
    t = pages.TEXTS[lang]
    if session is None:
        html = pages.render("login.html", lang, title=t["cabinet_title"], action="/lk/consents",
                            auth_request="", scopes=[], client_id="", message=message,
                            username="", next="/lk/consents")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})
    rows = []
    for kid in core.kids_of(session.oid):
        kp = core.persona(kid) or {}
        for cid in sorted(core.clients):
            rows.append({"oid": kid, "name": pages.person_name(kp), "client_id": cid,
                         "granted": core.consent_granted(kid, cid)})
    html = pages.render("cabinet.html", lang, title=t["cabinet_title"], action="/lk/consents",
                        rows=rows, message=message,
                        person=pages.person_name(core.persona(session.oid) or {}))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    code = "007003" if status != 405 else "007009"
    return JSONResponse({"error": "not_found" if status == 404 else "invalid_request",
                         "error_description": f"ESIA-{code}: no such resource or method"},
                        status_code=status)


# --- outer layer: admin token, whole bodies under a cap, faults, crash guard, journal -------

class Guard(RequestGuard):
    """ЕСИА's `RequestGuard` (mocks/common/guard.py): refusals in the ESIA error shape."""

    def __init__(self, app, core: EsiaCore, state: Any = None) -> None:
        super().__init__(app, state)
        self.core = core

    def endpoint_of(self, scope) -> str:
        return endpoint_of(scope.get("path", ""))

    def cap(self, endpoint: str) -> int:
        return self.core.settings.admin_max_body if endpoint == "admin" else self.core.settings.max_body

    def error(self, ex: Exchange, status: int, error: str, en: str, ru: str) -> Response:
        return self._refuse(ex, EsiaError("007038" if status < 500 else "007007", en, status=status))

    def _refuse(self, ex: Exchange, exc: EsiaError) -> Response:
        ex.scope["esia_error"] = {"code": exc.code}
        return error_json(exc)

    def too_large(self, ex: Exchange, cap: int) -> Response:
        return self._refuse(ex, EsiaError("007038", f"Cannot read request parameters: body larger than {cap} bytes",
                                          status=413))

    def incomplete(self, ex: Exchange) -> Response:
        return self._refuse(ex, EsiaError("007038", f"Cannot read request parameters: {incomplete_text(ex.body, 'en')}",
                                          status=400))

    def crash(self, ex: Exchange, exc: Exception) -> Response:
        response = error_json(EsiaError("007007", "Unexpected server error", status=500))
        ex.scope["esia_error"] = {"code": "007007", "detail": repr(exc)[:300]}
        return response

    async def fault(self, ex: Exchange, send) -> Response | None:
        if ex.endpoint in ("admin", "other"):
            return None
        fault = self.core.take_fault(ex.endpoint, ("status", "delay"))
        if fault is not None and fault.kind == "delay":
            ex.scope["esia_fault"] = f"delay {fault.seconds}s"
            await asyncio.sleep(max(0.0, float(fault.seconds)))
            return None
        if fault is not None:
            ex.scope["esia_fault"] = f"status {fault.status}"
            code = "007008" if fault.status == 503 else "007007"
            text = ("Service temporarily unavailable (injected fault)" if code == "007008"
                    else "Unexpected server error (injected fault)")
            return error_json(EsiaError(code, text, status=fault.status))
        return None

    def record(self, ex: Exchange) -> None:
        scope, body, endpoint = ex.scope, ex.body.data, ex.endpoint
        location = next((v.decode("latin-1") for k, v in ex.response_headers if k.lower() == b"location"), None)
        query_raw = scope.get("query_string", b"")
        try:
            query = dict(parse_qsl(query_raw.decode("utf-8", "replace"), keep_blank_values=True))
        except Exception:
            query = {"_unreadable": True}
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": scope.get("method"), "path": scope.get("path"), "endpoint": endpoint,
            "query": query, "status": ex.status, "duration_ms": ex.duration_ms, **body_fields(ex.body),
        }
        ctype = ""
        for k, v in scope.get("headers", []):
            if k == b"content-type":
                ctype = v.decode("latin-1").split(";")[0].strip().lower()
        if ex.refused in ("too_large", "incomplete"):
            entry.setdefault("note", {"error": ex.refused})
        elif endpoint != "admin" and ctype == FORM_TYPE and body:
            try:
                entry["form"] = dict(scope.get("esia_form") or
                                     parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            except Exception:
                entry["form"] = {"_unreadable": True}
        if location:
            entry["location"] = location
        if scope.get("esia_error"):
            entry["error"] = scope["esia_error"]
        elif ex.refused == "unauthorized":
            entry["error"] = {"error": "unauthorized"}
        if scope.get("esia_fault"):
            entry["fault"] = scope["esia_fault"]
        self.core.record(entry)


def create_app(core: EsiaCore | None = None, *, signers: int = 0, **settings: Any) -> Starlette:
    """A mock ЕСИА app. `settings` override `Settings` fields when a new core is made;
    `signers` > 0 starts that many signing processes for the token endpoint
    (`mocks.esia.signing`; stop them with `core.close()`)."""
    from mocks.esia import admin

    if core is None:
        core = EsiaCore(Settings(**settings)) if settings else EsiaCore()
    elif settings:
        core.configure(**settings)
    if signers:
        core.start_signers(signers)
    routes = [
        Route("/aas/oauth2/v2/ac", authorize, methods=["GET"]),
        Route("/aas/oauth2/ac", authorize, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/consent", consent, methods=["GET", "POST"]),
        Route("/aas/oauth2/v3/te", token, methods=["POST"]),
        Route("/aas/oauth2/te", token, methods=["POST"]),
        Route("/idp/ext/Logout", logout, methods=["GET"]),
        Route("/rs/{path:path}", rest_endpoint, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/esia-signing-certificate", signing_certificate, methods=["GET"]),
        Route("/lk/consents", cabinet, methods=["GET", "POST"]),
        Route("/_ping", lambda request: Response("ok", media_type="text/plain"), methods=["GET"]),
        Mount("/_admin", routes=admin.routes()),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.core = core
    app.add_middleware(Guard, core=core, state=app.state)
    return app
