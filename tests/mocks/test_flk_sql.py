"""The SQL of single fields (`mocks.epgu.flk_sql`) against `specs.values.check_value` and
`specs.checksums`: the same first rule for valid texts, texts of other columns, arbitrary
Unicode and near misses; Python regexes read the Python way in RE2; checksums with
non-ASCII digits."""
from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.strategies import column_texts
from mocks.epgu.flk_sql import Untranslatable, checksum_valid_sql, compile_column, compile_table, lit, matcher
from specs.checksums import CHECKERS, make_inn_legal, make_inn_person, make_ogrn, make_snils
from specs.tables import load_tables
from specs.values import check_value

TABLES = load_tables()
CON = duckdb.connect()
ODD = st.sampled_from(["", " ", "\n", "-0", "0", "+1", "1\n", "9223372036854775808", "-9223372036854775808",
                       "9223372036854775807", "True", "true", "2025-02-29", "0000-01-01", "2024-02-29",
                       "2025-01-01 24:00:00", "2025-01-01 23:59:59", "23:59", "24:00", "A-1", "A-1\n",
                       "١٢٣-٤٥٦-٧٨٩ ٠١", "x" * 101, "ф" * 51, "https://a.b/c d", "\u00a0"])


def texts_for(column):
    return st.one_of(column_texts(column, TABLES), st.text(max_size=12), ODD,
                     column_texts(column, TABLES).map(lambda s: s + "\n"),
                     column_texts(column, TABLES).map(lambda s: " " + s))


def values_sql(texts: list[str]) -> str:
    """A VALUES list of (i, v); an empty text is NULL, as the readers give it."""
    return ", ".join(f"({i}, {lit(t) if t else 'NULL::VARCHAR'})" for i, t in enumerate(texts))


def verdicts(column, texts: list[str]) -> list[str | None]:
    expr, rules = compile_column(column, TABLES.conventions, "v")
    rows = values_sql(texts)
    got = CON.execute(f"SELECT i, {expr} FROM (VALUES {rows}) t(i, v) ORDER BY i").fetchall()
    return [rules[code - 1] if code else None for _, code in got]


def _signature(c):
    """Columns with the same signature compile to the same SQL: one of each is enough."""
    return (c.type, c.required, c.key, c.enum.name if c.enum else None, c.pattern, c.checksum,
            c.hashed, c.max_length, c.minimum, c.maximum)


COLUMNS = list({_signature(c): (t.name, c.name) for t in TABLES for c in t.columns}.values())


@pytest.mark.parametrize("table,name", COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_a_field_gets_the_rule_check_value_gives(table, name):
    column = TABLES[table].column(name)

    @settings(max_examples=max(4, settings().max_examples // 6))
    @given(st.lists(texts_for(column), min_size=1, max_size=12))
    def check(texts):
        texts = [t for t in texts if "\x00" not in t]   # NUL cannot be written in a SQL literal
        if not texts:
            return
        expected = [(check_value(column, t or None, TABLES.conventions) or (None,))[0] for t in texts]
        assert verdicts(column, texts) == expected, list(zip(texts, verdicts(column, texts), expected))

    check()


DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩０１２"


@pytest.mark.parametrize("kind", sorted(CHECKERS))
@settings(max_examples=60)
@given(data=st.data())
def test_checksums_in_sql_agree_with_python(kind, data):
    valid = {"snils": st.integers(1_001_999, 999_999_999).map(lambda n: make_snils(f"{n:09d}")),
             "inn_legal": st.integers(10**8, 10**9 - 1).map(lambda n: make_inn_legal(str(n))),
             "inn_person": st.integers(10**9, 10**10 - 1).map(lambda n: make_inn_person(str(n))),
             "ogrn": st.integers(10**11, 10**12 - 1).map(lambda n: make_ogrn(str(n))),
             "kpp": st.from_regex(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}", fullmatch=True)}
    valid["inn"] = st.one_of(valid["inn_legal"], valid["inn_person"])
    mutate = st.tuples(valid[kind], st.integers(0, 20), st.sampled_from(DIGITS + "- A\n")).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + 1:])
    texts = data.draw(st.lists(st.one_of(valid[kind], mutate, st.text(DIGITS + "- ", max_size=16)),
                               min_size=1, max_size=10))
    texts = [t for t in texts if t]
    if not texts:
        return
    rows = values_sql(texts)
    got = CON.execute(f"SELECT i, {checksum_valid_sql(kind, 'v')} FROM (VALUES {rows}) t(i, v) ORDER BY i").fetchall()
    assert [bool(ok) for _, ok in got] == [CHECKERS[kind](t) is None for t in texts], texts


@pytest.mark.parametrize("pattern,texts", [
    (r"^\d{3}$", ["123", "١٢٣", "12", "123\n", "123\n\n", "1234"]),
    (r"^[^\s;\"]{1,2000}$", ["abc", "a b", "a\u00a0b", "a\u2003b", "x" * 2000, "x" * 2001, "a;b", "ab\n"]),
    (r"^https?://[^\s;\"]{1,2000}$", ["https://x.ru/a", "http://x", "https://", "https://a\x1fb"]),
    (r"^\w+$", ["abc_1", "привет", "a-b", "٣"]),
    (r"^(ab|cd)$", ["ab", "cd", "abcd", "cd\n"]),
    (r"^\S+$", ["a", "a b", "\u3000"]),
])
def test_patterns_are_read_as_python_reads_them(pattern, texts):
    m = matcher(pattern)
    got = CON.execute(f"SELECT i, {m.sql('v')} FROM (VALUES {values_sql(texts)}) t(i, v) ORDER BY i").fetchall()
    assert [bool(x) for _, x in got] == [re.match(pattern, t) is not None for t in texts]


@pytest.mark.parametrize("pattern", [r"^a(?=b)\w+$", r"^(a)\1$", r"^[\S]+$"])
def test_a_pattern_re2_cannot_read_as_python_is_refused(pattern):
    with pytest.raises(Untranslatable):
        matcher(pattern)


@pytest.mark.parametrize("operation", ["upload", "delete"])
def test_the_layout_without_sql_is_the_layout_of_the_row_program(operation):
    """The Python path packs findings by the layout compiled without SQL; it must be the row
    program's, slot by slot and rule by rule."""
    for table in TABLES:
        fks = [c.name for c in table.foreign_keys] if operation == "upload" else []
        full = compile_table(table, TABLES.conventions, operation=operation, fk_columns=fks, newlines=False)
        bare = compile_table(table, TABLES.conventions, operation=operation, fk_columns=fks, newlines=False,
                             sql=False)
        assert bare.slots == full.slots and bare.word_type == full.word_type, table.name
        assert set(bare.field_sql) == set(full.field_sql)
