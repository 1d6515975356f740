"""Every mock keeps its own contract: Schemathesis generates calls of every operation of the
mock's OpenAPI files and each answer must be no server error, with a status code, content type
and body the file declares. Bounded (`EXAMPLES` per operation, `EZHD_CONTRACT_EXAMPLES` for a
deeper run) so the default run stays fast."""
from __future__ import annotations

import os

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings

from mocks.common.transports import ServerThread
from specs import OPENAPI_DIR

EXAMPLES = int(os.environ.get("EZHD_CONTRACT_EXAMPLES", "4"))   # more for a deeper run
METHODS = ("get", "post", "put", "patch", "delete")


def _operations(name: str) -> list[tuple[str, str, str, str]]:
    """(file, path, METHOD, mode); negative only where there is input to break."""
    doc = yaml.safe_load((OPENAPI_DIR / name).read_text(encoding="utf-8"))
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            out.append((name, path, method.upper(), "positive"))
            if item.get("parameters") or op.get("parameters") or op.get("requestBody"):
                out.append((name, path, method.upper(), "negative"))
    return out


OPERATIONS = [op for name in ("esia.yaml", "showcase.yaml", "portal.yaml", "edu-upload.yaml", "agent-sql.yaml")
              for op in _operations(name)]


def _esia_app():
    from esia_helpers import REDIRECT, family
    from mocks.esia import create_app
    from mocks.esia.testing import make_client_credentials
    app = create_app()
    app.state.core.register_client("EZHD01", make_client_credentials("EZHD01")[1], [REDIRECT])
    app.state.core.load_personas(family())
    return app, lambda: None


def _epgu_app():
    from mocks.epgu import create_app
    from mocks.epgu.showcase import STAGES
    app = create_app(delays={s: 0 for s in STAGES})
    app.state.showcase.register_source("MNSV03", ["myedu"])
    return app, app.state.showcase.close


def _smev_app():
    from mocks.epgu.showcase import STAGES, Showcase
    from mocks.smev import create_app
    sc = Showcase(delays={s: 0 for s in STAGES})
    return create_app(sc), sc.close


APPS = {"esia.yaml": _esia_app, "showcase.yaml": _epgu_app, "portal.yaml": _epgu_app,
        "edu-upload.yaml": _smev_app, "agent-sql.yaml": _smev_app}


@pytest.fixture(scope="module")
def servers():
    import schemathesis
    running: dict[str, tuple[str, object]] = {}
    closers = []
    try:
        for name, make in APPS.items():
            app, close = make()
            server = ServerThread(app)
            url = server.start()
            closers.append((server, close))
            running[name] = (url, schemathesis.openapi.from_path(str(OPENAPI_DIR / name)))
        yield running
    finally:
        for server, close in closers:
            server.stop()
            close()


def _checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)
    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("name,path,method,mode", OPERATIONS, ids=[f"{n}:{m} {p}-{g}" for n, p, m, g in OPERATIONS])
def test_mock_answers_conform_to_its_openapi(servers, name, path, method, mode):
    """Valid calls (positive) and calls that break the schema (negative, e.g. a form field
    whose name holds a newline): every answer is one the file declares."""
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.generation import GenerationMode
    base, schema = servers[name]
    operation = schema[path][method]
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def run(case):
        response = case.call(base_url=base, session=session, timeout=30, allow_redirects=False)
        try:
            case.validate_response(response, checks=_checks())
        except (Failure, FailureGroup) as exc:
            pytest.fail(f"{name} {operation.label}: the mock breaks its contract:\n{exc}", pytrace=False)

    try:
        run()
    finally:
        session.close()
