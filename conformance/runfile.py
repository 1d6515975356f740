"""The run file: how `ezhd certify` tells the conformance tests where everything is.

`ezhd certify` starts (or is given) the journal and the mocks, seeds them, then writes a JSON
run file into the report directory and points the environment variable `EZHD_RUN` at it
before running pytest over the `conformance` package. The tests read it through the session
fixtures of `conformance/conftest.py`. The file holds no secret: the test-control token is
read from the environment variable named by `test_control.token_env`.

The file's shape is `specs/schemas/run.schema.json`; `Run` is its frozen, typed model (the
SUT declaration's journal, the mocks, the test-control API, the dataset, the driver, the
selection, the setup problems), checked against the schema on reading and on writing. A
`Run` is also a read-only mapping of the file's JSON (`run["journal"]["base_url"]`), the
view the conformance tests use.

The "journal" and "driver" entries come from the SUT declaration (`journal_entry`,
`driver_entry`): `sign_in_url`, `sign_out_url` (POST), `link_url`, `openapi_url` and
`sbom_url` are sut.toml's `[journal]` keys, defaulting to the reference journal's paths under
`base_url` (`conformance.sut.DEFAULT_PATHS`).

Paths (`PATH_FIELDS`) are written relative to the run file's directory, so a run directory
can be moved, archived or sent without naming the machine it ran on; `load_run` reads them
back as absolute paths (a path outside the run directory is written with `..`).

`unreachable(run)` says which of the journal and the mocks does not answer; the suite's
session check (`conformance/conftest.py`) turns that into an ERROR of every test.
"""
from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specs import SCHEMAS_DIR

RUN_ENV = "EZHD_RUN"
TOKEN_ENV = "EZHD_TEST_CONTROL_TOKEN"
FORMAT = "ezhd-run/1"
SCHEMA_FILE = SCHEMAS_DIR / "run.schema.json"
# Where a run file holds file paths ("*": every item of a list). sut/source is "reference" for
# the bundled journal, which is no path.
PATH_FIELDS = ("mocks_file", "dataset/directory", "dataset/journal_personas", "dataset/esia_personas",
               "sut/source", "sut/esia/certificate", "sut/esia/private_key", "parts/*/dir")
NOT_A_PATH = {"reference"}


@dataclass(frozen=True)
class JournalEntry:
    base_url: str
    sign_in_url: str
    sign_out_url: str
    link_url: str
    openapi_url: str
    sbom_url: str
    redirect_uri: str
    logout_redirect_uri: str
    client_id: str
    mnemonic: str


@dataclass(frozen=True)
class Mocks:
    esia: str
    smev: str
    epgu: str


@dataclass(frozen=True)
class TestControlEntry:
    __test__ = False  # not a pytest test class

    url: str
    token_env: str


@dataclass(frozen=True)
class DatasetEntry:
    seed: int
    directory: str | None = None
    journal_personas: str | None = None
    esia_personas: str | None = None
    loaded: bool = False


@dataclass(frozen=True)
class DriverEntry:
    class_ref: str | None = None
    url: str | None = None
    token_env: str | None = None
    admin_login: str | None = None
    admin_password_env: str | None = None


@dataclass(frozen=True)
class Part:
    dir: str
    tests: tuple[str, ...]
    exit: int | None


@dataclass(frozen=True)
class Run(Mapping[str, Any]):
    """A run file, typed; also a read-only mapping of its JSON for the tests' `run[...]`."""

    sut: Mapping[str, Any]
    dataset: DatasetEntry
    level: str = "base"
    journal: JournalEntry | None = None
    mocks: Mocks | None = None
    mocks_file: str | None = None
    test_control: TestControlEntry | None = None
    driver: DriverEntry | None = None
    reference_defects: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    setup_problems: tuple[str, ...] = ()
    jobs: int | None = None
    parts: tuple[Part, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "run.json") -> "Run":
        """The run of a run file's JSON; `ValueError` naming every way it breaks the schema."""
        errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            raise ValueError(f"{where}: not an {FORMAT} run file ({SCHEMA_FILE.name}): " + "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors))
        d = copy.deepcopy(dict(data))

        def entry(kind: type, value: Any, **renamed: str) -> Any:
            return None if value is None else kind(**{renamed.get(k, k): v for k, v in value.items()})

        return cls(
            sut=d["sut"], dataset=DatasetEntry(**d["dataset"]), level=d["level"],
            journal=entry(JournalEntry, d.get("journal")), mocks=entry(Mocks, d.get("mocks")),
            mocks_file=d.get("mocks_file"), test_control=entry(TestControlEntry, d.get("test_control")),
            driver=entry(DriverEntry, d.get("driver"), **{"class": "class_ref"}),
            reference_defects=tuple(d.get("reference_defects") or ()), only=tuple(d.get("only") or ()),
            setup_problems=tuple(d.get("setup_problems") or ()), jobs=d.get("jobs"),
            parts=tuple(Part(p["dir"], tuple(p["tests"]), p["exit"]) for p in d.get("parts") or ()),
            raw=d)

    def as_json(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.raw))

    def with_setup_problems(self, problems: list[str]) -> "Run":
        return Run.from_json({**self.raw, "setup_problems": list(problems)})

    # the read-only mapping view of the JSON (what the conformance tests index)
    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def write_run(path: Path, run: Run | Mapping[str, Any]) -> Run:
    """Check `run` against the schema and write it; the `Run` written."""
    if not isinstance(run, Run):
        run = Run.from_json({**run, "format": FORMAT}, str(path))
    base = Path(os.path.abspath(path)).parent
    portable = _map_paths(run.as_json(), lambda p: Path(os.path.relpath(os.path.abspath(p), base)).as_posix())
    path.write_text(json.dumps(portable, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return run


def _map_paths(data: dict[str, Any], change: Any) -> dict[str, Any]:
    """`data` with `change` applied to every path of `PATH_FIELDS` present in it (in place)."""
    def walk(node: Any, steps: list[str]) -> None:
        step, rest = steps[0], steps[1:]
        keys = range(len(node)) if step == "*" and isinstance(node, list) else [step]
        for key in keys:
            if isinstance(node, dict) and key not in node or isinstance(node, list) and not isinstance(key, int):
                continue
            if rest:
                if isinstance(node[key], (dict, list)):
                    walk(node[key], rest)
            elif isinstance(node[key], str) and node[key] not in NOT_A_PATH:
                node[key] = change(node[key])

    for pointer in PATH_FIELDS:
        walk(data, pointer.split("/"))
    return data


def load_run(path: str | os.PathLike[str] | None = None) -> Run | None:
    """The run file named by `path` or `$EZHD_RUN`; None when there is none. `ValueError`
    when it is not a run file of this format."""
    where = path or os.environ.get(RUN_ENV)
    if not where:
        return None
    data = json.loads(Path(where).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{where}: not an {FORMAT} run file")
    base = Path(os.path.abspath(where)).parent
    return Run.from_json(_map_paths(data, lambda p: os.path.normpath(base / p)), str(where))


def journal_entry(sut: Any) -> dict[str, Any]:
    """The run file's "journal" entry of a `conformance.sut.Sut`."""
    return {**sut.urls(), "redirect_uri": sut.esia.redirect_uri,
            "logout_redirect_uri": sut.esia.logout_redirect_uri, "client_id": sut.esia.client_id,
            "mnemonic": sut.agent.mnemonic}


def driver_entry(sut: Any) -> dict[str, Any] | None:
    """The run file's "driver" entry of a `conformance.sut.Sut` (no password, only its variable)."""
    if sut.driver is None:
        return None
    return sut.redacted()["driver"]


def no_answer(url: str, timeout: float = 5.0) -> str | None:
    """Why nothing answers at `url`, or None when something does (any HTTP status counts)."""
    import httpx

    from conformance.evidence import ssl_context

    try:
        httpx.get(url, timeout=timeout, verify=ssl_context())
    except httpx.ConnectError as exc:
        text = str(exc)
        return "connection refused" if "refused" in text.lower() else f"cannot connect ({text})"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def unreachable(run: Mapping[str, Any], timeout: float = 5.0) -> list[str]:
    """One line per part of the run that does not answer: the journal, then each mock."""
    problems = []
    base = (run.get("journal") or {}).get("base_url")
    if base:
        why = no_answer(base, timeout)
        if why:
            problems.append(f"the journal at {base} does not answer: {why}")
    for name, url in (run.get("mocks") or {}).items():
        why = no_answer(f"{url.rstrip('/')}/_admin/health", timeout)
        if why:
            problems.append(f"mock {name} at {url} does not answer: {why}")
    return problems
