"""The table specs compiled to DuckDB SQL: one expression per column that yields the first
ФЛК rule the field breaks, with the verdicts of `specs.values.check_value`.

`compile_table` returns a `RowProgram`: per column a CASE expression over the field text
(NULL when empty) giving a small local rule code, the order pairs, and a bit layout that
packs every code of a record into one unsigned integer, so a scan keeps one number per
record and the reporter decodes the few records that have one.

Python and RE2 (DuckDB's regex engine) differ in ways that matter for exact verdicts, so
patterns are translated rather than copied: `re.match` anchors at the start only, `$` also
matches before a final line feed, `\\d` `\\s` `\\w` are Unicode classes, RE2 repeats at most
1000 times. A pattern RE2 cannot express (lookarounds, back-references) is refused with
`Untranslatable` when the table is compiled: no spec uses one, and a Python function
registered with DuckDB would need numpy, which the project does not depend on.
"""
from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Sequence

from specs import checksums as ck
from specs.tables import Column, Conventions, Table
from specs.values import check_value

# Rules a single field can break, in the order `check_value` tries them.
FIELD_RULES = ("required", "type", "max_length", "range", "enum", "key_format", "pattern",
               "checksum", "hash")
_INT_MIN_TEXT = str(-(2**63))
_RE2_MAX_REPEAT = 1000
_DECIMAL_SHAPE = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?"
_HASH_SHAPE = r"[0-9a-f]{128}\n?"                # specs.hashing.HASH_RE under re.match


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# -- Python regex -> RE2 ------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _class_ranges(escape: str) -> str:
    """The body of an RE2 character class holding exactly what Python's `\\d`, `\\s` or `\\w`
    matches in a str pattern (surrogates left out: they cannot occur in UTF-8 text)."""
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    parts = []
    for m in re.finditer("\\" + escape + "+", every):
        a, b = ord(m.group()[0]), ord(m.group()[-1])
        parts.append(_re2_char(a) if a == b else f"{_re2_char(a)}-{_re2_char(b)}")
    return "".join(parts)


def _re2_char(code: int) -> str:
    return f"\\x{{{code:x}}}"


class Untranslatable(ValueError):
    """The pattern uses a construct RE2 lacks or reads differently."""


def _translate_body(pattern: str) -> str:
    """Translate a Python pattern to RE2, `$` (outside classes) becoming `(?:\\n?$)`."""
    out: list[str] = []
    i, n = 0, len(pattern)
    atom_start: int | None = None       # index in `out` where the last atom begins
    groups: list[int] = []
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise Untranslatable("trailing backslash")
            nxt = pattern[i + 1]
            atom_start = len(out)
            if nxt in "dsw":
                out.append("[" + _class_ranges(nxt) + "]")
            elif nxt in "DSW":
                out.append("[^" + _class_ranges(nxt.lower()) + "]")
            elif nxt == "Z":
                out.append(r"\z")
                atom_start = None
            elif nxt == "A":
                out.append(r"\A")
                atom_start = None
            elif nxt.isdigit() or nxt in "gbBN":
                raise Untranslatable(f"\\{nxt} is not supported")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[":
            j = i + 1
            body = ["["]
            if j < n and pattern[j] == "^":
                body.append("^")
                j += 1
            if j < n and pattern[j] == "]":
                body.append(r"\]")
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    e = pattern[j + 1]
                    if e in "dsw":
                        body.append(_class_ranges(e))
                    elif e in "DSW":
                        raise Untranslatable(f"\\{e} inside a class is not supported")
                    else:
                        body.append(pattern[j:j + 2])
                    j += 2
                    continue
                if pattern[j] == "[" and j + 1 < n and pattern[j + 1] in ":.=":
                    raise Untranslatable("POSIX classes read differently in Python")
                body.append(pattern[j])
                j += 1
            if j >= n:
                raise Untranslatable("unterminated character class")
            body.append("]")
            atom_start = len(out)
            out.append("".join(body))
            i = j + 1
            continue
        if ch == "(":
            if pattern.startswith("(?", i) and i + 2 < n and pattern[i + 2] in "=!<>":
                if not pattern.startswith("(?P<", i):
                    raise Untranslatable("lookarounds and atomic groups are not supported")
            groups.append(len(out))
            out.append(ch)
            atom_start = None
            i += 1
            continue
        if ch == ")":
            out.append(ch)
            atom_start = groups.pop() if groups else None
            i += 1
            continue
        if ch == "$":
            out.append(r"(?:\n?$)")
            atom_start = None
            i += 1
            continue
        if ch == "{":
            m = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
            if m and (m.group(1) or m.group(3)) and atom_start is not None:
                low = int(m.group(1) or 0)
                high = int(m.group(3)) if m.group(3) else (None if m.group(2) else low)
                lazy = pattern[i + m.end():i + m.end() + 1] == "?"
                if lazy or pattern[i + m.end():i + m.end() + 1] == "+":
                    raise Untranslatable("lazy or possessive counted repeats are not supported")
                if (high or 0) > _RE2_MAX_REPEAT or low > _RE2_MAX_REPEAT:
                    atom = "".join(out[atom_start:])
                    del out[atom_start:]
                    out.append(_split_repeat(atom, low, high))
                elif high is None:
                    out.append(f"{{{low},}}")
                else:
                    out.append(f"{{{low},{high}}}")
                atom_start = None
                i += m.end()
                continue
        if ch in "*+?|":
            out.append(ch)
            atom_start = None
            i += 1
            continue
        atom_start = len(out)
        out.append(ch)
        i += 1
    return "".join(out)


def _split_repeat(atom: str, low: int, high: int | None) -> str:
    """`atom{low,high}` as a chain of repeats within RE2's limit of 1000. RE2 explores every
    split of the count, so the chain accepts exactly the counts from low to high."""
    parts = []
    if high is None:
        while low > 0:
            take = min(low, _RE2_MAX_REPEAT)
            parts.append(f"(?:{atom}){{{take}}}")
            low -= take
        parts.append(f"(?:{atom})*")
    else:
        while high > 0:
            hi = min(high, _RE2_MAX_REPEAT)
            lo = min(low, hi)
            parts.append(f"(?:{atom}){{{lo},{hi}}}")
            high -= hi
            low -= lo
    return "(?:" + "".join(parts) + ")"


@dataclass(frozen=True)
class Matcher:
    """How a value is tested against a Python pattern with `re.match` semantics."""

    pattern: str
    re2: str

    def sql(self, value: str) -> str:
        return f"regexp_matches({value}, {lit(self.re2)})"


def matcher(pattern: str) -> Matcher:
    """A `Matcher` for a Python pattern (anchored at the start, as `re.match` is);
    `Untranslatable` when RE2 cannot read it as Python does."""
    return Matcher(pattern, "^(?:" + _translate_body(pattern) + ")")


# -- checksums -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _decimal_digits() -> tuple[str, str]:
    """(every Unicode decimal digit but 0-9, its ASCII value), for `translate`: Python's `int()`
    reads any of them, so the control sums must too."""
    src, dst = [], []
    for c in range(sys.maxunicode + 1):
        if 0xD800 <= c <= 0xDFFF or 0x30 <= c <= 0x39:
            continue
        ch = chr(c)
        if unicodedata.category(ch) == "Nd":
            src.append(ch)
            dst.append(str(unicodedata.decimal(ch)))
    return "".join(src), "".join(dst)


def _ascii_digits(value: str) -> str:
    src, dst = _decimal_digits()
    return f"CASE WHEN strlen({value}) = length({value}) THEN {value} " \
           f"ELSE translate({value}, {lit(src)}, {lit(dst)}) END"


def _digit(text: str, pos: int) -> str:
    return f"(ascii(substr({text}, {pos}, 1)) - 48)"


def _weighted(text: str, positions: Sequence[int], weights: Sequence[int]) -> str:
    return "(" + " + ".join(f"{_digit(text, p)} * {w}" for p, w in zip(positions, weights)) + ")"


def _drop_final_newline(value: str) -> str:
    return f"CASE WHEN suffix({value}, chr(10)) THEN left({value}, -1) ELSE {value} END"


def checksum_valid_sql(kind: str, value: str) -> str:
    """A boolean SQL expression: the value passes `specs.checksums.CHECKERS[kind]`."""
    d = "[" + _class_ranges("d") + "]"
    if kind == "snils":
        s = f"({_drop_final_newline(value)})"
        a = f"({_ascii_digits(s)})"
        total = _weighted(a, (1, 2, 3, 5, 6, 7, 9, 10, 11), ck.SNILS_WEIGHTS)
        m = ck.SNILS_MODULUS
        reduced = f"(CASE WHEN {total} > {m} THEN {total} % {m} ELSE {total} END)"
        expected = f"(CASE WHEN {reduced} IN ({m - 1}, {m}) THEN '00' ELSE lpad({reduced}::VARCHAR, 2, '0') END)"
        number9 = f"TRY_CAST(substr({a}, 1, 3) || substr({a}, 5, 3) || substr({a}, 9, 3) AS BIGINT)"
        shape = f"regexp_full_match({s}, {lit(f'{d}{{3}}-{d}{{3}}-{d}{{3}} {d}{{2}}')})"
        return (f"(CASE WHEN {shape} THEN ({number9} <= {ck.SNILS_UNCHECKED_MAX} "
                f"OR substr({s}, 13, 2) = {expected}) ELSE false END)")
    if kind == "inn_legal":
        a = f"({_ascii_digits(value)})"
        check = f"({_weighted(a, range(1, 10), ck.INN10_WEIGHTS)} % {ck.INN_MODULUS} % 10)::VARCHAR"
        return (f"(CASE WHEN regexp_full_match({value}, {lit(d + '{10}')}) "
                f"THEN substr({value}, 10, 1) = {check} ELSE false END)")
    if kind == "inn_person":
        a = f"({_ascii_digits(value)})"
        c11 = f"({_weighted(a, range(1, 11), ck.INN11_WEIGHTS)} % {ck.INN_MODULUS} % 10)"
        c12 = f"(({_weighted(a, range(1, 11), ck.INN12_WEIGHTS[:10])} + {c11} * {ck.INN12_WEIGHTS[10]}) % {ck.INN_MODULUS} % 10)"
        return (f"(CASE WHEN regexp_full_match({value}, {lit(d + '{12}')}) "
                f"THEN substr({value}, 11, 1) = {c11}::VARCHAR AND substr({value}, 12, 1) = {c12}::VARCHAR "
                f"ELSE false END)")
    if kind == "inn":
        return (f"(CASE WHEN length({value}) = 12 THEN {checksum_valid_sql('inn_person', value)} "
                f"ELSE {checksum_valid_sql('inn_legal', value)} END)")
    if kind == "ogrn":
        a = f"({_ascii_digits(value)})"
        return (f"(CASE WHEN regexp_full_match({value}, {lit(d + '{13}')}) "
                f"THEN right({value}, 1) = (TRY_CAST(substr({a}, 1, 12) AS BIGINT) % {ck.OGRN_MODULUS} % 10)::VARCHAR "
                f"WHEN regexp_full_match({value}, {lit(d + '{15}')}) "
                f"THEN right({value}, 1) = (TRY_CAST(substr({a}, 1, 14) AS BIGINT) % {ck.OGRNIP_MODULUS} % 10)::VARCHAR "
                f"ELSE false END)")
    if kind == "kpp":
        shape = d + "{4}[" + _class_ranges("d") + "A-Z]{2}" + d + "{3}\\n?"
        return f"regexp_full_match({value}, {lit(shape)})"
    raise ValueError(f"no SQL for checksum kind {kind!r}")


# -- columns and records --------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """A field of the packed error word: a column's rule code, an order pair, or a reference."""

    kind: str                   # "field" | "order" | "fk"
    column: str                 # the column an error is reported at
    rules: tuple[str, ...]      # local code k (1-based) means rules[k - 1]
    offset: int
    width: int
    other: str | None = None    # order: the start column; fk: the referenced table

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


@dataclass
class RowProgram:
    """Everything compiled for one table and operation."""

    table: Table
    columns: tuple[Column, ...]               # the columns checked (all, or the key for delete)
    field_sql: dict[str, str]                  # column -> CASE expression (local code or NULL)
    slots: list[Slot]
    word_type: str                             # UBIGINT or UHUGEINT
    matchers: list[Matcher] = field(default_factory=list)

    @property
    def bits(self) -> int:
        return max((s.offset + s.width for s in self.slots), default=1)


def _int_text_ok(u: str) -> str:
    return (f"((TRY_CAST({u} AS BIGINT)::VARCHAR = {u} AND {u} <> {lit(_INT_MIN_TEXT)}) "
            f"OR {u} = '-0')")


def _type_ok_sql(column: Column, v: str, u: str, conv: Conventions) -> str | None:
    kind = column.type
    if kind == "string":
        return None
    if kind == "boolean":
        return f"{v} IN ({lit(conv.true_text)}, {lit(conv.false_text)})"
    if kind == "integer":
        return _int_text_ok(u)
    if kind == "decimal":
        return f"regexp_full_match({u}, {lit(_DECIMAL_SHAPE)})"
    if kind in ("date", "datetime"):
        fmt = conv.formats[kind]
        if fmt not in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
            raise ValueError(f"no SQL for the {kind} format {fmt!r}")
        cast = "DATE" if kind == "date" else "TIMESTAMP"
        # A canonical round trip: the shape, the calendar, the clock and year 0 in one test.
        return f"coalesce(TRY_CAST({v} AS {cast})::VARCHAR = {v}, false)"
    if kind == "time":
        if conv.formats["time"] != "%H:%M":
            raise ValueError(f"no SQL for the time format {conv.formats['time']!r}")
        return f"({v} GLOB '[0-2][0-9]:[0-5][0-9]' AND {v} < '24')"
    raise ValueError(f"no SQL for column type {kind!r}")


def _number(column: Column, u: str) -> str:
    return f"TRY_CAST({u} AS {'BIGINT' if column.type == 'integer' else 'DOUBLE'})"


def compile_column(column: Column, conv: Conventions, v: str, *, newlines: bool = True,
                   matchers: list[Matcher] | None = None,
                   valid_if: str | None = None, sql: bool = True) -> tuple[str, tuple[str, ...]]:
    """(CASE expression giving the local code of the first rule broken, the rules by code).

    `v` is the SQL of the field text (NULL when empty). With `newlines=False` the expression
    may assume no value holds a line feed (the fast path makes sure of that separately).
    `valid_if` is a condition known to imply a valid value (a reference found among keys
    that were checked against this column's rules), tested before the costly rules.
    With `sql=False` only the rules are listed (the expression is empty): translating
    patterns and checksums to SQL costs up to 0.4 s per table, which a check in Python spares.
    """
    rules: list[str] = []

    def code(rule: str) -> int:
        if rule not in rules:
            rules.append(rule)
        return rules.index(rule) + 1

    u = f"({_drop_final_newline(v)})" if newlines and column.type in ("integer", "decimal") else v
    whens: list[str] = []
    whens.append(f"WHEN {v} IS NULL THEN {code('required') if column.required else 'NULL'}")
    if valid_if is not None:
        whens.append(f"WHEN {valid_if} THEN NULL")
    shortcut = _shortcut_values(column, conv)
    if shortcut:
        whens.append(f"WHEN {v} IN ({', '.join(lit(s) for s in shortcut)}) THEN NULL")
    type_ok = _type_ok_sql(column, v, u, conv)
    if type_ok is not None:
        whens.append(f"WHEN NOT coalesce({type_ok}, false) THEN {code('type')}")
    if column.max_length is not None:
        n = column.max_length
        whens.append(f"WHEN strlen({v}) > {n} AND length({v}) > {n} THEN {code('max_length')}")
    if column.type in ("integer", "decimal"):
        if column.minimum is not None:
            whens.append(f"WHEN {_number(column, u)} < {column.minimum} THEN {code('range')}")
        if column.maximum is not None:
            whens.append(f"WHEN {_number(column, u)} > {column.maximum} THEN {code('range')}")
    if column.enum is not None:
        if column.type == "integer":
            codes = ", ".join(str(c) for c in sorted(column.enum.codes))
            whens.append(f"WHEN coalesce({_number(column, u)} NOT IN ({codes}), true) THEN {code('enum')}")
        else:                       # a text is never one of the integer codes
            whens.append(f"WHEN true THEN {code('enum')}")
    regex_tests = []
    if column.key:
        regex_tests.append(("key_format", conv.key_pattern))
    if column.pattern is not None:
        regex_tests.append(("pattern", column.pattern))
    for rule, pattern in regex_tests:
        if not sql:
            code(rule)
            continue
        m = matcher(pattern)
        if matchers is not None:
            matchers.append(m)
        whens.append(f"WHEN NOT coalesce({m.sql(v)}, false) THEN {code(rule)}")
    if column.checksum is not None and not sql:
        code("checksum")
    elif column.checksum is not None:
        whens.append(f"WHEN NOT coalesce({checksum_valid_sql(column.checksum, v)}, false) THEN {code('checksum')}")
    if column.hashed is not None:
        whens.append(f"WHEN NOT coalesce(regexp_full_match({v}, {lit(_HASH_SHAPE)}), false) THEN {code('hash')}")
    if not rules:
        return "NULL", ()
    if not sql:
        return "", tuple(rules)
    return "CASE " + " ".join(whens) + " END", tuple(rules)


def _shortcut_values(column: Column, conv: Conventions) -> list[str]:
    """Texts that certainly pass, tested before everything else: the codes of an enum, the
    numbers of a small integer range (checked here by the reference rules themselves)."""
    if column.type != "integer":
        return []
    if column.enum is not None:
        candidates = sorted(column.enum.codes)
    elif column.minimum is not None and column.maximum is not None and column.maximum - column.minimum <= 200:
        candidates = list(range(column.minimum, column.maximum + 1))
    else:
        return []
    return [str(c) for c in candidates if check_value(column, str(c), conv) is None]


def order_pairs(table: Table, conv: Conventions) -> list[tuple[str, str]]:
    """The (start, end) pairs of the table, the technical pair last, as `check_row` has them."""
    pairs = list(table.ordered)
    first, second = conv.technical_order
    if first in table.column_names and second in table.column_names:
        pairs.append((first, second))
    return pairs


def compile_table(table: Table, conv: Conventions, *, operation: str = "upload",
                  fk_columns: Sequence[str] = (), newlines: bool = True,
                  valid_if: dict[str, str] | None = None, sql: bool = True) -> RowProgram:
    """The row program of a table: every column's rule expression and the packed layout.

    For `delete` only the primary key columns are checked and no order pair applies.
    `fk_columns` are the references that will be checked (their bits follow the rest);
    `valid_if` maps a column to a condition that implies its value is valid; with `sql=False`
    only the layout is made (`field_sql` holds empty expressions).
    """
    if operation == "delete":
        columns = tuple(table.column(k) for k in table.primary_key)
    else:
        columns = table.columns
    slots: list[Slot] = []
    field_sql: dict[str, str] = {}
    matchers: list[Matcher] = []
    offset = 1                                  # bit 0: the record spans lines
    for column in columns:
        expr, rules = compile_column(column, conv, q(column.name), newlines=newlines, matchers=matchers,
                                     valid_if=(valid_if or {}).get(column.name), sql=sql)
        if not rules:
            continue
        width = len(rules).bit_length()
        field_sql[column.name] = expr
        slots.append(Slot("field", column.name, rules, offset, width))
        offset += width
    if operation != "delete":
        names = {c.name for c in columns}
        for start, end in order_pairs(table, conv):
            if start in names and end in names:
                slots.append(Slot("order", end, ("order",), offset, 1, other=start))
                offset += 1
        for name in fk_columns:
            target = table.column(name).references[0]  # type: ignore[index]
            slots.append(Slot("fk", name, ("fk",), offset, 1, other=target))
            offset += 1
    word = "UBIGINT" if offset <= 64 else "UHUGEINT"
    if offset > 128:
        raise ValueError(f"table {table.name} needs {offset} error bits; at most 128 are supported")
    return RowProgram(table, columns, field_sql, slots, word, matchers)


def pack_sql(program: RowProgram, code_of: Callable[[Slot], str], flag: str | None) -> str:
    """The SQL packing every slot's code (`code_of(slot)`) into one word, bit 0 set by `flag`;
    0 for a clean record (the packing itself runs only for the others)."""
    word = program.word_type
    parts = [f"(coalesce({code_of(s)}, 0)::{word} << {s.offset})" for s in program.slots]
    codes = [code_of(s) for s in program.slots]
    if flag is not None:
        parts.append(f"(CASE WHEN {flag} THEN 1 ELSE 0 END)::{word}")
        codes.append(f"CASE WHEN {flag} THEN 1 END")
    if not parts:
        return f"0::{word}"
    return f"CASE WHEN coalesce({', '.join(codes)}) IS NULL THEN 0::{word} ELSE {' | '.join(parts)} END"


def decode(program: RowProgram, word: int) -> list[tuple[Slot, str]]:
    """(slot, rule) for every slot set in a packed word, in slot order."""
    found = []
    for s in program.slots:
        value = (word >> s.offset) & s.mask
        if value:
            found.append((s, s.rules[value - 1]))
    return found
