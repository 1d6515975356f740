"""The documents a vendor follows name only commands, options and sut.toml keys that exist
(issue 13: `sut.example.toml` once named a command `ezhd dataset export` that did not)."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from conformance.cli import cli
from conformance.cli.init_cmd import GUIDE_TEMPLATE, render_guide

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "reference_journal" / "README.md", ROOT / "reference_journal" / "journal.example.toml",
        *sorted((ROOT / "conformance" / "examples").glob("*.toml"))]
SUT_SCHEMA = json.loads((ROOT / "specs" / "schemas" / "sut.schema.json").read_text(encoding="utf-8"))
SUT_TABLES = {name: set((sub.get("properties") or {})) for name, sub in SUT_SCHEMA["properties"].items()}


def _texts() -> list[tuple[str, str]]:
    guide = render_guide({"dir": "kit", "base_url": "http://127.0.0.1:8000", "client_id": "EZHD01",
                          "mnemonic": "MNSV03", "datamart": "myedu"})
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in DOCS] + [(GUIDE_TEMPLATE.name, guide)]


def _commands(text: str) -> list[str]:
    """Every `ezhd ...` command line: in code blocks, in comments of examples, in backticks."""
    found = re.findall(r"`(ezhd [^`]+)`", text)
    found += [m for m in re.findall(r"^\s*(?:#\s*)?(ezhd [^#\n]+)", text, re.M)]
    return [f.strip() for f in found]


def problems_of(command: str) -> list[str]:
    """What in one `ezhd ...` command does not exist (subcommands, options)."""
    words = shlex.split(command.replace(" / ", "|"), comments=False)[1:]
    cmd: click.Command = cli
    i = 0
    while isinstance(cmd, click.Group) and i < len(words) and not words[i].startswith("-"):
        names = words[i].split("|")
        ctx = click.Context(cmd)   # subcommands of a lazy group are imported by get_command
        missing = [n for n in names if cmd.get_command(ctx, n) is None and not n.isupper() and n not in ("...", "…")]
        if missing:
            return [f"{command!r}: no command {' '.join(missing)} under {cmd.name}"]
        if len(names) > 1 or cmd.get_command(ctx, names[0]) is None:
            return []
        cmd = cmd.get_command(ctx, names[0])
        i += 1
    if isinstance(cmd, click.Group) and i == len(words):
        return []
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
    return [f"{command!r}: no option {w.split('=')[0]} for ezhd {cmd.name}" for w in words[i:]
            if w.startswith("-") and w.split("=")[0].strip("[],") not in options and w != "-"
            and w.split("=")[0].strip("[],").startswith("-")]


@pytest.mark.parametrize("name,text", _texts(), ids=lambda x: x if len(x) < 60 else None)
def test_every_ezhd_command_named_exists(name, text):
    commands = _commands(text)
    assert commands, f"{name} names no ezhd command (the pattern no longer finds them?)"
    bad = [p for c in commands for p in problems_of(c)]
    assert not bad, f"{name}: " + "; ".join(bad)


def test_the_checker_catches_a_command_that_does_not_exist():
    assert problems_of("ezhd dataset export --seed 1")
    assert problems_of("ezhd certify --sut sut.toml --no-such-option")
    assert not problems_of("ezhd certify --sut sut.toml --mocks mocks.json --report-dir r")
    assert not problems_of("ezhd report html|junit|seal")


def _sut_keys(text: str) -> list[tuple[str, str | None]]:
    """sut.toml keys named in prose: `[table] key`, `[table]`, `table.key` (a known table)."""
    keys: list[tuple[str, str | None]] = []
    for table, key in re.findall(r"`\[(\w+)\](?: (\w+))?", text):
        keys.append((table, key or None))
    for table, key in re.findall(r"`(\w+)\.(\w+)`", text):
        if table in SUT_TABLES:
            keys.append((table, key))
    return keys


@pytest.mark.parametrize("name", ["README.md", "vendor-guide.md.j2"])
def test_every_sut_toml_key_named_exists(name):
    text = dict(_texts())[name]
    keys = _sut_keys(text)
    assert keys
    bad = [f"[{t}] {k}" for t, k in keys if t not in SUT_TABLES or (k is not None and k not in SUT_TABLES[t]
                                                                     and t != "features")]
    assert not bad, f"{name} names sut.toml keys that do not exist: {bad}"


def test_the_command_list_of_ezhd_help_says_what_each_command_says():
    """`ezhd --help` lists the subcommands without importing them (issue 18); each line must
    still be the command's own short help."""
    import conformance.cli as cli_module

    ctx = click.Context(cli)
    for name, target in cli_module.COMMANDS.items():
        assert cli_module.short_help(target, 60) == cli.get_command(ctx, name).get_short_help_str(60), name
