"""The e-journal standard as data: requirements, export tables, OpenAPI files, schemas.

This package depends on nothing else in the project. Data files live beside the modules;
the modules only load and interpret them, so every rule is stated once, in the data.
"""
from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent
TABLES_DIR = SPECS_DIR / "tables"
OPENAPI_DIR = SPECS_DIR / "openapi"
SCHEMAS_DIR = SPECS_DIR / "schemas"

__all__ = ["SPECS_DIR", "TABLES_DIR", "OPENAPI_DIR", "SCHEMAS_DIR"]
