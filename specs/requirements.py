"""The requirement catalogue (`specs/requirements.yaml`): loading, validation and lookup.

The YAML file is the single statement of what is certified; this module checks it against
`schemas/requirements.schema.json` plus the rules a schema cannot state (unique IDs, known
area and feature, ID prefix equal to the area) and exposes it as frozen dataclasses.
"""
from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema
import yaml

from specs import SCHEMAS_DIR, SPECS_DIR, load_yaml
from specs.tables import SpecError, Text  # shared by every spec loader

__all__ = [
    "Area", "Catalogue", "Feature", "Requirement", "SpecError", "Text", "load_requirements",
    "BASE", "MUST", "SHOULD", "REQUIREMENTS_FILE",
]

REQUIREMENTS_FILE = SPECS_DIR / "requirements.yaml"
SCHEMA_FILE = SCHEMAS_DIR / "requirements.schema.json"

MUST = "MUST"
SHOULD = "SHOULD"
BASE = "base"


@dataclass(frozen=True)
class Area:
    """A requirement area (AUTH, ROLE, ...) and the `conformance/` folder of its tests."""

    code: str
    title: Text
    folder: str


@dataclass(frozen=True)
class Feature:
    """An optional feature a system under test may declare."""

    key: str
    title: Text


@dataclass(frozen=True)
class Requirement:
    """One requirement ID of the standard."""

    id: str
    area: str
    strength: str
    level: str
    title: Text
    text: Text
    source: tuple[str, ...]
    interfaces: tuple[str, ...]
    feature: str | None = None

    @property
    def optional(self) -> bool:
        """True when the requirement applies only to SUTs declaring `feature`."""
        return self.feature is not None


@dataclass(frozen=True)
class Catalogue:
    """Every requirement in file order, with lookup by ID and by area."""

    path: Path
    source: tuple[str, ...]
    areas: Mapping[str, Area]
    features: Mapping[str, Feature]
    requirements: tuple[Requirement, ...]
    _by_id: Mapping[str, Requirement] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.id: r for r in self.requirements})

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def __getitem__(self, requirement_id: str) -> Requirement:
        try:
            return self._by_id[requirement_id]
        except KeyError:
            raise KeyError(f"unknown requirement ID {requirement_id!r}") from None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def close_matches(self, requirement_id: str, n: int = 3) -> list[str]:
        """Known IDs that look like `requirement_id` (for "did you mean" hints)."""
        return difflib.get_close_matches(requirement_id.strip().upper(), self.ids, n=n)

    def by_area(self, area: str) -> tuple[Requirement, ...]:
        """The requirements of one area, in file order."""
        if area not in self.areas:
            raise KeyError(f"unknown requirement area {area!r}")
        return tuple(r for r in self.requirements if r.area == area)


def load_requirements(path: Path | str | None = None) -> Catalogue:
    """Load and check a requirement file (default: the bundled `specs/requirements.yaml`)."""
    if path is None:
        return _default_catalogue()
    return _load(Path(path))


@functools.lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return _load(REQUIREMENTS_FILE)


def _load(path: Path) -> Catalogue:
    try:
        data = load_yaml(path)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    _check_schema(data, path)

    areas = {
        code: Area(code=code, title=_text(raw["title"]), folder=raw["folder"])
        for code, raw in data["areas"].items()
    }
    features = {
        key: Feature(key=key, title=_text(raw["title"])) for key, raw in data["features"].items()
    }
    requirements: list[Requirement] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["requirements"]):
        rid = raw["id"]
        where = f"{path}: requirement {rid} (index {index})"
        if rid in seen:
            raise SpecError(f"{where}: duplicate ID, first defined at index {seen[rid]}")
        seen[rid] = index
        if raw["area"] not in areas:
            raise SpecError(f"{where}: unknown area {raw['area']!r} (areas: {', '.join(areas)})")
        if rid.split("-")[0] != raw["area"]:
            raise SpecError(f"{where}: ID prefix differs from its area {raw['area']!r}")
        if "feature" in raw and raw["feature"] not in features:
            known = ", ".join(features) or "none"
            raise SpecError(f"{where}: unknown feature {raw['feature']!r} (features: {known})")
        requirements.append(
            Requirement(
                id=rid,
                area=raw["area"],
                strength=raw["strength"],
                level=raw["level"],
                title=_text(raw["title"]),
                text=_text(raw["text"]),
                source=tuple(raw["source"]),
                interfaces=tuple(raw["interfaces"]),
                feature=raw.get("feature"),
            )
        )
    return Catalogue(
        path=path,
        source=tuple(data["source"]),
        areas=areas,
        features=features,
        requirements=tuple(requirements),
    )


def _text(raw: Mapping[str, str]) -> Text:
    return Text(ru=raw["ru"], en=raw["en"])


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _check_schema(data: Any, path: Path) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise SpecError(f"{path}: " + "; ".join(_describe(error, data) for error in errors[:5]))


def _describe(error: jsonschema.ValidationError, data: Any) -> str:
    """Name the place of a schema error: a requirement by ID and index, else the JSON path."""
    where = list(error.absolute_path)
    if len(where) >= 2 and where[0] == "requirements" and isinstance(where[1], int):
        raw = data["requirements"][where[1]]
        rid = raw.get("id", "without id") if isinstance(raw, dict) else "(not a mapping)"
        field_path = "/".join(map(str, where[2:]))
        place = f"requirement {rid} (index {where[1]})" + (f" field {field_path}" if field_path else "")
    else:
        place = "/".join(map(str, where)) or "top level"
    return f"{place}: {error.message}"
