"""The journal's software bill of materials (FREE-01): CycloneDX 1.5 JSON at `/sbom.json`.

Components are the Python distributions the journal runs on (its direct dependencies and
theirs, from the installed metadata), Python itself and SQLite, each with the licence its
metadata states (`License-Expression`, a short `License` field, or the OSI classifier).
"""
from __future__ import annotations

import functools
import platform
import re
import sqlite3
import uuid
from importlib import metadata
from typing import Any

from reference_journal import __version__

ROOTS = ("starlette", "uvicorn", "jinja2", "pyyaml", "jsonschema", "httpx", "joserfc", "cryptography",
         "python-multipart", "gostcrypto")
_CLASSIFIER_SPDX = {
    "MIT License": "MIT", "BSD License": "BSD-3-Clause", "Apache Software License": "Apache-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0", "Python Software Foundation License": "PSF-2.0",
    "ISC License (ISCL)": "ISC", "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
}
NONFREE = {"name": "КриптоПро CSP", "version": "5.0.13000", "publisher": "ООО «КРИПТО-ПРО»",
           "licenses": [{"license": {"id": "LicenseRef-proprietary", "name": "КриптоПро CSP EULA (proprietary)"}}]}


def _licence(meta: Any, any_classifier: bool = False) -> list[dict[str, Any]]:
    """A package's licence from its metadata; `any_classifier`: the SBOM_LICENCE_FROM_ANY_CLASSIFIER
    defect (the first trove classifier is taken for the licence, whatever it says)."""
    expression = meta.get("License-Expression")
    if expression:
        return [{"expression": expression}]
    text = (meta.get("License") or "").strip()
    if text and len(text) <= 40 and "\n" not in text:
        return [{"license": {"id": text}}] if re.fullmatch(r"[A-Za-z0-9.+-]+", text) else [{"license": {"name": text}}]
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License :: OSI Approved :: ") or any_classifier:
            name = classifier.rsplit(" :: ", 1)[1]
            spdx = _CLASSIFIER_SPDX.get(name)
            return [{"license": {"id": spdx}}] if spdx else [{"license": {"name": f"OSI Approved: {name}"}}]
    return [{"license": {"name": "NOASSERTION"}}]


def _requirements(name: str) -> list[str]:
    try:
        reqs = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in reqs:
        if "extra ==" in req:
            continue
        marker = req.split(";", 1)[1] if ";" in req else ""
        if "python_version <" in marker.replace("python_full_version", "python_version") and "3.1" in marker:
            continue  # a back-port for older Pythons
        if "platform_python_implementation == 'PyPy'" in marker or "implementation_name == \"PyPy\"" in marker:
            continue
        out.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].strip())
    return out


@functools.lru_cache(maxsize=2)
def components(any_classifier: bool = False) -> tuple[dict[str, Any], ...]:
    seen: dict[str, dict[str, Any]] = {}
    queue = list(ROOTS)
    while queue:
        name = queue.pop(0)
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue
        version = meta["Version"]
        seen[key] = {"type": "library", "bom-ref": f"pkg:pypi/{key}@{version}", "name": meta["Name"],
                     "version": version, "purl": f"pkg:pypi/{key}@{version}", "licenses": _licence(meta, any_classifier)}
        queue.extend(_requirements(name))
    items = sorted(seen.values(), key=lambda c: c["name"].lower())
    items.append({"type": "platform", "bom-ref": "python", "name": "CPython", "version": platform.python_version(),
                  "licenses": [{"license": {"id": "PSF-2.0"}}]})
    items.append({"type": "library", "bom-ref": "sqlite", "name": "SQLite", "version": sqlite3.sqlite_version,
                  "licenses": [{"license": {"name": "Public Domain (blessing)"}}]})
    return tuple(items)


def sbom(nonfree: bool = False, nested_nonfree: bool = False, any_classifier: bool = False) -> dict[str, Any]:
    """The CycloneDX document (`nonfree` = the NONFREE_COMPONENT defect, `nested_nonfree` =
    NONFREE_NESTED_COMPONENT: the same component bundled inside a free library's entry,
    `any_classifier` = SBOM_LICENCE_FROM_ANY_CLASSIFIER)."""
    comps = [dict(c) for c in components(any_classifier)]
    if nonfree:
        comps.append({"type": "library", "bom-ref": "cryptopro-csp", **NONFREE})
    if nested_nonfree:
        comps[0] = {**comps[0], "components": [{"type": "library", "bom-ref": "cryptopro-csp", **NONFREE}]}
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'ezhd-reference-journal-' + __version__)}",
        "metadata": {"component": {"type": "application", "bom-ref": "ezhd-reference-journal",
                                   "name": "ezhd reference journal", "version": __version__,
                                   "licenses": [{"license": {"id": "MIT"}}]}},
        "components": comps,
    }
