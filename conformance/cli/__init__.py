"""The `ezhd` command.

Every subcommand group lives in its own module and is attached here. Errors a user can fix
are reported as one line `ezhd: error: ...` with exit code 2 and no traceback; set
EZHD_DEBUG=1 to see the traceback of an internal error.
"""
from __future__ import annotations

import os
import sys

import click

from conformance import __version__

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_ENVIRONMENT = 3   # nothing verified: the setup (mocks, journal, dataset, driver) is not right


class UsageProblem(click.UsageError):
    """A problem with what the user asked for (bad option, unreadable file, unwritable dir)."""


class SetupProblem(click.ClickException):
    """The environment (mocks, journal, dataset) could not be set up: exit 3."""

    exit_code = EXIT_ENVIRONMENT


def exit_with_problems(command: str, path: object, problems: list[str]) -> None:
    """Report every problem of a file the user wrote (a header line, one indented line per
    problem) and exit with EXIT_USAGE."""
    n = len(problems)
    click.echo(f"ezhd {command}: error: {path}: {n} problem{'s' if n != 1 else ''}", err=True)
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    raise click.exceptions.Exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ezhd")
def cli() -> None:
    """Conformance suite and mock federal environment for school e-journals (ЭЖД)."""


def _register() -> None:
    from conformance.cli import dataset_cmd, mocks_cmd, requirements_cmd
    from conformance.cli import flk_cmd
    from conformance.cli import reference_journal_cmd
    from conformance.cli import sut_cmd
    from conformance.cli import certify_cmd
    from conformance.cli import report_cmd
    from conformance.cli import init_cmd

    cli.add_command(requirements_cmd.requirements)
    cli.add_command(dataset_cmd.dataset)
    cli.add_command(mocks_cmd.mocks)
    cli.add_command(flk_cmd.flk)
    cli.add_command(reference_journal_cmd.reference_journal)
    cli.add_command(sut_cmd.sut)
    cli.add_command(certify_cmd.certify)
    cli.add_command(report_cmd.report)
    cli.add_command(init_cmd.init)


_register()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    try:
        rv = cli.main(args=argv, prog_name="ezhd", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # pragma: no cover - click >= 8.2
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        rv = EXIT_USAGE
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "ezhd"
        click.echo(f"{where}: error: {_one_line(exc.format_message())} (see --help)", err=True)
        rv = EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"ezhd: error: {_one_line(exc.format_message())}", err=True)
        rv = exc.exit_code
    except click.exceptions.Exit as exc:
        rv = exc.exit_code
    except click.Abort:
        click.echo("ezhd: aborted", err=True)
        rv = 130
    except KeyboardInterrupt:
        click.echo("ezhd: interrupted", err=True)
        rv = 130
    except Exception as exc:  # an internal error: say so, hide the traceback unless asked
        if os.environ.get("EZHD_DEBUG"):
            raise
        click.echo(
            f"ezhd: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(set EZHD_DEBUG=1 for the traceback and report it)",
            err=True,
        )
        rv = EXIT_INTERNAL
    rv = rv if isinstance(rv, int) else EXIT_OK
    sys.stdout.flush()
    return rv


def run() -> None:  # pragma: no cover - console entry for `python -m conformance.cli`
    sys.exit(main())
