"""Export table definitions (`specs/tables/*.yaml`): loading, validation and lookup.

A table file states, per column, its type and every constraint ФЛК checks; `_enums.yaml`
holds the integer-coded reference books and `_conventions.yaml` the CSV conventions. This
module only loads and cross-checks those files; it states no rule of its own.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from specs import SCHEMAS_DIR, TABLES_DIR, cache_dir

COLUMN_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "time")
CHECKSUM_KINDS = ("snils", "inn", "inn_legal", "inn_person", "ogrn", "kpp")
HASH_KINDS = ("streebog512",)


class SpecError(ValueError):
    """A specification file is malformed or inconsistent; the message names file and place."""


@dataclass(frozen=True)
class Text:
    """A user-facing text in Russian and English."""

    ru: str
    en: str

    def __call__(self, lang: str = "ru") -> str:
        return self.en if lang == "en" else self.ru


@dataclass(frozen=True)
class EnumSpec:
    name: str
    origin: str
    title: Text
    codes: Mapping[int, Text]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    key: bool = False
    references: tuple[str, str] | None = None
    enum: EnumSpec | None = None
    checksum: str | None = None
    hashed: str | None = None
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    personal: bool = False
    description: Text | None = None

    @functools.cached_property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern else None


@dataclass(frozen=True)
class Table:
    name: str
    origin: str
    title: Text
    source: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    ordered: tuple[tuple[str, str], ...] = ()
    description: Text | None = None
    dated_by: str | None = None           # the date column that places a row in a period
    _by_name: Mapping[str, Column] = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"table {self.name!r} has no column {name!r}") from None

    @functools.cached_property      # (read on every ФЛК of a file: the table never changes)
    def foreign_keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.references)


@dataclass(frozen=True)
class Conventions:
    """CSV conventions shared by every table (`_conventions.yaml`)."""

    encoding: str
    delimiter: str
    quotechar: str
    line_terminator: str
    formats: Mapping[str, Any]
    key_pattern: str
    hash_algorithm: str
    technical_order: tuple[str, str]
    raw: Mapping[str, Any]

    @functools.cached_property
    def key_regex(self) -> re.Pattern[str]:
        return re.compile(self.key_pattern)

    @property
    def true_text(self) -> str:
        return self.formats["boolean"]["true"]

    @property
    def false_text(self) -> str:
        return self.formats["boolean"]["false"]


@dataclass(frozen=True)
class TableSet:
    """All export tables with their conventions and reference books."""

    tables: Mapping[str, Table]
    enums: Mapping[str, EnumSpec]
    conventions: Conventions

    def __getitem__(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            known = ", ".join(sorted(self.tables))
            raise KeyError(f"unknown table {name!r}; known tables: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def export_order(self) -> tuple[str, ...]:
        """Table names with every referenced table before the tables that reference it."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            state[name] = 1
            for col in self.tables[name].foreign_keys:
                target = col.references[0]  # type: ignore[index]
                if target != name and state.get(target) != 1:
                    visit(target)
            state[name] = 2
            order.append(name)

        for name in sorted(self.tables):
            visit(name)
        return tuple(order)


def _text(value: Mapping[str, str] | None) -> Text | None:
    return Text(value["ru"], value["en"]) if value else None


def _load_yaml(path: Path, digest: Any = None) -> Any:
    """The YAML of a file; its bytes are added to `digest` (a hashlib object) when given."""
    raw = path.read_bytes()
    if digest is not None:
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None


def _schema_checked_marker(digest: str) -> Path | None:
    """The cache file that says table files with this content digest passed the schema check
    (None when the cache is off)."""
    root = cache_dir()
    return None if root is None else root / "specs-checked" / digest


def _schema_errors(schema: Mapping[str, Any], data: Any, path: Path) -> None:
    import jsonschema        # only when the table files changed since they were last checked

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(
            f"at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:5]
        )
        raise SpecError(f"{path}: {details}")


def load_tables(directory: Path | str | None = None) -> TableSet:
    """Load and cross-check every table of a directory (default: the bundled `specs/tables`)."""
    if directory is None:
        return _default_tables()
    return _load_tables(Path(directory))


@functools.lru_cache(maxsize=1)
def _default_tables() -> TableSet:
    return _load_tables(TABLES_DIR)


def _load_tables(directory: Path) -> TableSet:
    """Load the table files; the JSON-Schema check of each (the slow part) is skipped when the
    same schema and files passed it before (a marker keyed by their content, in the cache)."""
    schema_text = (SCHEMAS_DIR / "table.schema.json").read_bytes()
    digest = hashlib.sha256(b"table.schema.json\0" + schema_text + b"\0")
    paths = [p for p in sorted(directory.glob("*.yaml")) if not p.name.startswith("_")]
    loaded = [(path, _load_yaml(path, digest)) for path in paths]
    marker = _schema_checked_marker(digest.hexdigest())
    if marker is None or not marker.is_file():
        schema = json.loads(schema_text)
        for path, data in loaded:
            _schema_errors(schema, data, path)
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_bytes(b"")
    enums_path = directory / "_enums.yaml"
    raw_enums = _load_yaml(enums_path) or {}
    for name, spec in raw_enums.items():
        for code, text in (spec.get("codes") or {}).items():
            if not (isinstance(text, dict) and set(text) == {"ru", "en"}
                    and all(isinstance(v, str) and v for v in text.values())):
                raise SpecError(f"{enums_path}: {name} code {code}: label must be {{ru: ..., en: ...}} "
                                f"with two non-empty strings (quote labels that contain a comma), "
                                f"got {text!r}")
    enums = {
        name: EnumSpec(
            name=name,
            origin=spec["origin"],
            title=_text(spec["title"]),  # type: ignore[arg-type]
            codes={int(code): _text(text) for code, text in spec["codes"].items()},  # type: ignore[misc]
        )
        for name, spec in raw_enums.items()
    }
    conventions = _load_conventions(directory / "_conventions.yaml")

    tables: dict[str, Table] = {}
    for path, data in loaded:
        if data["name"] != path.stem:
            raise SpecError(f"{path}: table name {data['name']!r} differs from the file name")
        tables[data["name"]] = _build_table(data, enums, path)

    for table in tables.values():
        for col in table.foreign_keys:
            target_table, target_col = col.references  # type: ignore[misc]
            if target_table not in tables:
                raise SpecError(f"{table.name}.{col.name}: references unknown table {target_table!r}")
            if target_col not in tables[target_table].column_names:
                raise SpecError(
                    f"{table.name}.{col.name}: references unknown column {target_table}.{target_col}"
                )
    return TableSet(tables=tables, enums=enums, conventions=conventions)


def _load_conventions(path: Path) -> Conventions:
    raw = _load_yaml(path)
    try:
        conventions = Conventions(
            encoding=raw["encoding"],
            delimiter=raw["delimiter"],
            quotechar=raw["quotechar"],
            line_terminator=raw["line_terminator"],
            formats=raw["formats"],
            key_pattern=raw["key_prefix"]["pattern"],
            hash_algorithm=raw["hash"]["algorithm"],
            technical_order=tuple(raw["technical_order"]),  # type: ignore[arg-type]
            raw=raw,
        )
    except (KeyError, TypeError) as exc:
        raise SpecError(f"{path}: missing or malformed entry {exc}") from None
    re.compile(conventions.key_pattern)
    return conventions


def _build_table(data: Mapping[str, Any], enums: Mapping[str, EnumSpec], path: Path) -> Table:
    columns: list[Column] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["columns"]):
        where = f"{path}: column {index} ({raw.get('name')!r})"
        name = raw["name"]
        if name in seen:
            raise SpecError(f"{where}: duplicate column name")
        seen.add(name)
        enum = None
        if "enum" in raw:
            if raw["enum"] not in enums:
                raise SpecError(f"{where}: unknown enum {raw['enum']!r}")
            enum = enums[raw["enum"]]
        references = None
        if "references" in raw:
            target_table, _, target_col = raw["references"].partition(".")
            references = (target_table, target_col)
        if "pattern" in raw:
            try:
                re.compile(raw["pattern"])
            except re.error as exc:
                raise SpecError(f"{where}: pattern does not compile: {exc}") from None
        columns.append(
            Column(
                name=name,
                type=raw["type"],
                required=raw.get("required", False),
                key=raw.get("key", False),
                references=references,
                enum=enum,
                checksum=raw.get("checksum"),
                hashed=raw.get("hashed"),
                pattern=raw.get("pattern"),
                max_length=raw.get("max_length"),
                minimum=raw.get("minimum"),
                maximum=raw.get("maximum"),
                personal=raw.get("personal", False),
                description=_text(raw.get("description")),
            )
        )
    names = {c.name for c in columns}
    for key in data["primary_key"]:
        if key not in names:
            raise SpecError(f"{path}: primary key column {key!r} is not a column")
    ordered = tuple(tuple(pair) for pair in data.get("ordered", []))
    for first, second in ordered:
        if first not in names or second not in names:
            raise SpecError(f"{path}: ordered pair {first}/{second} names an unknown column")
    if data.get("dated_by") and data["dated_by"] not in names:
        raise SpecError(f"{path}: dated_by {data['dated_by']!r} is not a column")
    by_name = {c.name: c for c in columns}
    return Table(
        name=data["name"],
        origin=data["origin"],
        title=_text(data["title"]),  # type: ignore[arg-type]
        source=data["source"],
        primary_key=tuple(data["primary_key"]),
        columns=tuple(columns),
        ordered=ordered,  # type: ignore[arg-type]
        description=_text(data.get("description")),
        dated_by=data.get("dated_by"),
        _by_name=by_name,
    )
