"""Pictures of a run as inline SVG, drawn on the server (no script, readable in print), one
per language (the page shows the one of its language): the
verdicts of each area as a stacked bar, and the run's timeline (collection and set-up, then
each requirement's tests in the order they ran). Input: the view model of `model.py`."""
from __future__ import annotations

from html import escape
from typing import Any, Mapping

__all__ = ["areas_svg", "timeline_svg", "COLOURS"]

#: verdict colours, the same as the badges of templates/report.css
COLOURS = {"PASS": "#1b7f3b", "FAIL": "#b3261e", "WARN": "#a86400", "ERROR": "#7a3db8", "WAIVED": "#2f6db3",
           "NOT_TESTED": "#8a8a8a", "SKIPPED": "#a0a0a0", "NOT_APPLICABLE": "#c4c4c4"}
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif" font-size="12"'


def areas_svg(view: Mapping[str, Any], order: tuple[str, ...], lang: str = "ru") -> str:
    """One bar per area: its requirements by shown verdict (`order`: best first), with counts."""
    rows: list[tuple[str, Mapping[str, str], dict[str, int]]] = []
    for code, title in view["areas"].items():
        counts: dict[str, int] = {}
        for req in view["requirements"]:
            if req["area"] == code:
                counts[req["shown"]] = counts.get(req["shown"], 0) + 1
        rows.append((code, title, counts))
    label_w, bar_w, row_h, top = 330, 420, 26, 6
    width, height = label_w + bar_w + 60, top + row_h * len(rows) + 34
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-areas" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" {_FONT}>']
    most = max((sum(c.values()) for _, _, c in rows), default=1) or 1
    for i, (code, title, counts) in enumerate(rows):
        y = top + i * row_h
        total = sum(counts.values())
        parts.append(f'<text x="0" y="{y + 16}"><tspan font-weight="bold">{escape(code)}</tspan> '
                     f'{escape(_short(title[lang], 38))}</text>')
        x = float(label_w)
        for verdict in order:
            n = counts.get(verdict, 0)
            if not n:
                continue
            w = bar_w * n / most
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{COLOURS.get(verdict, "#888")}"><title>{code}: {n} {verdict}</title></rect>')
            if w >= 18:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{y + 16}" fill="#fff" text-anchor="middle">{n}</text>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}" fill="#444">{total}</text>')
    parts.append(_legend(order, top + row_h * len(rows) + 14, [v for _, _, c in rows for v in c]))
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(view: Mapping[str, Any], lang: str = "ru") -> str:
    """The run from the pytest session's start: collection and set-up until the first test,
    then one bar per requirement from its first test's start to its last test's end."""
    spans: list[tuple[str, str, float, float]] = []   # (id, verdict, start, end)
    for req in view["requirements"]:
        starts = [(t["start_s"], t["start_s"] + t["duration"]) for t in req["tests"] if t.get("start_s") is not None]
        if starts:
            spans.append((req["id"], req["shown"], min(s for s, _ in starts), max(e for _, e in starts)))
    if not spans:
        return ""
    spans.sort(key=lambda s: s[2])
    end = max(max(e for *_, e in spans), view["run"].get("elapsed") or 0.0) or 1.0
    label_w, bar_w, row_h, top = 90, 620, 16, 22
    rows = [("setup", "NOT_TESTED", 0.0, spans[0][2])] + spans
    width, height = label_w + bar_w + 70, top + row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-timeline" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" {_FONT}>']
    for tick in _ticks(end):
        x = label_w + bar_w * tick / end
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 8}" stroke="#ddd"/>'
                     f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="#666">{tick:g} s</text>')
    for i, (rid, verdict, start, stop) in enumerate(rows):
        y = top + i * row_h
        label = ({"ru": "подготовка", "en": "set-up"}[lang] if rid == "setup"
                 else f'<a href="#req-{escape(rid)}">{escape(rid)}</a>')
        parts.append(f'<text x="0" y="{y + 11}">{label}</text>')
        x, w = label_w + bar_w * start / end, max(bar_w * (stop - start) / end, 1.5)
        colour = "#d9d9d9" if rid == "setup" else COLOURS.get(verdict, "#888")
        parts.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" fill="{colour}">'
                     f'<title>{escape(rid)}: {start:.1f}–{stop:.1f} s</title></rect>')
        parts.append(f'<text x="{x + w + 4:.1f}" y="{y + 11}" fill="#444">{stop - start:.1f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(order: tuple[str, ...], y: int, present: list[str]) -> str:
    out, x = [], 0
    for verdict in order:
        if verdict not in present:
            continue
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{COLOURS.get(verdict, "#888")}"/>'
                   f'<text x="{x + 16}" y="{y + 10}">{verdict}</text>')
        x += 24 + 8 * len(verdict)
    return "".join(out)


def _ticks(end: float) -> list[float]:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200) if end / s <= 8), 1800)
    return [i * step for i in range(int(end // step) + 1)]


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
