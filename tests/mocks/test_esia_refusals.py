"""Mock ЕСИА refuses as ЕСИА does: each refusal provoked, its code and shape checked.

/ac: a 302 to the registered redirect_uri with `error`, `error_description` = `ESIA-0070xx: …`
and `state`; a 400 page (JSON when asked) when the client or the redirect_uri is unknown.
/te: 400 JSON `{error, error_description, state}`.
"""
from __future__ import annotations

import re

import datetime as dt

import pytest

from esia_helpers import (CHILD, PENDING_CHILD, REDIRECT, TEEN, ac, assert_esia_error, code_for,
                          login)
from mocks.esia.testing import ClientSigner, auth_request_of, callback_params, esia_timestamp

STATE = "9d5e3c8b-6a2f-4f0e-8b1d-3c7a5e9f2b14"


def refused_by_redirect(r, code, error=None):
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith(REDIRECT + "?")
    q = callback_params(r.headers["location"])
    assert set(q) == {"error", "error_description", "state"}, q
    assert_esia_error(q, code, error, STATE)
    assert "code" not in q
    return q


def ac_with(http, signer, scope="openid fullname", drop=(), json_=False, **changes):
    params = signer.ac_params(scope, state=STATE)
    params.update(changes)
    for name in drop:
        params.pop(name)
    return http.get("/aas/oauth2/v2/ac", params=params,
                    headers={"accept": "application/json"} if json_ else {})


# --- authorization endpoint ----------------------------------------------------------------

def test_unknown_client_is_007005_unauthorized_client_not_redirected(esia, http, other_credentials):
    key, pem = other_credentials
    stranger = ClientSigner("NOSUCH01", key, pem, REDIRECT)
    r = http.get("/aas/oauth2/v2/ac", params=stranger.ac_params("openid", state=STATE),
                 headers={"accept": "application/json"})
    assert r.status_code == 400
    assert_esia_error(r.json(), "007005", "unauthorized_client", STATE)
    html = http.get("/aas/oauth2/v2/ac", params=stranger.ac_params("openid", state=STATE))
    assert html.status_code == 400 and "ESIA-007005" in html.text and "text/html" in html.headers["content-type"]


def test_unregistered_redirect_uri_is_007023_not_redirected(esia, http):
    r = ac_with(http, esia.signer, json_=True, redirect_uri="https://evil.test/cb")
    assert r.status_code == 400 and "location" not in r.headers
    assert_esia_error(r.json(), "007023", state=STATE)


@pytest.mark.parametrize("param", ["client_certificate_hash", "client_secret", "scope", "state",
                                   "timestamp", "access_type", "response_type"])
def test_missing_mandatory_parameter_is_007014_naming_it(esia, http, param):
    r = ac_with(http, esia.signer, drop=[param])
    assert r.status_code == 302
    q = callback_params(r.headers["location"])
    assert q["error_description"] == (f"ESIA-007014: The request doesn't contain the mandatory "
                                      f"parameter [{param}]")
    assert q["error"] == "invalid_request"


def test_missing_client_id_is_007014_page(esia, http):
    r = ac_with(http, esia.signer, drop=["client_id"], json_=True)
    assert r.status_code == 400
    assert r.json()["error_description"].endswith("[client_id]")


@pytest.mark.parametrize("timestamp", ["2025-09-02 13:00:29 +0300", "2025.09.02 13:00:29", "garbage",
                                       "2025.13.02 13:00:29 +0300"])
def test_bad_timestamp_format_is_007015(esia, http, timestamp):
    refused_by_redirect(ac_with(http, esia.signer, timestamp=timestamp), "007015")


def test_unencoded_plus_in_timestamp_is_007015_with_a_hint(esia, http):
    params = esia.signer.ac_params("openid", state=STATE)
    params["timestamp"] = params["timestamp"].replace("+", " ")
    q = refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=params), "007015")
    assert "%2B" in q["error_description"]


def test_timestamp_skew_beyond_window_is_007015(esia, http):
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    refused_by_redirect(ac_with(http, esia.signer, timestamp=esia_timestamp(old)), "007015")
    esia.core.configure(timestamp_window=3600)
    params = esia.signer.ac_params("openid", state=STATE, timestamp=esia_timestamp(old))
    r = http.get("/aas/oauth2/v2/ac", params=params)
    assert r.status_code == 200                               # inside the wider window


def test_certificate_hash_mismatch_is_007053_access_denied(esia, http):
    q = refused_by_redirect(ac_with(http, esia.signer, client_certificate_hash="AB" * 32), "007053",
                            "access_denied")
    assert q["error_description"] == "ESIA-007053: OAuthErrorEnum.clientSecretWrong"   # ilimurzin/esia #7
    refused_by_redirect(ac_with(http, esia.signer, client_certificate_hash="AB" * 20), "007053")


def test_certificate_of_another_system_is_007005_unauthorized_client(esia, http, other_credentials):
    key, pem = other_credentials
    other = ClientSigner("OTHER01", key, pem, REDIRECT)
    esia.core.register_client("OTHER01", pem, [REDIRECT])
    refused_by_redirect(ac_with(http, esia.signer, client_certificate_hash=other.certificate_hash),
                        "007005", "unauthorized_client")


def test_bad_signature_is_007053(esia, http, other_credentials):
    key, _ = other_credentials                                # signed with a foreign key
    forger = ClientSigner("EZHD01", key, esia.signer.certificate_pem, REDIRECT)
    q = refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=forger.ac_params("openid", state=STATE)),
                            "007053", "access_denied")
    assert q["error_description"] == "ESIA-007053: OAuthErrorEnum.clientSecretWrong"
    # a secret over other fields (here: the scope changed after signing) fails too
    params = esia.signer.ac_params("openid", state=STATE)
    params["scope"] = "openid fullname"
    refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=params), "007053")
    refused_by_redirect(ac_with(http, esia.signer, client_secret="not*base64"), "007053")


def test_cms_signature_of_another_string_is_007053(esia, http):
    params = esia.signer.ac_params("openid", state=STATE, form="cms")
    params["state"] = STATE.replace("9", "8")
    r = http.get("/aas/oauth2/v2/ac", params=params)
    assert callback_params(r.headers["location"])["error_description"].startswith("ESIA-007053")


def test_unknown_scope_is_007006_and_not_allowed_scope_is_007019(esia, http):
    refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=esia.signer.ac_params(
        "openid telepathy", state=STATE)), "007006", "invalid_scope")
    esia.core.clients["EZHD01"].scopes = frozenset({"openid", "fullname"})
    refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=esia.signer.ac_params(
        "openid snils", state=STATE)), "007019", "access_denied")


def test_wrong_response_type_is_007012(esia, http):
    params = esia.signer.ac_params("openid", state=STATE, response_type="token")
    refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=params), "007012")


def test_duplicated_parameter_is_007003(esia, http):
    params = list(esia.signer.ac_params("openid", state=STATE).items()) + [("scope", "openid")]
    refused_by_redirect(http.get("/aas/oauth2/v2/ac", params=params), "007003")


def test_user_pressing_deny_is_007004(esia, http):
    r = ac(http, esia.signer, state=STATE)
    refused_by_redirect(login(http, r, "112-233-445 95", action="deny"), "007004", "access_denied")
    # and on the consent page of a signed-in user
    code_for(http, esia.signer, "112-233-445 95", scope="openid")
    r = ac(http, esia.signer, "openid snils", state=STATE)
    assert r.status_code == 200 and 'value="deny"' in r.text
    r = http.post("/consent", data={"auth_request": auth_request_of(r.text), "action": "deny"})
    refused_by_redirect(r, "007004", "access_denied")


def test_unconfirmed_account_is_007055_when_the_client_requires_confirmed(esia, http):
    esia.core.clients["EZHD01"].require_confirmed = True
    r = ac(http, esia.signer, state=STATE)
    q = refused_by_redirect(login(http, r, "456-789-012 34"), "007055", "access_denied")
    assert "подтвердите" in q["error_description"]
    http.cookies.clear()
    assert "code" in code_for(http, esia.signer, str(CHILD))          # child accounts are not refused
    http.cookies.clear()
    assert "code" in code_for(http, esia.signer, "112-233-445 95")    # confirmed adults pass


def test_child_without_parental_consent_is_refused_until_the_parent_consents(esia, http):
    r = ac(http, esia.signer, state=STATE)
    q = refused_by_redirect(login(http, r, str(PENDING_CHILD)), "007004", "access_denied")
    assert "parentalConsentPending" in q["error_description"]
    esia.core.set_consent(PENDING_CHILD, "EZHD01", True)
    r = ac(http, esia.signer, state=STATE)                   # the ЕСИА session is kept
    assert r.status_code == 302
    assert set(callback_params(r.headers["location"])) == {"code", "state"}


def test_parent_gives_consent_on_their_own_page(esia, http):
    r = ac(http, esia.signer, state=STATE)
    refused_by_redirect(login(http, r, str(PENDING_CHILD)), "007004")
    http.cookies.clear()
    page = http.get("/lk/consents")
    assert page.status_code == 200 and 'name="password"' in page.text
    r = http.post("/lk/consents", data={"username": "112-233-445 95", "password": "esia"})
    assert r.status_code == 303
    page = http.get("/lk/consents")
    assert "Согласия и доверенности" in page.text and "Анна" in page.text and "не дано" in page.text
    r = http.post("/lk/consents", data={"child_oid": str(PENDING_CHILD), "client_id": "EZHD01",
                                        "action": "grant"})
    assert r.status_code == 303 and esia.core.consent_granted(PENDING_CHILD, "EZHD01")
    http.cookies.clear()
    assert "code" in code_for(http, esia.signer, str(PENDING_CHILD))


def test_consent_is_per_client_and_can_be_revoked(esia, http, other_credentials):
    key, pem = other_credentials
    esia.core.register_client("OTHER01", pem, [REDIRECT])
    other = ClientSigner("OTHER01", key, pem, REDIRECT)
    esia.core.set_consent(PENDING_CHILD, "EZHD01", True)
    assert "code" in code_for(http, esia.signer, str(PENDING_CHILD))
    http.cookies.clear()
    assert code_for(http, other, str(PENDING_CHILD))["error_description"].startswith("ESIA-007004")
    esia.core.set_consent(PENDING_CHILD, "EZHD01", False)
    http.cookies.clear()
    assert code_for(http, esia.signer, str(PENDING_CHILD))["error_description"].startswith("ESIA-007004")


# --- token endpoint ------------------------------------------------------------------------

def te(http, form):
    return http.post("/aas/oauth2/v3/te", data=form)


def fresh_code(esia, http):
    return code_for(http, esia.signer, "112-233-445 95")["code"]


def test_code_reuse_is_007011(esia, http):
    code = fresh_code(esia, http)
    assert te(http, esia.signer.te_form(code, scope="openid fullname")).status_code == 200
    form = esia.signer.te_form(code, scope="openid fullname", state=STATE)
    r = te(http, form)
    assert r.status_code == 400
    assert_esia_error(r.json(), "007011", "invalid_grant", STATE)


def test_expired_code_is_007011(esia, http):
    code = fresh_code(esia, http)
    esia.core.configure(clock_offset=121)
    # the request's own timestamp follows the mock's clock
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=121)
    r = te(http, esia.signer.te_form(code, scope="openid fullname", state=STATE, timestamp=esia_timestamp(now)))
    assert_esia_error(r.json(), "007011", state=STATE)


def test_code_of_another_client_is_007011(esia, http, other_credentials):
    key, pem = other_credentials
    esia.core.register_client("OTHER01", pem, [REDIRECT])
    other = ClientSigner("OTHER01", key, pem, REDIRECT)
    code = fresh_code(esia, http)
    r = te(http, other.te_form(code, scope="openid fullname", state=STATE))
    assert_esia_error(r.json(), "007011", state=STATE)


def test_code_with_another_redirect_uri_is_007011(esia, http):
    code = fresh_code(esia, http)
    r = te(http, esia.signer.te_form(code, scope="openid fullname", state=STATE,
                                     redirect_uri="https://journal.test/logged-out"))
    assert_esia_error(r.json(), "007011", state=STATE)


def test_unknown_code_is_007011(esia, http):
    r = te(http, esia.signer.te_form("made-up", scope="openid fullname", state=STATE))
    assert_esia_error(r.json(), "007011", state=STATE)


@pytest.mark.parametrize("param", ["client_certificate_hash", "client_secret", "code", "redirect_uri",
                                   "timestamp", "state", "scope", "grant_type"])
def test_te_missing_parameter_is_007014(esia, http, param):
    form = esia.signer.te_form("x", scope="openid", state=STATE)
    form.pop(param)
    r = te(http, form)
    assert r.status_code == 400
    body = r.json()
    assert body["error_description"] == (f"ESIA-007014: The request doesn't contain the mandatory "
                                         f"parameter [{param}]")


def test_te_refusals_bad_secret_hash_time_client_scope_grant(esia, http, other_credentials):
    code = fresh_code(esia, http)
    form = esia.signer.te_form(code, scope="openid fullname", state=STATE)
    assert_esia_error(te(http, {**form, "client_secret": esia.signer.sign("other")}).json(), "007053",
                      "access_denied", STATE)
    assert_esia_error(te(http, {**form, "client_certificate_hash": "00" * 32}).json(), "007053",
                      "access_denied", STATE)
    assert_esia_error(te(http, {**form, "timestamp": "yesterday"}).json(), "007015", state=STATE)
    assert_esia_error(te(http, {**form, "client_id": "NOSUCH01"}).json(), "007005", "unauthorized_client",
                      STATE)
    assert_esia_error(te(http, {**form, "grant_type": "password"}).json(), "007009",
                      "unsupported_grant_type", STATE)
    key, pem = other_credentials
    bad = ClientSigner("EZHD01", esia.signer.key, esia.signer.certificate_pem, "https://evil.test/cb")
    assert_esia_error(te(http, bad.te_form(code, scope="openid", state=STATE)).json(), "007023", state=STATE)
    assert_esia_error(te(http, esia.signer.te_form(code, scope="openid telepathy", state=STATE)).json(),
                      "007006", state=STATE)
    # the code survived all the refusals above: none of them consumed it
    assert te(http, esia.signer.te_form(code, scope="openid fullname")).status_code == 200


def test_te_needs_form_encoding(esia, http):
    r = http.post("/aas/oauth2/v3/te", json={"grant_type": "authorization_code"})
    assert r.status_code == 400
    assert_esia_error(r.json(), "007038")


def test_teen_with_own_confirmed_account_signs_in(esia, http):
    esia.core.clients["EZHD01"].require_confirmed = True
    assert "code" in code_for(http, esia.signer, str(TEEN))


@pytest.mark.parametrize("body", [b"gr%0Aant_type=x", b"grant_type=a%0Ab", b"%3Cscript%3E=1&%3Cscript%3E=2",
                                  b"grant_type=%3Cb%3Ebold%3C%2Fb%3E"])
def test_error_texts_reflect_no_control_characters_or_raw_input(esia, http, body):
    r = http.post("/aas/oauth2/v3/te", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500
    text = r.json()["error_description"]
    assert re.fullmatch(r"ESIA-[0-9]{6}: .+", text), text
    assert "<" not in text and "\n" not in text and "script" not in text and "bold" not in text
