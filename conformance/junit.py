"""JUnit XML rendered from the results dict (`conformance/results.py`), for CI dashboards.

One ``<testcase>`` per requirement-test pair (classname = requirement ID, name = ``[ID] test
node ID``, file = the test's file), so GitLab and Jenkins list each test with its requirement
even when they show the name alone: FAIL is a ``<failure>``, ERROR an ``<error>`` with its cause, SKIPPED and NOT_APPLICABLE
are ``<skipped>``, PASS and WARN pass (a WARN's message goes to ``<system-out>``, since JUnit
has no warning). A requirement without tests is one ``<skipped type="NOT_TESTED">`` case.
One more case, ``ezhd::base-level sign-off``, fails when the base level fails, listing the
blocking requirements, so a CI job goes red whenever sign-off would be refused.
A failing test covered by a waiver (`waived`, from `conformance/report/waivers.py`) is a
``<skipped type="WAIVED">`` with the waiver's note; the sign-off case is not affected.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

Waived = Mapping[tuple[str, str], str]  # (requirement ID, test node ID) -> note

__all__ = ["render_junit", "write_junit"]

SUITE_NAME = "ezhd-conformance"


def render_junit(results: Mapping[str, Any], waived: Waived | None = None) -> ET.ElementTree:
    """The JUnit XML tree of `results`; `waived` turns those failing tests into skipped ones."""
    waived = waived or {}
    run = results["run"]
    suite = ET.Element("testsuite", name=SUITE_NAME, timestamp=run["started"])
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("tool_version", run["tool"]["version"]),
        ("seed", "" if run["seed"] is None else str(run["seed"])),
        ("base_level", results["summary"]["base_level"]["result"]),
    ):
        ET.SubElement(properties, "property", name=name, value=value)

    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for requirement in results["requirements"]:
        rid = requirement["id"]
        if not requirement["tests"]:
            case = _case(suite, rid, "(no test)", 0.0)
            ET.SubElement(case, "skipped", type="NOT_TESTED", message=f"no test verifies {rid} in this run")
            counts["tests"] += 1
            counts["skipped"] += 1
            continue
        for test in requirement["tests"]:
            counts["tests"] += 1
            total_time += test["duration_s"]
            case = _case(suite, rid, test["nodeid"], test["duration_s"])
            verdict, message = test["verdict"], test["message"] or ""
            note = waived.get((rid, test["nodeid"]))
            if note is not None and verdict in ("FAIL", "ERROR", "WARN"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", type="WAIVED", message=note).text = _details(requirement, test)
            elif verdict == "FAIL":
                counts["failures"] += 1
                ET.SubElement(case, "failure", type="FAIL", message=message).text = _details(requirement, test)
            elif verdict == "ERROR":
                counts["errors"] += 1
                ET.SubElement(case, "error", type="ERROR", message=test.get("cause", message)).text = (
                    _details(requirement, test)
                )
            elif verdict in ("SKIPPED", "NOT_APPLICABLE"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", type=verdict, message=message)
            elif verdict == "WARN":
                ET.SubElement(case, "system-out").text = f"WARN ({requirement['strength']}): {message}"

    base = results["summary"]["base_level"]
    case = _case(suite, "ezhd", "base-level sign-off", 0.0)
    counts["tests"] += 1
    if base["result"] != "pass":
        counts["failures"] += 1
        blocking = ", ".join(base["blocking"])
        ET.SubElement(case, "failure", type="BASE_LEVEL", message=f"base level not met: {blocking}")

    for name, value in counts.items():
        suite.set(name, str(value))
    suite.set("time", f"{total_time:.3f}")
    root = ET.Element("testsuites", name=SUITE_NAME)
    root.append(suite)
    for name, value in counts.items():
        root.set(name, str(value))
    root.set("time", f"{total_time:.3f}")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(results: Mapping[str, Any], path: Path | str, waived: Waived | None = None) -> None:
    """Write the JUnit XML of `results` to `path` (UTF-8, with an XML declaration)."""
    render_junit(results, waived).write(path, encoding="utf-8", xml_declaration=True)


def _case(suite: ET.Element, classname: str, name: str, duration_s: float) -> ET.Element:
    if classname == "ezhd":  # the sign-off case keeps its plain name
        return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{duration_s:.3f}")
    attrs = {"classname": classname, "name": f"[{classname}] {name}", "time": f"{duration_s:.3f}"}
    if "::" in name:
        attrs["file"] = name.split("::", 1)[0]
    return ET.SubElement(suite, "testcase", attrs)


def _details(requirement: Mapping[str, Any], test: Mapping[str, Any]) -> str:
    lines = [
        f"{requirement['id']} ({requirement['strength']}): {requirement['title']['en']}",
        f"verdict: {test['verdict']}",
        f"message: {test['message'] or ''}",
    ]
    if "cause" in test:
        lines.append(f"cause: {test['cause']}")
    lines += [f"evidence: {path}" for path in test["evidence"]]
    hypothesis = test.get("hypothesis")
    if hypothesis and hypothesis.get("example"):
        lines.append(f"hypothesis example: {hypothesis['example']} (seed {hypothesis.get('seed')})")
    return "\n".join(lines)
