"""OpenAPI mode: a provider's specification, the path prefix the agent strips, and the
validation of a forwarded request and of the provider's answer (openapi-core). No HTTP here.

A provider is reached at `{agent}/{mnemonic}/{prefix}/{API path}`; the prefix is read from the
spec's own `servers` entry for the agent (`http://127.0.0.1:{port}/{journal_mnemonic}/ezhd` in
journal.yaml gives `ezhd`; portal.yaml gives `myedu`). The validation copy of a spec has one
neutral server and no `security`: `X-Smev-Sender` is asserted by the agent itself and the
production mutual TLS is a transport matter (journal.yaml, `agentMtls`).

A message never quotes the value of a field whose name is secret (the request journal's
`SECRET_KEYS`) or whose schema is `format: password` / `writeOnly`.

openapi-core walks the spec anew on every call (~6 ms a request, ~9 ms an answer). `_QuickCheck`
first tries validators compiled once per schema (the same OAS 3.1 validator and format checker)
on the plain cases: primitive parameters, JSON bodies. Only when it cannot say "valid" does
openapi-core run, so every problem and violation is still openapi-core's, with its messages.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.exceptions import DeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request import exceptions as req_exc
from openapi_core.validation.response import exceptions as resp_exc
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import Headers, ImmutableMultiDict

from mocks.common.journal import SECRET_KEYS
from specs import OPENAPI_DIR

HOST = "http://agent.invalid"
DEFAULT_SPEC = "journal.yaml"
_MNEMONIC_VAR = re.compile(r"\{[a-z_]*mnemonic\}")


@dataclasses.dataclass
class Problem:
    """One reason a request is refused before forwarding."""
    location: str            # path, query, header, body, operation
    field: str | None
    message: str

    def public(self) -> dict[str, Any]:
        out = {"location": self.location, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclasses.dataclass
class Violation:
    """One way a provider's answer breaks its contract."""
    operation_id: str | None
    method: str
    path: str
    status: int
    schema_path: str
    instance_path: str
    message: str


@dataclasses.dataclass
class Operation:
    operation_id: str | None
    template: str            # the spec's path template, e.g. /api/v1/learners/{learner_id}/marks
    method: str


class _Request:
    """openapi-core's request protocol over plain values."""

    def __init__(self, method: str, path: str, query: Iterable[tuple[str, str]],
                 headers: Iterable[tuple[str, str]], body: bytes | None, content_type: str) -> None:
        self.host_url = HOST
        self.path = path
        self.full_url_pattern = HOST + path
        self.method = method.lower()
        self.body = body or None
        self.content_type = content_type.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(list(query)),
                                            header=Headers(list(headers)), cookie=ImmutableMultiDict())


class _Response:
    def __init__(self, status: int, headers: Iterable[tuple[str, str]], body: bytes,
                 content_type: str) -> None:
        self.status_code = status
        self.headers = Headers(list(headers))
        self.data = body
        self.content_type = content_type.lower()


def _pointer(parts: Iterable[Any]) -> str:
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _secret(schema_error: Any) -> bool:
    names = [str(p).lower() for p in schema_error.absolute_path]
    schema = schema_error.schema if isinstance(schema_error.schema, dict) else {}
    return (any(n in SECRET_KEYS for n in names) or schema.get("format") == "password"
            or bool(schema.get("writeOnly")))


def _schema_messages(exc: BaseException, field_secret: bool = False) -> list[tuple[str, list[Any], str]]:
    """(instance path, schema path parts, message) of each JSON Schema error under `exc`."""
    out = []
    cause = exc.__cause__
    for err in getattr(cause, "schema_errors", ()) or ():
        instance = "/" + _pointer(err.absolute_path) if err.absolute_path else ""
        if field_secret or _secret(err):
            message = f"value does not satisfy {err.validator!r} (value hidden)"
        else:
            message = err.message if len(err.message) <= 300 else err.message[:297] + "..."
        out.append((instance, list(err.absolute_schema_path), message))
    return out


def _not_parsed(content_type: str | None) -> str:
    # The deserializer's own message quotes the value, which may hold a secret.
    media = (content_type or "").split(";")[0].strip()
    return f"the value cannot be read as {media}" if media else "the value cannot be read"


def derive_prefix(document: dict[str, Any]) -> str:
    """The path segments after `{…mnemonic}` in the spec's server entry for the agent."""
    for server in document.get("servers") or []:
        path = urlsplit(str(server.get("url", "")).replace("{port}", "0")).path
        match = _MNEMONIC_VAR.search(path)
        if match:
            return path[match.end():].strip("/")
    return ""


_SPEC_URI = "urn:ezhd:provider-spec"
# raw texts a primitive parameter is taken from; anything else is left to openapi-core
_RAW = {"integer": re.compile(r"-?[0-9]{1,18}"), "number": re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?"),
        "boolean": re.compile(r"true|false"), "string": re.compile(r".+", re.S)}


def _cast(raw: str, kind: str) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "boolean":
        return raw == "true"
    return raw


class _QuickCheck:
    """A fast "valid" for the plain requests and answers of a spec (see the module's docstring);
    False means "ask openapi-core", never "invalid"."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(document, default_specification=DRAFT202012))
        self._validators: dict[tuple[str, ...], Any] = {}
        self._templates: dict[str, re.Pattern[str]] = {}
        self._params: dict[tuple[str, str], list[tuple[str, str, bool, list[Any]]]] = {}

    def _at(self, parts: list[Any]) -> tuple[Any, list[Any]]:
        """The node at `parts`, local `$ref`s followed; with the parts where it really is."""
        node: Any = self.document
        for part in parts:
            node = node[part]
        for _ in range(20):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/")):
                return node, parts
            parts = [p.replace("~1", "/").replace("~0", "~") for p in node["$ref"][2:].split("/")]
            node = self.document
            for part in parts:
                node = node[part]
        raise KeyError("$ref chain too long")

    def _valid(self, parts: list[Any], value: Any) -> bool:
        key = tuple(str(p) for p in parts)
        validator = self._validators.get(key)
        if validator is None:
            validator = OAS31Validator({"$ref": f"{_SPEC_URI}#/{_pointer(parts)}"}, registry=self.registry,
                                       format_checker=oas31_format_checker)
            self._validators[key] = validator
        return bool(validator.is_valid(value))

    def _primitive(self, parts: list[Any], raw: str) -> bool:
        """A parameter or header (its object at `parts`) given as text `raw` is valid."""
        obj, parts = self._at(parts)
        if "schema" not in obj or "content" in obj or raw == "":
            return False
        schema, schema_parts = self._at(parts + ["schema"])
        kind = schema.get("type") if isinstance(schema, dict) else None
        if not isinstance(kind, str) or kind not in _RAW or not _RAW[kind].fullmatch(raw):
            return False
        return self._valid(schema_parts, _cast(raw, kind))

    def _json(self, parts: list[Any], content_type: str, body: bytes | None) -> bool:
        """`body` is a JSON document of a media type declared under `parts` (a content map)."""
        content, parts = self._at(parts)
        media = content_type.split(";")[0].strip().lower()
        if not body or not isinstance(content, dict) or media not in content or not media.endswith("json"):
            return False
        if "schema" not in (content[media] or {}):
            return False
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return self._valid(parts + [media, "schema"], data)

    def _parameters(self, op: Operation) -> list[tuple[str, str, bool, list[Any]]]:
        """(in, name, required, parts) of each parameter of `op`, an operation's own overriding
        its path's; header names lower-cased. Worked out once per operation."""
        key = (op.template, op.method)
        if key not in self._params:
            item = self.document["paths"][op.template]
            params: dict[tuple[str, str], tuple[str, str, bool, list[Any]]] = {}
            for where, listed in ((["paths", op.template], item), (["paths", op.template, op.method], item[op.method])):
                for i in range(len(listed.get("parameters") or [])):
                    obj, _ = self._at(where + ["parameters", i])
                    name = obj["name"].lower() if obj["in"] == "header" else obj["name"]
                    params[(obj["in"], name)] = (obj["in"], name, bool(obj.get("required")), where + ["parameters", i])
            self._params[key] = list(params.values())
        return self._params[key]

    def request_ok(self, op: Operation, path: str, query: list[tuple[str, str]], headers: list[tuple[str, str]],
                   body: bytes | None, content_type: str) -> bool:
        operation = self.document["paths"][op.template][op.method]
        names = [k for k, _ in query]
        if len(names) != len(set(names)):
            return False
        values = {"query": dict(query), "header": {k.lower(): v for k, v in headers}, "cookie": {}}
        pattern = self._templates.get(op.template)
        if pattern is None:
            pattern = re.compile(re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(op.template)))
            self._templates[op.template] = pattern
        found = pattern.fullmatch(path)
        if found is None:
            return False
        values["path"] = found.groupdict()
        for where, name, required, parts in self._parameters(op):
            raw = values.get(where, {}).get(name)
            if where == "cookie" or (raw is None and required):
                return False
            if raw is not None and not self._primitive(parts, raw):
                return False
        if "requestBody" not in operation:
            return True
        request_body, parts = self._at(["paths", op.template, op.method, "requestBody"])
        if not body:
            return not request_body.get("required")
        return self._json(parts + ["content"], content_type, body)

    def response_ok(self, op: Operation, status: int, headers: list[tuple[str, str]], body: bytes,
                    content_type: str) -> bool:
        declared = self.document["paths"][op.template][op.method].get("responses") or {}
        code = next((c for c in (str(status), f"{str(status)[0]}XX", "default") if c in declared), None)
        if code is None:
            return False
        response, parts = self._at(["paths", op.template, op.method, "responses", code])
        given = {k.lower(): v for k, v in headers}
        for name in response.get("headers") or {}:
            header, _ = self._at(parts + ["headers", name])
            raw = given.get(name.lower())
            if raw is None and header.get("required"):
                return False
            if raw is not None and not self._primitive(parts + ["headers", name], raw):
                return False
        if not response.get("content"):
            return not body
        return self._json(parts + ["content"], content_type, body)


class ProviderSpec:
    """One OpenAPI file, ready to check requests and responses of its operations."""

    def __init__(self, path: Path) -> None:
        self.path = path
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with path.open(encoding="utf-8") as fh:
            self.document: dict[str, Any] = yaml.load(fh, Loader=loader)
        self.title = str(self.document.get("info", {}).get("title", path.name))
        self.prefix = derive_prefix(self.document)
        doc = copy.deepcopy(self.document)
        doc["servers"] = [{"url": HOST}]
        doc.pop("security", None)
        for item in (doc.get("paths") or {}).values():
            for op in item.values():
                if isinstance(op, dict):
                    op.pop("security", None)
        self.api = OpenAPI.from_dict(doc)
        self._finder = APICallPathFinder(self.api.spec, base_url=None)
        self.quick = _QuickCheck(doc)

    def operation(self, method: str, path: str) -> Operation:
        """The operation of `method path`; `PathNotFound` / `OperationNotFound` otherwise."""
        found = self._finder.find(method.lower(), HOST + path)
        op_id = (found.operation / "operationId").read_str() if "operationId" in found.operation else None
        return Operation(op_id, found.path.parts[-1], method.lower())

    def check_request(self, method: str, path: str, query: Iterable[tuple[str, str]],
                      headers: Iterable[tuple[str, str]], body: bytes | None,
                      content_type: str) -> tuple[Operation | None, list[Problem], _Request]:
        query, headers = list(query), list(headers)
        request = _Request(method, path, query, headers, body, content_type)
        try:
            op = self.operation(method, path)
        except OperationNotFound:
            return None, [Problem("operation", None, f"{method.upper()} is not an operation of "
                                  f"{path} in {self.title}")], request
        except PathNotFound:
            return None, [Problem("operation", None, f"{path} is not a path of {self.title}")], request
        if self.quick.request_ok(op, path, query, headers, body, content_type):
            return op, [], request
        result = self.api.unmarshal_request(request)
        problems: list[Problem] = []
        for exc in result.errors:
            problems.extend(_request_problems(exc, content_type))
        return op, problems, request

    def check_response(self, op: Operation, request: _Request, status: int,
                       headers: Iterable[tuple[str, str]], body: bytes,
                       content_type: str) -> list[Violation]:
        headers = list(headers)
        if self.quick.response_ok(op, status, headers, body, content_type):
            return []
        response = _Response(status, headers, body, content_type)
        result = self.api.unmarshal_response(request, response)
        base = ["paths", op.template, op.method, "responses"]
        out: list[Violation] = []
        declared = self.document["paths"][op.template][op.method].get("responses", {})
        code = str(status) if str(status) in declared else (
            f"{str(status)[0]}XX" if f"{str(status)[0]}XX" in declared else "default")

        def add(where: list[Any], instance: str, message: str) -> None:
            out.append(Violation(op.operation_id, op.method.upper(), request.path, status,
                                 "#/" + _pointer(where), instance, message))

        for exc in result.errors:
            if isinstance(exc, ResponseNotFound):
                add(base, "", f"status {status} is not declared for {op.operation_id}")
            elif isinstance(exc, MediaTypeNotFound) or isinstance(exc.__cause__, MediaTypeNotFound):
                add(base + [code, "content"], "",
                    f"content type {content_type or '(none)'} is not declared for status {status}")
            elif isinstance(exc.__cause__, DeserializeError):
                add(base + [code, "content"], "", _not_parsed(content_type))
            elif isinstance(exc, resp_exc.MissingData):
                add(base + [code, "content"], "", "the response has no body but one is declared")
            elif isinstance(exc, resp_exc.HeaderValidationError):
                where = base + [code, "headers", exc.name]
                messages = _schema_messages(exc, exc.name.lower() in SECRET_KEYS)
                if not messages:
                    add(where, "", str(exc))
                for instance, schema_parts, message in messages:
                    add(where + ["schema"] + schema_parts, instance, message)
            elif isinstance(exc, resp_exc.DataValidationError):
                media = content_type.split(";")[0].strip() or "application/json"
                where = base + [code, "content", media, "schema"]
                messages = _schema_messages(exc)
                if not messages:
                    add(where, "", str(exc.__cause__ or exc))
                for instance, schema_parts, message in messages:
                    add(where + schema_parts, instance, message)
            else:
                add(base + [code], "", str(exc))
        return out


def _request_problems(exc: BaseException, content_type: str) -> list[Problem]:
    if isinstance(exc, req_exc.ParameterValidationError):
        secret = exc.name.lower() in SECRET_KEYS
        if isinstance(exc, req_exc.MissingParameterError):
            return [Problem(exc.location, exc.name, "required but missing")]
        messages = _schema_messages(exc, secret)
        if not messages:
            cause = exc.__cause__
            text = "value hidden" if secret else str(cause or exc)
            return [Problem(exc.location, exc.name, f"invalid: {text}"[:300])]
        return [Problem(exc.location, exc.name, m) for _, _, m in messages]
    if isinstance(exc, req_exc.MissingRequestBodyError):
        return [Problem("body", None, "a request body is required")]
    if isinstance(exc, MediaTypeNotFound) or isinstance(exc.__cause__, MediaTypeNotFound):
        return [Problem("body", None, f"content type not allowed: {exc.__cause__ or exc}"[:300])]
    if isinstance(exc.__cause__, DeserializeError):
        where = "body" if isinstance(exc, req_exc.RequestBodyValidationError) else getattr(exc, "location", "request")
        return [Problem(where, getattr(exc, "name", None),
                        _not_parsed(content_type if where == "body" else None))]
    if isinstance(exc, req_exc.RequestBodyValidationError):
        messages = _schema_messages(exc)
        if not messages:
            return [Problem("body", None, str(exc.__cause__ or exc)[:300])]
        return [Problem("body", instance or None, m) for instance, _, m in messages]
    return [Problem("request", None, str(exc)[:300])]


def spec_path(spec: str | Path | None) -> Path:
    """A spec given by file name (looked up in specs/openapi) or by path."""
    if spec is None:
        return OPENAPI_DIR / DEFAULT_SPEC
    candidate = Path(spec)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = OPENAPI_DIR / candidate
    if not candidate.is_file():
        raise ValueError(f"no OpenAPI file {spec}")
    return candidate.resolve()


@functools.lru_cache(maxsize=16)
def load_spec(path: Path) -> ProviderSpec:
    """Load (once) and prepare a provider's spec; `ValueError` if it cannot be used."""
    try:
        return ProviderSpec(path)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot use OpenAPI file {path}: {exc}") from None
