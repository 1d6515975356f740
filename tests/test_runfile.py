"""The run file (run.json) as a typed model checked against specs/schemas/run.schema.json,
and its mapping view, which the conformance tests index as `run["journal"]["base_url"]`."""
from __future__ import annotations

import json

import pytest

from conformance.runfile import FORMAT, Run, load_run, write_run

RUN = {
    "journal": {"base_url": "http://127.0.0.1:8000", "sign_in_url": "http://127.0.0.1:8000/auth/esia/login",
                "sign_out_url": "http://127.0.0.1:8000/auth/esia/logout", "link_url": "http://127.0.0.1:8000/auth/esia/link",
                "openapi_url": "http://127.0.0.1:8000/api/v1/openapi.yaml", "sbom_url": "http://127.0.0.1:8000/sbom.json",
                "redirect_uri": "http://127.0.0.1:8000/auth/esia/callback",
                "logout_redirect_uri": "http://127.0.0.1:8000/auth/esia/signed-out",
                "client_id": "VENDORIS", "mnemonic": "VENDOR01"},
    "mocks": {"esia": "http://127.0.0.1:1", "smev": "http://127.0.0.1:2", "epgu": "http://127.0.0.1:3"},
    "mocks_file": "/tmp/mocks.json",
    "test_control": {"url": "http://127.0.0.1:8000/test-control/v1", "token_env": "EZHD_TEST_CONTROL_TOKEN"},
    "dataset": {"directory": "/tmp/ds", "seed": 7, "journal_personas": "/tmp/jp.json",
                "esia_personas": "/tmp/ds/personas.jsonl", "loaded": True},
    "driver": {"class": None, "url": "http://127.0.0.1:8000/driver/v1", "admin_login": "admin",
               "admin_password_env": "ADMIN_PW"},
    "reference_defects": [], "only": ["AUTH-01"], "level": "base", "sut": {"source": "/tmp/sut.toml"},
}


def test_a_run_round_trips_typed_and_as_a_mapping(tmp_path):
    written = write_run(tmp_path / "run.json", RUN)
    run = load_run(tmp_path / "run.json")
    assert run == written and isinstance(run, Run)
    assert run.journal.mnemonic == "VENDOR01" and run.dataset.seed == 7 and run.driver.url.endswith("/driver/v1")
    assert run.only == ("AUTH-01",) and run.setup_problems == ()
    # the view the conformance tests use
    assert run["journal"]["base_url"] == "http://127.0.0.1:8000" and run.get("test_control")["token_env"]
    assert run["format"] == FORMAT and "setup_problems" not in run
    assert json.loads((tmp_path / "run.json").read_text())["driver"]["admin_password_env"] == "ADMIN_PW"
    with pytest.raises(AttributeError):
        run.level = "other"                          # frozen


def test_setup_problems_are_recorded(tmp_path):
    run = write_run(tmp_path / "run.json", RUN).with_setup_problems(["the journal does not answer — start it"])
    assert run.setup_problems == ("the journal does not answer — start it",)
    assert run["setup_problems"] == ["the journal does not answer — start it"]


@pytest.mark.parametrize("change,where", [
    (lambda r: r["test_control"].update(token="s3cret"), "test_control"),   # no secret in the file
    (lambda r: r["dataset"].pop("seed"), "dataset"),
    (lambda r: r["journal"].update(mnemonic="lower"), "journal/mnemonic"),
    (lambda r: r.update(level="advanced"), "level"),
])
def test_a_run_file_that_breaks_the_schema_is_refused_naming_where(tmp_path, change, where):
    bad = json.loads(json.dumps(RUN))
    change(bad)
    with pytest.raises(ValueError) as info:
        write_run(tmp_path / "run.json", bad)
    assert where in str(info.value) and "run.schema.json" in str(info.value)
    assert not (tmp_path / "run.json").exists()
    (tmp_path / "run.json").write_text(json.dumps({"format": FORMAT, **bad}))
    with pytest.raises(ValueError):
        load_run(tmp_path / "run.json")


def test_paths_are_written_relative_to_the_run_directory_and_read_back_absolute(tmp_path):
    """A run directory can be moved: run.json names no absolute path, and the moved run's
    paths point into its new place (a file outside it is reached with `..`)."""
    import shutil

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    inside = json.loads(json.dumps(RUN))
    inside["dataset"].update(directory=str(run_dir / "dataset"), journal_personas=str(run_dir / "jp.json"),
                             esia_personas=str(run_dir / "dataset" / "personas.jsonl"))
    inside.update(mocks_file=str(tmp_path / "mocks.json"), jobs=2,
                  parts=[{"dir": str(run_dir / "parts" / "0"), "tests": ["conformance/auth/test_state.py"], "exit": 0}])
    inside["sut"] = {"source": str(tmp_path / "vendor" / "sut.toml"),
                     "esia": {"certificate": str(run_dir / "keys" / "c.pem")}}
    written = write_run(run_dir / "run.json", inside)
    assert written["dataset"]["directory"] == str(run_dir / "dataset")    # the caller's view is unchanged
    text = (run_dir / "run.json").read_text()
    assert str(tmp_path) not in text
    data = json.loads(text)
    assert data["dataset"] == {**inside["dataset"], "directory": "dataset", "journal_personas": "jp.json",
                               "esia_personas": "dataset/personas.jsonl"}
    assert data["mocks_file"] == "../../mocks.json" and data["sut"]["source"] == "../../vendor/sut.toml"
    assert data["parts"][0]["dir"] == "parts/0" and data["sut"]["esia"]["certificate"] == "keys/c.pem"
    assert data["journal"] == RUN["journal"]                                # URLs untouched
    moved = tmp_path / "elsewhere" / "r1"
    shutil.move(str(run_dir), moved)
    again = load_run(moved / "run.json")
    assert again.dataset.directory == str(moved / "dataset") and again["parts"][0]["dir"] == str(moved / "parts" / "0")
    assert again.mocks_file == str(tmp_path / "mocks.json")                # same depth: still found
    reference = write_run(tmp_path / "ref.json", {**RUN, "sut": {"source": "reference"}})
    assert reference.sut["source"] == "reference" and load_run(tmp_path / "ref.json").sut["source"] == "reference"
