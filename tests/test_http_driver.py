"""The language-neutral journal driver (issue 13): specs/openapi/driver.yaml, the suite's
`HttpDriver` that speaks it, and the reference journal's driver service (`/driver/v1`)."""
from __future__ import annotations

import inspect

import pytest

from conformance.driver import HttpDriver, UserSession, driver_operations, load_driver
from conformance.verdicts import EnvironmentProblem
from mocks.common.transports import ServerThread
from reference_journal.app import create_app
from reference_journal.config import Settings
from reference_journal.driver_api import WEB

TOKEN = "driver-token-1"
ADMIN_PASSWORD = "Admin-Passw0rd-long"


def test_driver_yaml_has_one_path_per_user_session_operation():
    """A new UserSession method without its path in driver.yaml (or the reverse) fails here."""
    methods = {n for n, _ in inspect.getmembers(UserSession, inspect.isfunction) if not n.startswith("_")}
    assert set(driver_operations()) == methods
    for name, op in driver_operations().items():
        params = inspect.signature(getattr(UserSession, name)).parameters
        assert [p for p in params if p not in ("self", "fields")] == list(op.args), name
        assert ("fields" in params) == op.fields, name
    assert set(WEB) == methods            # the reference journal's driver service does every one


@pytest.fixture
def driver(monkeypatch):
    """An HttpDriver talking to a reference journal's driver service on loopback."""
    app = create_app(Settings(test_control_token=TOKEN, admin_password=ADMIN_PASSWORD, scrypt_n=2 ** 4),
                     load_slots=False)
    monkeypatch.setenv("DRV_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_PW", ADMIN_PASSWORD)
    with ServerThread(app) as url:
        d = load_driver({"journal": {"base_url": url},
                         "driver": {"url": f"{url}/driver/v1", "token_env": "DRV_TOKEN",
                                    "admin_login": "admin", "admin_password_env": "ADMIN_PW"}})
        assert isinstance(d, HttpDriver)
        yield d
        d.close()


def test_the_administrator_signs_in_and_acts_through_the_service(driver):
    admin = driver.administrator()
    me = admin.me()
    assert me.ok and me.data["account"]["login"] == "admin"
    created = admin.create_account("new.teacher", "Str0ng-Password-1")
    assert created.status == 201, created.describe()
    assert admin.audit_events("2020-01-01", "2030-12-31").ok
    assert admin.sign_out().ok
    assert not admin.me().ok                       # the journal ended the session: the handle answers 401
    assert admin.handle not in str(me.data)        # the handle is not the journal's session token


def test_a_refused_sign_in_is_an_answer_not_a_session(driver):
    answer, session = driver.sign_in("admin", "wrong-password")
    assert session is None and answer.status == 401


def test_the_service_own_errors_are_not_answers(driver):
    admin = driver.administrator()
    with pytest.raises(TypeError):
        admin.diary("L1")                           # missing arguments are caught before the call
    resp = driver.post(f"/sessions/{admin.handle}/no_such_operation", {})
    with pytest.raises(NotImplementedError, match="no_such_operation"):
        driver.answer("no_such_operation", resp)   # 501: the test that needs it is SKIPPED
    resp = driver.post("/sessions/not-a-handle/me", {})
    with pytest.raises(EnvironmentProblem, match="unknown_session"):
        driver.answer("me", resp)
    resp = driver.post(f"/sessions/{admin.handle}/diary", {"learner_id": "L1"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    driver.http.headers["Authorization"] = "Bearer wrong"
    with pytest.raises(EnvironmentProblem, match="HTTP 401"):
        driver.sign_in("admin", ADMIN_PASSWORD)
