"""What the journal reads from `specs/openapi`: the documents and validators of their schemas.

The journal validates requests against the very schemas the standard publishes
(journal.yaml, test-control.yaml), so the contract is stated once.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import jsonschema
from specs import OPENAPI_DIR, load_yaml

JOURNAL_SPEC = OPENAPI_DIR / "journal.yaml"
TEST_CONTROL_SPEC = OPENAPI_DIR / "test-control.yaml"


@functools.lru_cache(maxsize=None)
def document(name: str) -> dict[str, Any]:
    """A parsed OpenAPI file of specs/openapi (e.g. `journal.yaml`)."""
    return load_yaml(OPENAPI_DIR / name)


@functools.lru_cache(maxsize=None)
def validator(name: str, schema: str) -> jsonschema.Draft202012Validator:
    """A validator of `#/components/schemas/{schema}` of the file `name`."""
    doc = document(name)
    if schema not in doc["components"]["schemas"]:
        raise KeyError(f"{name} has no schema {schema}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def problems(name: str, schema: str, instance: Any, limit: int = 20) -> list[tuple[str, str]]:
    """(JSON path, message) of each way `instance` breaks the schema, at most `limit`."""
    errors = sorted(validator(name, schema).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [("/".join(map(str, e.absolute_path)) or "(body)", e.message) for e in errors[:limit]]


def parse_datetime(text: Any) -> dt.datetime | None:
    """An RFC 3339 date-time with an offset, or None."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
