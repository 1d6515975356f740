"""`ezhd report diff OLD NEW`: what changed verdict, and exit 1 only when something broke."""
from __future__ import annotations

import json

from cli_helpers import assert_one_line_error, run_cli
from conformance.report.diff import diff_results
from conformance.results import load_results, write_results
from report_helpers import make_run


def test_diff_categories_and_exit_codes(tmp_path, capsys) -> None:
    old = make_run(tmp_path / "old", ("AUTH-02", "AUTH-04"))
    new = make_run(tmp_path / "new", ("AUTH-04", "EXP-01"))
    results = load_results(new / "results.json")
    auth03 = next(r for r in results["requirements"] if r["id"] == "AUTH-03")
    auth03["tests"][0].update(verdict="SKIPPED", message="needs a second school")  # PASS -> SKIPPED
    auth03["verdict"] = "SKIPPED"
    results["summary"]["verdicts"]["PASS"] -= 1
    results["summary"]["verdicts"]["SKIPPED"] += 1
    results["summary"]["base_level"]["blocking"].insert(0, "AUTH-03")
    write_results(results, new / "results.json")

    changes = diff_results(load_results(old / "results.json"), results)
    assert [e["id"] for e in changes["broken"]] == ["EXP-01"]
    assert [e["id"] for e in changes["fixed"]] == ["AUTH-02"]
    assert [e["id"] for e in changes["still_failing"]] == ["AUTH-04"]
    assert [(e["id"], e["old"], e["new"]) for e in changes["other"]] == [("AUTH-03", "PASS", "SKIPPED")]
    assert "expected status 403" in changes["broken"][0]["message"]

    code, out, _ = run_cli(capsys, "report", "diff", str(old), str(new / "results.json"))
    assert code == 1
    assert "broken: 1" in out and "EXP-01" in out and "fixed: 1" in out and "still failing: 1" in out
    code, out, _ = run_cli(capsys, "report", "diff", str(old), str(new), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["regression"] is True and data["base_level"] == {"old": "fail", "new": "fail"}

    fixed = make_run(tmp_path / "fixed")
    code, out, _ = run_cli(capsys, "report", "diff", str(old), str(fixed))  # fixes only: CI stays green
    assert code == 0 and "broken: 0" in out and "fixed: 2" in out
    code, out, _ = run_cli(capsys, "report", "diff", str(old), str(old))
    assert code == 0 and "fixed: 0" in out and "other changes: 0" in out


def test_diff_usage_errors(tmp_path, capsys) -> None:
    run = make_run(tmp_path / "run")
    code, _, err = run_cli(capsys, "report", "diff", str(run), str(tmp_path / "empty"))
    assert code == 2
    assert_one_line_error(err, "empty")
    (tmp_path / "bad.json").write_text('{"format": "ezhd-results/1"}', encoding="utf-8")
    code, _, err = run_cli(capsys, "report", "diff", str(run), str(tmp_path / "bad.json"))
    assert code == 2
    assert_one_line_error(err, "bad.json", "results.schema.json")
