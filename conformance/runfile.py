"""The run file: how `ezhd certify` tells the conformance tests where everything is.

`ezhd certify` starts (or is given) the journal and the mocks, seeds them, then writes a JSON
run file into the report directory and points the environment variable `EZHD_RUN` at it
before running pytest over the `conformance` package. The tests read it through the session
fixtures of `conformance/conftest.py`. The file holds no secret: the test-control token is
read from the environment variable named by `test_control.token_env`.

The "journal" and "driver" entries come from the SUT declaration (`journal_entry`,
`driver_entry`): `sign_in_url`, `sign_out_url` (POST), `link_url`, `openapi_url` and
`sbom_url` are sut.toml's `[journal]` keys, defaulting to the reference journal's paths under
`base_url` (`conformance.sut.DEFAULT_PATHS`).

    {
      "format": "ezhd-run/1",
      "journal": {"base_url", "sign_in_url", "sign_out_url" (POST), "link_url" (manual ЕСИА
                  linking), "redirect_uri", "logout_redirect_uri", "client_id", "mnemonic" (the
                  journal's at the agent), "openapi_url" (its published journal.yaml, API-01),
                  "sbom_url" (CycloneDX SBOM, FREE-01)},
      "mocks": {"esia": URL, "smev": URL, "epgu": URL},
      "mocks_file": the ready file the mocks were attached through (`--mocks`) | null (started by certify),
      "test_control": {"url", "token_env"} | null,
      "dataset": {"directory", "seed", "journal_personas", "esia_personas", "loaded": bool},
      "driver": {"class": "module:Class" | null, "url": driver service URL | null, "token_env", "admin_login",
                 "admin_password_env"} | null (conformance/driver.py),
      "reference_defects": [ID, ...], "only": [requirement ID, ...] (empty: all), "level": "base",
      "sut": <Sut.redacted()>
    }

`unreachable(run)` says which of the journal and the mocks does not answer; the suite's
session check (`conformance/conftest.py`) turns that into an ERROR of every test, and
`ezhd certify` into its summary.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUN_ENV = "EZHD_RUN"
TOKEN_ENV = "EZHD_TEST_CONTROL_TOKEN"
FORMAT = "ezhd-run/1"


def write_run(path: Path, run: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"format": FORMAT, **run}, ensure_ascii=False, indent=2) + "\n",
                    encoding="utf-8")
    return path


def load_run(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The run file named by `path` or `$EZHD_RUN`; None when there is none."""
    where = path or os.environ.get(RUN_ENV)
    if not where:
        return None
    data = json.loads(Path(where).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{where}: not an {FORMAT} run file")
    return data


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

    try:
        httpx.get(url, timeout=timeout)
    except httpx.ConnectError as exc:
        text = str(exc)
        return "connection refused" if "refused" in text.lower() else f"cannot connect ({text})"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def unreachable(run: dict[str, Any], timeout: float = 5.0) -> list[str]:
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
