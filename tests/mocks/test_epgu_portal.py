"""Mock ЕПГУ portal: the family overview (JSON and page) from the showcase and the journal
behind the agent, the journal-login and child-password calls, and the notification inbox."""
from __future__ import annotations

import json
import uuid

import httpx
import pytest

from epgu_helpers import AGENT, SENDER, client_for, dataset, dataset_dir, loaded_state
from mocks.epgu import create_app
from mocks.epgu.showcase import STAGES, Showcase
from mocks.epgu.testing import FakeJournal

TODAY = "2026-05-25"
PERIOD = {"from": "2026-04-20", "to": TODAY}


class Bench:
    def __init__(self, app, fake: FakeJournal, http: httpx.Client) -> None:
        self.app, self.fake, self.http = app, fake, http

    @property
    def portal(self):
        return self.app.state.portal


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    showcase = Showcase(state_dir=loaded_state(tmp_path_factory.mktemp("portal") / "s"),
                        delays={s: 0 for s in STAGES})
    fake = FakeJournal(dataset())
    app = create_app(showcase, agent_transport=httpx.ASGITransport(app=fake.app), agent_url=AGENT,
                     portal_date=TODAY)
    client, transport = client_for(app)
    with client:
        r = client.post("/_admin/personas", content=(dataset_dir() / "personas.jsonl").read_bytes(),
                        headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 201 and r.json()["loaded"] == len(dataset().personas)
        yield Bench(app, fake, client)
    transport.close()
    showcase.close()


@pytest.fixture(autouse=True)
def fresh_fake(bench):
    bench.fake.calls.clear()
    bench.fake.fail.clear()
    bench.fake.login_extra.clear()
    bench.app.state.showcase.faults.clear()
    yield


def personas() -> dict[int, dict]:
    return {p["oid"]: p for p in dataset().personas}


def parent_of_two() -> tuple[dict, list[dict]]:
    """A representative with two children and no deliberate mismatch."""
    everyone = personas()
    for p in dataset().personas:
        kids = [everyone[k] for k in p.get("kids", [])]
        if p["kind"] == "representative" and len(kids) == 2 and not p["scenario"] and all(
                not any(s.startswith("mismatch") for s in k["scenario"]) for k in kids):
            return p, kids
    raise AssertionError("the small dataset has no parent of two")


def overview(bench, oid, **params):
    return bench.http.get(f"/portal/api/v1/people/{oid}/overview", params={**PERIOD, **params})


def test_overview_of_a_parent_with_two_children_comes_from_the_journal(bench):
    parent, kids = parent_of_two()
    r = overview(bench, parent["oid"])
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["person"]["last_name"] == parent["lastName"] and data["learners_error"] is None
    assert data["period"] == PERIOD
    by_id = {l["learner_id"]: l for l in data["learners"]}
    assert set(by_id) == {k["journal_id"] for k in kids}
    for kid in kids:
        learner = by_id[kid["journal_id"]]
        assert (learner["relation"], learner["first_name"], learner["source"]) == ("child", kid["firstName"], "journal")
        assert learner["organisation_name"] and learner["class_name"]
        assert {s["source"] for s in learner["sections"].values()} == {"journal"}
        assert all(s["error"] is None for s in learner["sections"].values())
    assert any(l["sections"]["marks"]["items"] for l in by_id.values())
    oid = str(parent["oid"])
    calls = bench.fake.calls
    assert {c["sender"] for c in calls} == {"EPGU"} and {c["oid"] for c in calls} == {oid}
    assert all(uuid.UUID(c["message_id"]) for c in calls)
    kid = kids[0]["journal_id"]
    marks = [c for c in calls if c["path"] == f"/MNSV03/ezhd/api/v1/learners/{kid}/marks"]
    assert len(marks) == 1 and marks[0]["query"] == PERIOD
    assert any(c["path"] == "/MNSV03/ezhd/api/v1/me/learners" for c in calls)


def test_the_showcase_holds_what_the_journal_answers(bench):
    parent, kids = parent_of_two()
    learners = overview(bench, parent["oid"]).json()["learners"]
    start, end = (__import__("datetime").date.fromisoformat(PERIOD[k]) for k in ("from", "to"))
    for learner in learners:
        for name, section in learner["sections"].items():
            stored = bench.portal.showcase_section(name, learner["learner_id"], start, end)
            assert [i["id"] for i in section["items"]] == [i["id"] for i in stored], name


def test_a_failing_section_falls_back_to_the_showcase_and_says_why(bench):
    parent, kids = parent_of_two()
    fine = {l["learner_id"]: l for l in overview(bench, parent["oid"]).json()["learners"]}
    bench.fake.fail["marks"] = 503
    data = overview(bench, parent["oid"]).json()
    for learner in data["learners"]:
        marks = learner["sections"]["marks"]
        assert marks["source"] == "showcase" and marks["error"]["status"] == 503
        assert [m["id"] for m in marks["items"]] == [m["id"] for m in fine[learner["learner_id"]]["sections"]["marks"]["items"]]
        assert learner["sections"]["homework"]["source"] == "journal"
    page = bench.http.get(f"/portal/people/{parent['oid']}", params=PERIOD)
    assert page.status_code == 200 and "Журнал не ответил" in page.text


def test_the_page_renders_from_the_showcase_alone_when_the_journal_is_down(bench):
    parent, kids = parent_of_two()
    for op in ("learners", "marks", "attendance", "lessons", "homework", "achievements", "events"):
        bench.fake.fail[op] = 500
    data = overview(bench, parent["oid"]).json()
    assert data["learners_error"]["status"] == 500
    assert {l["learner_id"] for l in data["learners"]} == {k["journal_id"] for k in kids}
    assert all(l["source"] == "showcase" and l["matched_by"] == "snils" for l in data["learners"])
    assert all(s["source"] == "showcase" for l in data["learners"] for s in l["sections"].values())
    page = bench.http.get(f"/portal/people/{parent['oid']}", params=PERIOD)
    assert page.status_code == 200 and kids[0]["firstName"] in page.text


def test_people_without_or_with_a_wrong_snils_are_found_by_name_and_birth_date(bench):
    bench.fake.fail["learners"] = 503
    everyone = personas()
    learner = next(p for p in everyone.values() if p["kind"] == "learner" and "mismatch:snils" in p["scenario"])
    data = overview(bench, learner["oid"]).json()
    assert [(l["learner_id"], l["relation"], l["matched_by"]) for l in data["learners"]] == \
        [(learner["journal_id"], "self", "name_birth_date")]


def test_the_page_shows_the_children_and_their_marks_in_russian_and_english(bench):
    parent, kids = parent_of_two()
    data = overview(bench, parent["oid"]).json()
    page = bench.http.get(f"/portal/people/{parent['oid']}", params=PERIOD)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="ru">' in html and "Оценки" in html and "Расписание" in html
    for kid in kids:
        assert f"{kid['lastName']} {kid['firstName']}" in html
    learner = next(l for l in data["learners"] if l["sections"]["marks"]["items"])
    latest = learner["sections"]["marks"]["items"][-1]
    assert f'<td class="mark">{latest["value"]}</td>' in html
    assert latest["subject_name"] in html
    english = bench.http.get(f"/portal/people/{parent['oid']}", params={**PERIOD, "lang": "en"}).text
    assert '<html lang="en">' in english and "Marks" in english and "Оценки" not in english


def test_unknown_people_and_bad_periods(bench):
    r = overview(bench, 999999999)
    assert r.status_code == 404 and r.json()["error"] == "unknown_person"
    assert bench.http.get("/portal/people/999999999").status_code == 404
    assert overview(bench, "abc").status_code == 400
    parent, _ = parent_of_two()
    assert overview(bench, parent["oid"], **{"from": TODAY, "to": "2026-01-01"}).json()["error"] == "invalid_period"
    assert overview(bench, parent["oid"], **{"from": "2024-01-01"}).json()["error"] == "period_too_long"
    assert overview(bench, parent["oid"], **{"from": "yesterday"}).status_code == 400


def test_journal_login_reaches_the_journal_and_never_returns_a_password(bench):
    parent, kids = parent_of_two()
    r = bench.http.post(f"/portal/api/v1/people/{parent['oid']}/journal-login")
    assert r.status_code == 200
    body = r.json()
    assert body["login"] == f"user{parent['oid']}" and body["warnings"] == []
    assert {k["learner_id"] for k in body["learners"]} == {k["journal_id"] for k in kids}
    (call,) = bench.fake.calls
    assert (call["method"], call["path"], call["oid"]) == ("GET", "/MNSV03/ezhd/api/v1/me/login", str(parent["oid"]))
    bench.fake.login_extra["password"] = "S3cret-Leak!"
    body = bench.http.post(f"/portal/api/v1/people/{parent['oid']}/journal-login").json()
    assert body["password"] == "[REDACTED]" and body["warnings"]
    assert "S3cret-Leak!" not in json.dumps(bench.http.get("/_admin/journal").json())
    page = bench.http.post(f"/portal/people/{parent['oid']}/journal-login", data={"lang": "ru"})
    assert page.status_code == 200 and f"user{parent['oid']}" in page.text and "S3cret" not in page.text
    bench.fake.fail["login"] = 503
    r = bench.http.post(f"/portal/api/v1/people/{parent['oid']}/journal-login")
    assert r.status_code == 502 and r.json()["error"] == "journal_unavailable"


def test_a_parent_resets_a_childs_password_through_the_journal(bench):
    parent, kids = parent_of_two()
    kid = kids[0]["journal_id"]
    url = f"/portal/api/v1/people/{parent['oid']}/learners/{kid}/password-reset"
    r = bench.http.post(url, json={"password": "Zx9!longpass"})
    assert r.status_code == 204, r.text
    assert bench.fake.passwords[kid] == "Zx9!longpass"
    (call,) = bench.fake.calls
    assert (call["method"], call["path"], call["oid"]) == ("POST", f"/MNSV03/ezhd/api/v1/learners/{kid}/password",
                                                           str(parent["oid"]))
    short = bench.http.post(url, json={"password": "short"})
    assert short.status_code == 400 and short.json()["error"] == "password_policy"
    assert short.json()["details"][0]["rule"] == "min_length"
    stranger = next(l["id"] for l in dataset().rows["learners"] if l["id"] not in {k["journal_id"] for k in kids})
    r = bench.http.post(f"/portal/api/v1/people/{parent['oid']}/learners/{stranger}/password-reset",
                        json={"password": "Zx9!longpass"})
    assert r.status_code == 403 and r.json()["error"] == "not_in_family"
    assert bench.http.post(url, json={"pwd": "x"}).status_code == 400
    assert bench.http.post(url, content=b"not json", headers={"Content-Type": "application/json"}).status_code == 400
    page = bench.http.post(f"/portal/people/{parent['oid']}/learners/{kid}/password-reset",
                           data={"password": "Form!Pass123", "lang": "en"})
    assert page.status_code == 200 and "password has been set" in page.text
    assert bench.fake.passwords[kid] == "Form!Pass123"
    listing = json.dumps(bench.http.get("/_admin/journal").json(), ensure_ascii=False)
    assert "Zx9!longpass" not in listing and "Form!Pass123" not in listing
    assert "[REDACTED]" in listing


# --- the inbox -------------------------------------------------------------------------------

def notification(parent: dict, kid: dict, **changes) -> dict:
    body = {"notification_id": str(uuid.uuid4()), "action": "created",
            "event": {"id": f"EZHD-EV{uuid.uuid4().hex[:8]}", "organisation_id": "EZHD-0001",
                      "event_type": 1, "title": "Родительское собрание 5 «А» класса",
                      "start_datetime": "2026-05-28 18:00:00", "end_datetime": "2026-05-28 19:00:00",
                      "place": "кабинет 214", "link": None, "status": 1,
                      "create_datetime": "2026-05-20 09:12:00", "send_datetime": "2026-05-20 09:15:00"},
            "learner_ids": [kid["journal_id"]], "recipient_oids": [str(parent["oid"])]}
    body.update(changes)
    return body


def post(bench, body, sender=SENDER, **headers):
    return bench.http.post("/api/v1/notifications", json=body,
                           headers={"X-Smev-Sender": sender, "X-Smev-Message-Id": str(uuid.uuid4()), **headers})


@pytest.fixture
def journal_source(bench):
    bench.http.post("/_admin/sources", json={"mnemonic": SENDER})
    yield


def test_a_notification_is_accepted_once_and_shown_to_its_recipient(bench, journal_source):
    parent, kids = parent_of_two()
    body = notification(parent, kids[0])
    r = post(bench, body)
    assert r.status_code == 202 and r.json()["duplicate"] is False
    again = post(bench, body)
    assert again.status_code == 202 and again.json() == {**r.json(), "duplicate": True}
    changed = {**body, "event": {**body["event"], "title": "Другое"}}
    assert post(bench, changed).json()["error"] == "notification_conflict"
    assert post(bench, changed).status_code == 409
    inbox = bench.http.get("/_admin/inbox", params={"oid": str(parent["oid"])}).json()
    assert [n["notification_id"] for n in inbox].count(body["notification_id"]) == 1
    assert inbox[-1]["sender"] == SENDER and inbox[-1]["event"]["title"] == body["event"]["title"]
    cancel = notification(parent, kids[0], action="cancelled",
                          event={**body["event"], "status": 2, "send_datetime": "2026-05-21 10:00:00"})
    assert post(bench, cancel).status_code == 202
    shown = overview(bench, parent["oid"]).json()["notifications"]
    mine = [n for n in shown if n["event"]["id"] == body["event"]["id"]]
    assert [n["action"] for n in mine] == ["cancelled"], "the latest notification of an event is shown"
    page = bench.http.get(f"/portal/people/{parent['oid']}", params=PERIOD).text
    assert body["event"]["title"] in page and "отменено" in page


@pytest.mark.parametrize("change,status,error", [
    (lambda b: b.pop("event"), 400, "invalid_body"),
    (lambda b: b.update(action="moved"), 400, "invalid_body"),
    (lambda b: b.update(notification_id="not-a-uuid"), 400, "invalid_body"),
    (lambda b: b["event"].update(start_datetime="28.05.2026 18:00"), 400, "invalid_body"),
    (lambda b: b.update(learner_ids=[]), 400, "invalid_body"),
    (lambda b: b.update(extra=1), 400, "invalid_body"),
    (lambda b: b.update(action="cancelled"), 422, "inconsistent_event"),
    (lambda b: b["event"].update(end_datetime="2026-05-28 17:00:00"), 422, "inconsistent_event"),
    (lambda b: b.update(recipient_oids=["123456789012"]), 422, "unknown_recipient"),
])
def test_invalid_notifications_are_refused_with_a_clear_message(bench, journal_source, change, status, error):
    parent, kids = parent_of_two()
    body = notification(parent, kids[0])
    change(body)
    before = len(bench.http.get("/_admin/inbox").json())
    r = post(bench, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.json()["message"]
    if status == 400:
        assert r.json()["details"] and all(d["message"] for d in r.json()["details"])
    assert len(bench.http.get("/_admin/inbox").json()) == before


def test_notifications_need_a_known_sender_and_json(bench, journal_source):
    parent, kids = parent_of_two()
    r = post(bench, notification(parent, kids[0]), sender="STRANGER")
    assert r.status_code == 403 and r.json()["error"] == "unknown_sender"
    r = bench.http.post("/api/v1/notifications", content=b"{broken", headers={"X-Smev-Sender": SENDER,
                                                                             "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"
    r = bench.http.post("/api/v1/notifications", content=b"{}", headers={"X-Smev-Sender": SENDER,
                                                                        "Content-Type": "text/plain"})
    assert r.status_code == 400


def test_inbox_faults_answer_503_with_retry_after_then_recover(bench, journal_source):
    parent, kids = parent_of_two()
    bench.http.post("/_admin/faults", json={"endpoint": "notifications", "kind": "status", "status": 503})
    body = notification(parent, kids[0])
    r = post(bench, body)
    assert r.status_code == 503 and r.json()["error"] == "unavailable" and r.headers["retry-after"] == "1"
    r = post(bench, body)
    assert r.status_code == 202 and r.json()["duplicate"] is False
