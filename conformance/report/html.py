"""The HTML report: one self-contained file (CSS and JS inline, nothing fetched), Russian with
an English switch, rendered with Jinja2 from the view model of `conformance/report/model.py`.
Templates are package data in `conformance/report/templates/`."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

import jinja2
import markupsafe
from markdown_it import MarkdownIt

from conformance.report import svg
from conformance.report.i18n import PARTY_TEXTS, TEXTS, VERDICT_TEXTS
from conformance.report.model import DISPLAY_ORDER, RunInput, Transcript, build_view
from conformance.report.waivers import Applied

__all__ = ["TEMPLATES_DIR", "markdown_inline", "render_view", "render_html", "write_html"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark without raw HTML: a title's `code` renders, a <script> in a text stays text
    return MarkdownIt("commonmark", {"html": False})


def markdown_inline(text: str | None) -> markupsafe.Markup:
    """Inline Markdown (code, emphasis, links) of a spec text or docstring as safe HTML."""
    return markupsafe.Markup(_markdown().renderInline(text or ""))


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = markdown_inline
    return env


def render_view(view: Mapping[str, Any], *, printable: bool = False) -> str:
    """The report page of a view model; `printable`: for PDF (everything laid out, no script)."""
    langs = (view["lang"],) if printable else ("ru", "en")
    pictures = {name: {lang: markupsafe.Markup(draw(lang)) for lang in langs} for name, draw in (
        ("areas", lambda lang: svg.areas_svg(view, DISPLAY_ORDER, lang)),
        ("timeline", lambda lang: svg.timeline_svg(view, lang)))}
    return _env().get_template("report.html.j2").render(view=view, T=TEXTS, V=VERDICT_TEXTS, P=PARTY_TEXTS,
                                                         pictures=pictures, printable=printable)


def render_html(inp: RunInput, applied: Applied | None = None, *, lang: str = "ru",
                evidence_map: Mapping[str, Transcript] | None = None) -> str:
    """The report page of a run as text."""
    view: dict[str, Any] = build_view(inp, applied, lang=lang, evidence_map=evidence_map)
    return render_view(view)


def write_html(inp: RunInput, path: Path | str, applied: Applied | None = None, *, lang: str = "ru") -> Path:
    """Write the report page to `path` (UTF-8)."""
    path = Path(path)
    path.write_text(render_html(inp, applied, lang=lang), encoding="utf-8")
    return path
