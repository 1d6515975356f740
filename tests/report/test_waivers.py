"""waivers.yaml: validation (every problem, exit 2), WAIVED in HTML and JUnit, expired/unused."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from cli_helpers import run_cli
from conformance.report.model import build_view, load_input
from conformance.report.waivers import apply_waivers, parse_waivers
from report_helpers import FAILING, make_run

WAIVERS = """\
waivers:
  - requirement: AUTH-02
    reason: state check lands in release 2.4
    ticket: JRN-1
    expires: 2026-12-31
  - requirement: EXP-01
    test: test_exp_01
    reason: upload retry is being rewritten
    ticket: JRN-2
    expires: 2026-01-31
  - requirement: AUTH-01
    reason: was flaky last quarter
    ticket: JRN-3
    expires: 2027-06-30
"""


def test_waived_failures_and_leftovers(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run", FAILING)
    (tmp_path / "waivers.yaml").write_text(WAIVERS, encoding="utf-8")
    code, out, err = run_cli(capsys, "report", "html", str(run), "--waivers", str(tmp_path / "waivers.yaml"),
                             "--today", "2026-11-23")
    assert code == 0, err
    assert "EXP-01 (JRN-2) expired on 2026-01-31" in err
    assert "AUTH-01 (JRN-3) is unused" in err
    assert "still block base-level sign-off: AUTH-02" in err
    page = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="req-AUTH-02" data-verdict="WAIVED"' in page
    assert 'id="req-EXP-01" data-verdict="FAIL"' in page  # expired: not applied
    assert 'data-result="fail"' in page and 'id="waived-must-note"' in page
    assert "state check lands in release 2.4" in page and 'id="expired-waivers"' in page

    inp = load_input(run)
    waivers = parse_waivers({"waivers": [
        {"requirement": "AUTH-02", "reason": "known", "ticket": "T-1", "expires": "2026-12-31"},
        {"requirement": "AUTH-04", "test": "test_other", "reason": "other test", "ticket": "T-2",
         "expires": "2026-12-31"}]})
    applied = apply_waivers(inp.results, waivers, dt.date(2026, 12, 31))  # the expiry day still applies
    view = build_view(inp, applied)
    shown = {r["id"]: r["shown"] for r in view["requirements"]}
    assert shown["AUTH-02"] == "WAIVED" and shown["AUTH-04"] == "FAIL"
    assert [w["ticket"] for w in view["waivers"]["unused"]] == ["T-2"]  # test did not match
    assert view["base_level"]["result"] == "fail" and view["waivers"]["waived_must"] == ["AUTH-02"]
    assert apply_waivers(inp.results, waivers, dt.date(2027, 1, 1)).waived == {}


def test_junit_shows_waived_as_skipped(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run", FAILING)
    (tmp_path / "w.yaml").write_text(WAIVERS, encoding="utf-8")
    code, _, err = run_cli(capsys, "report", "junit", str(run), "--waivers", str(tmp_path / "w.yaml"),
                           "--today", "2026-11-23", "--out", str(tmp_path / "j.xml"))
    assert code == 0, err
    cases = ET.parse(tmp_path / "j.xml").getroot().find("testsuite").findall("testcase")
    auth02 = next(c for c in cases if c.get("classname") == "AUTH-02")
    assert auth02.find("skipped").get("type") == "WAIVED" and "JRN-1" in auth02.find("skipped").get("message")
    assert next(c for c in cases if c.get("classname") == "EXP-01").find("failure") is not None
    base = next(c for c in cases if c.get("name") == "base-level sign-off")
    assert "AUTH-02" in base.find("failure").get("message")  # a waived MUST still blocks


def test_every_problem_is_reported(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run", FAILING)
    bad = tmp_path / "bad.yaml"
    bad.write_text("""\
waivers:
  - requirement: AUTH-2
    reason: x
    expires: 2026-02-30
  - requirement: ZZZ-99
    reason: unknown requirement
    ticket: T-9
    expires: 2026-12-31
    owner: me
  - requirement: ZZZ-99
    reason: unknown requirement
    ticket: T-9
    expires: 2026-12-31
""", encoding="utf-8")
    code, out, err = run_cli(capsys, "report", "html", str(run), "--waivers", str(bad))
    assert code == 2 and not (run / "report.html").exists()
    lines = err.strip().splitlines()
    assert lines[0].startswith("ezhd report html: error:") and "problems" in lines[0]
    problems = "\n".join(lines[1:])
    for fragment in ("waivers[0].requirement", "waivers[0]: 'ticket' is a required property",
                     "waivers[0].reason", "waivers[0].expires: '2026-02-30' is not a calendar date",
                     "waivers[1]: Additional properties", "waivers[1].requirement: ZZZ-99 is not a requirement",
                     "waivers[2]: repeats waivers[1]"):
        assert fragment in problems, (fragment, problems)
    assert "Traceback" not in err
    (tmp_path / "broken.yaml").write_text("waivers: [\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "report", "html", str(run), "--waivers", str(tmp_path / "broken.yaml"))
    assert code == 2 and "not valid YAML" in err
    code, _, err = run_cli(capsys, "report", "html", str(run), "--waivers", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in err
