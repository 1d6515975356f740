"""`ezhd sut check FILE`: check a SUT declaration (sut.toml) before a run.

Prints `ok` and a one-line summary (exit 0), or every problem on stderr, one per line,
naming the key and how to fix it (exit 2). The file format is documented in
`conformance/examples/sut.example.toml`; the checks are those of `conformance.sut.load_sut`.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from conformance.cli import EXIT_OK, exit_with_problems
from conformance.sut import SutError, load_sut


@click.group("sut")
def sut() -> None:
    """The SUT declaration (sut.toml) of the journal under test."""


@sut.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="On success print the redacted declaration as JSON instead of the summary.")
def check(file: Path, as_json: bool) -> None:
    """Check FILE: schema, certificate and key, redirect URIs, features, token."""
    try:
        declaration = load_sut(file)
    except SutError as exc:
        exit_with_problems("sut check", file, exc.problems)
    if as_json:
        click.echo(json.dumps(declaration.redacted(), ensure_ascii=False, indent=2))
    else:
        click.echo("ok")
        click.echo(declaration.summary())
    raise click.exceptions.Exit(EXIT_OK)
