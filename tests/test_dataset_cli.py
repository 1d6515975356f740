"""`ezhd dataset generate` and `ezhd dataset validate`: summaries, exit codes, and one-line
errors without a traceback for what a user can get wrong."""
from __future__ import annotations

import json
import os

import pytest

import fixtures.dataset
from cli_helpers import assert_one_line_error, run_cli
from conformance.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fixtures.dataset import MANIFEST_FILE, PERSONAS_FILE, Options


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "dataset", *args)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The directory of a small dataset."""
    return fixtures.dataset.generate(Options(seed=3), tmp_path_factory.mktemp("cli") / "small").out


def test_generate_writes_every_file_and_validates(capsys, tmp_path):
    out = tmp_path / "ds"
    code, stdout, err = run(capsys, "generate", "--seed", "3", "--size", "small", "--out", str(out))
    assert code == EXIT_OK, err
    assert "wrote small dataset (seed 3" in stdout and str(out) in stdout
    assert "ФЛК: no violations" in stdout
    assert (out / MANIFEST_FILE).is_file() and (out / PERSONAS_FILE).is_file()
    assert (out / "marks.csv").is_file()


def test_generate_options_reach_the_manifest(capsys, tmp_path):
    out = tmp_path / "ds"
    code, stdout, err = run(capsys, "generate", "--out", str(out), "--as-of", "2025-12-20",
                            "--years", "3", "--no-validate")
    assert code == EXIT_OK, err
    assert "ФЛК" not in stdout
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2025-12-20"
    assert manifest["academic_years"] == ["2023/2024", "2024/2025", "2025/2026"]


def test_a_non_empty_out_needs_force(capsys, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, stdout, err = run(capsys, "generate", "--out", str(out), "--no-validate")
    assert code == EXIT_USAGE
    assert_one_line_error(err, str(out), "--force")
    assert (out / "keep.txt").read_text() == "mine"
    code, stdout, err = run(capsys, "generate", "--out", str(out), "--no-validate", "--force")
    assert code == EXIT_OK, err
    assert not (out / "keep.txt").exists() and (out / MANIFEST_FILE).is_file()


def test_an_unknown_size_is_a_usage_error(capsys, tmp_path):
    code, stdout, err = run(capsys, "generate", "--size", "huge", "--out", str(tmp_path / "ds"))
    assert code == EXIT_USAGE
    assert_one_line_error(err, "huge", "--size")
    assert not (tmp_path / "ds").exists()


def test_an_out_under_a_regular_file_is_a_usage_error(capsys, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out in (blocker / "ds", blocker):
        code, stdout, err = run(capsys, "generate", "--out", str(out))
        assert code == EXIT_USAGE
        assert_one_line_error(err, str(blocker))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into read-only dirs")
def test_a_read_only_parent_is_a_usage_error(capsys, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        code, stdout, err = run(capsys, "generate", "--out", str(parent / "ds"))
    finally:
        parent.chmod(0o700)
    assert code == EXIT_USAGE
    assert_one_line_error(err, str(parent))


def test_a_failure_leaves_no_half_written_output(capsys, tmp_path, monkeypatch):
    def broken(world, index, emit):
        emit["learners"]({})
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fixtures.dataset, "build_school", broken)
    code, stdout, err = run(capsys, "generate", "--out", str(tmp_path / "ds"))
    assert code not in (EXIT_OK, EXIT_USAGE)
    assert "disk on fire" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_validate_a_clean_directory(capsys, generated):
    code, stdout, err = run(capsys, "validate", str(generated))
    assert code == EXIT_OK, err
    assert len(stdout.strip().splitlines()) == 1 and "no violations" in stdout


def test_validate_reports_each_violation_on_its_own_line(capsys, generated, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in generated.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    learners = (broken / "learners.csv").read_text(encoding="utf-8").split("\n")
    header = learners[0].split(";")
    fields = learners[1].split(";")
    fields[header.index("gender")] = '"9"'
    fields[header.index("birth_date")] = '"2012-02-30"'
    learners[1] = ";".join(fields)
    (broken / "learners.csv").write_text("\n".join(learners), encoding="utf-8")
    code, stdout, err = run(capsys, "validate", str(broken))
    assert code == EXIT_FAIL
    lines = stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("learners.csv:2 [birth_date]: type")
    assert lines[1].startswith("learners.csv:2 [gender]: enum")
    assert lines[2].endswith("2 violations")


@pytest.mark.parametrize("target", ["missing", "file", "empty"])
def test_validate_needs_a_directory_of_export_files(capsys, tmp_path, target):
    path = tmp_path / target
    if target == "file":
        path.write_text("x")
    elif target == "empty":
        path.mkdir()
    code, stdout, err = run(capsys, "validate", str(path))
    assert code == EXIT_USAGE
    assert_one_line_error(err, str(path))
