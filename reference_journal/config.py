"""Settings of one reference journal: a dataclass, loadable from a TOML file and overrides.

A TOML file may use flat keys (`esia_url = ...`) or tables whose name prefixes the key
(`[esia] url = ...` is `esia_url`); relative paths are relative to the file. An unknown key,
a value of the wrong type or an unknown defect id is a `SettingsError` that names it.

    db = "journal.sqlite"            # or ":memory:"
    public_url = "http://127.0.0.1:8000"
    defects = ["PARENT_READS_ANY_CHILD"]
    [esia]
    url = "http://127.0.0.1:8091"
    issuer = "http://esia.gosuslugi.ru/"   # the `iss` of ЕСИА's tokens
    client_id = "EZHD01"
    key = "keys/journal.key.pem"
    cert = "keys/journal.cert.pem"
    [agent]
    url = "http://127.0.0.1:8090"
    journal_mnemonic = "MNSV03"
    portal_mnemonic = "EPGU"
    [showcase]
    datamart = "myedu"
    export_channel = "edu-upload"
    [export]
    interval = 900                   # seconds between scheduled incremental exports
    retry_base = 1.0                 # back-off base (seconds), doubled per attempt
    [test_control]
    token = "..."
    [admin]
    login = "admin"
    password = "..."
"""
from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from reference_journal import defects as _defects

__all__ = ["Settings", "SettingsError", "load_settings"]

_PATH_FIELDS = {"esia_key", "esia_cert", "esia_signing_cert"}


class SettingsError(ValueError):
    """The configuration is unusable; the message names the key and what is wrong."""


@dataclass(frozen=True)
class Settings:
    """Everything one journal instance depends on."""

    db: str = ":memory:"                     # SQLite file, or ":memory:"
    public_url: str = "http://127.0.0.1:8000"  # how users and ЕСИА reach the journal
    timezone: str = "Europe/Moscow"          # the school's local time (export datetimes are local)
    # ЕСИА (the auth slot uses these)
    esia_url: str = "http://127.0.0.1:8091"
    esia_issuer: str = "http://esia.gosuslugi.ru/"  # expected `iss` of ЕСИА's tokens (exact string)
    esia_client_id: str = "EZHD01"
    esia_key: Path | None = None             # PEM private key of the journal's certificate
    esia_cert: Path | None = None            # PEM certificate registered with ЕСИА
    esia_signing_cert: Path | None = None    # ЕСИА's token-signing certificate; None = download it
    # ПОДД agent, portal and showcase (the export slot uses these; the on-demand API checks
    # X-Smev-Sender against portal_mnemonic)
    agent_url: str = "http://127.0.0.1:8090"
    journal_mnemonic: str = "MNSV03"
    portal_mnemonic: str = "EPGU"
    showcase_datamart: str = "myedu"
    showcase_url: str | None = None          # regional showcase upload API (request-id channel)
    export_channel: str = "edu-upload"       # "edu-upload" (agent) or "showcase"
    # export schedule and robustness (EXP-04, EXP-06)
    export_interval: int = 900               # seconds between scheduled incremental exports (≤ 1 day)
    export_max_attempts: int = 5             # sends of one file before it is reported failed
    export_retry_base: float = 1.0           # back-off: base × 2^(attempt−1) seconds …
    export_retry_max: float = 300.0          # … at most this long per wait (Retry-After included)
    export_poll_interval: float = 1.0        # seconds between status polls (showcase channel)
    export_status_timeout: float = 900.0     # a request not final after this long counts as failed
    # test build and administration
    test_control_token: str | None = None    # None: every test-control call is refused (401)
    admin_login: str = "admin"               # the journal administrator / auditor account
    admin_password: str | None = None        # None: no such account is created
    defects: frozenset[str] = field(default_factory=frozenset)
    clock_offset: int = 0                    # seconds added to the system clock at start
    session_ttl: int = 8 * 3600              # seconds
    scrypt_n: int = 2 ** 14                  # password hashing cost (a power of two)
    # cost for the accounts a test-control dataset creates: test accounts whose passwords sit
    # in clear in the dataset zip, so a strong hash protects nothing there (issued, changed
    # and the administrator's passwords always use scrypt_n)
    dataset_scrypt_n: int = 2 ** 10
    max_dataset_bytes: int = 1024 ** 3       # test-control dataset upload limit (≥ 512 MB)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", frozenset(self.defects))
        bad = _defects.unknown(self.defects)
        if bad:
            raise SettingsError(f"defects: unknown defect {', '.join(bad)} "
                                f"(see `ezhd reference-journal defects`)")
        if self.export_channel not in ("edu-upload", "showcase"):
            raise SettingsError(f"export_channel: must be edu-upload or showcase, not {self.export_channel!r}")
        for name in ("scrypt_n", "dataset_scrypt_n"):
            n = getattr(self, name)
            if n < 2 or n & (n - 1):
                raise SettingsError(f"{name}: must be a power of two, not {n}")
        if self.max_dataset_bytes < 512 * 1024 ** 2:
            raise SettingsError("max_dataset_bytes: test-control.yaml requires at least 512 MB")
        if self.session_ttl <= 0:
            raise SettingsError("session_ttl: must be positive")
        if not 1 <= self.export_interval <= 86400:
            raise SettingsError("export_interval: must be 1…86400 seconds (EXP-04: at most one day)")
        if self.export_max_attempts < 1:
            raise SettingsError("export_max_attempts: must be at least 1")
        for name in ("export_retry_base", "export_retry_max", "export_poll_interval", "export_status_timeout"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name}: must be a positive number of seconds")
        for name in ("public_url", "esia_url", "agent_url"):
            value = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise SettingsError(f"{name}: must be an http(s) URL, not {value!r}")
            object.__setattr__(self, name, value.rstrip("/"))

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def _field_types() -> dict[str, Any]:
    return {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any, base: Path | None) -> Any:
    f = _field_types()[name]
    kind = str(f.type)
    if name == "defects":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in value):
            raise SettingsError("defects: must be a list of defect ids")
        return frozenset(value)
    if name == "db" and isinstance(value, str) and value != ":memory:" and base is not None:
        return str(base / Path(value).expanduser())   # a file relative to the settings file, like the paths
    if name in _PATH_FIELDS:
        if value is None:
            return None
        if not isinstance(value, (str, Path)):
            raise SettingsError(f"{name}: must be a path")
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else base / path
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{name}: must be an integer, not {value!r}")
        return value
    if kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{name}: must be a number, not {value!r}")
        return float(value)
    if value is None and "None" in kind:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{name}: must be a string, not {value!r}")
    return value


_BARE_IN_TABLE = {"agent": {"journal_mnemonic", "portal_mnemonic"}, "showcase": {"export_channel"}}


def _flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """`[table] key` → `table_key` (or `key` for the few fields that read better bare, e.g.
    `[agent] journal_mnemonic`)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[sub if sub in _BARE_IN_TABLE.get(key, ()) else f"{key}_{sub}"] = inner
        else:
            flat[key] = value
    return flat


def load_settings(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from a TOML file (optional), then `overrides` (flat field names; None values
    are ignored, so unset CLI options do not override the file)."""
    values: dict[str, Any] = {}
    known = _field_types()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
        for key, value in _flatten(data).items():
            if key not in known:
                hint = difflib.get_close_matches(key, list(known), n=1)
                raise SettingsError(f"{path}: unknown setting {key!r}"
                                    + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            values[key] = _coerce(key, value, path.parent)
    for key, value in (overrides or {}).items():
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}")
        if value is None:
            continue
        if key == "defects":
            values[key] = frozenset(values.get(key, frozenset())) | _coerce(key, value, None)
        else:
            values[key] = _coerce(key, value, None)
    return Settings(**values)
