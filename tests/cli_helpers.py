"""Running `ezhd` in-process and checking the one-line error contract of the CLI."""
from __future__ import annotations

from conformance.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ezhd ARGS`."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def machine_paths_in(run_dir) -> tuple[dict[str, list[str]], set[str]]:
    """({file: absolute paths of this machine it names}, every file looked at) of a run
    directory: the run dir itself, the suite's checkout and the home directory, searched in
    every file's bytes (databases too), inside zips, and in a PDF's text."""
    import zipfile
    from pathlib import Path

    run_dir = Path(run_dir)
    machine = {str(run_dir.resolve()), str(run_dir), str(Path(__file__).resolve().parents[1]), str(Path.home())}
    machine.discard("/")
    offenders: dict[str, list[str]] = {}
    checked: set[str] = set()
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".zip":     # compressed: look at what is inside
            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(n) + n.encode() for n in archive.namelist())
        if path.suffix == ".pdf":
            import pytest

            pypdf = pytest.importorskip("pypdf", reason="reads report.pdf's text")
            data = "".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages).encode()
        found = sorted(where for where in machine if where.encode() in data)
        if found:
            offenders[path.relative_to(run_dir).as_posix()] = found
        checked.add(path.relative_to(run_dir).as_posix())
    return offenders, checked
