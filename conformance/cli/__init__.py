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


# name -> "module:attribute"; a subcommand's module is imported only when that subcommand
# runs (or `--help` lists them all), so `ezhd certify` and the reference journal's
# `ezhd reference-journal serve` do not pay for every other command's imports
COMMANDS = {
    "certify": "conformance.cli.certify_cmd:certify",
    "dataset": "conformance.cli.dataset_cmd:dataset",
    "flk": "conformance.cli.flk_cmd:flk",
    "init": "conformance.cli.init_cmd:init",
    "mocks": "conformance.cli.mocks_cmd:mocks",
    "reference-journal": "conformance.cli.reference_journal_cmd:reference_journal",
    "report": "conformance.cli.report_cmd:report",
    "requirements": "conformance.cli.requirements_cmd:requirements",
    "sut": "conformance.cli.sut_cmd:sut",
}


def short_help(target: str, limit: int = 45) -> str:
    """click's short help of the command `module:function`, from the function's docstring in
    the module's source (parsed, not imported)."""
    import ast
    import importlib.util
    from pathlib import Path

    module, _, attr = target.partition(":")
    spec = importlib.util.find_spec(module)
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return click.Command(attr, help=ast.get_docstring(node) or "").get_short_help_str(limit)
    return ""


class LazyGroup(click.Group):
    """A group whose subcommands (`COMMANDS`) are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of `ezhd --help`, each line from the command's docstring read
        without importing its module (what `get_short_help_str` would say)."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, self.commands[name].get_short_help_str(limit) if name in self.commands
                 else short_help(COMMANDS[name], limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            module, _, attr = COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ezhd")
def cli() -> None:
    """Conformance suite and mock federal environment for school e-journals (ЭЖД)."""


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
