"""SQL mode without a database: the form fields of agent-sql.yaml, the read-only check of the
query (every forbidden statement class refused with the reason), and the result format."""
from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from mocks.smev.errors import AgentError
from mocks.smev.sql import check_query, format_result, parse_form
from smev_helpers import ATTACKS

TABLES = {"marks": [("id", "VARCHAR"), ("learner_id", "VARCHAR"), ("weight", "BIGINT"),
                    ("mark_date", "DATE")],
          "learners": [("id", "VARCHAR"), ("last_name", "VARCHAR")]}
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("sql,error", ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_forbidden_statement_is_refused_with_reason(sql, error):
    with pytest.raises(AgentError) as caught:
        check_query(sql, 0, TABLES)
    exc = caught.value
    assert (exc.status, exc.error) == (400, error), exc.body()
    assert exc.message and exc.message_en
    if error != "multiple_statements":      # agent-sql.yaml's example has no details for it
        assert exc.details and exc.details[0]["message"]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM marks WHERE learner_id = ?",
    "select m.id, m.weight from marks m where m.learner_id = ?",
    "SELECT * FROM showcase.marks WHERE learner_id = ?",
    "WITH mine AS (SELECT * FROM marks WHERE learner_id = ?) SELECT count(*) FROM mine",
    "SELECT l.last_name, count(*) FROM marks m JOIN learners l ON l.id = m.learner_id "
    "WHERE m.learner_id = ? GROUP BY 1 ORDER BY 2 DESC",
    "SELECT id FROM marks WHERE learner_id = ? UNION ALL SELECT id FROM learners",
    "SELECT * FROM marks WHERE id IN (SELECT id FROM learners) AND learner_id = ?",
    "FROM marks WHERE learner_id = ?;",
])
def test_read_only_select_passes(sql):
    checked = check_query(sql, 1, TABLES)
    assert checked.sql.upper().startswith(("SELECT", "WITH"))
    assert "marks" in checked.tables


def test_checked_query_reads_typed_projection_and_drops_comments():
    checked = check_query("SELECT weight, mark_date FROM marks m -- */ ; DROP TABLE marks\nWHERE m.id = ?",
                          1, TABLES)
    assert "DROP" not in checked.sql and "--" not in checked.sql and "/*" not in checked.sql
    assert 'TRY_CAST("weight" AS BIGINT)' in checked.sql
    assert 'FROM "showcase"."marks") AS m' in checked.sql


def test_cte_named_like_a_table_is_not_rewritten():
    checked = check_query("WITH marks AS (SELECT 1 AS x) SELECT x FROM marks", 0, TABLES)
    assert "TRY_CAST" not in checked.sql


@pytest.mark.parametrize("count", [0, 2])
def test_placeholder_count_must_match_params(count):
    with pytest.raises(AgentError) as caught:
        check_query("SELECT * FROM marks WHERE id = ?", count, TABLES)
    assert caught.value.error == "params_mismatch"
    assert caught.value.details[0]["field"] == "params"


def test_syntax_error_gives_position():
    with pytest.raises(AgentError) as caught:
        check_query("SELECT * FRM marks", 0, TABLES)
    assert caught.value.error == "syntax_error"
    assert caught.value.details[0]["position"] == 13


def test_injection_inside_a_literal_stays_a_literal():
    checked = check_query("SELECT * FROM marks WHERE id = 'x'';DROP TABLE marks;--'", 0, TABLES)
    assert checked.sql.count(";") == 2 and "'x'';DROP TABLE marks;--'" in checked.sql


# --- the form ----------------------------------------------------------------------------

def _form(**fields) -> bytes:
    from urllib.parse import urlencode
    return urlencode(fields).encode()


def test_form_defaults_and_fields():
    req = parse_form(_form(sql="SELECT 1", params='["a", 1, null, true]', priority="HIGH",
                           timeout="5", maxrows="7", async_request="True"), FORM)
    assert (req.sql, req.params, req.priority, req.timeout, req.maxrows, req.async_request) == \
        ("SELECT 1", ["a", 1, None, True], "HIGH", 5, 7, True)
    req = parse_form(_form(sql="SELECT 1"), FORM + "; charset=utf-8")
    assert (req.params, req.priority, req.timeout, req.maxrows, req.async_request) == \
        ([], "NORMAL", 30, 10_000, False)


@pytest.mark.parametrize("fields,field", [
    ({}, "sql"),
    ({"sql": ""}, "sql"),
    ({"sql": "x" * 65537}, "sql"),
    ({"sql": "SELECT 1", "params": "[1"}, "params"),
    ({"sql": "SELECT 1", "params": '{"a": 1}'}, "params"),
    ({"sql": "SELECT 1", "params": '[[1]]'}, "params"),
    ({"sql": "SELECT 1", "priority": "LOW"}, "priority"),
    ({"sql": "SELECT 1", "timeout": "0"}, "timeout"),
    ({"sql": "SELECT 1", "timeout": "301"}, "timeout"),
    ({"sql": "SELECT 1", "timeout": "1.5"}, "timeout"),
    ({"sql": "SELECT 1", "maxrows": "0"}, "maxrows"),
    ({"sql": "SELECT 1", "maxrows": "100001"}, "maxrows"),
    ({"sql": "SELECT 1", "async_request": "maybe"}, "async_request"),
])
def test_bad_form_field_is_named(fields, field):
    with pytest.raises(AgentError) as caught:
        parse_form(_form(**fields), FORM)
    assert caught.value.error == "bad_parameter"
    assert caught.value.details[0]["field"] == field


def test_form_must_be_urlencoded_and_fields_single():
    with pytest.raises(AgentError) as caught:
        parse_form(json.dumps({"sql": "SELECT 1"}).encode(), "application/json")
    assert caught.value.details[0]["field"] == "content-type"
    with pytest.raises(AgentError) as caught:
        parse_form(b"sql=SELECT+1&sql=SELECT+2", FORM)
    assert caught.value.details[0]["field"] == "sql"


# --- the result --------------------------------------------------------------------------

def test_result_uses_csv_text_forms_and_logical_types():
    out = format_result(["id", "n", "x", "ok", "d", "ts", "t", "none"],
                        [["A", 1, 1.5, True, dt.date(2025, 9, 3), dt.datetime(2025, 9, 3, 8, 5, 1),
                          dt.time(8, 30), None],
                         ["B", None, decimal.Decimal("2.25"), False, None, None, None, None]], True)
    assert [c["type"] for c in out["columns"]] == ["VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "DATE",
                                                   "TIMESTAMP", "TIME", "VARCHAR"]
    assert out["rows"][0] == ["A", 1, 1.5, True, "2025-09-03", "2025-09-03 08:05:01", "08:30", None]
    assert out["rows"][1][2] == 2.25
    assert (out["row_count"], out["truncated"]) == (2, True)
