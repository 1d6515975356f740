"""The HTML report in a real browser: headless Debian Chromium driven by Selenium.

Skipped, with the reason, when /usr/bin/chromium or /usr/bin/chromedriver (Debian's chromium
and chromium-driver) or selenium is missing; Selenium Manager never downloads anything.
Screenshots go to $EZHD_TEST_ARTEFACTS (when set) or the test's tmp dir.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conformance.report.html import write_html
from conformance.report.model import load_input
from conformance.report.waivers import apply_waivers, parse_waivers
from report_helpers import FAILING, SECRETS, make_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                "install with `apt-get install chromium chromium-driver`", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the [test] extra)")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,1600",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def artefacts(tmp_path) -> Path:
    where = os.environ.get("EZHD_TEST_ARTEFACTS")
    return Path(where) if where else tmp_path


def shot(driver, artefacts: Path, name: str) -> Path:
    artefacts.mkdir(parents=True, exist_ok=True)
    path = artefacts / f"report-{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 1000
    return path


def visible_ids(driver) -> list[str]:
    return [b.get_attribute("id").removeprefix("req-") for b in driver.find_elements(By.CSS_SELECTOR, "tbody.req")
            if b.is_displayed()]


def test_all_pass_report(browser, tmp_path, artefacts) -> None:
    run = make_run(tmp_path / "pass")
    page = write_html(load_input(run), run / "report.html")
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    banner = browser.find_element(By.ID, "base-level")
    assert banner.get_attribute("data-result") == "pass"
    assert "ПРОЙДЕН" in banner.text and "PASSED" not in banner.text  # Russian by default
    shot(browser, artefacts, "all-pass")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody.req")
    results = load_input(run).results
    assert len(rows) == len(results["requirements"])
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("PASS")
    passing = [r["id"] for r in results["requirements"] if r["verdict"] == "PASS"]
    assert visible_ids(browser) == passing
    assert browser.find_element(By.ID, "shown-count").text == str(len(passing))
    # the English switch
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.execute_script("return document.documentElement.lang") == "en"
    assert "PASSED" in banner.text and "ПРОЙДЕН" not in banner.text
    assert browser.find_element(By.CSS_SELECTOR, "#filter-verdict option[value='']").text == "all"
    shot(browser, artefacts, "all-pass-en")


def test_failing_report_filters_and_transcript(browser, tmp_path, artefacts) -> None:
    run = make_run(tmp_path / "fail", FAILING, missing_evidence=True)
    inp = load_input(run)
    waivers = parse_waivers({"waivers": [
        {"requirement": "EXP-01", "reason": "upload fix in 2.4", "ticket": "JRN-7", "expires": "2099-01-01"},
        {"requirement": "AUTH-01", "reason": "nothing fails here", "ticket": "JRN-8", "expires": "2099-01-01"},
    ]}, [r["id"] for r in inp.results["requirements"]])
    page = write_html(inp, run / "report.html", apply_waivers(inp.results, waivers))
    text = page.read_text(encoding="utf-8")
    assert "<link" not in text and "src=" not in text and "http-equiv" not in text  # nothing fetched
    assert not [s for s in SECRETS if s in text]

    browser.get(page.as_uri())
    banner = browser.find_element(By.ID, "base-level")
    assert banner.get_attribute("data-result") == "fail"
    for rid in FAILING:
        assert rid in banner.text  # blocking, the waived MUST included
    assert "EXP-01" in browser.find_element(By.ID, "waived-must-note").text
    assert "AUTH-01" in browser.find_element(By.ID, "unused-waivers").text
    shot(browser, artefacts, "three-failing")

    verdict = Select(browser.find_element(By.ID, "filter-verdict"))
    verdict.select_by_value("FAIL")
    assert visible_ids(browser) == ["AUTH-02", "AUTH-04"]
    verdict.select_by_value("WAIVED")
    assert visible_ids(browser) == ["EXP-01"]
    verdict.select_by_value("")
    Select(browser.find_element(By.ID, "filter-area")).select_by_value("EXP")
    shown = visible_ids(browser)
    assert shown and all(rid.startswith("EXP-") for rid in shown)
    Select(browser.find_element(By.ID, "filter-area")).select_by_value("AUTH")
    verdict.select_by_value("FAIL")

    # a failing requirement: its details are open, the failure is in plain words, the transcript expands
    body = browser.find_element(By.ID, "req-AUTH-02")
    detail = body.find_element(By.CSS_SELECTOR, "tr.detail")
    assert detail.is_displayed()
    assert body.find_element(By.CSS_SELECTOR, "dd.expected").text == "status 403"
    assert body.find_element(By.CSS_SELECTOR, "dd.actual").text == "200"
    assert "--only AUTH-02 --seed 42" in body.find_element(By.CSS_SELECTOR, "pre.rerun").text
    transcript = body.find_element(By.CSS_SELECTOR, "details.transcript")
    exchange = transcript.find_element(By.CSS_SELECTOR, ".exchange .head")
    assert not exchange.is_displayed()
    transcript.find_element(By.TAG_NAME, "summary").click()
    assert transcript.get_attribute("open") is not None
    assert exchange.is_displayed()
    assert exchange.text.startswith("GET https://journal.example.ru/auth/esia/callback?code=[REDACTED]&state=s1 → 302")
    assert "Authorization" in transcript.text and "[REDACTED]" in transcript.text
    missing = body.find_elements(By.CSS_SELECTOR, "details.transcript")[1]
    missing.find_element(By.TAG_NAME, "summary").click()
    assert "gone.jsonl" in missing.find_element(By.CSS_SELECTOR, ".missing").text
    browser.execute_script("arguments[0].scrollIntoView()", body)
    shot(browser, artefacts, "three-failing-transcript")

    # a collapsed requirement opens with its toggle
    verdict.select_by_value("")
    row = browser.find_element(By.ID, "req-AUTH-01")
    assert not row.find_element(By.CSS_SELECTOR, "tr.detail").is_displayed()
    row.find_element(By.CSS_SELECTOR, "button.toggle").click()
    assert row.find_element(By.CSS_SELECTOR, "tr.detail").is_displayed()
    assert "PASS" in row.find_element(By.CSS_SELECTOR, ".test").text


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """`ezhd certify` of the reference journal with three seeded defects (ЕСИА sign-in, journal
    rules, export) plus one requirement that passes."""
    import subprocess
    import sys

    report = tmp_path_factory.mktemp("real") / "run"
    args = [sys.executable, "-m", "conformance.cli", "certify", "--sut", "reference", "--report-dir", str(report),
            "--no-progress", "--only", "AUTH-03"]
    for defect, rid in REAL_DEFECTS.items():
        args += ["--reference-defect", defect, "--only", rid]
    proc = subprocess.run(args, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    return report


REAL_DEFECTS = {"ACCEPT_ALG_NONE": "AUTH-04", "PARENT_READS_ANY_CHILD": "ROLE-01", "EXPORT_SKIPS_TABLE": "EXP-01"}


@pytest.mark.slow
def test_report_of_a_real_run_with_three_defects(browser, real_run, artefacts) -> None:
    """The report a real run writes opens, names the three failing requirements, and the
    transcript of a failing test shows the run's real exchanges, redacted."""
    report = real_run
    browser.get((report / "report.html").as_uri())
    banner = browser.find_element(By.ID, "base-level")
    assert banner.get_attribute("data-result") == "fail"
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("FAIL")
    assert sorted(visible_ids(browser)) == sorted(REAL_DEFECTS.values())
    shot(browser, artefacts, "reference-three-defects")
    body = browser.find_element(By.ID, "req-AUTH-04")
    transcript = body.find_element(By.CSS_SELECTOR, "details.transcript")
    transcript.find_element(By.TAG_NAME, "summary").click()
    assert "/auth/esia/callback?code=[REDACTED]" in transcript.text
    assert "/aas/oauth2/v2/ac" in transcript.text
    browser.execute_script("arguments[0].scrollIntoView()", body)
    shot(browser, artefacts, "reference-three-defects-transcript")
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("PASS")
    assert visible_ids(browser) == ["AUTH-03"]


@pytest.mark.slow
def test_a_certifier_finds_what_was_certified_against_which_text(browser, real_run, artefacts) -> None:
    """The product identity, a requirement's text and source, a test's description, and a
    working link from a requirement to an exchange, labelled with who talked to whom."""
    from specs.requirements import load_requirements

    results = load_input(real_run).results
    browser.get((real_run / "report.html").as_uri())
    # what was certified: each identity key as declared, or said to be not declared
    declared = results["run"].get("sut") or {}
    declared = {**declared, **(declared.get("product") or {})}
    for key in ("vendor", "product", "version", "build"):
        cell = browser.find_element(By.ID, f"sut-{key}").text
        assert cell == str(declared[key]) if declared.get(key) else cell == "не указано", (key, cell)
    assert browser.find_element(By.ID, "run-command").text.startswith("ezhd certify --sut reference")
    assert str(real_run) not in browser.find_element(By.ID, "run-command").text
    # against which text: the catalogue's wording and source, Markdown rendered
    spec = load_requirements()["AUTH-04"]
    body = browser.find_element(By.ID, "req-AUTH-04")
    text = " ".join(body.find_element(By.CSS_SELECTOR, ".req-text").text.split())
    assert text.startswith(" ".join(spec.text.ru.split())[:40]) and "`" not in text
    assert body.find_elements(By.CSS_SELECTOR, ".req-text code")       # backticks became <code>
    assert spec.source[0] in body.find_element(By.CSS_SELECTOR, ".req-source").text
    # what each test checks: its docstring's paragraph
    described = [d.text for d in body.find_elements(By.CSS_SELECTOR, ".description")]
    assert described and all("Что проверяет:" in d and len(d) > 40 for d in described)
    # requirement -> exchange: the deciding exchange link opens its transcript at that exchange
    link = body.find_element(By.CSS_SELECTOR, ".decisive a")
    target_id = link.get_attribute("href").split("#", 1)[1]
    target = browser.find_element(By.ID, target_id)
    assert not target.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    assert target.is_displayed()
    who = target.find_element(By.CSS_SELECTOR, ".who").text
    assert who == "набор тестов (браузер) → журнал", who
    assert target.find_element(By.CSS_SELECTOR, ".head").text.startswith("GET http://127.0.0.1:")
    shot(browser, artefacts, "reference-deciding-exchange")
    # set-up calls to the mocks are told apart from the traffic that judges the journal
    setup = body.find_elements(By.CSS_SELECTOR, ".exchange.setup .who")
    assert setup and all(s.get_attribute("textContent").startswith("набор тестов (подготовка) → ЕСИА: управление")
                         for s in setup)
    # the first "exchanges" link of a requirement reaches a transcript of that requirement
    first = body.find_element(By.CSS_SELECTOR, ".ex-links a")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
    first.click()
    opened = browser.find_element(By.ID, first.get_attribute("href").split("#", 1)[1])
    assert opened.get_attribute("open") is not None and opened.is_displayed()


@pytest.mark.slow
def test_no_file_of_a_real_run_names_an_absolute_path_of_the_machine(real_run) -> None:
    """The run directory can be moved, archived or sent: no file in it names where it was
    written, where the suite is installed, or the user's home."""
    from cli_helpers import machine_paths_in

    offenders, checked = machine_paths_in(real_run)
    assert not offenders
    assert {"results.json", "report.html", "run.json", "reference-journal.toml", "journal.sqlite", "dataset.zip"} <= checked
