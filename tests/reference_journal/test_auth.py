"""The auth slot (ЕСИА sign-in, AUTH-01…AUTH-13) against mock ЕСИА, both in-process: the
journal reaches ЕСИА through an injected httpx transport, the test's "browser" talks to both.
Then each of the 22 auth defects: invisible on the conforming journal, visible when on."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from auth_helpers import (CALLBACK, CLIENT_ID, ESIA, JOURNAL, SIGN_IN_TAGS, SIGNED_OUT, Bench, Esia, esia_code,
                          make_bench, query)
from reference_journal import slots
from reference_journal.config import Settings
from reference_journal.core import Journal
from reference_journal.defects import AUTH, CATALOGUE
from rj_helpers import PORTAL, PortalTransport, World, settings_for


@pytest.fixture(scope="module")
def esia(world: World, tmp_path_factory: pytest.TempPathFactory) -> Esia:
    return Esia.build(tmp_path_factory.mktemp("esia"), world)


@pytest.fixture
def bench(esia: Esia, world: World, portal, tmp_path: Path):
    """`bench(*defects, **settings)` → a journal with the auth slot and its browser."""
    made: list[Bench] = []

    def make(*defects: str, **changes: Any) -> Bench:
        b = make_bench(esia, world, portal, tmp_path / f"journal{len(made)}.sqlite", *defects, **changes)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()
        b.journal.db.close()


# --- choosing people ----------------------------------------------------------------------------

def journal_persona(world: World, oid: int | str) -> dict[str, Any]:
    return next(p for p in world.personas if p["esia"]["oid"] == str(oid))


def pick(esia: Esia, world: World, kind: str, *tags: str, prelinked: bool | None = None,
         account_type: str | None = None, under_14: bool | None = None,
         where: Callable[[dict[str, Any]], bool] = lambda p: True) -> dict[str, Any]:
    """An ЕСИА persona of `kind` with all `tags` (or, without tags, none of the sign-in
    scenarios) and the journal facts asked for."""
    for p in esia.personas.values():
        scenario = set(p.get("scenario") or [])
        if p["kind"] != kind or p.get("replaced_by") is not None:
            continue
        if (tags and not set(tags) <= scenario) or (not tags and scenario & SIGN_IN_TAGS):
            continue
        if account_type is not None and p["account_type"] != account_type:
            continue
        jp = journal_persona(world, p["oid"])
        if prelinked is not None and jp["prelinked"] != prelinked:
            continue
        if under_14 is not None and kind == "learner" and (world.age(jp["record_id"]) < 14) != under_14:
            continue
        if where(p):
            return esia.persona(p["oid"])
    raise LookupError(f"no {kind} {tags} prelinked={prelinked} in the dataset")


def account_of(b: Bench, persona: dict[str, Any]):
    table = {"learner": "learners", "representative": "representatives", "staff": "staff"}[persona["kind"]]
    return b.journal.accounts.for_person(table, persona["journal_id"])


def parent_confirmed(esia, world, prelinked: bool):
    return pick(esia, world, "representative", prelinked=prelinked, account_type="confirmed")


def reason_of(resp: httpx.Response) -> str | None:
    m = re.search(r'data-reason="([a-z_]+)"', resp.text)
    return m.group(1) if m else None


# --- the slot itself ----------------------------------------------------------------------------

def test_the_slot_is_found_and_fits_the_seam(tmp_path, portal):
    j = Journal(settings_for(str(tmp_path / "j.sqlite")))
    slot = slots.load_auth(j)
    assert isinstance(slot, slots.AuthSlot) and slot.status()["configured"] is False
    assert {r.path for r in slot.routes} >= {"/auth/esia/login", "/auth/esia/callback", "/auth/esia/link"}
    assert slot.logout_url({"method": "password", "extra": {}}) is None
    from reference_journal.app import create_app

    j.auth = slot
    with httpx.Client(transport=PortalTransport(create_app(journal=j, load_slots=False), portal),
                      base_url=JOURNAL) as client:
        resp = client.get("/auth/esia/login")
        assert resp.status_code == 503 and "не настроен" in resp.text
    j.db.close()


def test_broken_credentials_are_an_error(tmp_path):
    (tmp_path / "k.pem").write_text("not a key")
    (tmp_path / "c.pem").write_text("not a cert")
    j = Journal(Settings(esia_key=tmp_path / "k.pem", esia_cert=tmp_path / "c.pem"))
    with pytest.raises(ValueError, match="esia_key"):
        slots.load_auth(j)


def test_the_authorization_request_is_v2_and_signed(bench, esia):
    b = bench()
    ac = b.start()
    p = query(ac)
    assert urlsplit(ac).path == "/aas/oauth2/v2/ac"
    assert p["client_id"] == CLIENT_ID and p["redirect_uri"] == CALLBACK and p["response_type"] == "code"
    assert re.fullmatch(r"[0-9A-F]{64}", p["client_certificate_hash"])
    assert re.fullmatch(r"\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d [+-]\d{4}", p["timestamp"])
    assert str(uuid.UUID(p["state"])) == p["state"] and "openid" in p["scope"].split()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", p["client_secret"])  # base64url, no padding
    assert query(b.start())["state"] != p["state"]                # fresh per attempt


# --- sign-in end to end -------------------------------------------------------------------------

def test_a_confirmed_parent_signs_in_and_is_linked_automatically(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=False)
    oid = str(parent["oid"])
    assert b.journal.accounts.by_oid(oid) is None
    resp = b.esia_sign_in(oid, next="/web/api/v1/me")
    assert b.signed_in(resp) and resp.headers["location"] == "/web/api/v1/me"
    me = b.me().json()
    assert me["account"]["role"] == "parent" and me["account"]["esia_linked"] and me["learners"]
    assert b.journal.accounts.by_oid(oid).id == account_of(b, parent).id
    link, = b.events("link")
    assert link["details"] == {"oid": oid, "method": "auto"}
    sign_in = b.events("sign_in", "success")[-1]
    assert sign_in["details"]["link"] == "auto" and sign_in["details"]["method"] == "esia"
    assert sign_in["details"]["esia_children_in_journal"] >= 1
    paths = [(e["method"], e["path"]) for e in b.esia_journal()]
    assert ("POST", "/aas/oauth2/v3/te") in paths and ("GET", f"/rs/prns/{oid}") in paths
    assert ("GET", f"/rs/prns/{oid}/kids") in paths and ("GET", "/.well-known/esia-signing-certificate") in paths
    session = b.journal.db.one("SELECT method, extra FROM sessions ORDER BY created_at DESC LIMIT 1")
    extra = json.loads(session["extra"])
    assert session["method"] == "esia" and extra["oid"] == oid and extra["level"] == "PR"
    assert str(uuid.UUID(extra["esia_sid"])) == extra["esia_sid"]
    # the second sign-in uses the link and does not link again
    b.cookies.clear()
    assert b.signed_in(b.esia_sign_in(oid))
    assert len(b.events("link")) == 1 and b.events("sign_in", "success")[-1]["details"]["link"] == "existing"


def test_a_prelinked_teacher_signs_in_with_the_school_confirmed(bench, esia, world):
    b = bench()
    teacher = pick(esia, world, "staff", prelinked=True)
    assert b.signed_in(b.esia_sign_in(teacher["oid"]))
    assert b.me().json()["account"]["person_table"] == "staff"
    paths = {e["path"] for e in b.esia_journal()}
    assert f"/rs/prns/{teacher['oid']}/roles" in paths and any(p.startswith("/rs/orgs/") for p in paths)


def test_a_teacher_whose_school_esia_does_not_confirm_is_refused(bench, esia, world):
    b = bench()
    teacher = pick(esia, world, "staff", prelinked=True)
    teacher["roles"] = [{**teacher["roles"][0], "ogrn": "1020000000001"}]
    b.put_persona(teacher)
    resp = b.esia_sign_in(teacher["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "organisation" and "ОГРН" in resp.text


def test_a_child_with_consent_signs_in_with_a_child_account(bench, esia, world):
    b = bench()
    child = pick(esia, world, "learner", prelinked=True, account_type="child", under_14=True,
                 where=lambda p: p.get("consent") == "granted")
    assert b.signed_in(b.esia_sign_in(child["oid"]))
    assert b.events("sign_in", "success")[-1]["details"]["level"] == "KD"


@pytest.mark.parametrize("tag, field, ru, en", [
    ("mismatch:name", "last_name", "фамилия", "last name"),
    ("mismatch:birthDate", "birth_date", "дата рождения", "date of birth"),
    ("mismatch:snils", "snils", "СНИЛС", "SNILS"),
])
def test_a_mismatch_is_refused_naming_what_differs(bench, esia, world, tag, field, ru, en):
    b = bench()
    kind = "representative" if tag == "mismatch:name" else "learner"
    person = pick(esia, world, kind, tag)
    resp = b.esia_sign_in(person["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "mismatch"
    assert f'data-field="{field}"' in resp.text and ru in resp.text and "школ" in resp.text
    assert re.findall(r'data-field="(\w+)"', resp.text) == [field]
    failure = b.events("sign_in", "failure")[-1]
    assert failure["details"]["reason"] == "mismatch" and failure["details"]["fields"] == [field]
    assert b.events("link") == [] and b.journal.accounts.by_oid(str(person["oid"])) is None
    b.cookies.clear()
    english = b.esia_sign_in(person["oid"], lang="en")
    assert english.status_code == 403 and en in english.text and "school" in english.text
    b.cookies.clear()
    callback = b.at_esia(b.start(), person["oid"])
    as_json = b.get(callback, headers={"Accept": "application/json"})
    assert as_json.status_code == 403 and as_json.json()["error"] == "mismatch"
    assert [d["field"] for d in as_json.json()["details"]] == [field]


def test_no_snils_is_refused_and_sends_to_the_school(bench, esia, world):
    b = bench()
    person = pick(esia, world, "learner", "no_snils", under_14=True)
    account = account_of(b, person)
    if account.esia_oid:
        b.journal.accounts.unlink_esia(account.id, "test")
    resp = b.esia_sign_in(person["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "no_snils" and "СНИЛС" in resp.text


def test_an_unknown_person_is_refused(bench, esia, world):
    b = bench()
    stranger = {**parent_confirmed(esia, world, prelinked=True), "oid": 1999000001, "lastName": "Неизвестная",
                "snils": "100-200-300 00", "kids": [], "scenario": []}
    b.put_persona(stranger)
    resp = b.esia_sign_in(stranger["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "not_found"


def test_a_record_linked_to_another_esia_account_is_not_taken_over(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    twin = {**parent, "oid": 1999000002, "kids": []}
    b.put_persona(twin)
    resp = b.esia_sign_in(twin["oid"])
    assert resp.status_code == 409 and reason_of(resp) == "record_linked_elsewhere"
    assert b.journal.accounts.by_oid(str(parent["oid"])).id == account_of(b, parent).id


def test_a_child_before_consent_is_refused_and_after_it_signs_in(bench, esia, world):
    b = bench()
    child = pick(esia, world, "learner", "consent_pending")
    # ЕСИА itself refuses first (ESIA-007004 parentalConsentPending)
    resp = b.esia_sign_in(child["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "consent_pending" and "соглас" in resp.text
    assert b.events("sign_in", "failure")[-1]["details"]["esia_code"] == "007004"
    # the parent consents in ЕСИА; the journal has not been told yet
    b.consent(child["oid"])
    b.cookies.clear()
    resp = b.esia_sign_in(child["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "consent_pending"
    # the portal notifies the journal (AUTH-08, postConsent); now the child signs in
    parent_oid = str(child["parents"][0])
    parent_account = b.journal.accounts.for_person("representatives", esia.personas[int(parent_oid)]["journal_id"])
    if parent_account.esia_oid is None:
        b.journal.accounts.link_esia(parent_account.id, parent_oid, "manual", "test")
    body = {"consent_id": str(uuid.uuid4()), "action": "granted", "changed_at": "2026-05-25T09:00:00+03:00",
            "learner_id": child["journal_id"]}
    assert b.post("/api/v1/consents", json=body, headers={**PORTAL, "X-Esia-Oid": parent_oid}).status_code == 204
    b.cookies.clear()
    assert b.signed_in(b.esia_sign_in(child["oid"]))
    assert b.me().json()["account"]["person_id"] == child["journal_id"]
    assert b.events("link")[-1]["details"]["method"] == "auto"


def test_the_account_reissued_at_14_is_relinked_to_the_same_learner(bench, esia, world):
    b = bench()
    new = pick(esia, world, "learner", "reissued")
    old_oid = str(new["reissued_from"])
    account = account_of(b, new)
    assert account.esia_oid == old_oid
    learners = b.journal.db.count("learners")
    resp = b.esia_sign_in(new["oid"])
    assert b.signed_in(resp)
    assert b.journal.accounts.by_oid(str(new["oid"])).id == account.id
    assert b.journal.accounts.by_oid(old_oid) is None and b.journal.db.count("learners") == learners
    unlink, = b.events("unlink")
    assert unlink["details"]["oid"] == old_oid
    assert [e["details"] for e in b.events("link")] == [{"oid": str(new["oid"]), "method": "reissue"}]
    assert b.events("sign_in", "success")[-1]["details"]["link"] == f"reissue (replaces {old_oid})"
    # the replaced child account no longer signs in (14 or over needs a confirmed account)
    b.cookies.clear()
    resp = b.esia_sign_in(old_oid)
    assert resp.status_code == 403 and reason_of(resp) == "teen_child_account"
    assert b.journal.accounts.by_oid(str(new["oid"])).id == account.id


@pytest.mark.parametrize("kind, account_type", [("representative", "simplified"), ("representative", "standard"),
                                                ("learner", "simplified")])
def test_an_unconfirmed_adult_account_is_refused_with_how_to_confirm(bench, esia, world, kind, account_type):
    b = bench()
    person = pick(esia, world, kind, "unconfirmed_adult", account_type=account_type)
    resp = b.esia_sign_in(person["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "unconfirmed"
    assert "подтверждённой" in resp.text and "МФЦ" in resp.text
    assert b.journal.accounts.by_oid(str(person["oid"])) is None


def test_esia_refusing_an_unconfirmed_account_gets_the_same_clear_page(bench, esia, world):
    b = bench(require_confirmed=True)
    person = pick(esia, world, "representative", "unconfirmed_adult", account_type="simplified")
    resp = b.esia_sign_in(person["oid"], lang="en")
    assert resp.status_code == 403 and reason_of(resp) == "unconfirmed" and "ESIA-007055" in resp.text
    assert "confirmed" in resp.text


def test_an_adult_account_for_a_child_under_14_is_refused(bench, esia, world):
    b = bench()
    child = pick(esia, world, "learner", prelinked=True, account_type="child", under_14=True,
                 where=lambda p: p.get("consent") == "granted")
    b.put_persona({**child, "level": "PR", "account_type": "confirmed", "trusted": True})
    resp = b.esia_sign_in(child["oid"])
    assert resp.status_code == 403 and reason_of(resp) == "child_level"


def test_school_issued_logins_of_under_14s_keep_working(bench, world):
    b = bench()
    kid = world.learner(under_14=True)
    token = b.sign_in(kid["internal_login"], kid["internal_password"])
    assert b.web("GET", "/me", token).json()["account"]["person_id"] == kid["record_id"]


# --- sign-out -----------------------------------------------------------------------------------

def test_sign_out_ends_the_esia_session_too(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    assert b.signed_in(b.esia_sign_in(parent["oid"]))
    resp = b.delete("/web/api/v1/session")
    assert resp.status_code == 200
    url = resp.json()["logout_url"]
    assert url.startswith(f"{ESIA}/idp/ext/Logout?")
    assert query(url) == {"client_id": CLIENT_ID, "redirect_url": SIGNED_OUT}
    assert b.me().status_code == 401
    out = b.get(url)
    assert out.status_code == 302 and out.headers["location"] == SIGNED_OUT
    assert b.admin("GET", "/logouts").json()[-1]["oid"] == parent["oid"]
    page = b.get(SIGNED_OUT)
    assert page.status_code == 200 and "вышли" in page.text
    # the browser route: POST /auth/esia/logout
    b.cookies.clear()
    assert b.signed_in(b.esia_sign_in(parent["oid"]))
    resp = b.post("/auth/esia/logout")
    assert resp.status_code == 303 and resp.headers["location"].startswith(f"{ESIA}/idp/ext/Logout?")
    assert b.me().status_code == 401 and b.events("sign_out")[-1]["details"]["method"] == "esia"


def test_a_password_session_has_no_esia_logout(bench, world):
    b = bench()
    kid = world.learner(under_14=True)
    token = b.sign_in(kid["internal_login"], kid["internal_password"])
    assert b.web("DELETE", "/session", token).status_code == 204


# --- tokens and state ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["id", "access"])
@pytest.mark.parametrize("kind", ["expired", "not_yet_valid", "wrong_signature", "alg_none", "foreign_audience",
                                  "foreign_issuer"])
def test_every_bad_token_is_refused(bench, esia, world, kind, token):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    b.fault(kind, token=token)
    resp = b.esia_sign_in(parent["oid"])
    assert resp.status_code == 401 and reason_of(resp) == "token_invalid"
    assert "ezhd_session" not in resp.headers.get("set-cookie", "")
    failure = b.events("sign_in", "failure")[-1]
    assert failure["details"]["reason"] == "token_invalid" and failure["details"]["detail"].startswith(token)
    assert b.journal.db.one("SELECT count(*) AS n FROM sessions")["n"] == 0


def test_a_rotated_esia_certificate_is_downloaded_again(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    assert b.signed_in(b.esia_sign_in(parent["oid"]))
    b.admin("POST", "/keys/rotate")
    b.cookies.clear()
    b.journal.auth._keys_at -= 10   # past the refetch throttle
    assert b.signed_in(b.esia_sign_in(parent["oid"]))


def test_state_is_single_use_and_bound_to_the_browser(bench, esia, world, portal):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    callback = b.at_esia(b.start(), parent["oid"])
    # another browser (no binding cookie) cannot use it
    with httpx.Client(transport=b._transport, base_url=JOURNAL) as other:
        resp = other.get(callback)
    assert resp.status_code == 400 and reason_of(resp) == "state"
    # a forged state is refused
    b.cookies.clear()
    callback = b.at_esia(b.start(), parent["oid"])
    forged = CALLBACK + "?" + urlencode({**query(callback), "state": str(uuid.uuid4())})
    resp = b.get(forged)
    assert resp.status_code == 400 and reason_of(resp) == "state"
    missing = CALLBACK + "?" + urlencode({"code": query(callback)["code"]})
    assert b.get(missing).status_code == 400
    # used once, then refused
    b.cookies.clear()
    callback = b.at_esia(b.start(), parent["oid"])
    assert b.signed_in(b.get(callback))
    again = b.get(callback)
    assert again.status_code == 400 and reason_of(again) == "state"
    reasons = [e["details"].get("detail") for e in b.events("sign_in", "failure")]
    assert "state another browser's" in reasons and "state missing" in reasons


def test_a_refusal_by_the_user_at_esia(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    callback = b.at_esia(b.start(), parent["oid"], action="deny")
    resp = b.get(callback)
    assert resp.status_code == 403 and reason_of(resp) == "esia_denied"


def test_esia_being_down_is_a_clear_page(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=True)
    callback = b.at_esia(b.start(), parent["oid"])
    b.fault("status", endpoint="te", status=503)
    resp = b.get(callback)
    assert resp.status_code == 502 and reason_of(resp) == "esia_unavailable"


# --- manual linking (AUTH-07) -------------------------------------------------------------------

def _password_session(b: Bench, world: World, persona: dict[str, Any]) -> None:
    jp = journal_persona(world, persona["oid"])
    b.sign_in(jp["internal_login"], jp["internal_password"])   # sets the session cookie


def test_manual_linking_from_personal_settings(bench, esia, world):
    b = bench()
    parent = pick(esia, world, "representative", "mismatch:name")
    assert b.esia_sign_in(parent["oid"]).status_code == 403          # automatic linking refused
    b.cookies.clear()
    assert b.get("/auth/esia/settings").status_code == 401
    _password_session(b, world, parent)
    page = b.get("/auth/esia/settings")
    assert page.status_code == 200 and 'action="/auth/esia/link"' in page.text
    resp = b.get(b.at_esia(b.start("/auth/esia/link", "POST"), parent["oid"]))
    assert resp.status_code == 200 and reason_of(resp) == "linked"
    assert b.events("link")[-1]["details"] == {"oid": str(parent["oid"]), "method": "manual"}
    assert b.journal.accounts.by_oid(str(parent["oid"])).id == account_of(b, parent).id
    b.cookies.clear()
    assert b.signed_in(b.esia_sign_in(parent["oid"]))


def test_manual_linking_takes_a_simplified_account(bench, esia, world):
    b = bench()
    parent = pick(esia, world, "representative", "unconfirmed_adult", account_type="simplified")
    _password_session(b, world, parent)
    resp = b.get(b.at_esia(b.start("/auth/esia/link"), parent["oid"]))
    assert resp.status_code == 200 and reason_of(resp) == "linked"
    # linked, but signing in still needs a confirmed account (AUTH-13)
    b.cookies.clear()
    assert reason_of(b.esia_sign_in(parent["oid"])) == "unconfirmed"


def test_manual_linking_refuses_another_persons_account(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=False)
    other = parent_confirmed(esia, world, prelinked=True)
    _password_session(b, world, parent)
    resp = b.get(b.at_esia(b.start("/auth/esia/link"), other["oid"]))
    assert resp.status_code == 409 and reason_of(resp) == "esia_linked_elsewhere"
    b.journal.accounts.unlink_esia(account_of(b, other).id, "test")
    b.cookies.clear()
    _password_session(b, world, parent)
    resp = b.get(b.at_esia(b.start("/auth/esia/link"), other["oid"]))
    assert resp.status_code == 403 and reason_of(resp) == "other_person"
    assert b.events("link", "failure")[-1]["details"]["reason"] == "other_person"


def test_linking_needs_a_journal_session(bench):
    b = bench()
    resp = b.post("/auth/esia/link")
    assert resp.status_code == 401 and reason_of(resp) == "not_signed_in"


# --- the event log ------------------------------------------------------------------------------

def test_the_log_has_every_outcome_and_no_secret(bench, esia, world):
    b = bench()
    parent = parent_confirmed(esia, world, prelinked=False)
    callback = b.at_esia(b.start(), parent["oid"])
    code = query(callback)["code"]
    assert b.signed_in(b.get(callback))
    b.cookies.clear()
    b.fault("wrong_signature")
    assert b.esia_sign_in(parent["oid"]).status_code == 401
    text = json.dumps(b.event_log(), ensure_ascii=False)
    assert code not in text and not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.", text)
    assert parent["snils"] not in text and "client_secret" not in text
    events = {(e["event"], e["outcome"]) for e in b.event_log()}
    assert {("link", "success"), ("sign_in", "success"), ("sign_in", "failure")} <= events


# --- the defects --------------------------------------------------------------------------------

def _signs_in(b: Bench, oid: Any) -> bool:
    return b.signed_in(b.esia_sign_in(oid))


def _with_fault(kind: str, **extra: Any) -> Callable[[Bench], bool]:
    def probe(b: Bench) -> bool:
        b.fault(kind, token="id", **extra)
        return _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    return probe


def probe_parents_only(b: Bench) -> bool:
    teen = pick(b.esia, b.world, "learner", prelinked=True, account_type="confirmed", under_14=False)
    return not _signs_in(b, teen["oid"])


def probe_esia_code(code: str) -> Callable[[Bench], bool]:
    def probe(b: Bench) -> bool:
        return esia_code(b.at_esia(b.start(), parent_confirmed(b.esia, b.world, prelinked=True)["oid"])) == code
    return probe


def probe_state_not_checked(b: Bench) -> bool:
    callback = b.at_esia(b.start(), parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    return b.signed_in(b.get(CALLBACK + "?" + urlencode({**query(callback), "state": str(uuid.uuid4())})))


def probe_state_reused(b: Bench) -> bool:
    return query(b.start())["state"] == query(b.start())["state"]


def probe_link_by_name_only(b: Bench) -> bool:
    return _signs_in(b, pick(b.esia, b.world, "learner", "mismatch:birthDate")["oid"])


def probe_link_without_snils(b: Bench) -> bool:
    person = pick(b.esia, b.world, "learner", "no_snils", under_14=True)
    account = account_of(b, person)
    if account.esia_oid:
        b.journal.accounts.unlink_esia(account.id, "test")
    return _signs_in(b, person["oid"])


def probe_mismatch_generic(b: Bench) -> bool:
    resp = b.esia_sign_in(pick(b.esia, b.world, "learner", "mismatch:birthDate")["oid"])
    assert resp.status_code == 403
    return "дата рождения" not in resp.text


def probe_no_auto_link(b: Bench) -> bool:
    parent = parent_confirmed(b.esia, b.world, prelinked=False)
    return not _signs_in(b, parent["oid"]) and b.journal.accounts.by_oid(str(parent["oid"])) is None


def probe_auto_link_parents_only(b: Bench) -> bool:
    teacher = pick(b.esia, b.world, "staff", prelinked=False, account_type="confirmed")
    return not _signs_in(b, teacher["oid"]) and b.journal.accounts.by_oid(str(teacher["oid"])) is None


def probe_manual_link_confirmed_only(b: Bench) -> bool:
    parent = pick(b.esia, b.world, "representative", "unconfirmed_adult", account_type="simplified")
    _password_session(b, b.world, parent)
    return b.get(b.at_esia(b.start("/auth/esia/link"), parent["oid"])).status_code != 200


def probe_child_without_consent(b: Bench) -> bool:
    child = pick(b.esia, b.world, "learner", "consent_pending")
    b.consent(child["oid"])          # ЕСИА lets the child through; the journal has no consent
    return _signs_in(b, child["oid"])


def probe_reissue_duplicate(b: Bench) -> bool:
    new = pick(b.esia, b.world, "learner", "reissued")
    original = account_of(b, new).id
    assert _signs_in(b, new["oid"])
    return b.journal.accounts.by_oid(str(new["oid"])).id != original


def probe_reissue_unlink_not_logged(b: Bench) -> bool:
    new = pick(b.esia, b.world, "learner", "reissued")
    assert _signs_in(b, new["oid"])
    return not any(e["event"] == "unlink" and (e["details"] or {}).get("oid") == str(new["reissued_from"])
                   for e in b.event_log())


def probe_keeps_esia_session(b: Bench) -> bool:
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    resp = b.delete("/web/api/v1/session")
    return resp.status_code == 204


def probe_teacher_unconfirmed(b: Bench) -> bool:
    teacher = pick(b.esia, b.world, "staff", prelinked=True)
    b.put_persona({**teacher, "trusted": False, "level": "P", "account_type": "standard"})
    return _signs_in(b, teacher["oid"])


def probe_organisation(b: Bench) -> bool:
    teacher = pick(b.esia, b.world, "staff", prelinked=True)
    b.put_persona({**teacher, "roles": [{**teacher["roles"][0], "ogrn": "1020000000001"}]})
    return _signs_in(b, teacher["oid"])


def probe_adult_simplified(b: Bench) -> bool:
    return _signs_in(b, pick(b.esia, b.world, "representative", "unconfirmed_adult", account_type="simplified")["oid"])


def probe_teen_child_account(b: Bench) -> bool:
    teen = pick(b.esia, b.world, "learner", prelinked=True, account_type="confirmed", under_14=False)
    b.put_persona({**teen, "level": "KD", "account_type": "child", "trusted": False})
    b.consent(teen["oid"])
    return _signs_in(b, teen["oid"])


def probe_child_level(b: Bench) -> bool:
    child = pick(b.esia, b.world, "learner", prelinked=True, account_type="child", under_14=True,
                 where=lambda p: p.get("consent") == "granted")
    b.put_persona({**child, "level": "PR", "account_type": "confirmed", "trusted": True})
    return _signs_in(b, child["oid"])


def probe_log_token(b: Bench) -> bool:
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    return bool(re.search(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.", json.dumps(b.event_log())))


def probe_log_refresh_token(b: Bench) -> bool:
    seq = max((e["seq"] for e in b.admin("GET", "/issued").json()), default=0)
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    refresh = [e["token"] for e in b.admin("GET", "/issued", params={"since": seq}).json()
               if e["kind"] == "refresh_token"]
    return any(t in json.dumps(b.event_log()) for t in refresh)


def probe_esia_sign_in_not_logged(b: Bench) -> bool:
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    return not any(e["event"] == "sign_in" and e["outcome"] == "success"
                   and (e["details"] or {}).get("method") == "esia" for e in b.event_log())


def probe_auto_link_not_logged(b: Bench) -> bool:
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=False)["oid"])
    return not b.events("link") and not any((e["details"] or {}).get("link") == "auto" for e in b.events("sign_in"))


def probe_link_state_not_checked(b: Bench) -> bool:
    parent = parent_confirmed(b.esia, b.world, prelinked=False)
    _password_session(b, b.world, parent)
    callback = b.at_esia(b.start("/auth/esia/link"), parent["oid"])
    b.get(re.sub(r"state=[^&]*", "state=forged-0000", callback))
    return b.journal.accounts.by_oid(str(parent["oid"])) is not None


def probe_link_without_session(b: Bench) -> bool:
    return b.post("/auth/esia/link").status_code >= 500


def _refused_at_esia(b: Bench) -> list[dict]:
    parent = parent_confirmed(b.esia, b.world, prelinked=True)
    b.get(b.at_esia(b.start(), parent["oid"], action="deny"))
    return b.events("sign_in", "failure")


def probe_esia_refusal_not_logged(b: Bench) -> bool:
    return not _refused_at_esia(b)


def probe_anonymous_actor_empty(b: Bench) -> bool:
    failures = _refused_at_esia(b)
    assert failures, "the refusal was not logged at all"
    return not failures[-1]["actor"]


def probe_log_callback(b: Bench) -> bool:
    assert _signs_in(b, parent_confirmed(b.esia, b.world, prelinked=True)["oid"])
    return "code=" in json.dumps(b.event_log())


PROBES: dict[str, Callable[[Bench], bool]] = {
    "ESIA_SIGN_IN_PARENTS_ONLY": probe_parents_only,
    "CLIENT_SECRET_V1_ORDER": probe_esia_code("007053"),
    "TIMESTAMP_WITHOUT_OFFSET": probe_esia_code("007015"),
    "STATE_NOT_CHECKED": probe_state_not_checked,
    "STATE_REUSED": probe_state_reused,
    "ACCEPT_ALG_NONE": _with_fault("alg_none"),
    "SKIP_AUD_CHECK": _with_fault("foreign_audience"),
    "IGNORE_TOKEN_EXPIRY": _with_fault("expired"),
    "TOKEN_SKEW_IN_HOURS": _with_fault("expired", seconds=600),
    "SKIP_TOKEN_SIGNATURE": _with_fault("wrong_signature"),
    "LINK_BY_NAME_ONLY": probe_link_by_name_only,
    "LINK_WITHOUT_SNILS": probe_link_without_snils,
    "MISMATCH_MESSAGE_GENERIC": probe_mismatch_generic,
    "NO_AUTO_LINK": probe_no_auto_link,
    "AUTO_LINK_PARENTS_ONLY": probe_auto_link_parents_only,
    "MANUAL_LINK_CONFIRMED_ONLY": probe_manual_link_confirmed_only,
    "CHILD_SIGN_IN_WITHOUT_CONSENT": probe_child_without_consent,
    "REISSUE_CREATES_DUPLICATE": probe_reissue_duplicate,
    "REISSUE_UNLINK_NOT_LOGGED": probe_reissue_unlink_not_logged,
    "SIGN_OUT_KEEPS_ESIA_SESSION": probe_keeps_esia_session,
    "TEACHER_UNCONFIRMED_ACCEPTED": probe_teacher_unconfirmed,
    "ORGANISATION_NOT_CHECKED": probe_organisation,
    "ADULT_SIMPLIFIED_ACCEPTED": probe_adult_simplified,
    "TEEN_CHILD_ACCOUNT_ACCEPTED": probe_teen_child_account,
    "CHILD_LEVEL_NOT_CHECKED": probe_child_level,
    "LOG_ESIA_TOKEN": probe_log_token,
    "LOG_ESIA_REFRESH_TOKEN": probe_log_refresh_token,
    "ESIA_SIGN_IN_NOT_LOGGED": probe_esia_sign_in_not_logged,
    "AUTO_LINK_NOT_LOGGED": probe_auto_link_not_logged,
    "LINK_STATE_NOT_CHECKED": probe_link_state_not_checked,
    "LOG_ESIA_CALLBACK": probe_log_callback,
    "ESIA_REFUSAL_NOT_LOGGED": probe_esia_refusal_not_logged,
    "ANONYMOUS_ACTOR_EMPTY": probe_anonymous_actor_empty,
    "LINK_WITHOUT_SESSION_CRASHES": probe_link_without_session,
}


def test_every_auth_defect_has_a_probe():
    assert set(PROBES) == {d.id for d in CATALOGUE.values() if d.implemented_in == AUTH}
    assert len(PROBES) == 34


@pytest.mark.parametrize("defect_id", sorted(PROBES))
def test_the_auth_defect_is_observable(bench, defect_id):
    assert PROBES[defect_id](bench()) is False, "the conforming journal already shows it"
    assert PROBES[defect_id](bench(defect_id)) is True, f"{defect_id} switched on is not visible"


def test_failed_esia_sign_ins_follow_the_failed_sign_in_defect(bench, esia, world):
    b = bench("FAILED_SIGN_IN_NOT_LOGGED")
    b.fault("expired")
    assert b.esia_sign_in(parent_confirmed(esia, world, prelinked=True)["oid"]).status_code == 401
    assert b.events("sign_in", "failure") == []
