"""Mock ЕСИА in-process, no sockets: async httpx (ASGITransport), sync httpx
(SyncASGITransport), respx (both), and `requests` through `responses`."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from esia_helpers import PARENT
from mocks.esia.testing import (asgi_transport, close_router, auth_request_of, callback_params, respx_router,
                                responses_router)

URL = "https://esia-portal1.test.gosuslugi.ru"


def test_async_httpx_client(esia):
    async def flow():
        async with httpx.AsyncClient(transport=asgi_transport(esia.app), base_url=URL) as c:
            r = await c.get(esia.signer.ac_url(URL, "openid fullname"))
            r = await c.post("/login", data={"auth_request": auth_request_of(r.text),
                                             "username": "112-233-445 95", "password": "esia"})
            code = callback_params(r.headers["location"])["code"]
            r = await c.post("/aas/oauth2/v3/te", data=esia.signer.te_form(code, scope="openid fullname"))
            assert r.status_code == 200
            r = await c.get(f"/rs/prns/{PARENT}", headers={"Authorization": "Bearer " + r.json()["access_token"]})
            assert r.json()["lastName"] == "Иванова"
    asyncio.run(flow())


def _flow_sync(c: httpx.Client, esia, scope="openid fullname email mobile") -> dict:
    r = c.get(esia.signer.ac_url(URL, scope))
    assert r.status_code == 200
    r = c.post(f"{URL}/login", data={"auth_request": auth_request_of(r.text),
                                     "username": "112-233-445 95", "password": "esia"})
    code = callback_params(r.headers["location"])["code"]
    r = c.post(f"{URL}/aas/oauth2/v3/te", data=esia.signer.te_form(code, scope=scope))
    assert r.status_code == 200, r.text
    return r.json()


def test_respx_router_serves_sync_and_async_httpx_clients(esia):
    router = respx_router(esia.app, URL)
    try:
        with router:
            with httpx.Client() as c:                       # default transport, patched by respx
                tok = _flow_sync(c, esia)
                r = c.get(f"{URL}/rs/prns/{PARENT}/ctts?embed=(elements)",
                          headers={"Authorization": "Bearer " + tok["access_token"]})
                assert r.json()["size"] == 2
                assert r.json()["elements"][0]["value"]

            async def one():
                async with httpx.AsyncClient() as ac:
                    return await ac.get(f"{URL}/.well-known/esia-signing-certificate")
            assert asyncio.run(one()).text.startswith("-----BEGIN CERTIFICATE-----")
    finally:
        close_router(router)


def test_responses_router_serves_requests(esia):
    requests = pytest.importorskip("requests")
    mock = responses_router(esia.app, URL)
    try:
        with mock:
            s = requests.Session()
            r = s.get(esia.signer.ac_url(URL, "openid fullname"), allow_redirects=False)
            assert r.status_code == 200 and "Вход" in r.text
            r = s.post(f"{URL}/login", data={"auth_request": auth_request_of(r.text),
                                             "username": "112-233-445 95", "password": "esia"},
                       allow_redirects=False)
            assert r.status_code == 302 and "esia_session" in s.cookies
            code = callback_params(r.headers["location"])["code"]
            r = s.post(f"{URL}/aas/oauth2/v3/te", data=esia.signer.te_form(code, scope="openid fullname"))
            assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
            r = s.get(f"{URL}/rs/prns/{PARENT}", headers={"Authorization": "Bearer " + r.json()["access_token"]})
            assert r.json()["lastName"] == "Иванова"
            # the cookie kept by requests re-enters the ЕСИА session
            r = s.get(esia.signer.ac_url(URL, "openid fullname"), allow_redirects=False)
            assert r.status_code == 302 and "code=" in r.headers["location"]
    finally:
        close_router(mock)
