"""Typed values <-> CSV text, and the single-value ФЛК rules, as the table specs state them.

`parse_value` turns the text of a field into a Python value (str, int, Decimal, bool, date,
datetime, time) or raises `ValueRuleError` naming the rule it breaks; `format_value` is its
inverse. `check_value` applies every single-field rule of a column. The formats come from
`_conventions.yaml`, the constraints from the table file.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from specs.checksums import CHECKERS
from specs.hashing import check_hash
from specs.tables import Column, Conventions

_TYPE_SHAPES = {
    "integer": re.compile(r"^-?(0|[1-9][0-9]*)$"),
    "decimal": re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"),
    "date": re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    "datetime": re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"),
    "time": re.compile(r"^[0-9]{2}:[0-9]{2}$"),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A `strptime` format that reads text of the shape above exactly as ISO 8601 parsing does (the
# shape fixes every field's digits, so padding and ISO-only forms cannot differ; an impossible
# value fails in both, with ISO's clearer message): its far cheaper ISO reader. Other formats
# in `_conventions.yaml` keep `strptime`.
_ISO_READERS = {
    ("date", "%Y-%m-%d"): dt.date.fromisoformat,
    ("datetime", "%Y-%m-%d %H:%M:%S"): dt.datetime.fromisoformat,
    ("time", "%H:%M"): dt.time.fromisoformat,
}
_INT_LIMIT = 2**63 - 1


class ValueRuleError(ValueError):
    """A field breaks a ФЛК rule; `rule` is a key of `specs/flk_rules.yaml`."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


def strip_control(text: str) -> str:
    """Remove control characters, as the export writes strings."""
    return _CONTROL.sub("", text)


def parse_value(column: Column, text: str, conventions: Conventions) -> Any:
    """The typed value of a non-empty field, or ValueRuleError("type", ...)."""
    kind = column.type
    if kind == "string":
        return text
    if kind == "boolean":
        if text == conventions.true_text:
            return True
        if text == conventions.false_text:
            return False
        raise ValueRuleError(
            "type", f"expected {conventions.true_text} or {conventions.false_text}"
        )
    shape = _TYPE_SHAPES[kind]
    if not shape.match(text):
        raise ValueRuleError("type", f"expected {kind} as {_example(kind, conventions)}")
    try:
        if kind == "integer":
            number = int(text)
            if abs(number) > _INT_LIMIT:
                raise ValueRuleError("type", "integer does not fit in 64 bits")
            return number
        if kind == "decimal":
            return Decimal(text)
        fmt = conventions.formats[kind]
        iso = _ISO_READERS.get((kind, fmt))
        if iso is not None:
            return iso(text)
        parsed = dt.datetime.strptime(text, fmt)
    except (ValueError, InvalidOperation) as exc:
        if isinstance(exc, ValueRuleError):
            raise
        raise ValueRuleError("type", f"not a real {kind}: {exc}") from None
    if kind == "date":
        return parsed.date()
    if kind == "time":
        return parsed.time()
    return parsed


def _example(kind: str, conventions: Conventions) -> str:
    sample = dt.datetime(2025, 9, 1, 8, 30, 0)
    if kind in ("date", "datetime", "time"):
        return sample.strftime(conventions.formats[kind])
    return {"integer": "digits", "decimal": "digits with '.'"}.get(kind, kind)


def format_value(column: Column, value: Any, conventions: Conventions) -> str:
    """The CSV text of a typed value (without quoting); None becomes ''."""
    if value is None:
        return ""
    kind = column.type
    if kind == "boolean":
        return conventions.true_text if value else conventions.false_text
    if kind in ("date", "datetime", "time"):
        return value.strftime(conventions.formats[kind])
    if kind == "string":
        return strip_control(str(value))
    return str(value)


def check_value(column: Column, text: str | None, conventions: Conventions) -> tuple[str, str] | None:
    """The first rule a field breaks as (rule, detail), or None when it is valid."""
    if text is None or text == "":
        return ("required", "empty") if column.required else None
    try:
        value = parse_value(column, text, conventions)
    except ValueRuleError as exc:
        return exc.rule, exc.detail
    if column.max_length is not None and len(text) > column.max_length:
        return "max_length", f"{len(text)} characters, at most {column.max_length} allowed"
    if column.minimum is not None and value < column.minimum:
        return "range", f"{value} is below the minimum {column.minimum}"
    if column.maximum is not None and value > column.maximum:
        return "range", f"{value} is above the maximum {column.maximum}"
    if column.enum is not None and value not in column.enum.codes:
        codes = ", ".join(map(str, sorted(column.enum.codes)))
        return "enum", f"code {value} is not in {column.enum.name} ({codes})"
    if column.key and not conventions.key_regex.match(text):
        return "key_format", "expected PREFIX-value, e.g. SCH01-12345"
    if column.regex is not None and not column.regex.match(text):
        return "pattern", f"does not match {column.pattern}"
    if column.checksum is not None:
        reason = CHECKERS[column.checksum](text)
        if reason:
            return "checksum", reason
    if column.hashed is not None:
        reason = check_hash(text)
        if reason:
            return "hash", reason
    return None


def mask(column: Column, text: str | None) -> str | None:
    """The value as an error report may show it: personal values are masked."""
    if text is None or not column.personal:
        return text
    if len(text) <= 2:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 2) + text[-1]
