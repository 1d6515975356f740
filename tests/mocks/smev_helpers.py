"""Helpers for the mock ПОДД agent tests: the generated dataset, an agent over a fresh
showcase, a small fake journal (OpenAPI-mode provider), and SQL-mode calls."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SYSTEM = "MNSV03"          # the journal's mnemonic (default system of the agent)
SHOWCASE = "MYEDU_RVD"     # the SQL-mode provider
JOURNAL = "JOURNAL01"      # a journal registered as an OpenAPI-mode provider
PORTAL = "EPGU"            # the portal as a sender
BASE = "http://agent.test"
JOURNAL_BASE = "http://journal.test"
LEARNER = "EZ1-L0042"
# a valid `address` file (no references): two rows
ADDRESS = ("id;use_address;type_address;text;city;district;state;postal_code;country;start_datetime;"
           "end_datetime;flat;building;house;street;create_datetime;send_datetime\n"
           '"EZ1-A1";"2";"4";"г. Тверь, ул. Советская, д. 1";"Тверь";;"Тверская обл.";"170100";"Россия";'
           ';;;;"1";"ул. Советская";"2025-09-01 08:00:00";"2025-09-01 08:05:00"\n'
           '"EZ1-A2";"2";"4";"г. Тверь, ул. Новая, д. 2";"Тверь";;"Тверская обл.";"170100";"Россия";'
           ';;;;"2";"ул. Новая";"2025-09-01 08:00:00";"2025-09-01 08:05:00"').encode("utf-8")


# (query, error code): every statement class SQL mode must refuse, with the reason it gives
ATTACKS = [
    ("SELECT 1; DROP TABLE showcase.marks", "multiple_statements"),
    ("SELECT * FROM marks; SELECT * FROM learners", "multiple_statements"),
    ("DROP TABLE showcase.marks", "not_select"),
    ("COPY marks TO '/tmp/marks.csv'", "not_select"),
    ("COPY (SELECT * FROM marks) TO '/tmp/marks.csv'", "not_select"),
    ("ATTACH '/tmp/other.duckdb' AS other", "not_select"),
    ("DETACH other", "not_select"),
    ("INSERT INTO marks (id) VALUES ('x')", "not_select"),
    ("UPDATE marks SET weight = 10", "not_select"),
    ("DELETE FROM marks", "not_select"),
    ("CREATE TABLE stolen AS SELECT * FROM marks", "not_select"),
    ("CREATE VIEW v AS SELECT 1", "not_select"),
    ("ALTER TABLE marks ADD COLUMN x INT", "not_select"),
    ("PRAGMA database_list", "not_select"),
    ("SET memory_limit = '1GB'", "not_select"),
    ("SET search_path = 'main'", "not_select"),
    ("INSTALL httpfs", "not_select"),
    ("LOAD httpfs", "not_select"),
    ("CALL pragma_version()", "not_select"),
    ("EXPLAIN SELECT * FROM marks", "not_select"),
    ("DESCRIBE marks", "not_select"),
    ("SHOW TABLES", "not_select"),
    ("USE other", "not_select"),
    ("VALUES (1)", "not_select"),
    ("SELECT * FROM read_csv('/etc/passwd')", "not_select"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "not_select"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "not_select"),
    ("SELECT * FROM read_text('/etc/passwd')", "not_select"),
    ("SELECT read_text('/etc/passwd')", "not_select"),
    ("SELECT (SELECT content FROM read_blob('/etc/shadow'))", "not_select"),
    ("SELECT * FROM glob('/etc/*')", "not_select"),
    ("SELECT getenv('HOME')", "not_select"),
    ("SELECT current_setting('threads')", "not_select"),
    ("SELECT * FROM query('SELECT 1')", "not_select"),
    ("SELECT * FROM query_table('marks')", "not_select"),
    ("SELECT * FROM duckdb_tables()", "not_select"),
    ("SELECT nextval('seq')", "not_select"),
    ("SELECT * FROM '/etc/passwd'", "unknown_table"),
    ("SELECT * FROM 'https://example.org/x.parquet'", "unknown_table"),
    ("SELECT * FROM information_schema.tables", "unknown_table"),
    ("SELECT * FROM information_schema.columns WHERE table_schema = 'showcase'", "unknown_table"),
    ("SELECT * FROM duckdb_tables", "unknown_table"),
    ("SELECT * FROM pg_catalog.pg_tables", "unknown_table"),
    ("SELECT * FROM sqlite_master", "unknown_table"),
    ("SELECT * FROM epgu_mock.requests", "unknown_table"),
    ("SELECT * FROM main.marks", "unknown_table"),
    ("SELECT * FROM memory.showcase.marks", "unknown_table"),
    ("SELECT * FROM range(10)", "unknown_table"),
    ("SELECT * FROM generate_series(1, 10)", "unknown_table"),
    ("SELECT * FROM pupils", "unknown_table"),
    ("SELECT * FROM marks m JOIN epgu_mock.sources s ON true", "unknown_table"),
    ("SELECT $1", "params_mismatch"),
    ("SELECT * FRM marks", "syntax_error"),
    ("SELECT 'unterminated", "syntax_error"),
    ("   ", "syntax_error"),
]


def table_url(table: str, mnemonic: str = SYSTEM, version: str = "v1") -> str:
    return f"/{mnemonic}/myedu/api/edu-upload/{version}/csv/{table}"


def multipart_url(mnemonic: str = SYSTEM, version: str = "v1") -> str:
    return f"/{mnemonic}/myedu/api/edu-upload/{version}/multipart/csv"


def octet(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": "application/octet-stream"}}


def sql_form(sql: str, params: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    data = {"sql": sql, "params": json.dumps(params or [], ensure_ascii=False)}
    data.update({k: str(v) for k, v in fields.items()})
    return {"data": data, "headers": {"Accept-Version": "1"}}


def valid_mark(learner: str = LEARNER, **changes: Any) -> dict[str, Any]:
    row = {"id": "EZ1-M1", "learner_id": learner, "subject_id": "EZ1-S1", "teacher_id": "EZ1-T1",
           "period_id": "EZ1-P1", "lesson_id": None, "mark_type": 1, "grade_system": 1,
           "value": "5", "weight": 1, "mark_date": "2025-09-03", "control_form": None,
           "comment": None, "create_datetime": "2025-09-03 10:00:00",
           "send_datetime": "2025-09-03 10:05:00"}
    row.update(changes)
    return row


@dataclasses.dataclass
class FakeJournal:
    """A tiny on-demand API: `getMarks` answers valid or (`broken=True`) invalid pages, and
    `setLearnerPassword` takes a password. Every request it receives is kept."""
    broken: bool = False
    seen: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def app(self) -> Starlette:
        async def marks(request: Request) -> Response:
            self.seen.append({"path": request.url.path, "query": dict(request.query_params),
                              "headers": dict(request.headers)})
            q = request.query_params
            item = valid_mark(request.path_params["learner_id"])
            if self.broken:
                item = {**item, "weight": "heavy"}
                del item["mark_date"]
            return JSONResponse({"learner_id": request.path_params["learner_id"], "from": q["from"],
                                 "to": q["to"], "items": [item]})

        async def password(request: Request) -> Response:
            self.seen.append({"path": request.url.path, "body": await request.body(),
                              "headers": dict(request.headers)})
            return Response(status_code=204)

        return Starlette(routes=[
            Route("/api/v1/learners/{learner_id}/marks", marks, methods=["GET"]),
            Route("/api/v1/learners/{learner_id}/password", password, methods=["POST"]),
        ])


def dataset_files(directory: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(directory.glob("*.csv"))}


def portal_headers(**extra: str) -> dict[str, str]:
    return {"X-Smev-Sender": PORTAL, "X-Esia-Oid": "1000299654", **extra}


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


FAST = {"0": 0.0, "1": 0.0, "2": 0.0, "6": 0.0}


@pytest.fixture
def showcase():
    """A fresh in-memory showcase whose stages take no time; import into a test module."""
    from mocks.epgu.showcase import Showcase

    sc = Showcase(delays=dict(FAST))
    yield sc
    sc.close()
