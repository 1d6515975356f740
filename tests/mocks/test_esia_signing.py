"""Mock ЕСИА with its tokens signed in a pool of processes (`mocks.esia.signing`, issue 18):
same tokens, faults and admin calls applying to the very next exchange, a complete journal,
and no signing process left behind however the server stops."""
from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError

from mocks.common.transports import ServerThread
from mocks.esia import create_app
from mocks.esia.core import _REGISTRY
from mocks.esia.testing import ClientSigner, auth_request_of, callback_params

from esia_helpers import PARENT, REDIRECT, certificate_key, family

ROOT = Path(__file__).resolve().parents[2]
SCOPE = "openid fullname"
USER = "112-233-445 95"


@pytest.fixture
def pooled(credentials):
    """A real server whose core signs in two processes; (url, core, signer)."""
    key, pem = credentials
    app = create_app(signers=2)
    core = app.state.core
    core.register_client("EZHD01", pem, [REDIRECT])
    core.load_personas(family())
    server = ServerThread(app)
    url = server.start()
    try:
        yield url, core, ClientSigner("EZHD01", key, pem, REDIRECT)
    finally:
        server.stop()
        core.close()


def _codes(http: httpx.Client, signer: ClientSigner, n: int) -> list[str]:
    page = http.get(signer.ac_url(str(http.base_url), SCOPE))
    r = http.post("/login", data={"auth_request": auth_request_of(page.text), "username": USER,
                                  "password": "esia"})
    codes = [callback_params(r.headers["location"])["code"]]
    while len(codes) < n:
        r = http.get(signer.ac_url(str(http.base_url), SCOPE))
        codes.append(callback_params(r.headers["location"])["code"])
    return codes


def _exchange_all(url: str, signer: ClientSigner, codes: list[str]) -> list[httpx.Response]:
    """The token requests of `codes`, all at once (several in flight in the pool)."""
    def one(code: str) -> httpx.Response:
        return httpx.post(url + "/aas/oauth2/v3/te", data=signer.te_form(code, scope=SCOPE), timeout=30)
    with concurrent.futures.ThreadPoolExecutor(len(codes)) as ex:
        return list(ex.map(one, codes))


def _forbid_local_signing(core, monkeypatch) -> None:
    def local(plan):
        raise AssertionError("signed in the server process, not in the pool")
    monkeypatch.setattr(core, "sign_tokens", local)


def test_tokens_signed_by_the_pool_verify_with_the_published_certificate(pooled, monkeypatch):
    url, core, signer = pooled
    _forbid_local_signing(core, monkeypatch)
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        answers = _exchange_all(url, signer, _codes(http, signer, 6))
        key = certificate_key(http)
        for r in answers:
            assert r.status_code == 200, r.text
            tok = r.json()
            claims = jwt.decode(tok["id_token"], key, registry=_REGISTRY)
            assert claims.header == {"alg": "RS256", "typ": "JWT", "sbt": "id", "ver": 1}
            assert claims.claims["sub"] == PARENT and claims.claims["aud"] == "EZHD01"
            access = jwt.decode(tok["access_token"], key, registry=_REGISTRY)
            assert access.header["sbt"] == "access" and access.claims["scope"] == f"openid fullname?oid={PARENT}"
            assert http.get(f"/rs/prns/{PARENT}", headers={"Authorization": f"Bearer {tok['access_token']}"}
                            ).status_code == 200
        assert len({r.json()["access_token"] for r in answers}) == 6     # each its own jti
        issued = {e["token"] for e in http.get("/_admin/issued").json()}   # LOG-03 sees them too
        assert all(r.json()["access_token"] in issued and r.json()["id_token"] in issued for r in answers)


def test_a_queued_fault_and_a_key_rotation_apply_to_the_very_next_exchange(pooled):
    url, core, signer = pooled
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        codes = _codes(http, signer, 8)
        assert http.post("/_admin/faults", json={"endpoint": "te", "kind": "expired", "count": 1}).status_code == 201
        answers = _exchange_all(url, signer, codes[:6])
        key = certificate_key(http)
        expired = [r for r in answers if jwt.decode(r.json()["id_token"], key, registry=_REGISTRY
                                                    ).claims["exp"] < time.time()]
        assert len(expired) == 1 and all(r.status_code == 200 for r in answers)   # exactly one, not lost
        old = certificate_key(http)
        assert http.post("/_admin/keys/rotate").status_code in (200, 201)
        tok = httpx.post(url + "/aas/oauth2/v3/te", data=signer.te_form(codes[6], scope=SCOPE)).json()
        jwt.decode(tok["id_token"], certificate_key(http), registry=_REGISTRY)   # the new key at once
        with pytest.raises(JoseError):
            jwt.decode(tok["id_token"], old, registry=_REGISTRY)
        assert http.post("/_admin/faults", json={"endpoint": "te", "kind": "status", "status": 503}).status_code == 201
        assert httpx.post(url + "/aas/oauth2/v3/te", data=signer.te_form(codes[7], scope=SCOPE)).status_code == 503


def test_the_journal_keeps_every_exchange_in_order(pooled):
    url, core, signer = pooled
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        codes = _codes(http, signer, 10)
        since = core.read_journal()[-1]["seq"]
        answers = _exchange_all(url, signer, codes)
        assert all(r.status_code == 200 for r in answers)
        entries = [e for e in core.read_journal(since) if e["endpoint"] == "te"]
        assert len(entries) == 10 and [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
        assert all(e["form"]["code"] == "[REDACTED]" and e["form"]["client_secret"] == "[REDACTED]" for e in entries)


def test_a_signing_process_that_dies_is_replaced_by_signing_in_the_server(pooled, capfd):
    url, core, signer = pooled
    for pid in core.signer.pids():
        os.kill(pid, signal.SIGKILL)
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        answers = _exchange_all(url, signer, _codes(http, signer, 3))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        jwt.decode(answers[0].json()["id_token"], certificate_key(http), registry=_REGISTRY)
    assert "signing process" in capfd.readouterr().err


# --- no orphans: the stand's signing processes go with it ---------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stand(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    ready = tmp_path / "ready.json"
    code = ("import sys; from conformance.cli.mocks_cmd import mocks; "
            f"sys.exit(mocks.main(['up', 'esia', '--esia-signers', '2', '--ready-file', {str(ready)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.05)
    url = json.loads(ready.read_text())["esia"]
    assert httpx.get(url + "/_ping").status_code == 200
    signers = _children(proc.pid)
    assert len(signers) == 2, signers
    return proc, signers


def _gone(pids: list[int], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while any(_running(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C", "SIGKILL"])
def test_the_stand_leaves_no_signing_process_behind(tmp_path, how):
    proc, signers = _stand(tmp_path)
    try:
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        elif how == "Ctrl-C":
            os.killpg(proc.pid, signal.SIGINT)          # a terminal sends it to the foreground group
        else:
            proc.kill()                                  # a crash: nothing of ours runs any more
        out, err = proc.communicate(timeout=30)
        if how != "SIGKILL":
            assert proc.returncode == 0 and "stopped" in out, err
            assert "Traceback" not in err, err
        assert _gone(signers), [p for p in signers if _running(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in signers:
            if _running(p):
                os.kill(p, signal.SIGKILL)
