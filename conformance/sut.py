"""The SUT declaration: what the suite needs to know about the journal under test.

`ezhd certify --sut sut.toml` reads a TOML file (`conformance/examples/sut.example.toml`
documents every key) and `--sut reference` builds the same declaration for the bundled
reference journal with `reference_sut(...)`. Both end in a frozen `Sut`.

`load_sut(path)` reports every problem at once, never only the first: the file is checked
against `specs/schemas/sut.schema.json` (all schema errors, through `iter_errors`), then
semantically — the certificate and private key exist and parse as PEM, the key belongs to
the certificate, the ЕСИА redirect URIs are on the journal's host, feature names are those
of `specs/requirements.yaml`, `test_control.token_env` names a set environment variable.
Any problem raises `SutError`, whose `problems` are lines `key.path: what — how to fix`.

Choices:
- `esia.private_key` is optional. The suite never signs as the journal (the journal signs
  its own requests to ЕСИА); a key given is only checked to match the certificate, which
  catches a wrong certificate before a run. A vendor keeping the key in an HSM leaves it out.
- The test-control token: `token_env` (the name of an environment variable) is preferred;
  `token` in the file is accepted; exactly one of the two. The `[test_control]` table is
  optional (a vendor without the API loads the files of `ezhd dataset generate` itself).
- Redirect URIs must be on the host of `journal.base_url` (ЕСИА returns the browser to the
  journal); the port and path are free.
- `features` values are booleans; only features set to true are declared. A feature name
  not in `specs/requirements.yaml` is an error naming the known ones.
- Relative paths are relative to the TOML file.
- The journal's browser and publication URLs (`journal.sign_in_url`, `sign_out_url` (POST),
  `link_url`, `openapi_url`, `sbom_url`) are optional; their defaults are the reference
  journal's paths under `base_url` (`DEFAULT_PATHS`), so a journal laid out like it declares
  only `base_url`.
- `[driver]` is optional: `class = "package.module:Class"` (a `conformance.driver.JournalDriver`,
  imported when the declaration is checked, so a typo shows before a run), `admin_login` and
  `admin_password_env` (the NAME of the variable holding the administrator's password, which
  must be set; never the password itself). Without a driver the checks that act in the
  journal's own interface are SKIPPED.
"""
from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import jsonschema
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from specs import SCHEMAS_DIR
from specs.requirements import load_requirements

__all__ = [
    "SCHEMA_FILE", "REFERENCE_FEATURES", "REFERENCE_MNEMONIC", "REFERENCE_CLIENT_ID",
    "Sut", "EsiaClient", "Agent", "TestControl", "Driver", "Product", "SutError", "DEFAULT_PATHS",
    "load_sut", "sut_from_mapping", "reference_sut", "known_features",
]

SCHEMA_FILE = SCHEMAS_DIR / "sut.schema.json"
REDACTED = "[REDACTED]"
_SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
_AGENT = _SCHEMA["properties"]["agent"]["properties"]
DEFAULT_DATAMART: str = _AGENT["datamart"]["default"]
MAX_EXPORT_INTERVAL: int = _AGENT["export_interval_seconds"]["maximum"]     # EXP-04: one day

# The bundled reference journal (reference_journal/): its ЕСИА client id and agent mnemonic
# (reference_journal/config.py defaults), its ЕСИА routes (reference_journal/auth.py) and
# test-control prefix (reference_journal/testcontrol.py). It implements no optional feature
# of specs/requirements.yaml (there is no paid content in it), so every feature is declared
# false and CONT-01 is NOT_APPLICABLE for it.
REFERENCE_CLIENT_ID = "EZHD01"
REFERENCE_MNEMONIC = "MNSV03"
REFERENCE_EXPORT_INTERVAL = 900          # reference_journal/config.py Settings.export_interval
REFERENCE_FEATURES: frozenset[str] = frozenset()
_REFERENCE_CALLBACK = "/auth/esia/callback"
_REFERENCE_SIGNED_OUT = "/auth/esia/signed-out"
_REFERENCE_TEST_CONTROL = "/test-control/v1"
REFERENCE_DRIVER = "conformance.driver:ReferenceDriver"

# journal.* URLs a sut.toml may leave out: the reference journal's paths under base_url
DEFAULT_PATHS = {
    "sign_in_url": "/auth/esia/login",
    "sign_out_url": "/auth/esia/logout",
    "link_url": "/auth/esia/link",
    "openapi_url": "/api/v1/openapi.yaml",
    "sbom_url": "/sbom.json",
}


class SutError(ValueError):
    """The SUT declaration is unusable; `problems` lists every problem, one line each."""

    def __init__(self, problems: list[str], source: str | os.PathLike[str] | None = None) -> None:
        self.problems = list(problems)
        self.source = str(source) if source is not None else None
        where = f"{self.source}: " if self.source else ""
        n = len(self.problems)
        head = f"{where}{n} problem{'s' if n != 1 else ''} in the SUT declaration:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


@dataclass(frozen=True)
class EsiaClient:
    client_id: str
    certificate: Path
    certificate_sha256: str                  # hex SHA-256 of the certificate's DER
    redirect_uri: str
    logout_redirect_uri: str
    private_key: Path | None = None


@dataclass(frozen=True)
class Agent:
    mnemonic: str
    channels: tuple[str, ...]
    datamart: str = DEFAULT_DATAMART
    export_interval_seconds: int = MAX_EXPORT_INTERVAL   # EXP-04: the declared period, ≤ one day


@dataclass(frozen=True)
class TestControl:
    __test__ = False  # not a pytest test class

    url: str
    token: str = field(repr=False)           # resolved (from token_env when set); never printed
    token_env: str | None = None             # the variable it came from, if any


@dataclass(frozen=True)
class Product:
    """Who made the journal and which build is certified (sut.toml `[product]`)."""

    vendor: str
    name: str
    version: str
    build: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("vendor", self.vendor), ("name", self.name), ("version", self.version),
                                  ("build", self.build)) if v is not None}


@dataclass(frozen=True)
class Driver:
    """The journal driver (conformance/driver.py) and the administrator it signs in as."""

    class_ref: str | None = None             # "package.module:Class"
    url: str | None = None                   # a driver service speaking specs/openapi/driver.yaml
    token_env: str | None = None             # the NAME of the variable holding the service's token
    admin_login: str | None = None
    admin_password_env: str | None = None    # the NAME of the variable; the password stays there


@dataclass(frozen=True)
class Sut:
    """A validated SUT declaration."""

    base_url: str
    esia: EsiaClient
    agent: Agent
    features: frozenset[str] = frozenset()   # declared optional features (set to true)
    test_control: TestControl | None = None
    source: Path | None = None               # the sut.toml it came from; None for `reference`
    sign_in_url: str = ""                    # journal.* URLs, defaults from DEFAULT_PATHS
    sign_out_url: str = ""
    link_url: str = ""
    openapi_url: str = ""
    sbom_url: str = ""
    driver: Driver | None = None
    product: Product | None = None

    def urls(self) -> dict[str, str]:
        """The journal's URLs: base_url and every DEFAULT_PATHS key (defaults applied)."""
        return {"base_url": self.base_url, **{k: getattr(self, k) for k in DEFAULT_PATHS}}

    def declares(self, feature: str) -> bool:
        return feature in self.features

    def redacted(self) -> dict[str, Any]:
        """The declaration as a dict safe for reports: no token, the key as a path only."""
        esia: dict[str, Any] = {
            "client_id": self.esia.client_id,
            "certificate": str(self.esia.certificate),
            "certificate_sha256": self.esia.certificate_sha256,
            "redirect_uri": self.esia.redirect_uri,
            "logout_redirect_uri": self.esia.logout_redirect_uri,
        }
        if self.esia.private_key is not None:
            esia["private_key"] = str(self.esia.private_key)
        out: dict[str, Any] = {
            "source": str(self.source) if self.source else "reference",
            "journal": self.urls(),
            "esia": esia,
            "agent": {"mnemonic": self.agent.mnemonic, "channels": list(self.agent.channels),
                      "datamart": self.agent.datamart,
                      "export_interval_seconds": self.agent.export_interval_seconds},
            "features": sorted(self.features),
        }
        if self.test_control is not None:
            tc: dict[str, Any] = {"url": self.test_control.url, "token": REDACTED}
            if self.test_control.token_env:
                tc["token_env"] = self.test_control.token_env
            out["test_control"] = tc
        if self.driver is not None:
            out["driver"] = {"class": self.driver.class_ref, "admin_login": self.driver.admin_login,
                             "admin_password_env": self.driver.admin_password_env}
            if self.driver.url is not None:
                out["driver"]["url"] = self.driver.url
            if self.driver.token_env is not None:
                out["driver"]["token_env"] = self.driver.token_env
        if self.product is not None:
            out["product"] = self.product.as_dict()
        return out

    def summary(self) -> str:
        """One line: who and what is declared."""
        features = ", ".join(sorted(self.features)) or "none"
        tc = "test-control " + ("yes" if self.test_control else "no")
        drv = "driver " + ((self.driver.url or self.driver.class_ref or "none") if self.driver else "none")
        who = (f"{self.product.vendor} {self.product.name} {self.product.version}"
               + (f" ({self.product.build})" if self.product.build else "") + ", ") if self.product else ""
        return (f"{who}{self.base_url}: ЕСИА client {self.esia.client_id}, agent {self.agent.mnemonic} "
                f"({'+'.join(self.agent.channels)}, datamart {self.agent.datamart}), "
                f"features: {features}, {tc}, {drv}")


# --- loading -------------------------------------------------------------------------------

def known_features() -> dict[str, str]:
    """Optional feature names of specs/requirements.yaml → English title."""
    return {key: f.title.en for key, f in load_requirements().features.items()}


def load_sut(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Sut:
    """Read, validate and resolve a sut.toml; raise `SutError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SutError([f"{path}: file not found — give the path of a sut.toml "
                        "(see conformance/examples/sut.example.toml)"], path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SutError([f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"], path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SutError([f"{path}: not valid TOML: {exc} — fix the syntax at that line"], path) from None
    return sut_from_mapping(data, base_dir=path.resolve().parent, source=path, environ=environ)


def sut_from_mapping(data: Mapping[str, Any], *, base_dir: Path | None = None,
                     source: Path | None = None, environ: Mapping[str, str] | None = None) -> Sut:
    """Validate a parsed declaration (the TOML structure) and build the `Sut`."""
    environ = os.environ if environ is None else environ
    base_dir = base_dir or Path.cwd()
    problems = [line for e in _schema_errors(data) for line in _describe(e)]
    semantic, built = _semantic(data, base_dir, environ)
    problems += semantic
    problems = list(dict.fromkeys(problems))  # keep order, drop repeats
    if problems:
        raise SutError(problems, source)
    assert built is not None
    return Sut(source=source, **built)


def reference_sut(journal_url: str, certificate: str | os.PathLike[str],
                  private_key: str | os.PathLike[str] | None = None, *,
                  test_control_token: str | None = None,
                  test_control_token_env: str | None = None,
                  client_id: str = REFERENCE_CLIENT_ID,
                  channels: Iterable[str] = ("edu-upload", "showcase"),
                  admin_login: str | None = None,
                  admin_password_env: str | None = None,
                  environ: Mapping[str, str] | None = None) -> Sut:
    """The declaration of the bundled reference journal (`--sut reference`).

    A runner that starts the reference journal passes what it created: the journal's URL,
    the generated test certificate and key, and the test-control token (in memory, or the
    name of the variable holding it). The rest is fixed by the reference journal: ЕСИА client
    EZHD01, callback `/auth/esia/callback`, sign-out return `/auth/esia/signed-out`, agent
    mnemonic MNSV03, both export channels, datamart myedu, a scheduled export every 900 s, test control at
    `/test-control/v1`, the journal's URLs at their defaults (`DEFAULT_PATHS`), its driver
    `ReferenceDriver` (with `admin_login` and `admin_password_env` when given; the variable
    must then be set), and the optional features it implements (`REFERENCE_FEATURES`: none).
    The result goes through the same checks as a sut.toml.
    """
    base = journal_url.rstrip("/")
    data: dict[str, Any] = {
        "journal": {"base_url": base},
        "esia": {"client_id": client_id, "certificate": str(certificate),
                 "redirect_uri": base + _REFERENCE_CALLBACK,
                 "logout_redirect_uri": base + _REFERENCE_SIGNED_OUT},
        "agent": {"mnemonic": REFERENCE_MNEMONIC, "channels": list(channels),
                  "datamart": DEFAULT_DATAMART, "export_interval_seconds": REFERENCE_EXPORT_INTERVAL},
        "features": {name: name in REFERENCE_FEATURES for name in known_features()},
        "driver": {"class": REFERENCE_DRIVER},
    }
    if admin_login is not None:
        data["driver"]["admin_login"] = admin_login
    if admin_password_env is not None:
        data["driver"]["admin_password_env"] = admin_password_env
    if private_key is not None:
        data["esia"]["private_key"] = str(private_key)
    if test_control_token is not None or test_control_token_env is not None:
        tc: dict[str, Any] = {"url": base + _REFERENCE_TEST_CONTROL}
        if test_control_token is not None:
            tc["token"] = test_control_token
        if test_control_token_env is not None:
            tc["token_env"] = test_control_token_env
        data["test_control"] = tc
    return sut_from_mapping(data, environ=environ)


# --- schema --------------------------------------------------------------------------------

def _schema() -> dict[str, Any]:
    return _SCHEMA


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


def _schema_errors(data: Any) -> list[jsonschema.ValidationError]:
    return sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])


def _key(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _hint(error: jsonschema.ValidationError) -> str:
    desc = error.schema.get("description") if isinstance(error.schema, dict) else None
    if not desc and isinstance(error.schema, dict) and "$ref" in error.schema:
        desc = _schema()["$defs"].get(error.schema["$ref"].rsplit("/", 1)[-1], {}).get("description")
    return f" — expected {desc}" if desc else ""


_TYPES = {"string": "a string (in quotes)", "object": "a table", "array": "a list [...]",
          "boolean": "true or false", "integer": "a whole number", "number": "a number"}


def _py_type(value: Any) -> str:
    return {bool: "boolean", str: "string", int: "integer", float: "number", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


def _describe(error: jsonschema.ValidationError) -> list[str]:
    """Lines for one schema error (one per key): the key path, what is wrong, how to fix it."""
    path = list(error.absolute_path)
    v, value, schema = error.validator, error.instance, error.schema
    if v == "required":
        missing = [p for p in error.validator_value if isinstance(value, dict) and p not in value
                   and repr(p) in error.message]
        name = missing[0] if missing else "?"
        sub = schema.get("properties", {}).get(name, {}) if isinstance(schema, dict) else {}
        desc = sub.get("description") or ("a table" if sub.get("type") == "object" else "")
        if not desc and "$ref" in sub:
            desc = _schema()["$defs"][sub["$ref"].rsplit("/", 1)[-1]].get("description", "")
        return [f"{_key(path + [name])}: required — add it" + (f" ({desc})" if desc else "")]
    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = [k for k in value if k not in allowed] if isinstance(value, dict) else []
        lines = []
        for k in extras:
            close = difflib.get_close_matches(k, allowed, n=1)
            fix = f"did you mean {close[0]}?" if close else "remove it"
            lines.append(f"{_key(path + [k])}: unknown key — {fix} (allowed here: {', '.join(allowed)})")
        return lines or [f"{_key(path)}: {error.message}"]
    if v == "type":
        want = error.validator_value
        return [(f"{_key(path)}: must be {_TYPES.get(want, want)}, not {_py_type(value)}"
                f"{_hint(error)}")]
    if v in ("pattern", "minLength", "maxLength"):
        # never echo a value under test_control: a token pasted into token_env is still a secret
        shown = "the value" if path[:1] == ["test_control"] else repr(value)
        return [f"{_key(path)}: {shown} is not valid{_hint(error)}"]
    if v == "enum":
        return [(f"{_key(path)}: {value!r} is not allowed — use one of "
                f"{', '.join(map(repr, error.validator_value))}")]
    if v == "minItems":
        return [f"{_key(path)}: must not be empty{_hint(error)}"]
    if v == "uniqueItems":
        return [f"{_key(path)}: lists a value twice — list each once"]
    if v == "oneOf" and path[:1] == ["test_control"]:
        both = isinstance(value, dict) and "token" in value and "token_env" in value
        what = "both token and token_env are set" if both else "no token given"
        return [(f"{_key(path + ['token_env'])}: {what} — set exactly one: token_env = the name of an "
                "environment variable holding the token (preferred), or token = the token itself")]
    if v == "dependentRequired":
        # error.validator_value: {present key: [keys it needs]}
        lines = []
        for present, needed in error.validator_value.items():
            if isinstance(value, dict) and present in value:
                for need in needed:
                    if need not in value:
                        lines.append(f"{_key(path + [need])}: required with {present} — add it, "
                                     f"or leave {present} out too")
        return lines or [f"{_key(path)}: {error.message}"]
    if v == "not" and path[:1] == ["driver"]:
        return ["driver.url: both url and class are set — give url (a driver service over HTTP, "
                "specs/openapi/driver.yaml) or class (a Python class), not both"]
    if v == "propertyNames":
        return [f"{_key(path)}: {error.instance!r} is not a valid feature name (lower-case letters, digits, _)"]
    return [f"{_key(path)}: {error.message}"]


# --- semantic checks -------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # as the schema's test_control.token_env
_CLASS_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def _driver_class_problem(ref: str) -> str | None:
    """Why `ref` ("module:Class") is not a usable journal driver, or None."""
    import importlib

    from conformance.driver import JournalDriver

    module_name, _, class_name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return (f"driver.class: cannot import {module_name}: {exc} — install the driver's package "
                "or add its folder to PYTHONPATH")
    except Exception as exc:  # noqa: BLE001 - the vendor's module failed while importing
        return f"driver.class: importing {module_name} failed: {type(exc).__name__}: {exc}"
    cls = getattr(module, class_name, None)
    if cls is None:
        return f"driver.class: {module_name} has no {class_name} — give \"package.module:Class\""
    if not (isinstance(cls, type) and issubclass(cls, JournalDriver)):
        return (f"driver.class: {ref} is not a subclass of conformance.driver.JournalDriver — "
                "subclass it (see conformance/driver.py)")
    return None


def _get(data: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(k)
    return data


def _host(url: Any) -> str | None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    try:
        return (urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def _semantic(data: Any, base_dir: Path, environ: Mapping[str, str]
              ) -> tuple[list[str], dict[str, Any] | None]:
    """Checks beyond the schema, made on every part that has the right shape."""
    problems: list[str] = []

    base_url = _get(data, "journal", "base_url")
    journal_host = _host(base_url)
    if isinstance(base_url, str) and base_url.startswith(("http://", "https://")) and not journal_host:
        problems.append(f"journal.base_url: {base_url!r} has no host — give e.g. https://journal.example.ru")
    for key in ("redirect_uri", "logout_redirect_uri"):
        url = _get(data, "esia", key)
        host = _host(url)
        if journal_host and host and host != journal_host:
            problems.append(f"esia.{key}: host {host!r} is not the journal's host {journal_host!r} "
                            f"(journal.base_url) — ЕСИА returns the browser to the journal; give a URL "
                            f"on {journal_host}")

    cert_obj = None
    cert_path = key_path = None
    raw_cert = _get(data, "esia", "certificate")
    if isinstance(raw_cert, str) and raw_cert:
        cert_path = _resolve(raw_cert, base_dir)
        cert_obj = _read_certificate(cert_path, problems)
    raw_key = _get(data, "esia", "private_key")
    if isinstance(raw_key, str) and raw_key:
        key_path = _resolve(raw_key, base_dir)
        key_obj = _read_key(key_path, problems)
        if key_obj is not None and cert_obj is not None and not _same_public_key(key_obj, cert_obj):
            problems.append(f"esia.private_key: {key_path} does not match the certificate {cert_path} "
                            "— give the key the certificate was issued for, or leave private_key out")

    features = _get(data, "features")
    declared: set[str] = set()
    if isinstance(features, Mapping):
        known = known_features()
        for name, on in features.items():
            if name not in known:
                close = difflib.get_close_matches(str(name), list(known), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                problems.append(f"features.{name}: unknown feature — {hint}known features "
                                f"(specs/requirements.yaml): {', '.join(known) or 'none'}")
            elif on is True:
                declared.add(name)

    driver = _get(data, "driver")
    if isinstance(driver, Mapping):
        pw_env = driver.get("admin_password_env")
        if isinstance(pw_env, str) and _ENV_NAME.fullmatch(pw_env) and not environ.get(pw_env):
            problems.append(f"driver.admin_password_env: environment variable {pw_env} is not set "
                            f"or empty — export {pw_env}=<the journal administrator's password> "
                            "before running")
        tok_env = driver.get("token_env")
        if isinstance(tok_env, str) and _ENV_NAME.fullmatch(tok_env) and not environ.get(tok_env):
            problems.append(f"driver.token_env: environment variable {tok_env} is not set or empty — export "
                            f"{tok_env}=<the driver service's bearer token> before running")
        ref = driver.get("class")
        if isinstance(ref, str) and _CLASS_REF.fullmatch(ref):
            problem = _driver_class_problem(ref)
            if problem:
                problems.append(problem)

    token = None
    tc = _get(data, "test_control")
    token_env = _get(tc, "token_env")
    if isinstance(tc, Mapping):
        if isinstance(token_env, str) and _ENV_NAME.fullmatch(token_env) and "token" not in tc:
            token = environ.get(token_env)
            if not token:
                problems.append(f"test_control.token_env: environment variable {token_env} is not set "
                                f"or empty — export {token_env}=<the test-control bearer token> "
                                "before running")
        elif isinstance(tc.get("token"), str):
            token = tc["token"]

    if problems or cert_obj is None:
        return problems, None
    # Only reached when the schema held too (the caller raises on any problem first).
    try:
        esia = data["esia"]
        agent = data["agent"]
        built = {
            "base_url": base_url.rstrip("/"),
            "esia": EsiaClient(
                client_id=esia["client_id"], certificate=cert_path,
                certificate_sha256=hashlib.sha256(
                    cert_obj.public_bytes(serialization.Encoding.DER)).hexdigest(),
                redirect_uri=esia["redirect_uri"], logout_redirect_uri=esia["logout_redirect_uri"],
                private_key=key_path),
            "agent": Agent(mnemonic=agent["mnemonic"], channels=tuple(agent["channels"]),
                           datamart=agent.get("datamart", DEFAULT_DATAMART),
                           export_interval_seconds=agent.get("export_interval_seconds", MAX_EXPORT_INTERVAL)),
            "features": frozenset(declared),
            "test_control": (TestControl(url=tc["url"].rstrip("/"), token=token or "",
                                         token_env=token_env if "token" not in tc else None)
                             if isinstance(tc, Mapping) else None),
            "driver": (Driver(class_ref=driver.get("class"), url=(driver.get("url") or "").rstrip("/") or None,
                              token_env=driver.get("token_env"),
                              admin_login=driver.get("admin_login"),
                              admin_password_env=driver.get("admin_password_env"))
                       if isinstance(driver, Mapping) else None),
            "product": Product(**data["product"]) if isinstance(data.get("product"), Mapping) else None,
        }
        base = built["base_url"]
        journal = data["journal"]
        for key, path in DEFAULT_PATHS.items():
            built[key] = journal.get(key) or base + path
    except (KeyError, TypeError, AttributeError):
        return problems, None  # the schema errors already say what is wrong
    return problems, built


def _resolve(raw: str, base_dir: Path) -> Path:
    p = Path(raw).expanduser()
    return p if p.is_absolute() else (base_dir / p)


def _read_file(path: Path, key: str, what: str, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"esia.{key}: file not found: {path} — give the path of {what} "
                        "(relative paths are relative to sut.toml)")
    except IsADirectoryError:
        problems.append(f"esia.{key}: {path} is a directory — give the path of {what}")
    except OSError as exc:
        problems.append(f"esia.{key}: cannot read {path}: {exc.strerror or exc} — check its permissions")
    return None


def _read_certificate(path: Path, problems: list[str]) -> x509.Certificate | None:
    what = "the PEM certificate registered with ЕСИА"
    raw = _read_file(path, "certificate", what, problems)
    if raw is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        problems.append(f"esia.certificate: {path} is not a PEM certificate — give {what} "
                        "(-----BEGIN CERTIFICATE-----)")
        return None
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        problems.append(f"esia.certificate: {path} expired on {cert.not_valid_after_utc:%Y-%m-%d} "
                        "— register and give a valid certificate")
    elif cert.not_valid_before_utc > now:
        problems.append(f"esia.certificate: {path} is not valid before "
                        f"{cert.not_valid_before_utc:%Y-%m-%d} — give a certificate valid now")
    return cert


def _read_key(path: Path, problems: list[str]) -> Any:
    what = "the certificate's PEM private key, or leave private_key out"
    raw = _read_file(path, "private_key", what, problems)
    if raw is None:
        return None
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        problems.append(f"esia.private_key: {path} is encrypted — give an unencrypted PEM key, "
                        "or leave private_key out")
    except (ValueError, Exception):  # noqa: BLE001 - cryptography raises several kinds
        problems.append(f"esia.private_key: {path} is not a PEM private key — give {what}")
    return None


def _same_public_key(key: Any, cert: x509.Certificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    try:
        return key.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)
    except Exception:  # noqa: BLE001 - an unsupported key type cannot match
        return False
