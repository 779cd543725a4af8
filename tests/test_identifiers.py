"""Identifier checks against published examples, and each kind of bad identifier."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialcredit.domain.identifiers import (
    ORGANISATION,
    PERSON,
    USCC_ALPHABET,
    InvalidIdentifier,
    identify,
    resident_id_check,
    uscc_check,
)

PUBLISHED_RESIDENT_IDS = ["11010519491231002X", "440524188001010014"]
PUBLISHED_USCCS = ["91350100M000100Y43", "9144030071526726XG", "91110108551385082Q"]


@pytest.mark.parametrize("value", PUBLISHED_RESIDENT_IDS)
def test_published_resident_ids_are_persons(value: str) -> None:
    assert identify(value) == (value, PERSON)


@pytest.mark.parametrize("value", PUBLISHED_USCCS)
def test_published_usccs_are_organisations(value: str) -> None:
    assert identify(value) == (value, ORGANISATION)


def test_lower_case_and_spaces_are_normalised() -> None:
    assert identify(" 11010519491231002x ") == ("11010519491231002X", PERSON)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002Y", "check character"),
        ("110105194912310021", "check character"),
        ("110105194913310021", "impossible birth date"),
        ("1101051949123100", "neither"),
        ("", "missing"),
        ("91350100M000100Y44", "check character"),
        ("91350100M00010OY43", "outside its alphabet"),
        ("91350100M000100Y4", "neither"),
        ("9135010#M000100Y43", "alphabet"),
    ],
)
def test_bad_identifiers_are_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        identify(value)


def test_a_missing_identifier_is_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="missing"):
        identify(None)


@given(
    st.integers(110000, 659999),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(0, 999),
)
def test_a_resident_id_is_valid_with_its_check_only(region: int, born: date, seq: int) -> None:
    prefix = f"{region}{born:%Y%m%d}{seq:03d}"
    check = resident_id_check(prefix)
    assert identify(prefix + check) == (prefix + check, PERSON)
    for wrong in (c for c in "0123456789X" if c != check):
        with pytest.raises(InvalidIdentifier, match="check character"):
            identify(prefix + wrong)


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17).filter(lambda p: not p.isdigit()))
def test_uscc_check_character_validates_and_any_other_fails(prefix: str) -> None:
    value = prefix + uscc_check(prefix)
    assert identify(value) == (value, ORGANISATION)
    wrong = next(c for c in USCC_ALPHABET if c != uscc_check(prefix))
    with pytest.raises(InvalidIdentifier):
        identify(prefix + wrong)


def test_a_new_identifier_scheme_plugs_in_without_touching_the_core() -> None:
    from socialcredit.domain.identifiers import Scheme, register_scheme

    def validate(value: str) -> str | None:
        return None if value[3:].isdigit() else "test IDs end in digits"

    register_scheme(Scheme("test_id", PERSON, lambda v: v.startswith("TST"), validate))
    assert identify("tst123456") == ("TST123456", PERSON)
    with pytest.raises(InvalidIdentifier, match="end in digits"):
        identify("TST12A")
