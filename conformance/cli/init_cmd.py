"""`ezhd init DIR`: everything a vendor needs to start certifying its journal.

    ezhd init DIR [--base-url URL] [--client-id ID] [--mnemonic M] [--datamart D] [--force]

Writes into DIR (created; an existing non-empty DIR needs --force, and only the files below
are replaced):

- `sut.toml` — the SUT declaration, every key explained in English and Russian: the
  documented example (`conformance/examples/sut.example.toml`) with the journal's URL, ЕСИА
  client id, mnemonic and datamart filled in and the driver service and test-control tables
  switched on (the vendor edits what differs);
- `keys/journal.cert.pem`, `keys/journal.key.pem` — a self-signed RSA-2048 test certificate
  for the mock ЕСИА and its key (0600), the client id as its CN;
- `start-mocks.sh` — starts the mocks and writes their URLs to `mocks.json`;
- `openapi/driver.yaml`, `openapi/test-control.yaml` — the two interfaces the vendor serves
  next to the journal (copies of `specs/openapi/`), to generate server stubs from in any language;
- `driver/python_driver.py` — the other way for a Python journal: a `JournalDriver` skeleton
  with one method per operation of driver.yaml;
- `GUIDE.md` — the steps from here to `ezhd certify` (rendered from
  `conformance/examples/vendor-guide.md.j2`).
"""
from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import click

from conformance.cli import EXIT_OK, UsageProblem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_SUT = EXAMPLES / "sut.example.toml"
GUIDE_TEMPLATE = EXAMPLES / "vendor-guide.md.j2"
EXAMPLE_URL = "https://journal.example.ru"
WRITTEN = ("sut.toml", "keys/journal.cert.pem", "keys/journal.key.pem", "start-mocks.sh",
           "openapi/driver.yaml", "openapi/test-control.yaml", "driver/python_driver.py", "GUIDE.md")


def render_sut(base_url: str, client_id: str, mnemonic: str, datamart: str) -> str:
    """The example declaration with these values, the driver service and test-control on."""
    text = EXAMPLE_SUT.read_text(encoding="utf-8")
    edits = [
        ('client_id = "EZHD01"', f'client_id = "{client_id}"'),
        ('mnemonic = "MNSV03"', f'mnemonic = "{mnemonic}"'),
        ('datamart = "myedu"', f'datamart = "{datamart}"'),
        ("# [driver]\n", "[driver]\n"),
        ('# url = "https://journal.example.ru/driver/v1"', 'url = "https://journal.example.ru/driver/v1"'),
        ('# token_env = "EZHD_DRIVER_TOKEN"', 'token_env = "EZHD_DRIVER_TOKEN"'),
        ('# admin_login = "admin"', 'admin_login = "admin"'),
        ('# admin_password_env = "EZHD_JOURNAL_ADMIN_PASSWORD"', 'admin_password_env = "EZHD_JOURNAL_ADMIN_PASSWORD"'),
    ]
    for old, new in edits:
        if old not in text:   # the example changed: keep this in step (tests/test_init.py)
            raise RuntimeError(f"sut.example.toml no longer holds {old.strip()!r}")
        text = text.replace(old, new, 1)
    return text.replace(EXAMPLE_URL, base_url.rstrip("/"))


def python_driver_skeleton() -> str:
    """A JournalDriver skeleton: one method per operation of specs/openapi/driver.yaml."""
    from conformance.driver import driver_operations

    lines = [
        '"""The journal driver as a Python class (sut.toml `[driver] class = "python_driver:Driver"`,',
        "this folder on PYTHONPATH). Fill in each operation the way the journal's own screens or API",
        "do it; leave `raise NotImplementedError(...)` where the journal cannot: the tests that need",
        'it are then SKIPPED. The other way, in any language: serve ../openapi/driver.yaml (`[driver] url`)."""',
        "from __future__ import annotations", "", "from typing import Any", "", "import httpx", "",
        "from conformance.driver import Answer, JournalDriver, UserSession", "", "",
        "class Session(UserSession):",
        '    """One signed-in user of the journal."""', "",
        "    def __init__(self, http: httpx.Client) -> None:",
        "        self.http = http", "",
    ]
    for op in driver_operations().values():
        params = ["self", *(f"{a}: str" for a in op.args)] + (["**fields: Any"] if op.fields else [])
        lines += [f"    def {op.name}({', '.join(params)}) -> Answer:",
                  f'        """`POST {op.path}` of driver.yaml."""',
                  f'        raise NotImplementedError("{op.name}")', ""]
    lines += [
        "", "class Driver(JournalDriver):",
        '    """Makes sessions: after a browser signed in through ЕСИА, or with login and password."""', "",
        "    def session(self, browser: httpx.Client) -> UserSession:",
        "        return Session(browser)   # the browser carries the journal's session cookie", "",
        "    def sign_in(self, login: str, password: str) -> tuple[Answer, UserSession | None]:",
        '        raise NotImplementedError("sign_in")', "",
        "    def browser_sign_in(self, browser: httpx.Client, login: str, password: str) -> Answer:",
        '        raise NotImplementedError("browser_sign_in")', "",
    ]
    return "\n".join(lines)


def render_guide(values: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(GUIDE_TEMPLATE.read_text(encoding="utf-8")).render(**values)


def _write_key_pair(keys: Path, client_id: str) -> None:
    from cryptography.hazmat.primitives import serialization

    from mocks.esia.testing import make_client_credentials

    key, cert_pem = make_client_credentials(client_id)
    keys.mkdir(parents=True, exist_ok=True)
    key_path = keys / "journal.key.pem"
    if key_path.exists():
        key_path.unlink()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    (keys / "journal.cert.pem").write_text(cert_pem, encoding="utf-8")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="The journal's base URL as the suite and the browser reach it.")
@click.option("--client-id", default="EZHD01", show_default=True, help="The journal's ЕСИА client id (mnemonic).")
@click.option("--mnemonic", default="MNSV03", show_default=True, help="The journal's ПОДД agent mnemonic.")
@click.option("--datamart", default="myedu", show_default=True, help="The showcase datamart it exports to.")
@click.option("--force", is_flag=True, help="Write into a non-empty DIRECTORY, replacing the files ezhd init writes.")
def init(directory: Path, base_url: str, client_id: str, mnemonic: str, datamart: str, force: bool) -> None:
    """Start certifying a journal: sut.toml, test ЕСИА keys, mocks script, driver stubs, GUIDE.md."""
    from conformance.sut import SCHEMA_FILE, SutError, sut_from_mapping
    from specs import OPENAPI_DIR

    if directory.exists() and any(directory.iterdir()) and not force:
        raise UsageProblem(f"{directory} is not empty; choose a new directory or add --force to replace "
                           f"the files ezhd init writes there ({', '.join(WRITTEN)})")
    text = render_sut(base_url, client_id, mnemonic, datamart)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_key_pair(directory / "keys", client_id)
    except OSError as exc:
        raise UsageProblem(f"cannot write into {directory}: {exc.strerror or exc}") from None
    try:   # the values given are checked as sut.toml will be (its variables are set later)
        sut_from_mapping(tomllib.loads(text), base_dir=directory, environ={
            "EZHD_TEST_CONTROL_TOKEN": "-", "EZHD_DRIVER_TOKEN": "-", "EZHD_JOURNAL_ADMIN_PASSWORD": "-"})
    except SutError as exc:
        raise UsageProblem("; ".join(exc.problems) + f" (see {SCHEMA_FILE.name})") from None
    try:
        (directory / "sut.toml").write_text(text, encoding="utf-8")
        script = directory / "start-mocks.sh"
        script.write_text('#!/bin/sh\n# Start the mock ЕСИА, ПОДД agent and ЕПГУ; their URLs go to mocks.json.\n'
                          'cd "$(dirname "$0")" && exec ezhd mocks up --ready-file mocks.json "$@"\n', encoding="utf-8")
        script.chmod(0o755)
        (directory / "openapi").mkdir(exist_ok=True)
        for name in ("driver.yaml", "test-control.yaml"):
            shutil.copyfile(OPENAPI_DIR / name, directory / "openapi" / name)
        (directory / "driver").mkdir(exist_ok=True)
        (directory / "driver" / "python_driver.py").write_text(python_driver_skeleton(), encoding="utf-8")
        (directory / "GUIDE.md").write_text(render_guide({
            "dir": str(directory), "base_url": base_url.rstrip("/"), "client_id": client_id,
            "mnemonic": mnemonic, "datamart": datamart}), encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot write into {directory}: {exc.strerror or exc}") from None
    click.echo(f"wrote {', '.join(WRITTEN)} into {directory}")
    click.echo(f"next: read {directory / 'GUIDE.md'}")
    raise click.exceptions.Exit(EXIT_OK)
