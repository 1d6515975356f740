"""The agent's quick validity check (`mocks.smev.openapi_mode._QuickCheck`) never says "valid"
where openapi-core finds a problem: a differential property over every operation of the specs
the agent serves, with parameters, headers, statuses, content types and bodies drawn from pools
of valid and broken values. And it does say "valid" for the plain cases, or it saves nothing."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mocks.smev.openapi_mode import _Request, _Response, load_spec, spec_path

SPECS = ("journal.yaml", "portal.yaml")
TEXTS = ["2024-09-02", "2024-13-02", "", " ", "abc", "123", "-1", "0", "1.5", "true", "EPGU", "epgu",
         "1000001", "01000001", "EZHD-0001.LRN1", "../x", "%20", "4e6c2b1a-6f1b-4c8e-9d3a-2f8e7c6b5a4d",
         "2026-09-01T10:00:00+03:00", "A" * 40, "1_000", " 7"]
ERROR = {"error": "not_found", "message": "нет", "details": []}
BODIES = [None, b"", b"not json", b"{}", b"[]", b"null", json.dumps(ERROR).encode(),
          json.dumps({**ERROR, "message": ""}).encode(), json.dumps({**ERROR, "extra": 1}).encode(),
          json.dumps({"error": "not_found"}).encode(),
          json.dumps({"learner_id": "EZHD-0001.LRN1", "from": "2024-09-02", "to": "2024-09-02", "items": []}).encode(),
          json.dumps({"learner_id": "EZHD-0001.LRN1", "from": "2024-09-02", "to": "2024-09-02", "items": [{}]}).encode(),
          json.dumps({"learner_id": 1, "from": "x", "items": []}).encode(),
          json.dumps({"consent_id": "4e6c2b1a-6f1b-4c8e-9d3a-2f8e7c6b5a4d", "action": "granted",
                      "changed_at": "2026-09-01T10:00:00+03:00", "learner_id": "EZHD-0001.LRN1",
                      "consent_type": "SCHOOL_EJOURNAL"}).encode(),
          json.dumps({"password": "Nov-Parol-2026!"}).encode(), json.dumps({"password": 5}).encode(),
          json.dumps({"error": "invalid_body", "message": "нет", "details": []}).encode(),
          json.dumps({"notification_id": "4e6c2b1a-6f1b-4c8e-9d3a-2f8e7c6b5a4d", "received_at": "2026-09-01T10:00:00+03:00",
                      "duplicate": False}).encode()]
# every example the specs give of their schemas, and valid answers: drawn half of the time
LIKELY = [json.dumps(example, ensure_ascii=False).encode() for name in SPECS
          for schema in (load_spec(spec_path(name)).document.get("components", {}).get("schemas") or {}).values()
          for example in (schema.get("examples") or [])] + [BODIES[6], BODIES[10], BODIES[-2], BODIES[-1]]
TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "application/problem+json", ""]
SETTINGS = settings(max_examples=400, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def _operations(spec):
    return [(template, method, op) for template, item in spec.document["paths"].items()
            for method, op in item.items() if isinstance(op, dict) and "responses" in op]


def _parameters(spec, template, method):
    """(parameter object, its parts in the document) of an operation, path-level ones included."""
    quick, out = spec.quick, []
    item = spec.document["paths"][template]
    for where, listed in ((["paths", template], item), (["paths", template, method], item[method])):
        for i in range(len(listed.get("parameters") or [])):
            out.append((quick._at(where + ["parameters", i])[0], where + ["parameters", i]))
    return out


@st.composite
def requests(draw, spec):
    """Mostly valid requests (each parameter usually a value the quick check takes, required
    ones usually present), with one or two things broken or odd now and then."""
    template, method, op = draw(st.sampled_from(_operations(spec)))
    path = template
    query, headers = [], []
    for p, parts in _parameters(spec, template, method):
        examples = [str(p["example"])] if "example" in p else []
        good = [t for t in TEXTS + examples if spec.quick._primitive(parts, t)]
        value = draw(st.sampled_from(good)) if good and draw(st.integers(0, 9)) else draw(st.sampled_from(TEXTS))
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", value or "x")
        elif draw(st.integers(0, 9)) < (9 if p.get("required") else 5):
            (query if p["in"] == "query" else headers).append((p["name"], value))
    if draw(st.integers(0, 4)) == 0:
        query.append(("unknown", draw(st.sampled_from(TEXTS))))
    if query and draw(st.integers(0, 9)) == 0:
        query.append(query[0])
    body = draw(st.sampled_from(LIKELY if draw(st.booleans()) else BODIES))
    return method, path, query, headers, body, draw(st.sampled_from(TYPES[:1] if draw(st.booleans()) else TYPES))


@pytest.mark.parametrize("name", SPECS)
def test_a_request_the_quick_check_passes_has_no_problem_for_openapi_core(name):
    spec = load_spec(spec_path(name))

    @SETTINGS
    @given(requests(spec))
    def check(drawn):
        method, path, query, headers, body, content_type = drawn
        op, problems, request = spec.check_request(method, path, query, headers, body, content_type)
        if op is None or not spec.quick.request_ok(op, path, query, headers, body, content_type):
            return
        passed.append(drawn)
        result = spec.api.unmarshal_request(_Request(method, path, query, headers, body, content_type))
        assert not result.errors, f"quick check passed {drawn}, openapi-core found {result.errors}"

    passed: list = []
    check()
    assert len(passed) > 10, f"only {len(passed)} of the drawn requests were passed quickly: the property says little"


@pytest.mark.parametrize("name", SPECS)
def test_an_answer_the_quick_check_passes_has_no_violation_for_openapi_core(name):
    spec = load_spec(spec_path(name))

    @SETTINGS
    @given(st.data())
    def check(data):
        operation = data.draw(st.sampled_from(_operations(spec)))
        declared = [int(c) for c in operation[2]["responses"] if c.isdigit()]
        status = data.draw(st.sampled_from(declared if declared and data.draw(st.booleans()) else
                                           [200, 201, 202, 204, 400, 403, 404, 409, 500]))
        body = data.draw(st.sampled_from(LIKELY if data.draw(st.booleans()) else BODIES))
        content_type = data.draw(st.sampled_from(TYPES[:1] if data.draw(st.booleans()) else TYPES))
        with_header = data.draw(st.booleans())
        template, method, _ = operation
        op = spec.operation(method, template)
        request = _Request(method, template, [], [], None, "")
        headers = [("Content-Type", content_type)] + ([("Retry-After", "2")] if with_header else [])
        if not spec.quick.response_ok(op, status, headers, body or b"", content_type):
            return
        passed.append(status)
        result = spec.api.unmarshal_response(request, _Response(status, headers, body or b"", content_type))
        assert not result.errors, (f"quick check passed {method} {template} → {status} {content_type} {body!r}, "
                                   f"openapi-core found {result.errors}")

    passed: list = []
    check()
    assert len(passed) > 5, f"only {len(passed)} of the drawn answers were passed quickly: the property says little"


def test_plain_requests_and_answers_are_passed_quickly_and_broken_ones_get_openapi_cores_message():
    spec = load_spec(spec_path("journal.yaml"))
    path, headers = "/api/v1/learners/EZHD-0001.LRN1/marks", [("X-Smev-Sender", "EPGU"), ("X-Esia-Oid", "1000001")]
    query = [("from", "2024-09-02"), ("to", "2024-09-30")]
    op, problems, _ = spec.check_request("GET", path, query, headers, None, "")
    assert problems == [] and spec.quick.request_ok(op, path, query, headers, None, "")
    page = json.dumps({"learner_id": "EZHD-0001.LRN1", "from": "2024-09-02", "to": "2024-09-30", "items": []}).encode()
    assert spec.quick.response_ok(op, 200, [("Content-Type", "application/json")], page, "application/json")
    _, problems, _ = spec.check_request("GET", path, [("from", "2024-13-02"), ("to", "2024-09-30")], headers, None, "")
    assert [(p.location, p.field) for p in problems] == [("query", "from")] and "date" in problems[0].message
