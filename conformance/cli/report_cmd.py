"""`ezhd report`: reports rendered from a run's results.json.

    ezhd report html    RUN_DIR [--out FILE] [--lang ru|en] [--waivers FILE] [--today DATE]
    ezhd report pdf     RUN_DIR [--out FILE] [--lang ru|en] [--waivers FILE] [--today DATE]
    ezhd report junit   RUN_DIR [--out FILE] [--waivers FILE] [--today DATE]
    ezhd report seal    RUN_DIR --key KEY [--cert FILE] [--key-password-env NAME] --out FILE.zip
                        [--lang ru|en] [--pdf] [--waivers FILE] [--today DATE]
    ezhd report verify  PACKAGE [--signer-cert FILE]
    ezhd report keygen  KEY_FILE [--cert FILE] [--gost [256|512]] [--name TEXT] [--days N]
    ezhd report diff    OLD NEW [--format text|json]

RUN_DIR is a run directory of `ezhd certify` or a results.json. `seal --key` takes an Ed25519,
RSA or ГОСТ Р 34.10-2012 key (PKCS#8 PEM, as `openssl genpkey` writes it; a ГОСТ key needs its
certificate and gives a CMS signature OpenSSL's GOST engine verifies). `keygen` makes a
self-signed test key and certificate for trying the seal. Exit codes: 0 ok; 1 when
`verify` finds a problem or `diff` finds a requirement that broke; 2 for a usage problem
(an invalid waivers.yaml lists every problem, one per line).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import click

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageProblem, exit_with_problems

_LANG = click.Choice(["ru", "en"])
_RUN = click.Path(path_type=Path)


@click.group("report")
def report() -> None:
    """Reports of a run: HTML, PDF, JUnit, the signed certification package, diffs."""


def _waiver_options(fn):
    fn = click.option("--today", default=None, metavar="YYYY-MM-DD",
                      help="The date waivers are checked against (default: today).")(fn)
    return click.option("--waivers", "waivers_path", type=click.Path(path_type=Path, dir_okay=False),
                        default=None, help="waivers.yaml: accepted failures shown as WAIVED.")(fn)


def _load(run: Path):
    from conformance.report.model import ReportInputError, load_input

    try:
        return load_input(run)
    except ReportInputError as exc:
        raise UsageProblem(str(exc)) from None


def _waivers(inp: Any, path: Path | None, today: str | None, command: str):
    """Apply waivers.yaml; print expired and unused waivers; exit 2 listing every problem."""
    from conformance.report.waivers import Applied, WaiverError, apply_waivers, load_waivers

    if path is None:
        return Applied(), None
    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise UsageProblem(f"--today: {today!r} is not a date YYYY-MM-DD") from None
    try:
        waivers = load_waivers(path, [r["id"] for r in inp.results["requirements"]])
    except WaiverError as exc:
        exit_with_problems(f"report {command}", path, exc.problems)
    applied = apply_waivers(inp.results, waivers, day)
    for w in applied.expired:
        click.echo(f"waiver {w.requirement} ({w.ticket}) expired on {w.expires.isoformat()}: not applied", err=True)
    for w in applied.unused:
        what = f"{w.requirement} {w.test}" if w.test else w.requirement
        click.echo(f"waiver {what} ({w.ticket}) is unused: no failing test matches it", err=True)
    strengths = {r["id"]: (r["strength"], r["level"]) for r in inp.results["requirements"]}
    musts = sorted({rid for rid, _ in applied.waived if strengths.get(rid) == ("MUST", "base")})
    if musts:
        click.echo(f"waived MUST requirements still block base-level sign-off: {', '.join(musts)}", err=True)
    return applied, path.read_text(encoding="utf-8")


def _write_target(out: Path | None, default: Path) -> Path:
    target = out or default
    if target.is_dir():
        raise UsageProblem(f"--out: {target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise UsageProblem(f"--out: directory {target.parent} does not exist")
    return target


def _page_command(name: str, default: str, language_help: str):
    """`ezhd report html|pdf`: the same options, one writer each."""
    def decorate(fn):
        fn = _waiver_options(fn)
        fn = click.option("--lang", type=_LANG, default="ru", show_default=True, help=language_help)(fn)
        fn = click.option("--out", type=click.Path(path_type=Path), default=None,
                          help=f"Where to write (default RUN_DIR/{default}).")(fn)
        return report.command(name)(click.argument("run", type=_RUN)(fn))
    return decorate


def _write_page(run: Path, out: Path | None, lang: str, waivers_path: Path | None, today: str | None,
                command: str, default: str, write: Any, what: str) -> None:
    inp = _load(run)
    applied, _ = _waivers(inp, waivers_path, today, command)
    target = _write_target(out, inp.base_dir / default)
    try:
        write(inp, target, applied, lang=lang)
    except OSError as exc:
        raise UsageProblem(f"--out: cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"{what} written to {target}")
    raise click.exceptions.Exit(EXIT_OK)


@_page_command("html", "report.html", "Language the page opens in.")
def html(run: Path, out: Path | None, lang: str, waivers_path: Path | None, today: str | None) -> None:
    """Write the self-contained HTML report of a run."""
    from conformance.report.html import write_html

    _write_page(run, out, lang, waivers_path, today, "html", "report.html", write_html, "report")


@_page_command("pdf", "report.pdf", "Language of the document.")
def pdf(run: Path, out: Path | None, lang: str, waivers_path: Path | None, today: str | None) -> None:
    """Write the report as PDF, for signing and archiving (needs the [pdf] extra: WeasyPrint)."""
    from conformance.report.pdf import PdfUnavailable, available, write_pdf

    if available() is not None:
        raise UsageProblem(f"cannot write PDF: {available()}")
    try:
        _write_page(run, out, lang, waivers_path, today, "pdf", "report.pdf", write_pdf, "PDF")
    except PdfUnavailable as exc:
        raise UsageProblem(f"cannot write PDF: {exc}") from None


@report.command("junit")
@click.argument("run", type=_RUN)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write (default RUN_DIR/junit.xml).")
@_waiver_options
def junit(run: Path, out: Path | None, waivers_path: Path | None, today: str | None) -> None:
    """Write the JUnit XML of a run (one test case per test, requirement ID in the name)."""
    from conformance.junit import write_junit
    from conformance.report.seal import _waived_notes

    inp = _load(run)
    applied, _ = _waivers(inp, waivers_path, today, "junit")
    target = _write_target(out, inp.base_dir / "junit.xml")
    try:
        write_junit(inp.results, target, waived=_waived_notes(applied))
    except OSError as exc:
        raise UsageProblem(f"--out: cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"JUnit XML written to {target}")
    raise click.exceptions.Exit(EXIT_OK)


@report.command("seal")
@click.argument("run", type=_RUN)
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="PEM private key (Ed25519, RSA or ГОСТ Р 34.10-2012), optionally followed by its certificate.")
@click.option("--cert", "cert_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="PEM certificate of the key, when it is not in the --key file.")
@click.option("--key-password-env", metavar="NAME", default=None,
              help="Environment variable holding the password of an encrypted key.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The package to write (.zip).")
@click.option("--lang", type=_LANG, default="ru", show_default=True, help="Language of the report inside.")
@click.option("--pdf", "with_pdf", is_flag=True, help="Also sign the report as PDF (needs the [pdf] extra).")
@_waiver_options
def seal_cmd(run: Path, key_path: Path, cert_path: Path | None, key_password_env: str | None, out: Path,
             lang: str, with_pdf: bool, waivers_path: Path | None, today: str | None) -> None:
    """Write the signed certification package of a run."""
    from conformance.report.seal import SealError, load_signer, seal

    inp = _load(run)
    applied, waivers_text = _waivers(inp, waivers_path, today, "seal")
    password = None
    if key_password_env:
        if key_password_env not in os.environ:
            raise UsageProblem(f"--key-password-env: environment variable {key_password_env} is not set")
        password = os.environ[key_password_env].encode()
    target = _write_target(out, out)
    try:
        signer = load_signer(key_path, cert_path, password)
        manifest = seal(inp, signer, target, applied=applied, waivers_text=waivers_text, lang=lang, pdf=with_pdf)
    except SealError as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"package written to {target}: {len(manifest['files'])} files signed ({manifest['signature']['algorithm']})")
    for path in manifest["missing_evidence"]:
        click.echo(f"note: evidence file not found, not in the package: {path}", err=True)
    raise click.exceptions.Exit(EXIT_OK)


@report.command("verify")
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--signer-cert", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The PEM certificate you expect the package to be signed with; any other signer is refused.")
def verify_cmd(package: Path, signer_cert: Path | None) -> None:
    """Check the hashes and the signature of a certification package."""
    from conformance.report.seal import verify

    if not package.is_file():
        raise UsageProblem(f"{package} does not exist")
    expected = None
    if signer_cert is not None:
        try:
            expected = signer_cert.read_bytes()
        except OSError as exc:
            raise UsageProblem(f"--signer-cert: cannot read {signer_cert}: {exc.strerror or exc}") from None
    found = verify(package, expected)
    if not found.ok:
        click.echo(f"ezhd report verify: {package}: NOT verified, {len(found.problems)} problem(s)", err=True)
        for problem in found.problems:
            click.echo(f"  {problem}", err=True)
        raise click.exceptions.Exit(EXIT_FAIL)
    manifest = found.manifest or {}
    click.echo(f"ok: {found.files} files match the signed manifest; signed by {found.signer}")
    click.echo(f"suite {manifest.get('suite', {}).get('version')}, run started {manifest.get('run', {}).get('started')}, "
               f"base level {manifest.get('run', {}).get('base_level')}")
    raise click.exceptions.Exit(EXIT_OK)


@report.command("keygen")
@click.argument("key_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--cert", "cert_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the certificate (default: KEY_FILE with the suffix .crt).")
@click.option("--gost", type=click.Choice(["256", "512"]), is_flag=False, flag_value="256", default=None,
              help="A ГОСТ Р 34.10-2012 key (256 bit unless 512 is given) instead of Ed25519.")
@click.option("--name", default="ezhd test seal", show_default=True, help="The certificate's common name.")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity of the certificate.")
def keygen_cmd(key_file: Path, cert_file: Path | None, gost: str | None, name: str, days: int) -> None:
    """Make a test signing key and its self-signed certificate for `ezhd report seal`.

    For trying the seal: a real certification signs with a key your certification centre issued.
    The key is written unencrypted with permissions 0600 and never printed."""
    from cryptography import x509

    from conformance.report.seal import make_test_signer

    cert_file = cert_file or key_file.with_suffix(".crt")
    for path, option in ((key_file, "KEY_FILE"), (cert_file, "--cert")):
        if path.exists():
            raise UsageProblem(f"{option}: {path} exists; keygen never overwrites a key or certificate")
        if not path.parent.is_dir():
            raise UsageProblem(f"{option}: directory {path.parent} does not exist")
    if key_file.resolve() == cert_file.resolve():
        raise UsageProblem("--cert: give a file other than KEY_FILE")
    algorithm = f"gost2012-{gost}" if gost else "ed25519"
    key_pem, cert_pem = make_test_signer(algorithm, name, days)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        cert_file.write_bytes(cert_pem)
    except OSError as exc:
        raise UsageProblem(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    cert = x509.load_pem_x509_certificate(cert_pem)
    click.echo(f"test key ({algorithm}) written to {key_file} (mode 0600; keep it private)")
    click.echo(f"self-signed certificate written to {cert_file}: {cert.subject.rfc4514_string()}, "
               f"serial {cert.serial_number:X}")
    click.echo(f"seal with: ezhd report seal RUN_DIR --key {key_file} --cert {cert_file} --out package.zip")
    raise click.exceptions.Exit(EXIT_OK)


@report.command("diff")
@click.argument("old", type=_RUN)
@click.argument("new", type=_RUN)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff_cmd(old: Path, new: Path, fmt: str) -> None:
    """List requirements whose verdict changed from OLD to NEW; exit 1 when one broke."""
    from conformance.report.diff import diff_results, render_json, render_text

    changes = diff_results(_load(old).results, _load(new).results)
    click.echo(render_json(changes) if fmt == "json" else render_text(changes))
    raise click.exceptions.Exit(EXIT_FAIL if changes["regression"] else EXIT_OK)
