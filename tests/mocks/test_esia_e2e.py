"""End to end over real sockets: a standard OAuth 2.0 client library (Authlib's httpx
`OAuth2Client`) completes the v2/v3 code flow against mock ЕСИА running under uvicorn with an
RSA test certificate, reads `/rs/prns/{oid}` and `/kids`, refreshes, and logs out.

ЕСИА's client authentication (signed `client_secret`, `client_certificate_hash`,
`timestamp`, a fresh `state` on the token request) is plugged into Authlib as a custom
token-endpoint auth method, the way a journal would extend its library.
"""
from __future__ import annotations

import uuid
import warnings
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from esia_helpers import CHILD, PARENT, REDIRECT, family
from mocks.esia import create_app
from mocks.esia.testing import ClientSigner, ServerThread, auth_request_of, esia_timestamp

with warnings.catch_warnings():   # Authlib 1.9 warns that its httpx module moves to httpx2
    warnings.simplefilter("ignore")
    oauth2 = pytest.importorskip("authlib.integrations.httpx_client")

SCOPE = "openid fullname birthdate snils kid_fullname kid_birthdate kid_snils"


def esia_auth_method(signer: ClientSigner):
    """Authlib token-endpoint auth: add ЕСИА's signed fields to the form (v3/te)."""
    def sign(auth, method, uri, headers, body):
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        form = dict(parse_qsl(body, keep_blank_values=True))
        form.update(client_id=signer.client_id, state=str(uuid.uuid4()), timestamp=esia_timestamp(),
                    token_type="Bearer", client_certificate_hash=signer.certificate_hash,
                    redirect_uri=form.get("redirect_uri", signer.redirect_uri))
        form.setdefault("scope", SCOPE)
        text = form["client_id"] + form["scope"] + form["timestamp"] + form["state"] + form["redirect_uri"]
        if form["grant_type"] == "authorization_code":
            text += form["code"]
        form["client_secret"] = signer.sign(text)
        headers = {k: v for k, v in dict(headers).items() if k.lower() != "content-length"}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return uri, headers, urlencode(form)
    return sign


def test_standard_oauth_client_completes_the_flow(credentials):
    key, pem = credentials
    app = create_app()
    core = app.state.core
    core.register_client("EZHD01", pem, [REDIRECT, "https://journal.test/logged-out"])
    core.load_personas(family())
    signer = ClientSigner("EZHD01", key, pem, REDIRECT)
    with ServerThread(app) as base:
        client = oauth2.OAuth2Client(client_id="EZHD01", scope=SCOPE, redirect_uri=REDIRECT,
                                     token_endpoint_auth_method="esia_signature")
        client.register_client_auth_method(("esia_signature", esia_auth_method(signer)))
        # 1. the journal builds the authorization URL (state, timestamp, signature)
        state = str(uuid.uuid4())
        p = signer.ac_params(SCOPE, state=state)
        url, returned_state = client.create_authorization_url(
            f"{base}/aas/oauth2/v2/ac", state=state, access_type=p["access_type"],
            timestamp=p["timestamp"], client_certificate_hash=p["client_certificate_hash"],
            client_secret=p["client_secret"])
        assert returned_state == state
        # 2. the user's browser signs in on the mock's page
        with httpx.Client() as browser:
            page = browser.get(url)
            assert page.status_code == 200 and "Вход" in page.text
            done = browser.post(f"{base}/login", data={"auth_request": auth_request_of(page.text),
                                                        "username": "112-233-445 95", "password": "esia"})
            assert done.status_code == 302
            callback = done.headers["location"]
            assert callback.startswith(REDIRECT)
            # 3. the journal exchanges the code (Authlib checks the callback's state)
            token = client.fetch_token(f"{base}/aas/oauth2/v3/te", authorization_response=callback,
                                       state=state)
            assert token["token_type"] == "Bearer" and token["refresh_token"] and token["id_token"]
            # 4. person REST with the Bearer token
            me = client.get(f"{base}/rs/prns/{PARENT}")
            assert me.status_code == 200 and me.json()["snils"] == "112-233-445 95"
            kids = client.get(f"{base}/rs/prns/{PARENT}/kids", params={"embed": "(elements)"})
            assert kids.status_code == 200
            assert CHILD in {k["oid"] for k in kids.json()["elements"]}
            # 5. refresh
            old_access = token["access_token"]
            new = client.refresh_token(f"{base}/aas/oauth2/v3/te")
            assert new["access_token"] != old_access and new["refresh_token"] != token["refresh_token"]
            assert client.get(f"{base}/rs/prns/{PARENT}").status_code == 200
            # 6. logout ends the ЕСИА session and returns to the journal
            out = browser.get(f"{base}/idp/ext/Logout", params={
                "client_id": "EZHD01", "redirect_url": "https://journal.test/logged-out"})
            assert out.status_code == 302 and out.headers["location"] == "https://journal.test/logged-out"
            again = browser.get(signer.ac_url(base, SCOPE))
            assert again.status_code == 200 and 'name="password"' in again.text
        client.close()
    assert core.logouts and core.logouts[-1]["oid"] == PARENT
