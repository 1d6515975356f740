"""API-01: the journal publishes an OpenAPI description of its on-demand methods compatible with
the standard's specification (specs/openapi/journal.yaml).

How: the description is fetched from the URL the run names (`run["journal"]["openapi_url"]`),
parsed (YAML or JSON); then every operation of
journal.yaml must be in it with the same parameters (name, location, required), the same
response status codes, the same request body requirement, and response and body schemas of
the same shape (types, required and declared properties, enums, array items; `$ref`s followed).
Descriptions, examples, servers and vendor `x_…` properties may differ: compatibility, not
byte equality. Extra operations are allowed.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from conformance.clients import fetch
from conformance.api import _support as sup
from conformance.verdicts import EnvironmentProblem

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def published(run) -> dict[str, Any]:
    url = run["journal"].get("openapi_url")
    if not url:
        raise EnvironmentProblem("the run names no openapi_url of the journal (run.json journal.openapi_url)")
    resp = fetch(url, "the published OpenAPI description", "openapi_url")
    try:
        doc = yaml.safe_load(resp.text)
    except yaml.YAMLError as exc:
        pytest.fail(f"the published description {url} is neither YAML nor JSON: {exc}")
    assert isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3."), (
        f"{url} is not an OpenAPI 3 document (openapi: {doc.get('openapi') if isinstance(doc, dict) else None!r})")
    return doc


def parameters(doc: dict[str, Any], path: str, method: str) -> dict[tuple[str, str], bool]:
    item = doc["paths"][path]
    out: dict[tuple[str, str], bool] = {}
    for raw in list(item.get("parameters") or []) + list(item[method].get("parameters") or []):
        p = sup.resolve(doc, raw)
        name = p["name"].lower() if p.get("in") == "header" else p["name"]
        out[(name, p["in"])] = bool(p.get("required", False))
    return out


def shape(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """The contract-relevant shape of a schema: types, required, properties, enum, items, one/any/allOf."""
    node = sup.resolve(doc, node)
    if not isinstance(node, dict) or depth > 12:
        return None
    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind is not None:
        out["type"] = sorted(kind) if isinstance(kind, list) else [kind]
    for key in ("required", "enum"):
        if key in node:
            out[key] = sorted(map(str, node[key]))
    if "format" in node:
        out["format"] = node["format"]
    if "properties" in node:
        out["properties"] = {k: shape(doc, v, depth + 1) for k, v in node["properties"].items()
                             if not k.startswith("x_")}
    if "items" in node:
        out["items"] = shape(doc, node["items"], depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            out[key] = [shape(doc, v, depth + 1) for v in node[key]]
    return out


def differences(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{where}/{k} is missing")
            elif k not in a:
                out.append(f"{where}/{k} is not in journal.yaml")
            else:
                out += differences(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and a and isinstance(a[0], dict):
        if len(a) != len(b):
            return [f"{where}: {len(b)} alternatives, journal.yaml has {len(a)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {b!r}, journal.yaml has {a!r}"]


def operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p, m) for p, item in doc["paths"].items() for m in METHODS if m in item]


@pytest.mark.requirement("API-01")
@pytest.mark.surface(journal_operation=sup.operation_ids())
def test_published_description_has_the_standard_operations_and_parameters(published):
    """Every operation of journal.yaml is published, with the same parameters (name, location,
    required) and the same request body requirement."""
    std = sup.standard()
    problems = []
    for path, method in operations(std):
        if path not in published.get("paths", {}) or method not in published["paths"][path]:
            problems.append(f"{method.upper()} {path} is not published")
            continue
        want, got = parameters(std, path, method), parameters(published, path, method)
        for key in sorted(set(want) | set(got)):
            if key not in got:
                problems.append(f"{method.upper()} {path}: parameter {key[0]!r} in {key[1]} is missing")
            elif key not in want:
                if got[key]:
                    problems.append(f"{method.upper()} {path}: required parameter {key[0]!r} in {key[1]} is not in "
                                    "journal.yaml")
            elif want[key] != got[key]:
                problems.append(f"{method.upper()} {path}: parameter {key[0]!r} in {key[1]} is "
                                f"{'required' if got[key] else 'optional'}, journal.yaml says "
                                f"{'required' if want[key] else 'optional'}")
        std_body = sup.resolve(std, std["paths"][path][method].get("requestBody"))
        pub_body = sup.resolve(published, published["paths"][path][method].get("requestBody"))
        if bool(std_body) != bool(pub_body) or (std_body and bool(std_body.get("required")) != bool(pub_body.get("required"))):
            problems.append(f"{method.upper()} {path}: the request body is declared differently")
        elif std_body:
            problems += _content_differences(std, published, std_body, pub_body, f"{method.upper()} {path} request body")
    assert not problems, (f"the published description is not compatible with journal.yaml ({len(problems)} "
                          "differences): " + "; ".join(problems[:10]))


def _content_differences(std: dict[str, Any], published: dict[str, Any], want: dict[str, Any],
                         got: dict[str, Any], where: str) -> list[str]:
    """How the published `content` (per media type) of a body or response differs from journal.yaml's."""
    problems = []
    for media, content in (want.get("content") or {}).items():
        pub_content = (got.get("content") or {}).get(media)
        if pub_content is None:
            problems.append(f"{where}: no {media} content")
            continue
        problems += differences(shape(std, content.get("schema")), shape(published, pub_content.get("schema")), where)
    return problems


@pytest.mark.requirement("API-01")
@pytest.mark.surface(journal_operation=sup.operation_ids())
def test_published_description_has_the_standard_responses(published):
    """Each published operation declares the same response status codes as journal.yaml, with
    response schemas of the same shape."""
    std = sup.standard()
    problems = []
    for path, method in operations(std):
        pub_op = (published.get("paths", {}).get(path) or {}).get(method)
        if pub_op is None:
            problems.append(f"{method.upper()} {path} is not published")
            continue
        want, got = std["paths"][path][method]["responses"], pub_op.get("responses") or {}
        if set(map(str, want)) != set(map(str, got)):
            problems.append(f"{method.upper()} {path}: responses {sorted(map(str, got))}, journal.yaml has "
                            f"{sorted(map(str, want))}")
            continue
        for code, raw in want.items():
            w, g = sup.resolve(std, raw), sup.resolve(published, got[code] if code in got else got[str(code)])
            problems += _content_differences(std, published, w, g, f"{method.upper()} {path} {code}")
    assert not problems, (f"the published responses differ from journal.yaml ({len(problems)} differences): "
                          + "; ".join(problems[:10]))
