"""Mutation testing of the reference journal (`ezhd reference-journal mutate`): the mutator
makes valid, real changes with stable ids; the module -> requirements mapping comes from the
defect catalogue plus conformance/mutation.yaml; the copy of the journal on PYTHONPATH is
what runs; the run's statuses follow certify's verdicts. The end-to-end runs certify for real
and carry the `mutation` marker: `python -m pytest tests/test_mutation.py -m mutation`."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, run_cli
from conformance import mutation
from conformance.mutation import (OPERATORS, MutationProblem, apply, classify, load_config, mutants_of,
                                  prepare_copy, requirements_of, select, switches_in)

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = textwrap.dedent('''\
    """Module docstring stays."""
    from __future__ import annotations

    LIMIT = 8


    def check(a: int, b: "str", items: list[str]) -> bool:
        """Function docstring stays."""
        if a < b and b in items:
            log("ok")
            return True
        flag = a is None or not items
        label = f"value {a}"
        journal.defect_on("SOME_DEFECT")
        if items and journal.defect_on("OTHER_DEFECT"):
            items = []
            log("only with the defect")
        if not journal.defect_on("THIRD_DEFECT"):
            a = 2
        else:
            a = 3
        b = 4 if journal.defect_on("THIRD_DEFECT") else 5
        while a > LIMIT:
            a = a - 1
        return flag if a == 0 else False
    ''')


def _by_op(source: str = SAMPLE) -> dict[str, list[mutation.Mutant]]:
    found: dict[str, list[mutation.Mutant]] = {}
    for m in mutants_of(source, "reference_journal/sample.py", strict=True):
        found.setdefault(m.operator, []).append(m)
    return found


def test_every_operator_makes_valid_python_that_changes_the_program():
    by_op = _by_op()
    assert set(by_op) == set(OPERATORS)
    original = ast.dump(ast.parse(SAMPLE))
    for op, mutants in by_op.items():
        for m in mutants:
            changed = apply(SAMPLE, m)
            assert ast.dump(ast.parse(changed)) != original, (op, m.mutated)
            # one place changed: everything outside the mutated line(s) is byte for byte the same
            before, after = SAMPLE.splitlines(), changed.splitlines()
            assert before[:m.line - 1] == after[:m.line - 1]


def test_each_operator_does_what_it_says():
    by_op = _by_op()
    mutated = {op: {m.mutated for m in ms} for op, ms in by_op.items()}
    assert "if (a >= b) and b in items:" in mutated["cmp_flip"]
    assert "if a < b and (b not in items):" in mutated["cmp_flip"]
    assert "if (a <= b) and b in items:" in mutated["cmp_boundary"]
    assert "if (not (a < b and b in items)):" in mutated["negate"]
    assert "while (not (a > LIMIT)):" in mutated["negate"]
    assert "if (a < b or b in items):" in mutated["bool_swap"]
    assert "flag = (a is None and (not items))" in mutated["bool_swap"]
    assert "return False" in mutated["constant"] and "LIMIT = 0" in mutated["constant"]
    assert {"LIMIT = (9)", "LIMIT = (7)"} <= mutated["off_by_one"]
    assert "return None" in mutated["return_none"]
    assert mutated["remove_call"] == {"pass"}   # log("ok"); the defect switch is not removed
    assert "log('')" in mutated["string_empty"]


def test_docstrings_annotations_fstrings_and_defect_switches_are_left_alone():
    for m in mutants_of(SAMPLE, "reference_journal/sample.py", strict=True):
        assert "docstring" not in m.original
        assert "SOME_DEFECT" not in m.original, m      # the switch's id, and the call itself
        # a condition asking a switch is neither negated nor and/or-swapped (it would switch the defect on)
        assert not ("OTHER_DEFECT" in m.original and m.operator in ("negate", "bool_swap")), m
        assert "value {a}" not in m.original, m        # inside an f-string
        assert not m.original.startswith("def check"), m   # the "str" annotation, list[str]
        assert not m.original.startswith("from __future__")
    # a branch that runs only while a defect is on is not mutated; the other branch is
    originals = [m.original.strip() for m in mutants_of(SAMPLE, "reference_journal/sample.py")]
    assert 'log("only with the defect")' not in originals and "a = 3" not in originals
    assert "a = 2" in originals and any("else 5" in o and "4 if" in o for o in originals)
    line = SAMPLE.splitlines().index("    b = 4 if journal.defect_on(\"THIRD_DEFECT\") else 5") + 1
    changed = {m.replacement for m in mutants_of(SAMPLE, "reference_journal/sample.py") if m.line == line}
    assert changed == {"0", "(6)", "(4)"}      # 5 mutated; 4 (taken only with the defect) not


def test_the_journal_modules_mutate_to_valid_python():
    for module in ("reference_journal/passwords.py", "reference_journal/accounts.py"):
        source = (ROOT / module).read_text(encoding="utf-8")
        mutants = mutants_of(source, module, strict=True)
        assert len(mutants) > 50
        for m in mutants[::7]:
            compile(apply(source, m), module, "exec")


def test_ids_are_unique_and_stable_across_runs_and_unrelated_edits():
    first = mutants_of(SAMPLE, "reference_journal/sample.py")
    ids = [m.id for m in first]
    assert len(ids) == len(set(ids))
    assert ids == [m.id for m in mutants_of(SAMPLE, "reference_journal/sample.py")]
    assert all(i.startswith("sample.") for i in ids)
    # a new function above shifts every line; the ids of check() stay, the lines move by 4
    edited = SAMPLE.replace("LIMIT = 8\n", "LIMIT = 8\n\n\ndef other():\n    return 1\n")
    shifted = {m.id: m.line for m in mutants_of(edited, "reference_journal/sample.py")}
    for m in first:
        if m.id.startswith("sample.check."):
            assert shifted[m.id] == m.line + 4


def test_the_mapping_comes_from_the_catalogue_plus_the_data_file():
    config = load_config()
    passwords = requirements_of("reference_journal/passwords.py", config)
    # CRED-02 and ROLE-04 from the catalogue (defects whose `where` is passwords), CRED-01 added
    assert {"CRED-02", "ROLE-04"} <= set(passwords) and "CRED-01" in passwords
    # accounts.py asks defect_on("PASSWORD_IN_LOGIN_ANSWER"), tied to CRED-02
    assert "PASSWORD_IN_LOGIN_ANSWER" in switches_in((ROOT / "reference_journal/accounts.py").read_text())
    assert "CRED-02" in requirements_of("reference_journal/accounts.py", config)
    auth = requirements_of("reference_journal/auth.py", config)
    assert "AUTH-04" in auth and "EXP-01" not in auth
    for module in config.modules:
        assert (ROOT / module).is_file(), module


def test_a_bad_triage_or_mapping_file_is_named(tmp_path):
    bad = tmp_path / "mutation.yaml"
    bad.write_text("equivalent:\n  passwords.x.constant.12345678: ''\n", encoding="utf-8")
    with pytest.raises(MutationProblem, match="passwords.x.constant.12345678: give the reason"):
        load_config(bad)
    bad.write_text("modules:\n  reference_journal/clock.py: {add: [LOG-01]}\n", encoding="utf-8")
    with pytest.raises(MutationProblem, match="clock.py: needs"):
        load_config(bad)


def test_statuses_follow_certify():
    reqs = ["ROLE-04", "CRED-02"]
    assert classify(None, reqs, {})[0] == "timeout"
    assert classify(1, reqs, {"ROLE-04": "FAIL", "CRED-02": "PASS"}) == ("killed", "FAIL: ROLE-04")
    assert classify(1, reqs, {"ROLE-04": "ERROR", "CRED-02": "PASS"})[0] == "killed_by_error"
    assert classify(3, reqs, {})[0] == "crashed"
    assert classify(0, reqs, {"ROLE-04": "PASS", "CRED-02": "PASS"})[0] == "survived"
    assert classify(2, reqs, {})[0] == "error"
    # a FAIL of a requirement outside the selection does not kill
    assert classify(0, reqs, {"ROLE-04": "PASS", "CRED-02": "PASS", "CRED-01": "FAIL"})[0] == "survived"


def test_the_sample_is_reproducible_and_in_source_order():
    mutants = mutants_of((ROOT / "reference_journal/passwords.py").read_text(), "reference_journal/passwords.py")
    a, b = select(mutants, 10, seed=3), select(mutants, 10, seed=3)
    assert [m.id for m in a] == [m.id for m in b] and len(a) == 10
    assert [m.line for m in a] == sorted(m.line for m in a)
    assert [m.id for m in select(mutants, 10, seed=4)] != [m.id for m in a]
    assert len(select(mutants, None, seed=1)) == len(mutants)


def test_the_mutated_copy_is_what_python_imports_from_the_project_root(tmp_path):
    """certify starts the journal with `python -m` from the project root, which puts the root
    first on sys.path; the environment must make the copy win anyway."""
    source = (ROOT / "reference_journal/passwords.py").read_text(encoding="utf-8")
    mutant = next(m for m in mutants_of(source, "reference_journal/passwords.py")
                  if m.operator == "off_by_one" and "n: int = 2 ** (15)" in m.mutated)
    src = prepare_copy(mutant, tmp_path)
    probe = "import reference_journal.passwords as p; print(p.__file__); print(p.hash_password.__defaults__[0])"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=mutation._env(src),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    path, value = proc.stdout.split()
    assert Path(path).is_relative_to(src) and value == str(2 ** 15)
    # without PYTHONSAFEPATH the project root wins: the original journal would run
    env = {k: v for k, v in mutation._env(src).items() if k != "PYTHONSAFEPATH"}
    plain = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert plain.stdout.split()[1] == str(2 ** 14)


def test_bad_usage_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "reference-journal", "mutate", "--module", "nope.py", "--out", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "--module: nope.py is not a module of reference_journal/", "passwords.py")
    code, _, err = run_cli(capsys, "reference-journal", "mutate", "--module", "clock.py", "--out", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "clock.py: no requirement is tied to it", "mutation.yaml")
    code, _, err = run_cli(capsys, "reference-journal", "mutate", "--module", "auth.py:9-3", "--out", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "START <= END")


def test_list_shows_the_sample_and_its_requirements_without_running(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "reference-journal", "mutate", "--module", "passwords.py:40-60", "--limit", "3",
                           "--out", str(tmp_path / "out"), "--list")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("reference_journal/passwords.py: 3 of ")
    assert "certify --only CRED-01 CRED-02 ROLE-04" in lines[0]
    assert len(lines) == 4 and all(line.startswith("passwords.") for line in lines[1:])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- end to end (certify runs)

def _selected(request) -> None:
    expr = request.config.option.markexpr or ""
    if "mutation" not in expr or "not mutation" in expr:
        pytest.skip("certifies mutants for real (minutes): run with -m mutation")


@pytest.mark.mutation
def test_a_breaking_mutant_is_killed_and_the_unmutated_copy_passes(request, tmp_path):
    _selected(request)
    config = load_config()
    module = "reference_journal/passwords.py"
    source = (ROOT / module).read_text(encoding="utf-8")
    # the policy cut to its length rule: passwords without a digit, a symbol or a letter case pass
    breaking = next(m for m in mutants_of(source, module) if m.operator == "negate"
                    and m.original == "if length_only:")
    plan = mutation.Plan(module, requirements_of(module, config), [breaking], 1)
    result = mutation.run([plan], tmp_path, config, timeout=600)
    assert result["baselines"][0]["status"] == "survived", result["baselines"]
    outcome = result["mutants"][0]
    assert outcome["status"] == "killed" and outcome["verdicts"]["ROLE-04"] == "FAIL", outcome


@pytest.mark.mutation
def test_a_small_run_writes_mutants_json_and_the_table(request, tmp_path):
    _selected(request)
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "reference-journal", "mutate", "--module",
                           "passwords.py", "--limit", "2", "--timeout", "600", "--out", str(tmp_path), "--markdown"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "mutants.json").read_text(encoding="utf-8"))
    assert len(result["mutants"]) == 2
    for o in result["mutants"]:
        assert o["module"] == "reference_journal/passwords.py" and o["requirements"] == ["CRED-01", "CRED-02", "ROLE-04"]
        assert o["status"] in {"killed", "killed_by_error", "crashed", "timeout", "survived", "equivalent"}
        assert (tmp_path / "runs" / f"{o['id']}.log").is_file()
        assert o["original"] != o["mutated"]
    assert "| mutant | line | operator |" in proc.stdout and "Score:" in proc.stdout


def test_rescore_applies_the_triage_to_a_finished_run(tmp_path, capsys):
    def outcome(mid: str, status: str) -> dict:
        return {"id": mid, "module": "reference_journal/passwords.py", "line": 1, "operator": "constant",
                "original": "a", "mutated": "b", "requirements": ["ROLE-04"], "status": status, "seconds": 1.0,
                "exit_code": 0, "verdicts": {"ROLE-04": "PASS"}, "note": ""}
    run = {"mutants": [outcome("passwords.x.constant.00000001", "survived"),
                       outcome("passwords.x.constant.00000002", "killed"),
                       outcome("passwords.x.constant.00000003", "survived"),
                       outcome("passwords.x.constant.00000004", "survived")]}
    (tmp_path / "mutants.json").write_text(json.dumps(run), encoding="utf-8")
    config = mutation.Config({}, {"passwords.x.constant.00000001": "no code reads it"},
                             {"passwords.x.constant.00000004": "only the message's wording changes"})
    result = mutation.rescore(tmp_path, config)
    assert [o["status"] for o in result["mutants"]] == ["equivalent", "killed", "survived", "unspecified"]
    assert result["mutants"][0]["note"] == "no code reads it"
    assert result["mutants"][3]["note"] == "only the message's wording changes"
    assert result["summary"]["scored"] == 2 and result["summary"]["score"] == 50.0
    table = (tmp_path / "mutants.md").read_text(encoding="utf-8")
    assert "Score: 50.0 % (1 killed of 2 scored" in table and "1 equivalent, 1 unspecified" in table
    code, _, err = run_cli(capsys, "reference-journal", "mutate", "--rescore", "--out", str(tmp_path / "none"))
    assert code == 2
    assert_one_line_error(err, "--rescore: cannot read", "mutants.json")


def test_a_module_can_be_certified_under_each_declared_variant(tmp_path, monkeypatch):
    """export.py's request-id channel runs only with export_channel = showcase: mutation.yaml
    declares both channels, and a mutant survives only if it passes under every one."""
    config = load_config()
    assert config.variants("reference_journal/export.py") == [
        ("edu-upload", {"export_channel": "edu-upload"}), ("showcase", {"export_channel": "showcase"})]
    assert config.variants("reference_journal/passwords.py") == [("", {})]
    bad = tmp_path / "mutation.yaml"
    bad.write_text("modules:\n  reference_journal/export.py: {add: [], reason: x, variants: {showcase: 1}}\n",
                   encoding="utf-8")
    with pytest.raises(MutationProblem, match="export.py.variants: a map of names to journal settings"):
        load_config(bad)

    commands: list[list[str]] = []
    kills_under = {"survives": None, "killed on showcase": "showcase"}

    class Proc:
        def __init__(self, cmd, **kwargs):
            commands.append(cmd)
            report = Path(cmd[cmd.index("--report-dir") + 1])
            channel = next((cmd[i + 1] for i, a in enumerate(cmd) if a == "--reference-setting"), "")
            failing = kills_under[current] and channel == f'export_channel="{kills_under[current]}"'
            report.mkdir(parents=True)
            (report / "results.json").write_text(json.dumps({"requirements": [
                {"id": "EXP-06", "verdict": "FAIL" if failing else "PASS"}]}), encoding="utf-8")
            self.code = 1 if failing else 0

        def wait(self, timeout=None):
            return self.code

    monkeypatch.setattr(mutation.subprocess, "Popen", Proc)
    source = (ROOT / "reference_journal/export.py").read_text(encoding="utf-8")
    mutant = mutants_of(source, "reference_journal/export.py")[0]
    variants = config.variants("reference_journal/export.py")
    current = "survives"
    o = mutation.run_variants(mutant, ["EXP-06"], tmp_path, 60, 1, variants)
    assert o.status == "survived" and o.variant == "edu-upload+showcase" and len(commands) == 2
    assert [c[c.index("--reference-setting") + 1] for c in commands] == [
        'export_channel="edu-upload"', 'export_channel="showcase"']
    assert (tmp_path / "runs" / f"{mutant.id}@showcase.log").is_file()
    current, commands[:] = "killed on showcase", []
    o = mutation.run_variants(mutant, ["EXP-06"], tmp_path, 60, 1, variants)
    assert (o.status, o.variant, o.verdicts) == ("killed", "showcase", {"EXP-06": "FAIL"})
    # the first variant that kills ends the mutant's runs
    kills_under["first"] = "edu-upload"
    current, commands[:] = "first", []
    assert mutation.run_variants(mutant, ["EXP-06"], tmp_path, 60, 1, variants).variant == "edu-upload"
    assert len(commands) == 1


def test_certify_refuses_a_reference_setting_the_journal_does_not_have(capsys, tmp_path):
    for item, message in (("export_channel=nope", "export_channel: must be edu-upload or showcase"),
                          ("bogus=1", "unknown setting 'bogus'"), ("novalue", "is not KEY=VALUE")):
        code, _, err = run_cli(capsys, "certify", "--sut", "reference", "--reference-setting", item,
                               "--report-dir", str(tmp_path / "r"))
        assert code == 2
        assert_one_line_error(err, "--reference-setting", message)
    assert not (tmp_path / "r").exists()


def test_mutant_ids_select_exactly_those_mutants(capsys, tmp_path):
    source = (ROOT / "reference_journal/passwords.py").read_text(encoding="utf-8")
    wanted = [m.id for m in mutants_of(source, "reference_journal/passwords.py")][:2]
    plans = mutation.plan(["passwords.py"], None, 1, load_config(), only=wanted)
    assert [m.id for m in plans[0].mutants] == wanted and not plans[0].whole
    code, _, err = run_cli(capsys, "reference-journal", "mutate", "--module", "passwords.py", "--mutant", wanted[0],
                           "--mutant", "passwords.nope.constant.00000000", "--out", str(tmp_path), "--list")
    assert code == 2
    assert_one_line_error(err, "--mutant: no such mutant", "passwords.nope.constant.00000000")
