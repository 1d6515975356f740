"""Secret removal by key name (`conformance/report/redact.py`)."""
from __future__ import annotations

import json

from conformance.report.redact import REDACTED, SECRET_KEYS, redact, redact_body, redact_exchange, redact_text


def test_by_key_name_at_any_depth() -> None:
    data = {"Authorization": "Bearer abc", "nested": [{"client_secret": "s", "Access-Token": "t"}],
            "code": "esia-code", "status": {"code": 404}, "token_env": "NAME", "password": "",
            "headers": [["Set-Cookie", "sid=1"], ["Accept", "*/*"]], "ID_TOKEN": "x", "refresh_token": "r"}
    assert redact(data) == {
        "Authorization": REDACTED, "nested": [{"client_secret": REDACTED, "Access-Token": REDACTED}],
        "code": REDACTED, "status": {"code": 404}, "token_env": "NAME", "password": "",
        "headers": [["Set-Cookie", REDACTED], ["Accept", "*/*"]], "ID_TOKEN": REDACTED, "refresh_token": REDACTED}


def test_free_text() -> None:
    text = ("Authorization: Bearer eyJhbGciOi.payload.sig\n"
            "POST body: grant_type=authorization_code&code=abc123&client_secret=s3&state=ok\n"
            '{"password": "hunter2", "user": "u"}\n'
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"
            "status code=404; the token expired")
    out = redact_text(text)
    for secret in ("eyJhbGciOi", "abc123", "s3&", "hunter2", "MHcCAQEEIB"):
        assert secret not in out
    assert "state=ok" in out and '"user": "u"' in out and "code=404" in out and "the token expired" in out


def test_exchange_bodies_and_urls() -> None:
    exchange = {"method": "POST", "url": "https://esia/te?client_secret=s&x=1",
                "request_body": "client_secret=s&password=p", "response_body": json.dumps({"id_token": "j", "n": 1}),
                "response": {"headers": {"Cookie": "a=b"}, "body": {"refresh_token": "r"}}}
    out = redact_exchange(exchange)
    assert out["url"] == f"https://esia/te?client_secret={REDACTED}&x=1"
    assert out["request_body"] == f"client_secret={REDACTED}&password={REDACTED}"
    assert json.loads(out["response_body"]) == {"id_token": REDACTED, "n": 1}
    assert out["response"] == {"headers": {"Cookie": REDACTED}, "body": {"refresh_token": REDACTED}}


def test_text_without_any_secret_name_is_returned_as_is_and_hints_cover_every_pattern() -> None:
    plain = "Оценка 5 по предмету «Алгебра», 2026-09-01T10:00:00Z; status 404"
    assert redact_text(plain) is plain
    # every secret name, in either spelling and any case, still reaches the patterns
    for name in SECRET_KEYS:
        for spelling in (name, name.replace("_", "-"), name.upper()):
            assert "s3cr3tvalue" not in redact_text(f"{spelling}=s3cr3tvalue"), spelling
            assert "s3cr3tvalue" not in redact_text(f'{{"{spelling}": "s3cr3tvalue"}}'), spelling
    assert "s3cr3tvalue" not in redact_text("Authorization: BASIC s3cr3tvalue")
    assert "MIIB" not in redact_text("-----BEGIN OPENSSH PRIVATE KEY-----\nMIIB\n")


def test_a_json_body_without_secrets_is_reserialised_as_before() -> None:
    body = json.dumps({"rows": [{"learner": "Иванов", "mark": 5}]}, ensure_ascii=False, indent=1)
    assert redact_body(body) == json.dumps(json.loads(body), ensure_ascii=False)
    assert json.loads(redact_body(json.dumps({"rows": [{"Refresh-Token": "r"}]}))) == {"rows": [{"Refresh-Token": REDACTED}]}
