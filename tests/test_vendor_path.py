"""A vendor's journal certified as the vendor runs it (issue 13): the bundled reference journal
started as its own process with non-default mnemonic, ЕСИА client id, datamart and port, the
mocks started beforehand by `ezhd mocks up`, a hand-written sut.toml, and the journal driven
only through the HTTP driver (specs/openapi/driver.yaml) it serves.

Then every setup mistake of the issue ends in exit 3 with one `SETUP ERROR` line naming the
cause and the fix, the report still written and no test a FAIL; `ezhd sut check --live`
finds the same mistakes before a run."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import vendor_setup as v
from conformance.results import load_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mocks(tmp_path_factory):
    """`ezhd mocks up` in its own process: (ready file, URLs)."""
    proc, ready, urls = v.start_mocks(tmp_path_factory.mktemp("mocks"))
    yield ready, urls
    v.stop(proc)


@pytest.fixture
def journal(tmp_path, mocks):
    j = v.start_journal(tmp_path / "journal", mocks[1])
    yield j
    v.stop(j.proc)


def certify(tmp_path: Path, sut: Path, mocks_file: Path | None, env: dict[str, str], *only: str):
    args = ["certify", "--sut", str(sut), "--report-dir", str(tmp_path / "run")]
    if mocks_file is not None:
        args += ["--mocks", str(mocks_file)]
    for rid in only:
        args += ["--only", rid]
    return v.ezhd(*args, env=env)


def test_the_vendor_journal_with_its_own_names_passes_through_the_http_driver(tmp_path, mocks, journal):
    ready, urls = mocks
    sut = journal.sut_toml(driver="http")
    # AUTH-01 signs in through ЕСИА as client VENDORIS; EXP-01 uploads as system VENDOR01 into
    # datamart vendormart; ROLE-03, LOG-02 and AUTH-07 act in the journal through the driver service
    proc = certify(tmp_path, sut, ready, journal.env, "AUTH-01", "EXP-01", "ROLE-03", "LOG-02", "AUTH-07")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = load_results(tmp_path / "run" / "results.json")
    got = {r["id"]: r["verdict"] for r in results["requirements"]}
    assert {got[r] for r in ("AUTH-01", "EXP-01", "ROLE-03", "LOG-02", "AUTH-07")} == {"PASS"}, got
    assert results["run"]["product"] == {"vendor": "Vendor Ltd", "name": "Vendor Journal", "version": "2.4.1",
                                         "build": "b77"}
    assert "setup_problems" not in results["run"]
    # registered everywhere under the vendor's own names
    esia = httpx.get(f"{urls['esia']}/_admin/clients/{v.CLIENT_ID}").json()
    assert f"{journal.url}/auth/esia/callback" in json.dumps(esia)
    systems = {m["mnemonic"]: m["kind"] for m in httpx.get(f"{urls['smev']}/_admin/mnemonics").json()}
    assert systems[v.MNEMONIC] == "system"
    assert httpx.get(f"{urls['smev']}/_admin/providers/{v.MNEMONIC}").json()["base_url"] == journal.url
    sources = {s["mnemonic"]: s["datamarts"] for s in httpx.get(f"{urls['epgu']}/_admin/sources").json()}
    assert sources[v.MNEMONIC] == [v.DATAMART]
    # the suite acted in the journal only through the driver service, never its web API
    transcripts = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "run" / "transcripts").glob("*.jsonl"))
    assert "/driver/v1/sessions/" in transcripts and "/web/api/v1/" not in transcripts
    assert journal.info["admin_password"] not in transcripts + (tmp_path / "run" / "run.json").read_text()


def _assert_setup_error(proc, tmp_path: Path, *fragments: str) -> None:
    """Exit 3, one SETUP ERROR line naming the cause and the fix, the report written, every
    selected test ERROR with that cause, nothing FAIL."""
    assert proc.returncode == 3, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SETUP ERROR: ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert all(f in lines[-1] for f in fragments), lines[-1]
    assert " — " in lines[-1]                                         # cause — fix
    results = load_results(tmp_path / "run" / "results.json")
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "junit.xml").is_file()
    assert results["run"]["setup_problems"] and all(f in results["run"]["setup_problems"][0] for f in fragments)
    tests = [t for r in results["requirements"] for t in r["tests"]]
    assert tests and all(t["verdict"] == "ERROR" for t in tests)
    assert all(fragments[0] in t["cause"] for t in tests)
    assert "Traceback" not in proc.stderr


def test_no_mocks_for_a_vendor_journal_is_a_setup_error(tmp_path, journal):
    sut = journal.sut_toml()
    proc = certify(tmp_path, sut, None, journal.env, "AUTH-01")
    _assert_setup_error(proc, tmp_path, "no --mocks", "ezhd mocks up --ready-file")


def test_a_journal_configured_for_other_mocks_is_a_setup_error(tmp_path, mocks):
    ready, urls = mocks
    other = f"http://127.0.0.1:{v.free_port()}"
    j = v.start_journal(tmp_path / "journal", urls, esia_url=other)
    try:
        proc = certify(tmp_path, j.sut_toml(), ready, j.env, "AUTH-01")
    finally:
        v.stop(j.proc)
    _assert_setup_error(proc, tmp_path, f"redirects to ЕСИА at {other}", f"configure the journal's ЕСИА URL as {urls['esia']}")


def test_a_journal_without_the_dataset_is_a_setup_error(tmp_path, mocks, journal):
    sut = journal.sut_toml(test_control=False)      # nobody loads the dataset into it
    proc = certify(tmp_path, sut, mocks[0], journal.env, "AUTH-01")
    _assert_setup_error(proc, tmp_path, "does not know the dataset's learners", "ezhd dataset generate --seed 1")


def test_a_wrong_test_control_token_is_a_setup_error(tmp_path, mocks, journal):
    sut = journal.sut_toml(token="not-the-token")
    proc = certify(tmp_path, sut, mocks[0], journal.env, "AUTH-01")
    _assert_setup_error(proc, tmp_path, "refuses the token (HTTP 401)", "set $VENDOR_TC_TOKEN")
    assert "not-the-token" not in (tmp_path / "run" / "results.json").read_text(encoding="utf-8") + proc.stdout


def test_a_driver_that_cannot_sign_in_is_a_setup_error(tmp_path, mocks, journal):
    sut = journal.sut_toml(admin_password="wrong-Password-1")
    proc = certify(tmp_path, sut, mocks[0], journal.env, "AUTH-01")
    _assert_setup_error(proc, tmp_path, "driver cannot sign the administrator in", "$VENDOR_ADMIN_PASSWORD")


def test_a_journal_that_does_not_answer_is_a_setup_error(tmp_path, mocks, journal):
    sut = journal.sut_toml()
    v.stop(journal.proc)
    proc = certify(tmp_path, sut, mocks[0], journal.env, "AUTH-01")
    _assert_setup_error(proc, tmp_path, f"the journal at {journal.url} does not answer: connection refused",
                        "start the journal")


# --- ezhd sut check --live ------------------------------------------------------------------------

def test_sut_check_live_is_ok_for_a_working_setup(tmp_path, mocks, journal):
    sut = journal.sut_toml()
    proc = v.ezhd("sut", "check", str(sut), "--live", "--mocks", str(mocks[0]), env=journal.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok\n") and "the driver signs the administrator in" in proc.stdout


def test_sut_check_live_is_never_ok_for_a_journal_that_does_not_answer(tmp_path, mocks, journal):
    sut = journal.sut_toml()
    v.stop(journal.proc)
    proc = v.ezhd("sut", "check", str(sut), "--live", "--mocks", str(mocks[0]), env=journal.env)
    assert proc.returncode == 3 and "ok" not in proc.stdout.split()
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "does not answer: connection refused — start the journal" in err[0], proc.stderr


def test_sut_check_live_finds_a_missing_dataset_and_a_wrong_token(tmp_path, mocks, journal):
    proc = v.ezhd("sut", "check", str(journal.sut_toml(test_control=False, driver=None)), "--live", "--mocks",
                  str(mocks[0]), env=journal.env)
    assert proc.returncode == 3 and "does not know the dataset's learners" in proc.stderr, proc.stderr
    proc = v.ezhd("sut", "check", str(journal.sut_toml(token="wrong")), "--live", "--mocks", str(mocks[0]),
                  env=journal.env)
    assert proc.returncode == 3 and "refuses the token" in proc.stderr, proc.stderr
    proc = v.ezhd("sut", "check", str(journal.sut_toml()), "--live", env=journal.env)
    assert proc.returncode == 2 and "--live needs --mocks" in proc.stderr


def test_a_stand_with_an_admin_token_is_used_through_its_ready_file_and_refuses_a_wrong_token(tmp_path):
    """A shared stand (`ezhd mocks up --admin-token`): certify attached through its ready file
    sends the token on every admin call and passes; with the token gone from the ready file and a
    wrong one in the environment it is a setup error naming the token, and the token is in no
    file of the run."""
    token = "stand-" + "7" * 24
    (tmp_path / "mocks").mkdir()
    proc_m, ready, urls = v.start_mocks(tmp_path / "mocks", "--admin-token", token)
    j = v.start_journal(tmp_path / "journal", urls)
    try:
        assert httpx.get(f"{urls['epgu']}/_admin/health").status_code == 401
        proc = certify(tmp_path, j.sut_toml(), ready, j.env, "EXP-01")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        run_files = "".join(p.read_text(encoding="utf-8", errors="replace")
                            for p in (tmp_path / "run").rglob("*") if p.is_file())
        assert token not in run_files + proc.stdout
        bare = tmp_path / "mocks-without-token.json"
        bare.write_text(json.dumps({k: v_ for k, v_ in json.loads(ready.read_text()).items() if k != "admin_token"}))
        wrong = certify(tmp_path / "again", j.sut_toml(), bare, {**j.env, "EZHD_MOCKS_ADMIN_TOKEN": "not-it"}, "EXP-01")
    finally:
        v.stop(j.proc)
        v.stop(proc_m)
    _assert_setup_error(wrong, tmp_path / "again", "refuses the suite's admin calls (HTTP 401)", "EZHD_MOCKS_ADMIN_TOKEN")
    assert "not-it" not in wrong.stdout
