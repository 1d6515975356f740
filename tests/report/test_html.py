"""`ezhd report html`: the page's content without a browser (the browser test is beside it)."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from cli_helpers import assert_one_line_error, run_cli
from conformance.junit import write_junit
from conformance.report.model import explain, load_input, rerun_command
from conformance.results import load_results, write_results
from report_helpers import ACCESS_TOKEN, FAILING, SECRETS, TOKEN, make_run, transcript_lines


def test_default_output_language_and_content(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run", FAILING, missing_evidence=True)
    code, out, err = run_cli(capsys, "report", "html", str(run))
    assert code == 0, err
    page = (run / "report.html").read_text(encoding="utf-8")
    assert out.strip() == f"report written to {run / 'report.html'}"
    assert page.startswith("<!DOCTYPE html>") and '<html lang="ru">' in page
    # self-contained: no external stylesheet, script, font or image
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]+src=|url\(|@import", page)
    assert "<style>" in page and "<script>" in page
    assert not [s for s in SECRETS if s in page]
    for rid in FAILING:
        assert f'id="req-{rid}" data-verdict="FAIL"' in page
    assert "Blocking</span>: AUTH-02, AUTH-04, EXP-01" in page
    assert "ezhd certify --sut sut.toml --only EXP-01 --seed 42 --report-dir reports/rerun-EXP-01" in page
    assert "transcripts/gone.jsonl" in page and "Файл записи обмена не найден" in page
    assert "Декларация испытуемой системы" in page and "EZHD_TEST_CONTROL_TOKEN" in page
    assert "0.1.0" in page and "Linux-6.1-x86_64" in page and "http://127.0.0.1:8101" in page

    code, _, err = run_cli(capsys, "report", "html", str(run / "results.json"), "--lang", "en",
                           "--out", str(tmp_path / "en.html"))
    assert code == 0, err
    assert '<html lang="en">' in (tmp_path / "en.html").read_text(encoding="utf-8")


def test_transcripts_absolute_paths_and_escaping(tmp_path) -> None:
    run = make_run(tmp_path / "run", ("AUTH-02",))
    elsewhere = tmp_path / "elsewhere.jsonl"
    lines = transcript_lines("AUTH-02") + [{"method": "GET", "url": "https://j/<script>alert(1)</script>", "status": 200},
                                           "not an object", {"only": "a key"}]
    elsewhere.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json at all\n", encoding="utf-8")
    results = load_results(run / "results.json")
    test = next(r for r in results["requirements"] if r["id"] == "AUTH-02")["tests"][0]
    test["evidence"] = [str(elsewhere)]
    test["message"] = "AssertionError: <b>bold</b> client_secret=abc123456\nassert 'got' == 'want'"
    write_results(results, run / "results.json")
    from conformance.report.html import render_html

    page = render_html(load_input(run))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "abc123456" not in page and TOKEN not in page
    assert "line 7: not JSON" in page and "a key" in page
    assert "(7 <span class=\"ru\">обменов</span>" in page


def test_explain_and_rerun() -> None:
    assert explain("AssertionError: expected status 403, got 200") == {
        "summary": "expected status 403, got 200", "expected": "status 403", "actual": "200",
        "full": "AssertionError: expected status 403, got 200"}
    pytest_style = explain("AssertionError: state not checked\nassert 'abc' == 'xyz'")
    assert pytest_style["summary"] == "state not checked"
    assert (pytest_style["expected"], pytest_style["actual"]) == ("'xyz'", "'abc'")
    assert explain("needs a second school")["expected"] is None
    assert explain(None) is None
    results = {"run": {"sut": {"source": "reference"}, "seed": 7}}
    run_file = {"reference_defects": ["AUTH-03"], "dataset": {"seed": 7}}
    assert rerun_command("AUTH-03", results, run_file) == (
        "ezhd certify --sut reference --reference-defect AUTH-03 --only AUTH-03 --seed 7 "
        "--report-dir reports/rerun-AUTH-03")
    assert "--seed" not in rerun_command("AUTH-03", {"run": {"sut": None, "seed": None}}, None)


def test_usage_errors(tmp_path, capsys) -> None:
    code, _, err = run_cli(capsys, "report", "html", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "holds no results.json")
    run = make_run(tmp_path / "run")
    code, _, err = run_cli(capsys, "report", "html", str(run), "--out", str(tmp_path / "no" / "r.html"))
    assert code == 2
    assert_one_line_error(err, "does not exist")
    code, _, err = run_cli(capsys, "report", "html", str(run), "--lang", "de")
    assert code == 2
    code, _, err = run_cli(capsys, "report", "html", str(run), "--waivers", str(tmp_path / "w.yaml"), "--today", "soon")
    assert code == 2
    assert_one_line_error(err, "--today")


def test_junit_names_carry_the_requirement(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run", FAILING)
    code, out, err = run_cli(capsys, "report", "junit", str(run))
    assert code == 0, err
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    failing = [c for c in cases if c.find("failure") is not None and c.get("classname") != "ezhd"]
    assert sorted(c.get("classname") for c in failing) == sorted(FAILING)
    case = next(c for c in failing if c.get("classname") == "AUTH-02")
    assert case.get("name") == "[AUTH-02] conformance/auth/test_auth_02.py::test_auth_02"
    assert case.get("file") == "conformance/auth/test_auth_02.py"
    assert "evidence: transcripts/AUTH-02.jsonl" in case.find("failure").text
    results = load_input(run).results
    tests = sum(max(1, len(r["tests"])) for r in results["requirements"])
    assert int(suite.get("tests")) == len(cases) == tests + 1  # + the base-level sign-off case
    write_junit(results, tmp_path / "direct.xml")
    assert (tmp_path / "direct.xml").read_bytes() == (run / "junit.xml").read_bytes()


def test_protocol_header_requirement_text_descriptions_and_surface(tmp_path) -> None:
    """What a certifier signs: the declared product identity (or "not declared"), the suite's
    commit and the specs digest, the requirement's text and source with Markdown rendered, each
    test's description, the surface coverage with titles from specs/surfaces, who talked to whom."""
    from conformance.report.html import render_html
    from specs.requirements import load_requirements

    run = make_run(tmp_path / "run", ("AUTH-02",))
    results = load_results(run / "results.json")
    results["run"]["sut"]["product"] = {"vendor": "ООО «Школьные системы»", "product": "Дневник-Регион",
                                        "version": "4.2.1"}
    results["run"]["tool"]["commit"] = "0123456789abcdef0123456789abcdef01234567"
    results["run"]["specs"] = {"sha256": "ab" * 32}
    results["run"]["operator"] = "Иванова А. П."
    auth02 = next(r for r in results["requirements"] if r["id"] == "AUTH-02")
    auth02["tests"][0]["description"] = "The journal sends `client_secret` signed; see <b>here</b>."
    log01 = next(r for r in results["requirements"] if r["id"] == "LOG-01")
    log01["tests"][0]["surface"] = {"event_kind": ["sign_in_success", "upload"]}
    (run / "transcripts" / "AUTH-02.jsonl").write_text("\n".join(json.dumps(x) for x in [
        {"from": "browser", "to": "journal", "setup": False, "method": "GET", "url": "https://j/cb", "status": 200},
        {"from": "suite", "to": "esia-admin", "setup": True, "method": "DELETE", "url": "https://e/_admin/faults",
         "status": 204}]) + "\n", encoding="utf-8")
    from specs.surfaces import coverage, load_surfaces  # LOG-01's coverage as build_results computes it
    log01["surface"] = coverage(load_surfaces().of("LOG-01"), [(log01["tests"][0]["surface"], True)])
    write_results(results, run / "results.json")
    page = render_html(load_input(run))
    text = re.sub(r"<[^>]+>", "", page)

    assert 'id="sut-vendor">ООО «Школьные системы»<' in page.replace("&#34;", '"')
    assert "Дневник-Регион" in page and "4.2.1" in page
    assert re.search(r'id="sut-build"><span class="muted">.*не указано', page)
    assert "0123456789abcdef0123456789abcdef01234567" in page and "abababababababab" in page
    assert "Иванова А. П." in page
    assert '<code id="run-command">ezhd certify --sut sut.toml --seed 42</code>' in page
    spec = load_requirements()["AUTH-02"]
    assert " ".join(spec.text.ru.split())[:30] in " ".join(text.split())
    assert all(source in text for source in spec.source)
    assert "<code>client_secret</code>" in page and "`client_secret`" not in page
    assert "&lt;b&gt;here&lt;/b&gt;" in page and "<b>here</b>" not in page   # raw HTML stays text
    assert "<code>/aas/oauth2/v2/ac</code>" in page                        # the catalogue's Markdown too
    # who talked to whom, set-up apart
    assert "набор тестов (браузер) → журнал" in text
    assert 'class="exchange setup"' in page and "ЕСИА: управление имитатором" in text
    assert 'href="#ex-1"' in page and 'id="ex-1"' in page                # the deciding exchange link
    # surface coverage of LOG-01, titled from specs/surfaces/_dimensions.yaml
    assert 'id="surface-LOG-01"' in page and "Вид события журнала" in text
    assert '<span class="part s-covered" title="sign_in_success"><span class="ru">успешный вход</span>' in page
    assert '<span class="part s-missing" title="link">' in page and '<td class="num">2/10</td>' in page
    # the pictures, server-side SVG with no script needed
    assert page.count('id="chart-areas"') == 2 and "<svg" in page


def test_a_long_value_is_cut_before_redaction_and_says_where_the_rest_is(tmp_path) -> None:
    from conformance.report.html import render_html
    from conformance.report.model import CUT_ABOVE, MAX_VALUE_CHARS, load_transcript
    from conformance.report.redact import REDACTED

    run = make_run(tmp_path / "run", ("AUTH-02",))
    rows = [{"n": i, "access_token": f"{ACCESS_TOKEN}-{i}", "text": "x" * 40} for i in range(3000)]
    line = {"method": "GET", "url": "https://journal.example.ru/_admin/journal", "status": 200,
            "response_body": rows, "request_body": json.dumps(rows)}
    short = {"method": "GET", "url": "https://journal.example.ru/a", "status": 200, "response_body": rows[:3]}
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(line) + "\n" + json.dumps(short) + "\n", encoding="utf-8")

    whole = load_transcript(str(path), tmp_path)              # packages and the console: nothing cut
    assert len(whole.exchanges[0]["response_body"]) == 3000 and whole.cut == [{}, {}]
    cut = load_transcript(str(path), tmp_path, cut_above=CUT_ABOVE)
    assert set(cut.cut[0]) == {"response_body", "request_body"} and cut.cut[1] == {}
    assert cut.cut[0]["response_body"] > CUT_ABOVE
    head = cut.exchanges[0]["response_body"]
    assert 0 < len(head) < 3000 and head[0] == {"n": 0, "access_token": REDACTED, "text": "x" * 40}

    results = load_results(run / "results.json")
    test = next(r for r in results["requirements"] if r["id"] == "AUTH-02")["tests"][0]
    test["evidence"] = [str(path)]
    write_results(results, run / "results.json")
    page = render_html(load_input(run))
    assert ACCESS_TOKEN not in page
    assert page.count("is in the transcript file") == 2
    assert "&#34;n&#34;: 0," in page and "&#34;n&#34;: 2999," not in page
    assert len(json.dumps(head, indent=2)) >= MAX_VALUE_CHARS   # the head fills what is shown
