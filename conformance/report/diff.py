"""Verdict changes between two runs (`ezhd report diff OLD NEW`), for developers and CI gates.

Per requirement ID: *broken* when the new verdict is FAIL or ERROR and the old one was not;
*fixed* when the old one was FAIL or ERROR and the new one is PASS or NOT_APPLICABLE;
*still failing* when both are FAIL or ERROR; every other change of verdict (and an ID only
in one run) is *other*. Nothing broken means exit 0.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["BAD", "GOOD", "CATEGORIES", "diff_results", "render_text", "render_json"]

BAD = frozenset({"FAIL", "ERROR"})
GOOD = frozenset({"PASS", "NOT_APPLICABLE"})
CATEGORIES = ("broken", "fixed", "still_failing", "other")
_HEADINGS = {"broken": "broken", "fixed": "fixed", "still_failing": "still failing", "other": "other changes"}


def diff_results(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The changes from `old` to `new` (results dicts), grouped by `CATEGORIES`."""
    before = {r["id"]: r for r in old["requirements"]}
    after = {r["id"]: r for r in new["requirements"]}
    out: dict[str, Any] = {c: [] for c in CATEGORIES}
    for rid in [*after, *(i for i in before if i not in after)]:
        o, n = before.get(rid), after.get(rid)
        ov, nv = (o or {}).get("verdict"), (n or {}).get("verdict")
        ref = n or o
        entry = {"id": rid, "strength": ref["strength"], "title": ref["title"], "old": ov, "new": nv}
        if nv in BAD and ov not in BAD:
            category = "broken"
            entry["message"] = next((t["message"] for t in n["tests"] if t["verdict"] in BAD and t["message"]), None)
        elif ov in BAD and nv in BAD:
            category = "still_failing"
        elif ov in BAD and nv in GOOD:
            category = "fixed"
        elif ov != nv:
            category = "other"
        else:
            continue
        out[category].append(entry)
    out["base_level"] = {"old": old["summary"]["base_level"]["result"], "new": new["summary"]["base_level"]["result"]}
    out["regression"] = bool(out["broken"])
    return out


def render_text(diff: Mapping[str, Any], lang: str = "en") -> str:
    """A plain-text listing, one requirement per line."""
    lines = [f"base level: {diff['base_level']['old']} -> {diff['base_level']['new']}"]
    for category in CATEGORIES:
        entries = diff[category]
        lines.append(f"{_HEADINGS[category]}: {len(entries)}")
        for e in entries:
            title = e["title"].get(lang) or e["title"]["en"]
            line = f"  {e['id']:<9} {e['strength']:<6} {e['old'] or '(absent)'} -> {e['new'] or '(absent)'}  {title}"
            if e.get("message"):
                line += f"\n            {' '.join(e['message'].split())[:200]}"
            lines.append(line)
    return "\n".join(lines)


def render_json(diff: Mapping[str, Any]) -> str:
    return json.dumps(diff, ensure_ascii=False, indent=2)
