"""Run directories for the report tests: results.json built with `build_results`, transcripts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.results import TestRecord, build_results, write_results
from conformance.verdicts import Outcome
from specs.requirements import load_requirements

TOKEN = "tok-SECRET-7f3a9c1e5b"          # Authorization: Bearer ... in a transcript
CLIENT_SECRET = "cs-SECRET-0d9e8f7a6b"  # client_secret in the SUT declaration
PASSWORD = "pw-SECRET-Qwerty!2026"      # password in the SUT declaration and a form body
ACCESS_TOKEN = "at-SECRET-55aa66bb77"   # access_token in a JSON response body
AUTH_CODE = "code-SECRET-1234abcd"      # ЕСИА authorization code in a callback URL
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-SECRET-PEM"
SECRETS = (TOKEN, CLIENT_SECRET, PASSWORD, ACCESS_TOKEN, AUTH_CODE, PEM_BODY)

FAILING = ("AUTH-02", "AUTH-04", "EXP-01")  # three MUST requirements that fail


def run_info(seed: int | None = 42, sut: dict | None = None) -> dict[str, Any]:
    return {
        "tool": {"name": "ezhd-conformance", "version": "0.1.0"},
        "started": "2026-11-20T10:00:00.000Z", "finished": "2026-11-20T10:05:00.000Z",
        "seed": seed, "sut": sut if sut is not None else secret_sut(),
        "mocks": {"esia": "http://127.0.0.1:8101", "smev": "http://127.0.0.1:8102"},
        "declared_features": [], "python": "3.11.9", "platform": "Linux-6.1-x86_64",
        "pytest_exit_status": 0,
    }


def secret_sut() -> dict[str, Any]:
    """A SUT declaration as a careless writer might have put it into results.json."""
    return {
        "source": "/srv/vendor/sut.toml",
        "journal": {"base_url": "https://journal.example.ru"},
        "esia": {"client_id": "EZHD01", "client_secret": CLIENT_SECRET,
                 "private_key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"},
        "test_control": {"url": "https://journal.example.ru/test-control/v1", "password": PASSWORD,
                         "token_env": "EZHD_TEST_CONTROL_TOKEN"},
        "features": [],
    }


def transcript_lines(rid: str) -> list[dict[str, Any]]:
    return [
        {"method": "GET", "url": f"https://journal.example.ru/auth/esia/callback?code={AUTH_CODE}&state=s1",
         "status": 302, "request_headers": {"Authorization": f"Bearer {TOKEN}", "Accept": "text/html"},
         "response_headers": {"Location": "/home", "Set-Cookie": "sid=abc123; HttpOnly"}},
        {"method": "POST", "url": "https://esia.mock/aas/oauth2/te", "status": 200,
         "request_body": f"grant_type=authorization_code&client_secret={CLIENT_SECRET}&password={PASSWORD}",
         "response_body": json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "note": f"{rid} ok"})},
        {"method": "GET", "url": "https://journal.example.ru/api/marks", "status": 500,
         "response": {"headers": [["Cookie", "sid=abc123"]], "body": {"error": "state not checked"}},
         "debug": f"key dump -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"},
    ]


def make_run(run_dir: Path, failing: tuple[str, ...] = (), *, missing_evidence: bool = False,
             seed: int | None = 42) -> Path:
    """A run dir with results.json: every MUST passes except `failing` (FAIL, with a transcript
    and an expected/actual message); AUTH-10 (SHOULD) passes."""
    catalogue = load_requirements()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "transcripts").mkdir(exist_ok=True)
    records = []
    for req in catalogue:
        if req.strength != "MUST" and req.id != "AUTH-10":
            continue
        nodeid = f"conformance/{req.area.lower()}/test_{req.id.lower().replace('-', '_')}.py::test_{req.id.lower().replace('-', '_')}"
        record = TestRecord(nodeid, [req.id], Outcome.PASSED, duration_s=0.25)
        if req.id in failing:
            path = f"transcripts/{req.id}.jsonl"
            (run_dir / path).write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in transcript_lines(req.id)) + "\n",
                                        encoding="utf-8")
            record.outcome = Outcome.FAILED
            record.message = f"AssertionError: {req.id}: expected status 403, got 200"
            record.evidence = [path]
            if missing_evidence:
                record.evidence.append("transcripts/gone.jsonl")
        records.append(record)
    results = build_results(catalogue, records, run=run_info(seed), declared_features=[])
    write_results(results, run_dir / "results.json")
    return run_dir
