"""Drive a real third-party client against a running mock; run with the clients venv's python.

    python drive.py <flow> '<json arguments>'   ->  one JSON object on stdout

The clients are used as published, configured only (a configuration names a logger, a cache,
an interface class): BARS `smev-agent-client` and `uploader-client` (the request classes are
those of BARS `edu-rdm-integration`, which a journal installs beside the client; they are
restated here because that package is a whole Django application), and `esia-connector`.
Flows: smev, uploader, uploader-proxy, esia-connector.
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any


def _django() -> None:
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(USE_TZ=True)
        django.setup()


# --- smev-agent-client ------------------------------------------------------------------------

def smev(args: dict[str, Any]) -> dict[str, Any]:
    _django()
    import smev_agent_client
    from smev_agent_client.configuration import Config
    from smev_agent_client.interfaces.rest import OpenAPIRequest

    smev_agent_client.set_config(Config(agent_url=args["agent_url"], system_mnemonics=args["mnemonic"],
                                        timeout=30, request_retries=0,
                                        logger="smev_agent_client.logging.stdlib.Logger"))
    from smev_agent_client.adapters import adapter

    class TableRequest(OpenAPIRequest):
        def __init__(self, method: str, table: str, body: bytes) -> None:
            self.method, self.table, self.body = method, table, body

        def get_url(self) -> str:
            return f"/myedu/api/edu-upload/v1/csv/{self.table}"   # the client prefixes /{mnemonic}

        def get_method(self) -> str:
            return self.method

        def get_headers(self) -> dict:
            return {"Content-Type": "application/octet-stream"}

        def get_data(self):
            return self.body

    out = {}
    for name, (method, table, body) in args["calls"].items():
        result = adapter.send(TableRequest(method, table, body.encode("utf-8")))
        r = result.response
        out[name] = {"status": r.status_code if r is not None else None, "error": bool(result.error),
                     "request_id": r.headers.get("x-request-id") if r is not None else None}
    return out


# --- uploader-client -----------------------------------------------------------------------------

def _uploader_requests():
    from uploader_client.interfaces.rest import OpenAPIRequest

    @dataclass
    class RegionalDataMartEntityRequest(OpenAPIRequest):     # edu_rdm_integration ...base/requests.py
        datamart_name: str
        table_name: str
        method: str
        operation: str
        headers: dict
        parameters: dict = field(default_factory=dict)
        files: list = field(default_factory=list)
        data: Any = None

        def get_method(self):
            return self.method

        def get_url(self):
            return f"/v2/datamarts/{self.datamart_name}/tables/{self.table_name}/{self.operation}"

        def get_headers(self) -> dict:
            return self.headers

        def get_files(self):
            return [(n, f.open("rb")) for n, f in self.files]

        def get_data(self):
            return self.data

    @dataclass
    class RegionalDataMartStatusRequest(OpenAPIRequest):
        request_id: str
        method: str
        headers: dict
        parameters: dict = field(default_factory=dict)

        def get_method(self):
            return self.method

        def get_url(self):
            return f"/v2/requests/{self.request_id}/status"

        def get_headers(self) -> dict:
            return self.headers

    return RegionalDataMartEntityRequest, RegionalDataMartStatusRequest


class AsyncLogger:
    """The interface awaits `log`; the package's stdlib logger is sync, its db logger needs a
    Django database. Configuration, not a change of the client."""

    def __init__(self) -> None:
        self.entries: list[Any] = []

    async def log(self, entry):
        self.entries.append(entry)
        return entry


class DictCache:
    """The proxy variant's token cache (a Redis client in production)."""

    store: dict[str, Any] = {}
    sets = 0

    def get(self, key, default=None, **kwargs):
        return self.store.get(key, default)

    def set(self, key, value, timeout=None, **kwargs):
        DictCache.sets += 1
        self.store[key] = value

    def lock(self, name, timeout=None, **kwargs):
        import contextlib
        return contextlib.nullcontext()


def uploader(args: dict[str, Any], proxy: bool = False) -> dict[str, Any]:
    _django()
    import uploader_client
    from uploader_client.adapters import UploaderAdapter

    if proxy:
        from uploader_client.contrib.rdm.interfaces.configurations import RegionalDataMartUploaderConfig
        config = RegionalDataMartUploaderConfig(
            url=args["url"], datamart_name=args["datamart"], request_retries=0, timeout=30,
            interface="uploader_client.contrib.rdm.interfaces.rest.ProxyAPIInterface",
            logger="drive.AsyncLogger", cache=DictCache(), organization_ogrn=args["ogrn"],
            installation_name=args["installation_name"], installation_id=args["installation_id"],
            username=args["username"], password=args["password"])
    else:
        from uploader_client.configurations import Config
        config = Config(url=args["url"], datamart_name=args["datamart"], request_retries=0, timeout=30,
                        logger="drive.AsyncLogger")
    uploader_client.set_config(config)
    Entity, Status = _uploader_requests()

    async def run() -> dict[str, Any]:
        adapter = UploaderAdapter()
        await adapter.init()
        out: dict[str, Any] = {}
        try:
            for name, (operation, table, body) in args["calls"].items():
                result = await adapter.send(Entity(datamart_name=args["datamart"], table_name=table, method="POST",
                                                   operation=operation, headers={"Content-Type": "text/csv"},
                                                   data=body.encode("utf-8")))
                r = result.response
                entry: dict[str, Any] = {"status": r.status_code if r is not None else None,
                                         "error": bool(result.error), "url": str(result.http_request.url)}
                if r is not None and r.status_code == 200:
                    entry["request_id"] = r.text
                    codes = []
                    for _ in range(100):     # the client asks once, then a periodic task re-checks
                        st = await adapter.send(Status(request_id=r.text, method="GET",
                                                       headers={"Content-Type": "application/json"}))
                        codes.append(st.response.json()["code"] if st.response is not None
                                     and st.response.status_code == 200 else None)
                        if codes[-1] not in (-1, 0, 1, 2, 6):
                            break
                        await asyncio.sleep(0.05)
                    entry["codes"] = codes
                out[name] = entry
        finally:
            await adapter.close()
        out["token_requests"] = DictCache.sets
        return out

    return asyncio.run(run())


# --- esia-connector -------------------------------------------------------------------------------

def esia_connector(args: dict[str, Any]) -> dict[str, Any]:
    import requests
    from esia_connector.client import EsiaAuth, EsiaSettings

    settings = EsiaSettings(esia_client_id=args["client_id"], redirect_uri=args["redirect_uri"],
                            certificate_file=args["certificate_file"], private_key_file=args["key_file"],
                            esia_service_url=args["esia_url"], esia_scope=args["scope"],
                            esia_token_check_key=args["token_check_key"])
    auth = EsiaAuth(settings)
    url = auth.get_auth_url()
    # the user's browser: ЕСИА's sign-in page (the test harness, not the client)
    browser = requests.Session()
    page = browser.get(url)
    m = re.search(r'name="auth_request" value="([^"]+)"', page.text)
    if page.status_code != 200 or not m:
        return {"stage": "ac", "status": page.status_code, "body": page.text[:300]}
    done = browser.post(f"{args['esia_url']}/login", data={"auth_request": m.group(1), "username": args["username"],
                                                           "password": args["password"]}, allow_redirects=False)
    location = done.headers.get("location", "")
    from urllib.parse import parse_qs, urlsplit
    q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if "code" not in q:
        return {"stage": "login", "status": done.status_code, "callback": q}
    info = auth.complete_authorization(q["code"], q["state"])      # validates the id token (PyJWT)
    return {"stage": "done", "oid": info.oid, "person": info.get_person_main_info(),
            "contacts": info.get_person_contacts(), "documents": info.get_person_documents()}


FLOWS = {"smev": smev, "uploader": uploader, "uploader-proxy": lambda a: uploader(a, proxy=True),
         "esia-connector": esia_connector}

if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    print(json.dumps(FLOWS[sys.argv[1]](json.loads(sys.argv[2])), ensure_ascii=False, default=str))
