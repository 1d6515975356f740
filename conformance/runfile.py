"""The run file: how `ezhd certify` tells the conformance tests where everything is.

`ezhd certify` starts (or is given) the journal and the mocks, seeds them, then writes a JSON
run file into the report directory and points the environment variable `EZHD_RUN` at it
before running pytest over the `conformance` package. The tests read it through the session
fixtures of `conformance/conftest.py`. The file holds no secret: the test-control token is
read from the environment variable named by `test_control.token_env`.

`sign_in_url` and `sign_out_url` are where a browser starts ЕСИА sign-in and signs out; the
SUT declaration (sut.toml) has no keys for them yet, so only the reference journal's
(`/auth/esia/login`, `POST /auth/esia/logout`) are known.

    {
      "format": "ezhd-run/1",
      "journal": {"base_url", "sign_in_url", "sign_out_url" (POST), "redirect_uri", "logout_redirect_uri",
                  "client_id", "mnemonic" (the journal's at the agent), "openapi_url" (its published
                  journal.yaml, API-01), "sbom_url" (CycloneDX SBOM, FREE-01)},
      "mocks": {"esia": URL, "smev": URL, "epgu": URL},
      "test_control": {"url", "token_env"} | null,
      "dataset": {"directory", "seed", "journal_personas", "esia_personas"},
      "driver": {"class": "module:Class", "admin_login", "admin_password_env"} | null (conformance/driver.py),
      "sut": <Sut.redacted()>
    }
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
