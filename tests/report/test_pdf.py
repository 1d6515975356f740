"""`ezhd report pdf`: the report as a PDF for signing, every page rendered, Cyrillic intact.

Skipped, with the reason, when WeasyPrint (the [pdf] extra) or its libraries are missing; the
page images need poppler's pdftoppm (Debian poppler-utils) and skip without it."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from cli_helpers import assert_one_line_error, run_cli
from conformance.report import pdf
from report_helpers import FAILING, SECRETS, make_run

needs_weasyprint = pytest.mark.skipif(pdf.available() is not None, reason=f"{pdf.available()}")


@needs_weasyprint
def test_pdf_has_every_page_with_cyrillic_text_intact(tmp_path, capsys) -> None:
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (the [test] extra) to read the PDF's text")
    run = make_run(tmp_path / "run", FAILING)
    code, out, err = run_cli(capsys, "report", "pdf", str(run))
    assert code == 0, err
    target = run / "report.pdf"
    assert out.strip() == f"PDF written to {target}"
    reader = pypdf.PdfReader(str(target))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2 and all(text.strip() for text in pages)   # no blank page
    text = " ".join(" ".join(pages).split())
    # Cyrillic from the templates, the catalogue (a requirement's text) and the surfaces, not mojibake
    assert "Отчёт о проверке соответствия ЭЖД" in text
    assert "НЕ ПРОЙДЕН" in text and all(rid in text for rid in FAILING)
    assert "Родители, обучающиеся и сотрудники могут входить в журнал через ЕСИА" in text
    assert "не указано" in text                    # the product identity this run did not declare
    assert "ezhd certify --sut sut.toml" in text   # the command, without the machine's paths
    assert not [s for s in SECRETS if s in text]
    assert str(tmp_path) not in text
    assert "`" not in text                          # Markdown rendered, not raw backticks

    if shutil.which("pdftoppm") is None:
        pytest.skip("page images need pdftoppm (Debian poppler-utils)")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(target), str(tmp_path / "page")], check=True, timeout=120)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == len(pages)
    assert all(image.stat().st_size > 2000 for image in images)   # every page drawn, none empty


@pytest.mark.slow
@needs_weasyprint
def test_pdf_in_english(tmp_path, capsys) -> None:
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (the [test] extra) to read the PDF's text")
    run = make_run(tmp_path / "run")
    code, _, err = run_cli(capsys, "report", "pdf", str(run), "--lang", "en", "--out", str(tmp_path / "en.pdf"))
    assert code == 0, err
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(str(tmp_path / "en.pdf")).pages)
    assert "E-journal conformance report" in text and "Отчёт о проверке" not in text


def test_pdf_without_weasyprint_is_a_one_line_error(tmp_path, capsys, monkeypatch) -> None:
    run = make_run(tmp_path / "run")
    monkeypatch.setattr(pdf, "available", lambda: "WeasyPrint is not installed (weasyprint); " + pdf.INSTALL_HINT)
    code, out, err = run_cli(capsys, "report", "pdf", str(run))
    assert code == 2
    assert_one_line_error(err, "WeasyPrint is not installed")
    assert "ezhd-conformance[pdf]" in err and not (run / "report.pdf").exists()
