"""Prepare a run: the dataset, the journal registered at the mocks, the preflight, run.json.

`make_dataset` generates the seed's dataset into REPORT_DIR/dataset (+ dataset.zip and the
journal's view of its people). `prepare` registers the journal, runs the preflight
(`conformance.session.preflight`), loads the dataset through test-control when declared and
writes run.json (`conformance.runfile`), recording any setup problems there.

Registration matches the declaration:

A vendor journal is known by the values of its sut.toml, never by the reference journal's
defaults: ЕСИА knows its client id, certificate and both redirect URIs; the ПОДД agent knows
its mnemonic as a *system* (allowed to upload through edu-upload) and as the *provider* of
journal.yaml (the portal's on-demand calls); the showcase knows it as a *source* allowed to
write to its datamart, and the agent's edu-upload channel writes into that datamart; the
portal asks that mnemonic for diaries and accepts its notifications.
"""
from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import click

from conformance.cli import SetupProblem
from conformance.runfile import Run
from conformance.session.launch import set_env
from mocks.common.guard import ADMIN_TOKEN_ENV, admin_headers
from specs import CACHE_ENV, cache_dir

__all__ = ["CACHE_ENV", "cache_root", "sources_digest", "register_journal", "registration_calls", "make_dataset", "prepare"]

# (mock, method, admin path, JSON body) — an admin call made with the mock's URL
Call = tuple[str, str, str, dict[str, Any]]
JOURNAL_TITLE = "journal under test"


def registration_calls(sut: Any) -> list[Call]:
    """The admin calls that make the mocks know the journal `sut` declares, in order. The
    showcase source comes before the agent system, because the agent registers a new system
    with the showcase under its own datamart only when the showcase does not know it yet."""
    mnemonic, datamart = sut.agent.mnemonic, sut.agent.datamart
    return [
        ("esia", "POST", "/clients", {
            "client_id": sut.esia.client_id, "certificate": sut.esia.certificate.read_text(encoding="utf-8"),
            "redirect_uris": [sut.esia.redirect_uri, sut.esia.logout_redirect_uri]}),
        ("epgu", "POST", "/sources", {"mnemonic": mnemonic, "datamarts": [datamart], "title": JOURNAL_TITLE}),
        ("smev", "PATCH", "/settings", {"datamart": datamart}),
        ("smev", "POST", "/mnemonics", {"mnemonic": mnemonic, "kind": "system", "title": JOURNAL_TITLE}),
        ("smev", "POST", "/providers", {"mnemonic": mnemonic, "base_url": sut.base_url, "spec": "journal.yaml",
                                        "title": JOURNAL_TITLE}),
        ("epgu", "PATCH", "/settings", {"journal_mnemonic": mnemonic}),
    ]


def register_journal(admin: Callable[..., Any], urls: dict[str, str], sut: Any) -> None:
    """Make every registration call through `admin(base_url, method, path, json=body)`."""
    for mock, method, path, body in registration_calls(sut):
        admin(urls[mock], method, path, json=body)


_GENERATOR_SOURCES = ("fixtures", "specs")


def cache_root() -> Path | None:
    """Where certify keeps what it can make again (`specs.cache_dir`: `$EZHD_CACHE_DIR`, default
    ~/.cache/ezhd); None when the variable is "off"."""
    return cache_dir()


def sources_digest(packages: tuple[str, ...], salt: str = "") -> str:
    """A hash of every source file (.py, .yaml, .json) of the project's `packages`, and `salt`."""
    import hashlib

    digest = hashlib.sha256(f"{salt}\0".encode())
    top = Path(__file__).resolve().parents[2]
    for package in packages:
        for path in sorted((top / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yaml", ".json") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(top)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _dataset_cache(seed: int) -> Path | None:
    """The cache entry of `seed`'s dataset: keyed by the seed, a hash of every source the
    generator reads (fixtures/ and specs/) and the version of Faker (its name lists), so a
    changed generator, table spec or name list misses."""
    from importlib.metadata import version

    root = cache_root()
    if root is None:
        return None
    return root / "datasets" / f"seed-{seed}-{sources_digest(_GENERATOR_SOURCES, 'faker ' + version('faker'))}"


_DATASET_FILES = ("dataset", "dataset.zip", "journal-personas.json")


def make_dataset(report_dir: Path, seed: int) -> dict[str, Any]:
    """The seed's dataset in REPORT_DIR: copied from the cache when an earlier run with the same
    generator made it (the generator is deterministic by seed), else generated and cached."""
    import shutil

    cached = _dataset_cache(seed)
    if cached is not None and cached.is_dir():
        for name in _DATASET_FILES:
            (shutil.copytree if name == "dataset" else shutil.copyfile)(cached / name, report_dir / name)
        directory = report_dir / "dataset"
        bundle = (report_dir / "dataset.zip").read_bytes()
    else:
        from fixtures.bundle import bundle_bytes, personas_of
        from fixtures.dataset import Options, generate

        directory = generate(Options(seed=seed), report_dir / "dataset").out
        bundle = bundle_bytes(directory)
        (report_dir / "dataset.zip").write_bytes(bundle)
        (report_dir / "journal-personas.json").write_text(json.dumps(personas_of(bundle), ensure_ascii=False),
                                                          encoding="utf-8")
        if cached is not None:
            _store(report_dir, cached)
    return {"directory": directory, "bundle": bundle, "journal_personas": report_dir / "journal-personas.json"}


def _store(report_dir: Path, cached: Path) -> None:
    """Put the run's dataset into the cache (a whole entry appears at once; a cache that cannot
    be written only costs the next run the generation)."""
    import shutil
    import tempfile

    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cached.parent, prefix=".partial-"))
        for name in _DATASET_FILES:
            (shutil.copytree if name == "dataset" else shutil.copyfile)(report_dir / name, tmp / name)
        try:
            tmp.rename(cached)
        except OSError:   # another run cached it first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def prepare(stack: ExitStack, report_dir: Path, sut: Any, urls: dict[str, str], dataset: dict[str, Any],
             options: dict[str, Any]) -> tuple[Run, list[str]]:
    """Register the journal at the mocks, run the preflight (`conformance.session.preflight`),
    load the dataset, write run.json. Returns the run and the setup problems (one line each:
    cause — fix); with any, run.json records them and no test body runs."""
    import httpx

    from conformance.driver import load_driver
    from conformance.runfile import TOKEN_ENV, driver_entry, journal_entry, write_run
    from conformance.session import preflight as pf

    directory = dataset["directory"]
    vendor = sut.source is not None
    attached = options["mocks_file"] is not None
    with httpx.Client(timeout=120.0, headers=admin_headers(os.environ.get(ADMIN_TOKEN_ENV))) as http:
        def admin(base: str, method: str, path: str, **kwargs: Any) -> Any:
            try:
                resp = http.request(method, f"{base}/_admin{path}", **kwargs)
            except httpx.HTTPError as exc:
                raise SetupProblem(f"{base}/_admin{path}: {exc}") from None
            if resp.status_code >= 300:
                raise SetupProblem(f"{base}/_admin{path}: {resp.status_code} {resp.text[:200]}")
            return resp

        problems = pf.check_mocks(urls, attached, vendor)   # first: the stand answers the suite's admin calls
        if not problems:
            register_journal(admin, urls, sut)
            personas = (directory / "personas.jsonl").read_bytes()
            for mock in ("esia", "epgu"):   # ЕСИА signs them in; the portal addresses their notifications
                admin(urls[mock], "POST", "/personas", content=personas,
                      headers={"Content-Type": "application/x-ndjson"})
            problems = pf.check_journal(sut)
        if not problems:
            problems = pf.check_sign_in(sut, urls["esia"]) + pf.check_test_control(sut)
        loaded = False
        if sut.test_control is not None and not problems:
            try:
                resp = http.post(f"{sut.test_control.url}/dataset", content=dataset["bundle"],
                                 headers={"Authorization": f"Bearer {sut.test_control.token}",
                                          "Content-Type": "application/zip"})
            except httpx.HTTPError as exc:
                problems.append(pf.Problem(f"test-control {sut.test_control.url}/dataset did not answer: {exc}",
                                           "check test_control.url and that the journal is running"))
            else:
                if resp.status_code == 201:
                    loaded = True
                else:
                    problems.append(pf.Problem(f"the journal refused the dataset: HTTP {resp.status_code} "
                                               f"{resp.text[:200]}", "see the journal's log"))
        elif sut.test_control is None:
            click.echo(f"note: the SUT declares no test-control API, so the dataset was not loaded into the "
                       f"journal. It is in {directory} (zip: {report_dir / 'dataset.zip'}); the journal must "
                       f"hold it for the tests to find their people — `ezhd dataset generate --seed "
                       f"{options['seed']} --out DIR` writes the same files ahead of the run")

    if sut.test_control is not None:
        set_env(stack, TOKEN_ENV, sut.test_control.token)
    run = {
        "journal": journal_entry(sut),
        "mocks": dict(urls),
        "mocks_file": options["mocks_file"],
        "test_control": {"url": sut.test_control.url, "token_env": TOKEN_ENV} if sut.test_control else None,
        "dataset": {"directory": str(directory), "seed": options["seed"],
                    "journal_personas": str(dataset["journal_personas"]),
                    "esia_personas": str(directory / "personas.jsonl"), "loaded": loaded},
        "driver": driver_entry(sut),
        "reference_defects": sorted(options["defects"]),
        "only": list(options["only"]),
        "level": options["level"],
        "sut": sut.redacted(),
    }
    run = write_run(report_dir / "run.json", run)
    if not problems:
        problems = pf.check_dataset(sut, urls["smev"], dataset["journal_personas"], options["seed"],
                                    report_dir / "dataset.zip", loaded) + pf.check_driver(run, load_driver)
    lines = [p.line() for p in problems]
    if lines:
        run = write_run(report_dir / "run.json", run.with_setup_problems(lines))
        for line in lines:
            click.echo(f"SETUP ERROR: {line}")
        click.echo("no test will run; every selected test ends in ERROR with this cause")
    return run, lines
