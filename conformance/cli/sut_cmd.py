"""`ezhd sut check FILE [--live --mocks READY.json [--seed N]]`: check a SUT declaration.

Prints `ok` and a one-line summary (exit 0), or every problem on stderr, one per line,
naming the key and how to fix it (exit 2). The file format is documented in
`conformance/examples/sut.example.toml`; the checks are those of `conformance.sut.load_sut`.

`--live` also checks the running setup, as `ezhd certify` does before any test
(`conformance.session.preflight`): the mocks of READY.json answer, the journal answers and its
sign-in goes to this mock ЕСИА as the declared client, the test-control token works, the
driver signs the administrator in and — when the journal has no test-control API, so the
vendor loads the dataset — sample learners of seed N's dataset are found. It registers the
journal at the mocks as certify would. Any problem: one line each on stderr (cause — fix),
exit 3; nothing is ever `ok` for a journal that does not answer.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from conformance.cli import EXIT_ENVIRONMENT, EXIT_OK, UsageProblem, exit_with_problems


@click.group("sut")
def sut() -> None:
    """The SUT declaration (sut.toml) of the journal under test."""


@sut.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="On success print the redacted declaration as JSON instead of the summary.")
@click.option("--live", is_flag=True,
              help="Also check the running setup: mocks, journal, ЕСИА redirect, token, dataset, driver.")
@click.option("--mocks", "mocks_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="READY.json", help="With --live: the ready file of `ezhd mocks up --ready-file`.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="With --live: the seed of the dataset the journal was loaded with.")
def check(file: Path, as_json: bool, live: bool, mocks_file: Path | None, seed: int) -> None:
    """Check FILE: schema, certificate and key, redirect URIs, features, token (and, with --live, the setup)."""
    if live and mocks_file is None:
        raise UsageProblem("--live needs --mocks READY.json: start the mocks with `ezhd mocks up --ready-file "
                           "READY.json` and configure the journal with their URLs first")
    if mocks_file is not None and not live:
        raise UsageProblem("--mocks is only used with --live")
    from conformance.sut import SutError, load_sut

    try:
        declaration = load_sut(file)
    except SutError as exc:
        exit_with_problems("sut check", file, exc.problems)
    if live:
        assert mocks_file is not None
        problems = _live(declaration, mocks_file, seed)
        if problems:
            for line in problems:
                click.echo(f"ezhd sut check: setup error: {line}", err=True)
            raise click.exceptions.Exit(EXIT_ENVIRONMENT)
    if as_json:
        click.echo(json.dumps(declaration.redacted(), ensure_ascii=False, indent=2))
    else:
        click.echo("ok")
        click.echo(declaration.summary())
        if live:
            click.echo("live: the mocks and the journal answer, its sign-in goes to this mock ЕСИА"
                       + (", the test-control token works" if declaration.test_control else "")
                       + ("" if declaration.test_control else ", the dataset's sample learners are found")
                       + (", the driver signs the administrator in" if declaration.driver else ""))
    raise click.exceptions.Exit(EXIT_OK)


def _live(declaration, mocks_file: Path, seed: int) -> list[str]:
    """The preflight's problems for this declaration and these mocks (after registering the
    journal at them, as certify does)."""
    import httpx

    from conformance.driver import load_driver
    from conformance.runfile import driver_entry, journal_entry
    from conformance.session import preflight as pf
    from conformance.session.launch import read_ready_file, ready_token
    from conformance.session.prepare import make_dataset, register_journal
    from mocks.common.guard import admin_headers

    urls = read_ready_file(mocks_file)
    headers = admin_headers(ready_token(mocks_file))   # a shared stand guards its admin API
    problems = pf.check_journal(declaration)
    if problems:
        return [p.line() for p in problems]

    def admin(base: str, method: str, path: str, **kwargs) -> None:
        httpx.request(method, f"{base}/_admin{path}", timeout=30.0, headers=headers, **kwargs).raise_for_status()

    try:
        register_journal(admin, urls, declaration)
    except httpx.HTTPError as exc:
        return [f"the mocks refused to register the journal: {exc} — is READY.json of a running `ezhd mocks up`?"]
    problems = pf.check_sign_in(declaration, urls["esia"]) + pf.check_test_control(declaration)
    if not problems and declaration.test_control is None:
        with tempfile.TemporaryDirectory(prefix="ezhd-sut-check-") as tmp:
            dataset = make_dataset(Path(tmp), seed)
            problems += pf.check_dataset(declaration, urls["smev"], dataset["journal_personas"], seed, None, False)
    if not problems:
        run = {"journal": journal_entry(declaration), "driver": driver_entry(declaration)}
        problems += pf.check_driver(run, load_driver)
    return [p.line() for p in problems]
