"""The OpenAPI files in specs/openapi/: valid, marked published/project, consistent with the tables.

Mocks and the suite are generated from these files, so they are checked for more than syntax:
every operation says where it comes from, every schema bound to an export table (`x-table`)
uses exactly that table's columns, and every example validates against its own schema.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from specs import OPENAPI_DIR, SPECS_DIR, TABLES_DIR

SPEC_FILES = sorted(OPENAPI_DIR.glob("*.yaml"))
EXPECTED_FILES = {
    "esia.yaml", "edu-upload.yaml", "agent-sql.yaml", "showcase.yaml",
    "journal.yaml", "portal.yaml", "test-control.yaml",
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ORIGINS = {"published", "project"}


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module", params=SPEC_FILES, ids=lambda p: p.name)
def spec(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param.name, _load(request.param)


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, node) for every dict and list in a document, depth first."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _get(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# --------------------------------------------------------------------------- tables

def _table_columns() -> dict[str, dict[str, dict[str, Any]]]:
    """{table: {column: {type, required, codes}}} from the shared loader, or the YAML directly."""
    try:
        from specs.tables import load_tables
    except ImportError:  # the shared loader is not there: read the YAML files
        enums = _load(TABLES_DIR / "_enums.yaml")
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for path in sorted(TABLES_DIR.glob("[!_]*.yaml")):
            data = _load(path)
            out[data["name"]] = {
                c["name"]: {
                    "type": c["type"],
                    "required": bool(c.get("required")),
                    "codes": sorted(int(k) for k in enums[c["enum"]]["codes"]) if c.get("enum") else None,
                }
                for c in data["columns"]
            }
        return out
    return {
        table.name: {
            c.name: {
                "type": c.type,
                "required": c.required,
                "codes": sorted(c.enum.codes) if c.enum else None,
            }
            for c in table.columns
        }
        for table in load_tables()
    }


TABLES = _table_columns()


def _x_table_schemas() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in SPEC_FILES:
        for pointer, node in _walk(_load(path)):
            if isinstance(node, dict) and "x-table" in node:
                found.append((path.name, pointer, node))
    return found


X_TABLE_SCHEMAS = _x_table_schemas()


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    return set(t) if isinstance(t, list) else {t} if t else set()


# --------------------------------------------------------------------------- validity

def test_expected_files_present() -> None:
    assert EXPECTED_FILES <= {p.name for p in SPEC_FILES}
    assert (OPENAPI_DIR / "README.md").is_file()


def test_is_valid_openapi(spec: tuple[str, dict[str, Any]]) -> None:
    name, doc = spec
    assert str(doc.get("openapi", "")).startswith(("3.0.", "3.1.")), name
    validate(doc)


def test_every_operation_has_origin(spec: tuple[str, dict[str, Any]]) -> None:
    name, doc = spec
    ops = list(_operations(doc))
    assert ops, f"{name} defines no operation"
    for path, method, op in ops:
        where = f"{name} {method.upper()} {path}"
        origin = op.get("x-origin")
        assert origin in ORIGINS, f"{where}: x-origin is {origin!r}"
        if origin == "published":
            assert str(op.get("x-source", "")).strip(), f"{where}: published without x-source"
        else:
            assert str(op.get("x-rationale", "")).strip(), f"{where}: project without x-rationale"
        assert op.get("operationId"), f"{where}: no operationId"


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_no_duplicate_keys(path: Path) -> None:
    with path.open(encoding="utf-8") as fh:
        yaml.load(fh, Loader=_StrictLoader)


def test_operation_ids_unique(spec: tuple[str, dict[str, Any]]) -> None:
    name, doc = spec
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate operationId"


def test_readme_lists_every_file() -> None:
    text = (OPENAPI_DIR / "README.md").read_text(encoding="utf-8")
    for path in SPEC_FILES:
        assert f"`{path.name}`" in text, f"README.md does not list {path.name}"


# --------------------------------------------------------------------------- examples

_FORMATS = FormatChecker()


def _validator(doc: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:spec", Resource(contents=doc, specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:spec#{pointer}"}, registry=registry, format_checker=_FORMATS)


def _examples(doc: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, example) for schema, parameter and media-type examples."""
    for pointer, node in _walk(doc):
        if not isinstance(node, dict):
            continue
        parent_key = pointer.rsplit("/", 1)[-1]
        is_media_or_param = "schema" in node and isinstance(node["schema"], dict)
        if is_media_or_param:
            schema_ptr = f"{pointer}/schema"
            if "example" in node:
                yield f"{pointer}/example", schema_ptr, node["example"]
            for key, ex in (node.get("examples") or {}).items():
                if isinstance(ex, dict) and "value" in ex:
                    yield f"{pointer}/examples/{key}", schema_ptr, ex["value"]
        elif parent_key != "properties" and isinstance(node.get("examples"), list) and (
            "type" in node or "allOf" in node or "properties" in node or "enum" in node or "$ref" in node
        ):
            for index, ex in enumerate(node["examples"]):
                yield f"{pointer}/examples/{index}", pointer, ex


def test_examples_match_their_schemas(spec: tuple[str, dict[str, Any]]) -> None:
    name, doc = spec
    problems = []
    for where, schema_ptr, example in _examples(doc):
        schema = _get(doc, schema_ptr)
        if schema.get("format") == "binary" or "contentMediaType" in schema and schema.get("type") == "string":
            if not isinstance(example, str):
                problems.append(f"{where}: binary example is not a string")
            continue
        for error in _validator(doc, schema_ptr).iter_errors(example):
            problems.append(f"{where}: {error.message}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- x-table

def test_some_schemas_are_bound_to_tables() -> None:
    bound = {node["x-table"] for _, _, node in X_TABLE_SCHEMAS}
    assert {"marks", "attendance", "lessons", "homework", "achievements", "events"} <= bound


@pytest.mark.parametrize(
    "name,pointer,schema", X_TABLE_SCHEMAS, ids=[f"{n}:{p.rsplit('/', 1)[-1]}" for n, p, _ in X_TABLE_SCHEMAS]
)
def test_x_table_schema_matches_table(name: str, pointer: str, schema: dict[str, Any]) -> None:
    table = schema["x-table"]
    assert table in TABLES, f"{name}{pointer}: unknown table {table!r}"
    columns = TABLES[table]
    props: dict[str, Any] = schema.get("properties", {})
    for prop, prop_schema in props.items():
        if prop_schema.get("x-extra") is True:
            assert prop not in columns, f"{name}{pointer}: {prop} is a column, it must not be x-extra"
            continue
        assert prop in columns, f"{name}{pointer}: {prop} is not a column of {table}"
    required = set(schema.get("required", []))
    missing = {c for c, spec in columns.items() if spec["required"]} - required
    assert not missing, f"{name}{pointer}: required columns not required: {sorted(missing)}"
    assert required <= set(props), f"{name}{pointer}: required names without a property"


@pytest.mark.parametrize(
    "name,pointer,schema", X_TABLE_SCHEMAS, ids=[f"{n}:{p.rsplit('/', 1)[-1]}" for n, p, _ in X_TABLE_SCHEMAS]
)
def test_x_table_property_types_match_columns(name: str, pointer: str, schema: dict[str, Any]) -> None:
    columns = TABLES[schema["x-table"]]
    json_type = {"string": "string", "integer": "integer", "decimal": "number", "boolean": "boolean",
                 "date": "string", "datetime": "string", "time": "string"}
    for prop, ps in schema.get("properties", {}).items():
        if ps.get("x-extra") is True:
            continue
        col = columns[prop]
        where = f"{name}{pointer}/properties/{prop}"
        types = _types(ps)
        assert json_type[col["type"]] in types, f"{where}: type {types} for a {col['type']} column"
        assert ("null" in types) == (not col["required"]), f"{where}: nullability differs from 'required'"
        if col["type"] == "date":
            assert ps.get("format") == "date", f"{where}: a date column needs format: date"
        if col["type"] in ("datetime", "time"):
            assert ps.get("x-format") == col["type"] and ps.get("pattern"), f"{where}: needs x-format and pattern"
        if col["codes"] is not None:
            assert sorted(v for v in ps.get("enum", []) if v is not None) == col["codes"], f"{where}: enum codes differ"


# --------------------------------------------------------------------------- specific facts

def test_showcase_status_codes_are_minus_one_to_seven() -> None:
    doc = _load(OPENAPI_DIR / "showcase.yaml")
    status = doc["components"]["schemas"]["StatusCode"]
    assert status["type"] == "integer"
    assert status["enum"] == list(range(-1, 8))
    assert sorted(int(k) for k in status["x-codes"]) == list(range(-1, 8))
    code_ref = doc["components"]["schemas"]["RequestStatus"]["properties"]["code"]["$ref"]
    assert code_ref == "#/components/schemas/StatusCode"


def test_esia_error_codes() -> None:
    doc = _load(OPENAPI_DIR / "esia.yaml")
    codes = doc["components"]["schemas"]["EsiaErrorCode"]
    needed = ["007002", "007003", "007004", "007006", "007011", "007014", "007015", "007019",
              "007023", "007053", "007055"]
    assert {f"ESIA-{c}" for c in needed} <= set(codes["enum"])
    assert set(codes["x-codes"]) == set(codes["enum"]), "every code needs its x-codes entry"
    for code in codes["enum"]:
        assert re.fullmatch(r"ESIA-\d{6}", code)


def test_esia_error_description_format() -> None:
    doc = _load(OPENAPI_DIR / "esia.yaml")
    pattern = doc["components"]["schemas"]["EsiaErrorDescription"]["pattern"]
    assert re.search(pattern, "ESIA-007014: The request doesn't contain the mandatory parameter [client_certificate_hash]")
    assert not re.search(pattern, "007014 missing")


def test_flk_rule_ids_are_the_catalogue() -> None:
    rules = set(_load(SPECS_DIR / "flk_rules.yaml"))
    for name in ("edu-upload.yaml", "showcase.yaml"):
        violation = _load(OPENAPI_DIR / name)["components"]["schemas"]["FlkViolation"]
        assert set(violation["properties"]["rule"]["enum"]) == rules, name


def test_journal_methods_cover_the_api_requirements() -> None:
    doc = _load(OPENAPI_DIR / "journal.yaml")
    ops = {op["operationId"]: (path, method, op) for path, method, op in _operations(doc)}
    for op_id in ("getMarks", "getAttendance", "getLessons", "getHomework", "getAchievements", "getEvents",
                  "getInternalLogin", "setLearnerPassword", "postConsent"):
        assert op_id in ops, op_id
    for path, method, op in ops.values():
        codes = set(op["responses"])
        assert not any(c.startswith("5") for c in codes), f"{method} {path} documents a 5xx"
        assert {"400", "403"} <= codes, f"{method} {path} lacks 400/403"
        if "{learner_id}" in path:
            assert "404" in codes, f"{method} {path} lacks 404"
        params = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op.get("parameters", [])}
        assert {"SmevSender", "EsiaOid"} <= params, f"{method} {path} lacks caller headers"
        if method == "get" and path.startswith("/api/v1/learners/"):
            assert "422" in codes, f"{method} {path} lacks 422 for an invalid period"


def test_edu_upload_paths_are_the_published_ones() -> None:
    doc = _load(OPENAPI_DIR / "edu-upload.yaml")
    prefix = "/{mnemonic}/myedu/api/edu-upload/{version}"
    assert set(doc["paths"]) == {f"{prefix}/multipart/csv", f"{prefix}/csv/{{table}}"}
    for path, method, op in _operations(doc):
        assert method in ("post", "delete")
        assert op["x-origin"] == "published"
        assert set(op["responses"]) == {"200", "400", "500"}
    table = doc["components"]["parameters"]["Table"]["schema"]["pattern"]
    for name in TABLES:
        assert re.fullmatch(table, name)
    assert not re.fullmatch(table, "Learners")
