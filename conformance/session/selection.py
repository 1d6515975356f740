"""Which tests verify which requirements, remembered from the last full collection.

Only pytest's collection says which tests carry a requirement: the `requirement` markers are
not all literal (parametrised, computed from specs/). Collecting every module costs a
`--only` run most of its pytest time, so each full collection of the conformance package
(`RunPlugin`) stores node ID → requirement IDs, in collection order, under a digest of every
source the markers can depend on (conformance/, specs/, fixtures/). A later run with the same
digest collects only the files holding the requirements asked for (`files_for`), and still
selects by marker after collection; `-j` plans its parts from the same map (`tests`). A changed
source, a collection that had errors, or no cache (`$EZHD_CACHE_DIR=off`) means a full
collection, as before.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from conformance.session.launch import CONFORMANCE_DIR
from conformance.session.prepare import cache_root, sources_digest

__all__ = ["MARKER_SOURCES", "files_for", "store", "tests"]

MARKER_SOURCES = ("conformance", "specs", "fixtures")


def _entry() -> Path | None:
    root = cache_root()
    return None if root is None else root / "selection" / f"{sources_digest(MARKER_SOURCES)}.json"


def tests() -> dict[str, list[str]] | None:
    """node ID → requirement IDs of the last full collection of these sources; None if unknown."""
    entry = _entry()
    try:
        data = json.loads(entry.read_text(encoding="utf-8")) if entry is not None else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def files_for(only: tuple[str, ...]) -> list[Path] | None:
    """The test files whose tests verify any of `only`; None when unknown (collect them all)."""
    known = tests()
    if known is None:
        return None
    root = CONFORMANCE_DIR.parent
    wanted = set(only)
    files = sorted({nodeid.split("::", 1)[0] for nodeid, ids in known.items() if wanted & set(ids)})
    found = [root / f for f in files]
    return found if found and all(f.is_file() for f in found) else None


def store(collected: dict[str, list[str]]) -> None:
    """Remember a full, error-free collection (a cache that cannot be written costs only time)."""
    entry = _entry()
    if entry is None:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".partial-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(collected, fh)
        os.replace(tmp, entry)
    except OSError:
        pass
