"""The HTML report: one self-contained file (CSS and JS inline, nothing fetched), Russian with
an English switch, rendered with Jinja2 from the view model of `conformance/report/model.py`.
Templates are package data in `conformance/report/templates/`."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

import jinja2

from conformance.report.i18n import TEXTS, VERDICT_TEXTS
from conformance.report.model import RunInput, Transcript, build_view
from conformance.report.waivers import Applied

__all__ = ["TEMPLATES_DIR", "render_html", "write_html"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )


def render_html(inp: RunInput, applied: Applied | None = None, *, lang: str = "ru",
                evidence_map: Mapping[str, Transcript] | None = None) -> str:
    """The report page of a run as text."""
    view: dict[str, Any] = build_view(inp, applied, lang=lang, evidence_map=evidence_map)
    return _env().get_template("report.html.j2").render(view=view, T=TEXTS, V=VERDICT_TEXTS)


def write_html(inp: RunInput, path: Path | str, applied: Applied | None = None, *, lang: str = "ru") -> Path:
    """Write the report page to `path` (UTF-8)."""
    path = Path(path)
    path.write_text(render_html(inp, applied, lang=lang), encoding="utf-8")
    return path
