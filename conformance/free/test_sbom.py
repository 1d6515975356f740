"""Free software only (FREE-01): the journal publishes a software bill of materials at
`run["journal"]["sbom_url"]` — CycloneDX (JSON or XML) or SPDX (JSON or tag-value) of a valid basic shape, listing
components — and every component in it, nested ones included, states a licence that is free/open-source by the
allow-list `specs/free_licences.yaml` (SPDX ids approved by OSI or FSF, SPDX expressions over
them, public-domain dedications). An unknown, proprietary (`LicenseRef-…`) or missing licence
fails: the journal must show that what it ships is free."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.clients import fetch
from conformance.verdicts import EnvironmentProblem

ALLOW_LIST = Path(__file__).resolve().parents[2] / "specs" / "free_licences.yaml"


@lru_cache(maxsize=1)
def _allowed() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    try:
        data = yaml.safe_load(ALLOW_LIST.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EnvironmentProblem(f"cannot read the licence allow-list {ALLOW_LIST}: {exc}") from None
    ids = frozenset(str(i).lower() for i in data["spdx_ids"])
    return ids, tuple(re.compile(p, re.I) for p in data.get("names") or ())


def free_id(spdx_id: str) -> bool:
    ids, _ = _allowed()
    key = spdx_id.strip().lower()
    if key.endswith("+"):
        key = key[:-1]
    return key in ids or key.replace("-or-later", "-only") in ids


def free_expression(expression: str) -> bool:
    """An SPDX licence expression is free: OR needs one free branch, AND needs all, WITH adds
    an exception (permissions only) to a licence."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expression)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("unexpected end")
        pos += 1
        return tokens[pos - 1]

    def factor() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError("missing )")
            return value
        if token.upper() in ("AND", "OR", "WITH", ")"):
            raise ValueError(f"unexpected {token}")
        if (peek() or "").upper() == "WITH":
            take()
            take()
        return free_id(token)

    def conjunction() -> bool:
        value = factor()
        while (peek() or "").upper() == "AND":
            take()
            value = factor() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while (peek() or "").upper() == "OR":
            take()
            value = conjunction() or value
        return value

    try:
        value = disjunction()
    except ValueError:
        return False
    return value and pos == len(tokens)


def free_name(name: str) -> bool:
    _, patterns = _allowed()
    return any(p.search(name.strip()) for p in patterns) or free_expression(name)


def licence_problem(licences: Any) -> str | None:
    """Why a CycloneDX `licenses` list does not show a free licence; None when it does."""
    if not isinstance(licences, list) or not licences:
        return "no licence stated"
    for entry in licences:
        if not isinstance(entry, dict):
            return f"malformed licence entry {entry!r}"
        if "expression" in entry:
            if not free_expression(str(entry["expression"])):
                return f"licence expression {entry['expression']!r} is not free by specs/free_licences.yaml"
            continue
        lic = entry.get("license")
        if not isinstance(lic, dict):
            return f"malformed licence entry {entry!r}"
        if lic.get("id"):
            if not free_id(str(lic["id"])):
                return f"licence {lic['id']!r} ({lic.get('name', '')}) is not free by specs/free_licences.yaml"
        elif lic.get("name"):
            if not free_name(str(lic["name"])):
                return f"licence {lic['name']!r} is not a known free licence"
        else:
            return f"licence entry without id or name: {entry!r}"
    return None


def _components(doc: Any) -> list[tuple[str, str | None]]:
    """(component, problem) for every component of a CycloneDX or SPDX JSON document."""
    assert isinstance(doc, dict), "the SBOM is not a JSON object"
    if doc.get("bomFormat") == "CycloneDX":
        assert re.fullmatch(r"1\.\d+", str(doc.get("specVersion", ""))), (
            f"the CycloneDX SBOM has specVersion {doc.get('specVersion')!r}, not 1.x")
        comps = doc.get("components")
        assert isinstance(comps, list) and comps, "the CycloneDX SBOM lists no components"
        out = []
        stack: list[tuple[str, Any]] = [("", c) for c in reversed(comps)]
        while stack:        # CycloneDX nests components (a bundled module inside its library)
            parent, c = stack.pop()
            assert isinstance(c, dict) and c.get("name"), f"a component of the SBOM has no name: {str(c)[:200]}"
            label = f"{parent}{c['name']} {c.get('version', '')}".strip()
            out.append((label, licence_problem(c.get("licenses"))))
            nested = c.get("components")
            if nested is not None:
                assert isinstance(nested, list), f"the nested components of {label} are not a list"
                stack.extend((f"{label} / ", n) for n in reversed(nested))
        return out
    if str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        packages = doc.get("packages")
        assert isinstance(packages, list) and packages, "the SPDX SBOM lists no packages"
        out = []
        for p in packages:
            assert isinstance(p, dict) and p.get("name"), f"a package of the SBOM has no name: {str(p)[:200]}"
            stated = p.get("licenseConcluded")
            if stated in (None, "NOASSERTION", "NONE"):
                stated = p.get("licenseDeclared")
            problem = None if isinstance(stated, str) and free_expression(stated) else (
                f"licence {stated!r} is not free by specs/free_licences.yaml")
            out.append((f"{p['name']} {p.get('versionInfo', '')}".strip(), problem))
        return out
    raise AssertionError("the SBOM is neither CycloneDX JSON (bomFormat) nor SPDX JSON (spdxVersion)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _cyclonedx_xml(text: str) -> dict[str, Any]:
    """A CycloneDX XML document in the shape of its JSON form (components, names, versions,
    licences, nested components), for the same checks."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    assert _local(root.tag) == "bom", f"the XML SBOM's root is <{_local(root.tag)}>, not CycloneDX's <bom>"
    version = re.search(r"cyclonedx\.org/schema/bom/(\d+\.\d+)", root.tag)

    def child(el, name):
        return next((c for c in el if _local(c.tag) == name), None)

    def component(el) -> dict[str, Any]:
        out: dict[str, Any] = {"name": (child(el, "name").text or "").strip() if child(el, "name") is not None else ""}
        if child(el, "version") is not None:
            out["version"] = (child(el, "version").text or "").strip()
        lic = child(el, "licenses")
        if lic is not None:
            out["licenses"] = []
            for entry in lic:
                if _local(entry.tag) == "expression":
                    out["licenses"].append({"expression": (entry.text or "").strip()})
                elif _local(entry.tag) == "license":
                    fields = {k: (child(entry, k).text or "").strip() for k in ("id", "name") if child(entry, k) is not None}
                    out["licenses"].append({"license": fields})
        nested = child(el, "components")
        if nested is not None:
            out["components"] = [component(c) for c in nested if _local(c.tag) == "component"]
        return out

    comps = child(root, "components")
    return {"bomFormat": "CycloneDX", "specVersion": version.group(1) if version else "",
            "components": [component(c) for c in comps if _local(c.tag) == "component"] if comps is not None else []}


def _spdx_tag_value(text: str) -> dict[str, Any]:
    """An SPDX tag-value document in the shape of its JSON form (packages with their licences)."""
    doc: dict[str, Any] = {"packages": []}
    keys = {"PackageName": "name", "PackageVersion": "versionInfo", "PackageLicenseConcluded": "licenseConcluded",
            "PackageLicenseDeclared": "licenseDeclared"}
    for line in text.splitlines():
        tag, sep, value = line.partition(":")
        if not sep:
            continue
        tag, value = tag.strip(), value.strip()
        if tag == "SPDXVersion":
            doc["spdxVersion"] = value
        elif tag == "PackageName":
            doc["packages"].append({"name": value})
        elif tag in keys and doc["packages"]:
            doc["packages"][-1][keys[tag]] = value
    return doc


def parse_sbom(text: str, url: str) -> Any:
    """The SBOM as a JSON-shaped document, whichever of the formats FREE-01 allows it is in:
    CycloneDX (JSON or XML) or SPDX (JSON or tag-value)."""
    head = text.lstrip()[:200]
    if head.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"the SBOM at {url} looks like JSON but does not parse: {exc}") from None
    if head.startswith("<"):
        try:
            return _cyclonedx_xml(text)
        except Exception as exc:   # noqa: BLE001 — any parse problem is the document's
            raise AssertionError(f"the XML SBOM at {url} is not a readable CycloneDX document: {exc}") from None
    if re.search(r"^\s*SPDXVersion\s*:", text, re.M):
        return _spdx_tag_value(text)
    raise AssertionError(f"the SBOM at {url} is neither CycloneDX (JSON or XML) nor SPDX (JSON or tag-value)")


@pytest.fixture(scope="module")
def sbom(run) -> Any:
    url = (run.get("journal") or {}).get("sbom_url")
    assert url, "the journal publishes no SBOM URL (sbom_url): FREE-01 needs a software bill of materials"
    return parse_sbom(fetch(url, "the SBOM", "sbom_url").text, url)


@pytest.mark.requirement("FREE-01")
@pytest.mark.surface(artefact="sbom")
def test_every_component_of_the_sbom_is_free(sbom):
    components = _components(sbom)
    bad = [f"{name}: {problem}" for name, problem in components if problem]
    assert not bad, (f"{len(bad)} of {len(components)} SBOM components are not shown to be free/open-source: "
                     + "; ".join(bad[:10]))
