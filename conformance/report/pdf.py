"""The report as PDF, for signing and archiving: the HTML report's printable form (every
requirement laid out, exchanges as one line each: who talked to whom, what, the status; no
script) rendered by WeasyPrint, an optional extra (`pip install ezhd-conformance[pdf]`; it
needs Pango, and fonts with Cyrillic such as Debian's fonts-dejavu-core).

`available()` says whether WeasyPrint can be used, and if not why; `write_pdf` raises
`PdfUnavailable` with that reason."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

from conformance.report.model import RunInput, Transcript, build_view
from conformance.report.waivers import Applied

__all__ = ["PdfUnavailable", "available", "render_pdf", "write_pdf"]

INSTALL_HINT = ("install the [pdf] extra (pip install 'ezhd-conformance[pdf]') and Pango with a Cyrillic "
                "font (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)")


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the libraries it needs) is not installed: the message says what to do."""


@functools.lru_cache(maxsize=1)
def available() -> str | None:
    """None when PDF can be written, else why not (one line)."""
    try:
        import weasyprint  # noqa: F401
    except ImportError as exc:
        return f"WeasyPrint is not installed ({exc.name or exc}); {INSTALL_HINT}"
    except OSError as exc:   # Pango or its friends missing: WeasyPrint cannot load them
        return f"WeasyPrint cannot load its libraries ({str(exc).splitlines()[0][:160]}); {INSTALL_HINT}"
    return None


def render_pdf(inp: RunInput, applied: Applied | None = None, *, lang: str = "ru",
               evidence_map: Mapping[str, Transcript] | None = None) -> bytes:
    """The PDF bytes of a run's report."""
    from conformance.report.html import render_view

    why = available()
    if why:
        raise PdfUnavailable(why)
    import weasyprint

    view: dict[str, Any] = build_view(inp, applied, lang=lang, evidence_map=evidence_map)
    page = render_view(view, printable=True)
    # base_url: nothing is fetched (the page is self-contained); a relative link resolves in the run dir
    return weasyprint.HTML(string=page, base_url=str(inp.base_dir)).write_pdf()


def write_pdf(inp: RunInput, path: Path | str, applied: Applied | None = None, *, lang: str = "ru") -> Path:
    """Write the report's PDF to `path`."""
    path = Path(path)
    path.write_bytes(render_pdf(inp, applied, lang=lang))
    return path
