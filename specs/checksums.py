"""Control sums and formats of Russian identifiers: СНИЛС, ИНН, ОГРН/ОГРНИП, КПП.

Each `check_*` returns None for a valid value or a short English reason; each `make_*`
completes a number with its control digits (used by the dataset generator). Algorithms:
СНИЛС — Пенсионный фонд (weights 9..1, mod 101); ИНН — ФНС приказ ММВ-7-6/435@ (weights,
mod 11 mod 10); ОГРН — mod 11 of the first 12 digits, ОГРНИП — mod 13 of the first 14; КПП —
four digits of the tax office, two of the reason (digits or A–Z), three digits.
"""
from __future__ import annotations

import re
from typing import Callable

SNILS_RE = re.compile(r"^(\d{3})-(\d{3})-(\d{3}) (\d{2})$")
KPP_RE = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$")
# The constants are public: the showcase mock's SQL ФЛК (mocks/epgu/flk_sql.py) reads them too.
INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
SNILS_WEIGHTS = tuple(range(9, 0, -1))
SNILS_MODULUS = 101
INN_MODULUS = 11
OGRN_MODULUS, OGRNIP_MODULUS = 11, 13
# Numbers up to 001-001-998 were issued before control sums existed; they are not checked.
SNILS_UNCHECKED_MAX = 1001998


def snils_control(number9: str) -> str:
    """The two control digits of a SNILS given its first nine digits."""
    total = sum(int(d) * w for d, w in zip(number9, SNILS_WEIGHTS))
    if total > SNILS_MODULUS:
        total %= SNILS_MODULUS
    return "00" if total in (SNILS_MODULUS - 1, SNILS_MODULUS) else f"{total:02d}"


def make_snils(number9: str) -> str:
    """Format nine digits as a valid SNILS `123-456-789 01`."""
    if not re.fullmatch(r"\d{9}", number9):
        raise ValueError("SNILS needs exactly nine digits before the control digits")
    return f"{number9[:3]}-{number9[3:6]}-{number9[6:9]} {snils_control(number9)}"


def check_snils(value: str) -> str | None:
    m = SNILS_RE.match(value)
    if not m:
        return "SNILS must look like 123-456-789 01"
    number9 = "".join(m.groups()[:3])
    if int(number9) <= SNILS_UNCHECKED_MAX:
        return None
    expected = snils_control(number9)
    if m.group(4) != expected:
        return f"SNILS control digits are {m.group(4)}, expected {expected}"
    return None


def _inn_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights)) % INN_MODULUS % 10)


def make_inn_legal(number9: str) -> str:
    """A ten-digit INN of an organisation from its first nine digits."""
    return number9 + _inn_digit(number9, INN10_WEIGHTS)


def make_inn_person(number10: str) -> str:
    """A twelve-digit INN of a person from its first ten digits."""
    n11 = number10 + _inn_digit(number10, INN11_WEIGHTS)
    return n11 + _inn_digit(n11, INN12_WEIGHTS)


def check_inn_legal(value: str) -> str | None:
    if not re.fullmatch(r"\d{10}", value):
        return "INN of an organisation must be 10 digits"
    expected = make_inn_legal(value[:9])
    return None if value == expected else f"INN control digit is {value[9]}, expected {expected[9]}"


def check_inn_person(value: str) -> str | None:
    if not re.fullmatch(r"\d{12}", value):
        return "INN of a person must be 12 digits"
    expected = make_inn_person(value[:10])
    return None if value == expected else f"INN control digits are {value[10:]}, expected {expected[10:]}"


def check_inn(value: str) -> str | None:
    if len(value) == 12:
        return check_inn_person(value)
    return check_inn_legal(value)


def make_ogrn(number12: str) -> str:
    """A thirteen-digit OGRN from its first twelve digits."""
    return number12 + str(int(number12) % OGRN_MODULUS % 10)


def make_ogrnip(number14: str) -> str:
    """A fifteen-digit OGRNIP from its first fourteen digits."""
    return number14 + str(int(number14) % OGRNIP_MODULUS % 10)


def check_ogrn(value: str) -> str | None:
    if re.fullmatch(r"\d{13}", value):
        expected = make_ogrn(value[:12])
    elif re.fullmatch(r"\d{15}", value):
        expected = make_ogrnip(value[:14])
    else:
        return "OGRN must be 13 digits (OGRNIP 15)"
    return None if value == expected else f"OGRN control digit is {value[-1]}, expected {expected[-1]}"


def check_kpp(value: str) -> str | None:
    if not KPP_RE.match(value):
        return "KPP must be 4 digits, 2 digits or capital Latin letters, 3 digits"
    return None


CHECKERS: dict[str, Callable[[str], str | None]] = {
    "snils": check_snils,
    "inn": check_inn,
    "inn_legal": check_inn_legal,
    "inn_person": check_inn_person,
    "ogrn": check_ogrn,
    "kpp": check_kpp,
}
