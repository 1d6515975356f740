"""Each requirement's surface (`specs/surfaces/`): the parts through which it can be broken.

`_dimensions.yaml` names the dimensions (actor, session, table, event kind, secret kind, …)
and their values, listed or derived from the specs that hold them; `<area>.yaml` gives, per
requirement, the values of each dimension its rule speaks of and the parts its tests do not
exercise, each with the reason. Tests declare what they exercise with
``@pytest.mark.surface(dimension=value | [values])``; `coverage()` compares the two.
Schema: `schemas/surfaces.schema.json`.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from specs import OPENAPI_DIR, SCHEMAS_DIR, SPECS_DIR, load_yaml
from specs.tables import SpecError, Text, _schema_errors, load_tables

__all__ = [
    "Dimension", "RequirementSurface", "Surfaces", "SURFACES_DIR", "coverage", "load_surfaces",
    "marked_parts",
]

SURFACES_DIR = SPECS_DIR / "surfaces"
DIMENSIONS_FILE = "_dimensions.yaml"
ALL = "all"


@dataclass(frozen=True)
class Dimension:
    """One way a requirement can be broken, and its values (value -> title)."""

    name: str
    title: Text
    values: Mapping[str, Text]


@dataclass(frozen=True)
class RequirementSurface:
    """The parts of one requirement: dimension -> values; excused: (dimension, value) -> reason."""

    requirement_id: str
    parts: Mapping[str, tuple[str, ...]]
    excused: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def size(self) -> int:
        return sum(len(values) for values in self.parts.values())


@dataclass(frozen=True)
class Surfaces:
    """Every dimension and every requirement's surface."""

    dimensions: Mapping[str, Dimension]
    requirements: Mapping[str, RequirementSurface]

    def of(self, requirement_id: str) -> RequirementSurface | None:
        return self.requirements.get(requirement_id)

    def check_marks(self, requirement_ids: Iterable[str], marks: Mapping[str, tuple[str, ...]]) -> list[str]:
        """Problems of a test's surface marks against its requirements' surfaces (empty: fine)."""
        allowed: dict[str, set[str]] = {}
        for rid in requirement_ids:
            surface = self.requirements.get(rid)
            for dim, values in (surface.parts.items() if surface else ()):
                allowed.setdefault(dim, set()).update(values)
        problems = []
        for dim, values in marks.items():
            if dim not in allowed:
                known = ", ".join(sorted(allowed)) or "none: declare them in specs/surfaces/"
                problems.append(f"surface dimension {dim!r} is not part of its requirements' surface "
                                f"(their dimensions: {known})")
                continue
            for value in values:
                if value not in allowed[dim]:
                    problems.append(f"surface {dim}={value!r} is not part of its requirements' surface "
                                    f"(values: {', '.join(sorted(allowed[dim]))})")
        return problems


def marked_parts(marks: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """The dimension -> values of a test's `surface` markers (keyword arguments; a value or a list)."""
    parts: dict[str, list[str]] = {}
    for mark in marks:
        for dim, value in mark.kwargs.items():
            values = [value] if isinstance(value, str) else list(value)
            parts.setdefault(dim, [])
            parts[dim].extend(v for v in values if v not in parts[dim])
    return {dim: tuple(values) for dim, values in parts.items()}


def coverage(surface: RequirementSurface, tests: Iterable[tuple[Mapping[str, Iterable[str]], bool]]
             ) -> dict[str, dict[str, Any]]:
    """Per dimension: which values its tests exercised, which only skipped tests would have,
    which are excused (with the reason) and which are missing.

    `tests` are (surface marks, ran) pairs: ran is False for a test that was skipped or not run.
    """
    exercised: dict[str, set[str]] = {}
    skipped: dict[str, set[str]] = {}
    for marks, ran in tests:
        for dim, values in marks.items():
            (exercised if ran else skipped).setdefault(dim, set()).update(values)
    result: dict[str, dict[str, Any]] = {}
    for dim, values in surface.parts.items():
        done = [v for v in values if v in exercised.get(dim, ())]
        only_skipped = [v for v in values if v not in done and v in skipped.get(dim, ())]
        excused = {v: surface.excused[(dim, v)] for v in values
                   if (dim, v) in surface.excused and v not in done}
        missing = [v for v in values if v not in done and v not in only_skipped and v not in excused]
        result[dim] = {"covered": done, "skipped": only_skipped, "excused": excused, "missing": missing}
    return result


def load_surfaces(directory: Path | str | None = None) -> Surfaces:
    """Load and check every surface file of a directory (default: the bundled `specs/surfaces`)."""
    if directory is None:
        return _default_surfaces()
    return _load(Path(directory))


@functools.lru_cache(maxsize=1)
def _default_surfaces() -> Surfaces:
    return _load(SURFACES_DIR)


def _load(directory: Path) -> Surfaces:
    from specs.requirements import load_requirements  # requirements imports tables; keep the graph flat

    schema = json.loads((SCHEMAS_DIR / "surfaces.schema.json").read_text(encoding="utf-8"))
    dims_path = directory / DIMENSIONS_FILE
    raw_dims = _load_yaml(dims_path)
    _check(schema["$defs"]["dimensions_file"], raw_dims, dims_path, schema)
    dimensions = {
        name: Dimension(name, Text(**spec["title"]), _dimension_values(name, spec, dims_path))
        for name, spec in raw_dims["dimensions"].items()
    }
    catalogue = load_requirements()
    requirements: dict[str, RequirementSurface] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == DIMENSIONS_FILE:
            continue
        raw = _load_yaml(path) or {}
        _check(schema["$defs"]["area_file"], raw, path, schema)
        for rid, entry in (raw.get("requirements") or {}).items():
            if rid not in catalogue:
                raise SpecError(f"{path}: unknown requirement ID {rid!r}")
            if rid in requirements:
                raise SpecError(f"{path}: {rid} has a surface in another file too")
            requirements[rid] = _requirement(rid, entry, dimensions, path)
    return Surfaces(dimensions=dimensions, requirements=requirements)


def _requirement(rid: str, entry: Mapping[str, Any], dimensions: Mapping[str, Dimension], path: Path
                 ) -> RequirementSurface:
    parts: dict[str, tuple[str, ...]] = {}
    for dim, values in entry["surface"].items():
        if dim not in dimensions:
            raise SpecError(f"{path}: {rid}: unknown dimension {dim!r} (known: {', '.join(dimensions)})")
        known = dimensions[dim].values
        chosen = tuple(known) if values == ALL else tuple(values)
        unknown = [v for v in chosen if v not in known]
        if unknown:
            raise SpecError(f"{path}: {rid}: {dim} has no value(s) {', '.join(map(repr, unknown))} "
                            f"(values: {', '.join(known)})")
        parts[dim] = chosen
    excused: dict[tuple[str, str], str] = {}
    for dim, reasons in (entry.get("excused") or {}).items():
        for value, reason in reasons.items():
            if value not in parts.get(dim, ()):
                raise SpecError(f"{path}: {rid}: excused {dim}={value!r} is not part of its surface")
            excused[(dim, value)] = reason
    return RequirementSurface(rid, parts, excused)


def _dimension_values(name: str, spec: Mapping[str, Any], path: Path) -> dict[str, Text]:
    if "values" in spec:
        return {value: Text(**title) for value, title in spec["values"].items()}
    source = spec["from"]
    if source == "tables":
        tables = load_tables()
        return {t: tables[t].title for t in tables.names}
    if source == "flk_rules":
        rules = _load_yaml(SPECS_DIR / "flk_rules.yaml")
        return {rule: Text(**body["title"]) for rule, body in rules.items()}
    if source.startswith("openapi:"):
        doc_path = OPENAPI_DIR / f"{source.split(':', 1)[1]}.yaml"
        if not doc_path.exists():
            raise SpecError(f"{path}: dimension {name}: {doc_path.name} does not exist")
        doc = _load_yaml(doc_path)
        values = {}
        for route, item in (doc.get("paths") or {}).items():
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    summary = op.get("summary") or f"{method.upper()} {route}"
                    values[op["operationId"]] = Text(summary, summary)
        return values
    raise SpecError(f"{path}: dimension {name}: unknown source {source!r}")


def _load_yaml(path: Path) -> Any:
    try:
        return load_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None


def _check(subschema: Mapping[str, Any], data: Any, path: Path, root: Mapping[str, Any]) -> None:
    _schema_errors({**subschema, "$defs": root["$defs"]}, data, path)
