"""On a real Docker engine (issue 17): the images built from a base made of Debian's packages,
the reference journal image certified through `ezhd certify --sut-image` and through
compose.yaml, and one mocks container serving two certifications at once."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import httpx
import pytest

from conformance.containers import private_network
from kit import ROOT, ezhd, make_kit

pytestmark = pytest.mark.docker


def _verdicts(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    return {r["id"]: r["verdict"] for r in results["requirements"]}, results


def test_the_reference_journal_image_is_certified_through_sut_image(tmp_path, images, leftovers):
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "IMAGEIS", "IMAGE01", "imagemart")
    run = tmp_path / "run"
    proc = ezhd("certify", "--sut", str(kit.sut), "--sut-image", images["reference-journal"],
                "--mocks-image", images["mocks"], "--sut-env", "EZHD_ESIA_KEY_PEM", "--sut-env", "EZHD_ESIA_CERT_PEM",
                "--report-dir", str(run), env=kit.env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "base level of the whole catalogue: pass" in proc.stdout
    verdicts, results = _verdicts(run)
    assert set(verdicts.values()) <= {"PASS", "NOT_APPLICABLE"} and "setup_problems" not in results["run"]
    # the journal ran at its container's address on the private network, as the vendor's names
    assert results["run"]["sut"]["journal"]["base_url"].endswith(":8000")
    assert "journal:8000" not in results["run"]["sut"]["journal"]["base_url"]
    logs = {p.name: p.read_text() for p in (run / "containers").iterdir()}
    assert set(logs) == {"journal.log", "mocks.log"} and "reference-journal http://0.0.0.0:8000" in logs["journal.log"]
    assert not any(s in text for s in kit.secrets() for text in logs.values())
    assert not (run / "mocks.json").exists()   # the stand's ready file (admin token) went with it


def test_a_missing_image_is_a_setup_error_and_nothing_is_left(tmp_path, images, leftovers):
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "IMAGEIS", "IMAGE01", "imagemart")
    proc = ezhd("certify", "--sut", str(kit.sut), "--sut-image", "ezhd-no-such-journal:0", "--mocks-image",
                images["mocks"], "--report-dir", str(tmp_path / "run"), env=kit.env)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--sut-image: image ezhd-no-such-journal:0 is not on the Docker engine" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_journal_container_that_exits_is_a_setup_error_with_its_log(tmp_path, images, leftovers):
    """The journal image started without its ЕСИА key exits at once: exit 3 naming the cause
    from its log, the log kept in the report directory, containers and network removed."""
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "IMAGEIS", "IMAGE01", "imagemart")
    run = tmp_path / "run"
    proc = ezhd("certify", "--sut", str(kit.sut), "--sut-image", images["reference-journal"], "--mocks-image",
                images["mocks"], "--report-dir", str(run), env=kit.env)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the journal container exited with code 2" in proc.stderr and "ЕСИА key is missing" in proc.stderr
    assert "ЕСИА key is missing" in (run / "containers" / "journal.log").read_text()


def test_ctrl_c_removes_what_sut_image_started(tmp_path, engine, images, leftovers):
    kit = make_kit(tmp_path / "kit", "http://journal:8000", "IMAGEIS", "IMAGE01", "imagemart")
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "certify", "--sut", str(kit.sut), "--sut-image",
         images["reference-journal"], "--mocks-image", images["mocks"], "--sut-env", "EZHD_ESIA_KEY_PEM",
         "--sut-env", "EZHD_ESIA_CERT_PEM", "--report-dir", str(tmp_path / "run")],
        cwd=ROOT, env={**os.environ, **kit.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while len(engine.containers.list(filters={"label": "ezhd=sut-image", "status": "running"})) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()[-2000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "container journal: log in" in out, out[-2000:]


def test_the_stand_container_serves_two_certifications_at_once(tmp_path, engine, images):
    """EZHD_MOCKS_TENANTS: one mocks container, a stand per journal with its own admin token;
    two reference journal containers with different client ids, mnemonics and datamarts are
    certified at the same time, each attached to its own stand; neither sees the other."""
    net, (mocks_ip, ip_a, ip_b) = private_network(engine, f"ezhd-shared-{tmp_path.name[-8:]}", 3)
    started = []
    try:
        def start(image, ip, env, alias):
            api = engine.api
            cfg = api.create_networking_config({net.name: api.create_endpoint_config(ipv4_address=ip,
                                                                                     aliases=[alias])})
            cid = api.create_container(image, environment=env, networking_config=cfg,
                                       host_config=api.create_host_config())["Id"]
            c = engine.containers.get(cid)
            started.append(c)
            c.start()
            return c

        tokens = {"A": "token-of-a-" + "x" * 16, "B": "token-of-b-" + "y" * 16}
        mocks = start(images["mocks"], mocks_ip, {"EZHD_MOCKS_TENANTS": "a,b", "EZHD_MOCKS_PUBLIC_HOST": mocks_ip,
                                                   "EZHD_MOCKS_ADMIN_TOKEN_A": tokens["A"],
                                                   "EZHD_MOCKS_ADMIN_TOKEN_B": tokens["B"]}, "mocks")
        image = engine.images.get(images["mocks"])
        assert image.labels["org.opencontainers.image.version"] == version("ezhd-conformance")
        assert image.labels["org.opencontainers.image.source"].startswith("https://")
        deadline = time.monotonic() + 120
        while (mocks.reload() or mocks.attrs["State"].get("Health", {}).get("Status")) != "healthy":
            assert time.monotonic() < deadline, mocks.logs().decode()[-2000:]
            time.sleep(1)
        assert mocks.exec_run(["id", "-u"]).output.strip() == b"10001"   # not root
        stands = {}
        for t in ("a", "b"):
            stands[t] = json.loads(mocks.exec_run(["cat", f"/state/{t}/mocks.json"]).output)
            (tmp_path / f"{t}.json").write_text(json.dumps(stands[t]))
        assert stands["a"]["admin_token"] == tokens["A"] and stands["b"]["esia"] == f"http://{mocks_ip}:8093"
        assert httpx.get(f"{stands['a']['esia']}/_admin/health").status_code == 401
        assert httpx.get(f"{stands['a']['esia']}/_admin/health",
                         headers={"Authorization": f"Bearer {tokens['B']}"}).status_code == 401

        runs = {}
        for t, ip, names in (("a", ip_a, ("JOURNALA", "VENDA01", "marta")),
                             ("b", ip_b, ("JOURNALB", "VENDB01", "martb"))):
            url = f"http://{ip}:8000"
            kit = make_kit(tmp_path / f"kit-{t}", url, *names)
            start(images["reference-journal"], ip, {
                "EZHD_ESIA_URL": stands[t]["esia"], "EZHD_AGENT_URL": stands[t]["smev"],
                "EZHD_SHOWCASE_URL": stands[t]["epgu"], "EZHD_JOURNAL_URL": url, "EZHD_ESIA_CLIENT_ID": names[0],
                "EZHD_AGENT_MNEMONIC": names[1], "EZHD_AGENT_DATAMART": names[2], **kit.env}, f"journal-{t}")
            runs[t] = (kit, names)
        deadline = time.monotonic() + 120
        for ip in (ip_a, ip_b):
            while True:
                try:
                    httpx.get(f"http://{ip}:8000/", timeout=2)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, f"the journal at {ip} did not start"
                    time.sleep(0.5)
        only = ["--only", "AUTH-01", "--only", "EXP-01", "--only", "API-01"]   # ЕСИА, upload, portal → journal
        procs = {t: subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "certify", "--sut", str(kit.sut),
             "--mocks", str(tmp_path / f"{t}.json"), "--report-dir", str(tmp_path / f"run-{t}"), *only],
            cwd=ROOT, env={**os.environ, **kit.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for t, (kit, _) in runs.items()}
        outs = {t: p.communicate(timeout=900)[0] for t, p in procs.items()}
        for t, p in procs.items():
            assert p.returncode == 0, outs[t][-4000:]
            verdicts, _ = _verdicts(tmp_path / f"run-{t}")
            assert {verdicts[r] for r in ("AUTH-01", "EXP-01", "API-01")} == {"PASS"}, (t, verdicts)
        # each stand knows its own journal only
        for t, other in (("a", "b"), ("b", "a")):
            headers = {"Authorization": f"Bearer {tokens[t.upper()]}"}
            mine, theirs = runs[t][1], runs[other][1]
            esia = stands[t]["esia"]
            assert httpx.get(f"{esia}/_admin/clients/{mine[0]}", headers=headers).status_code == 200
            assert httpx.get(f"{esia}/_admin/clients/{theirs[0]}", headers=headers).status_code == 404
            systems = {m["mnemonic"]
                       for m in httpx.get(f"{stands[t]['smev']}/_admin/mnemonics", headers=headers).json()}
            assert mine[1] in systems and theirs[1] not in systems
            sources = {s["mnemonic"]: s["datamarts"]
                       for s in httpx.get(f"{stands[t]['epgu']}/_admin/sources", headers=headers).json()}
            assert sources.get(mine[1]) == [mine[2]] and theirs[1] not in sources
    finally:
        for c in started:
            c.remove(force=True, v=True)
        net.remove()


def test_compose_gives_the_suites_exit_code(tmp_path, engine, images):
    """compose.yaml with docker-compose (1.29 here; `docker compose` v2 reads the same file):
    the mocks, the reference journal image as the vendor's journal, and the suite."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    kit = make_kit(tmp_path / "ezhd", "http://journal:8000", "COMPOSEIS", "COMPOS01", "composemart")
    reports = tmp_path / "reports"
    reports.mkdir(mode=0o777)
    reports.chmod(0o777)
    env = {"EZHD_MOCKS_IMAGE": images["mocks"], "EZHD_SUITE_IMAGE": images["suite"],
           "JOURNAL_IMAGE": images["reference-journal"], "EZHD_CONFIG": str(kit.directory),
           "EZHD_REPORTS": str(reports),
           "EZHD_CERTIFY_OPTIONS": "--only AUTH-01 --only EXP-01", "EZHD_ESIA_CLIENT_ID": "COMPOSEIS",
           "EZHD_AGENT_MNEMONIC": "COMPOS01", "EZHD_AGENT_DATAMART": "composemart", **kit.env}
    env.pop("EZHD_ESIA_KEY_PEM")   # the journal reads the key from the mounted /config/keys
    env.pop("EZHD_ESIA_CERT_PEM")
    project = ["-p", f"ezhd{tmp_path.name[-8:].lower().replace('_', '')}", "-f", str(ROOT / "compose.yaml")]
    full_env = {**os.environ, **env}
    try:
        proc = subprocess.run([compose, *project, "up", "--exit-code-from", "suite"], capture_output=True, text=True,
                              env=full_env, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        verdicts, results = _verdicts(reports / "run")
        assert verdicts["AUTH-01"] == verdicts["EXP-01"] == "PASS"
        assert results["run"]["sut"]["journal"]["base_url"] == "http://journal:8000"
        # compose answers with the suite's code, whatever it is: 2 for a usage error of certify
        full_env["EZHD_CERTIFY_OPTIONS"] = "--only NOSUCH-99"
        proc = subprocess.run([compose, *project, "up", "--exit-code-from", "suite"], capture_output=True, text=True,
                              env=full_env, timeout=600)
        assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "unknown requirement ID NOSUCH-99" in proc.stdout + proc.stderr
    finally:
        subprocess.run([compose, *project, "down", "-v"], capture_output=True, env=full_env, timeout=300)
