"""The e-journal standard as data: requirements, export tables, OpenAPI files, schemas.

This package depends on nothing else in the project. Data files live beside the modules;
the modules only load and interpret them, so every rule is stated once, in the data.
"""
import os
from pathlib import Path
from typing import Any

SPECS_DIR = Path(__file__).resolve().parent
TABLES_DIR = SPECS_DIR / "tables"
OPENAPI_DIR = SPECS_DIR / "openapi"
SCHEMAS_DIR = SPECS_DIR / "schemas"

CACHE_ENV = "EZHD_CACHE_DIR"   # where ezhd keeps what it can recompute; "off" keeps nothing


def cache_dir() -> Path | None:
    """The root of ezhd's cache (`$EZHD_CACHE_DIR`, else `$XDG_CACHE_HOME/ezhd`, else
    `~/.cache/ezhd`), or None when `EZHD_CACHE_DIR=off`."""
    base = os.environ.get(CACHE_ENV)
    if base == "off":
        return None
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ezhd"


__all__ = ["SPECS_DIR", "TABLES_DIR", "OPENAPI_DIR", "SCHEMAS_DIR", "CACHE_ENV", "cache_dir", "load_yaml"]


def load_yaml(path: Path) -> Any:
    """A YAML file parsed safely, with libyaml when PyYAML has it (~10× faster than the pure
    Python loader: the OpenAPI files take 0.1–0.5 s each without it)."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
