"""`specs.values.parse_value` of dates and times reads exactly what the spec's `strptime`
format reads: every text of the type's shape gives the same value, or fails the `type` rule."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from specs.tables import Column, load_tables
from specs.values import ValueRuleError, check_value, parse_value

CONVENTIONS = load_tables().conventions


def _digits(n: int) -> st.SearchStrategy[str]:
    # mostly near-valid fields, so that both valid and impossible values are common
    return st.one_of(st.integers(0, 10**n - 1).map(lambda v: f"{v:0{n}d}"),
                     st.sampled_from(["0" * n, "9" * n, "1" * n]))


SHAPED = {
    "date": st.tuples(_digits(4), _digits(2), _digits(2)).map("-".join),
    "datetime": st.tuples(_digits(4), _digits(2), _digits(2), _digits(2), _digits(2), _digits(2)).map(
        lambda p: f"{p[0]}-{p[1]}-{p[2]} {p[3]}:{p[4]}:{p[5]}"),
    "time": st.tuples(_digits(2), _digits(2)).map(":".join),
}


def _by_strptime(kind: str, text: str):
    parsed = dt.datetime.strptime(text, CONVENTIONS.formats[kind])
    return {"date": parsed.date(), "time": parsed.time()}.get(kind, parsed)


@pytest.mark.parametrize("kind", sorted(SHAPED))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
@example(data=None)
def test_a_date_or_time_reads_as_the_spec_format_reads_it(kind, data):
    texts = ({"date": ["2024-02-29", "2025-02-29", "2025-13-01", "0000-01-01"],
              "datetime": ["2025-09-01 24:00:00", "2025-09-01 08:00:60", "2025-09-01 23:59:59"],
              "time": ["24:00", "08:60", "23:59", "00:00"]}[kind]
             if data is None else [data.draw(SHAPED[kind])])
    column = Column(name="x", type=kind)
    for text in texts:
        try:
            expected = _by_strptime(kind, text)
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(ValueRuleError) as caught:
                parse_value(column, text, CONVENTIONS)
            assert caught.value.rule == "type"
            assert check_value(column, text, CONVENTIONS)[0] == "type"
        else:
            value = parse_value(column, text, CONVENTIONS)
            assert value == expected and type(value) is type(expected)
            assert check_value(column, text, CONVENTIONS) is None
