"""Control sums of SNILS, INN, OGRN and KPP: known public values and properties."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specs.checksums import (
    check_inn, check_inn_legal, check_inn_person, check_kpp, check_ogrn, check_snils,
    make_inn_legal, make_inn_person, make_ogrn, make_ogrnip, make_snils, snils_control,
)

# Publicly known identifiers (Sberbank's INN/OGRN/KPP; the SNILS of the ПФР format example).
KNOWN_VALID = [
    (check_snils, "112-233-445 95"),
    (check_inn_legal, "7707083893"),
    (check_inn, "7707083893"),
    (check_inn_person, "500100732259"),
    (check_inn, "500100732259"),
    (check_ogrn, "1027700132195"),
    (check_ogrn, "304500116000157"),
    (check_kpp, "773601001"),
    (check_kpp, "7736AB001"),
]
KNOWN_INVALID = [
    (check_snils, "112-233-445 96", "control digits are 96, expected 95"),
    (check_snils, "11223344595", "must look like"),
    (check_inn_legal, "7707083894", "control digit is 4, expected 3"),
    (check_inn_person, "500100732258", "control digits are 58, expected 59"),
    (check_inn, "77070838", "10 digits"),
    (check_ogrn, "1027700132196", "control digit is 6, expected 5"),
    (check_ogrn, "10277001321", "13 digits"),
    (check_kpp, "77360100", "KPP must be"),
    (check_kpp, "7736ab001", "KPP must be"),
]


@pytest.mark.parametrize("check,value", KNOWN_VALID)
def test_known_identifiers_pass(check, value):
    assert check(value) is None


@pytest.mark.parametrize("check,value,reason", KNOWN_INVALID)
def test_broken_identifiers_are_refused_with_a_reason(check, value, reason):
    assert reason in check(value)


def test_snils_control_edge_cases():
    # sums of 100 and 101 give 00; above 101 the remainder mod 101 is taken
    assert snils_control("000000000") == "00"
    digits = "999999999"  # 9*45 = 405 -> 405 % 101 = 1
    assert snils_control(digits) == "01"
    assert check_snils("001-001-998 00") is None  # issued before control sums: not checked


@given(st.integers(1_001_999, 999_999_999))
def test_made_snils_passes_and_any_other_control_fails(n):
    value = make_snils(f"{n:09d}")
    assert check_snils(value) is None
    wrong = f"{value[:-2]}{(int(value[-2:]) + 1) % 100:02d}"
    assert check_snils(wrong) is not None


@given(st.integers(0, 10**9 - 1), st.integers(1, 9))
def test_made_inn_legal_detects_every_single_digit_change_of_control(n, delta):
    value = make_inn_legal(f"{n:09d}")
    assert check_inn_legal(value) is None
    assert check_inn_legal(value[:-1] + str((int(value[-1]) + delta) % 10)) is not None


@given(st.integers(0, 10**10 - 1))
def test_made_inn_person_passes(n):
    assert check_inn_person(make_inn_person(f"{n:010d}")) is None


@given(st.integers(10**11, 10**12 - 1), st.integers(10**13, 10**14 - 1))
def test_made_ogrn_and_ogrnip_pass(n12, n14):
    assert check_ogrn(make_ogrn(str(n12))) is None
    assert check_ogrn(make_ogrnip(str(n14))) is None


def test_make_snils_refuses_a_wrong_length():
    with pytest.raises(ValueError, match="nine digits"):
        make_snils("1234")
