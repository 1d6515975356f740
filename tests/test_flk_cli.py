"""`ezhd flk FILE...`: exit codes (0 clean, 1 ФЛК errors, 2 bad usage), the text and JSON
reports, the table read from the file name, and one-line errors without a traceback."""
from __future__ import annotations

import json
import shutil

import pytest

import fixtures.dataset
from cli_helpers import assert_one_line_error, run_cli
from conformance.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fixtures.dataset import Options

SUBJECTS = ("id;organisation_id;name;create_datetime;send_datetime\n"
            '"S-1";"S-2";"Химия";"2025-01-01 00:00:00";"2025-01-01 00:00:01"\n')


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "flk", *args)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return fixtures.dataset.generate(Options(seed=7), tmp_path_factory.mktemp("flkcli") / "ds").out


def test_a_generated_dataset_passes(capsys, dataset):
    code, out, err = run(capsys, *map(str, sorted(dataset.glob("*.csv"))))
    assert code == EXIT_OK, out + err
    assert out.strip().splitlines()[-1].startswith("ФЛК: ошибок нет (19 файл(ов),")
    assert "marks.csv: таблица marks, записей:" in out


def test_errors_give_exit_1_with_a_line_per_error(capsys, tmp_path):
    path = tmp_path / "rdm_subjects.csv"
    path.write_text(SUBJECTS + '"S-3";"S-2";"Физика";"2025-01-01 00:00:02";"2025-01-01 00:00:01"\n',
                    encoding="utf-8")
    code, out, err = run(capsys, str(path), "--lang", "en")
    assert code == EXIT_FAIL, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("rdm_subjects.csv:3 [send_datetime]: order: a start is after its end")
    assert "rdm_subjects.csv: table subjects, 2 records, 1 ФЛК errors" in out
    assert "not checked: organisation_id → organisations.id" in out
    assert lines[-1].startswith("ФЛК: 1 errors")


def test_json_report_shape(capsys, tmp_path):
    good, bad = tmp_path / "subjects.csv", tmp_path / "x.csv"
    good.write_text(SUBJECTS, encoding="utf-8")
    bad.write_text(SUBJECTS.replace('"S-1"', '"S1"'), encoding="utf-8")
    code, out, err = run(capsys, str(good), str(bad), "--table", "subjects", "--format", "json",
                         "--max-errors", "5")
    assert code == EXIT_FAIL, err
    report = json.loads(out)
    assert set(report) == {"ok", "error_count", "operation", "files"}
    assert report["ok"] is False and report["error_count"] == 1 and report["operation"] == "upload"
    assert [f["file"] for f in report["files"]] == ["subjects.csv", "x.csv"]
    first, second = report["files"]
    assert set(first) >= {"table", "file", "path", "rows", "ok", "error_count", "errors", "notes", "seconds"}
    assert first["ok"] and first["errors"] == [] and first["rows"] == 1
    [error] = second["errors"]
    assert {k: error[k] for k in ("line", "column", "rule", "value")} == \
        {"line": 2, "column": "id", "rule": "key_format", "value": "S1"}
    assert error["text"].startswith("x.csv:2 [id]: key_format: ключ должен иметь вид")
    assert error["message"] == "expected PREFIX-value, e.g. SCH01-12345"


def test_references_resolve_across_the_files_given(capsys, dataset, tmp_path):
    for name in ("learners.csv", "classes.csv", "class_learners.csv"):
        shutil.copy(dataset / name, tmp_path / name)
    code, out, err = run(capsys, str(tmp_path / "class_learners.csv"), str(tmp_path / "learners.csv"),
                         str(tmp_path / "classes.csv"), "--format", "json")
    assert code == EXIT_OK, out + err
    report = json.loads(out)
    assert [f["table"] for f in report["files"]][-1] == "class_learners"   # parents first
    notes = report["files"][-1]["notes"]
    assert notes == []                     # both its references were given


def test_a_binary_file_is_a_flk_error_not_a_crash(capsys, tmp_path):
    path = tmp_path / "marks.csv"
    path.write_bytes(b"\x00\x01\xff\xfe garbage")
    code, out, err = run(capsys, str(path))
    assert code == EXIT_FAIL and "Traceback" not in out + err
    assert "encoding" in out or "header" in out


@pytest.mark.parametrize("args,fragments", [
    (["--table", "nope", "{f}"], ["unknown table 'nope'"]),
    (["{d}/missing.csv"], ["missing.csv: no such file"]),
    (["{d}"], ["not a file"]),
    (["{d}/data.csv"], ["cannot tell the table from the file name; use --table"]),
    (["--table", "marks", "{f}"], ["named for table subjects, not marks"]),
    (["{f}", "{f}"], ["a file is given twice"]),
    (["{f}", "--format", "xml"], ["xml"]),
    (["{f}", "--max-errors", "0"], ["max-errors"]),
])
def test_bad_usage_is_one_line_and_exit_2(capsys, tmp_path, args, fragments):
    f = tmp_path / "subjects.csv"
    f.write_text(SUBJECTS, encoding="utf-8")
    (tmp_path / "data.csv").write_text(SUBJECTS, encoding="utf-8")
    argv = [a.format(f=f, d=tmp_path) for a in args]
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE, (out, err)
    assert_one_line_error(err, *fragments)


def test_no_files_is_usage(capsys):
    code, out, err = run(capsys)
    assert code == EXIT_USAGE and "Traceback" not in err


def test_delete_checks_keys_only(capsys, tmp_path):
    path = tmp_path / "subjects.csv"
    path.write_text("id;organisation_id;name;create_datetime;send_datetime\n"
                    '"S-1";;;;\n"S-2";"x";"";"not a date";\n', encoding="utf-8")
    assert run(capsys, str(path), "--operation", "delete")[0] == EXIT_OK
    assert run(capsys, str(path))[0] == EXIT_FAIL
