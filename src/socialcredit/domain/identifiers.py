"""Subject identifiers: the resident ID for persons, the USCC for organisations.

Each scheme knows its subject kind and validates its own check character. New schemes are
added with `register_scheme`; nothing else in the core needs to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

PERSON = "person"
ORGANISATION = "organisation"
SUBJECT_KINDS = (PERSON, ORGANISATION)

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECKS = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class InvalidIdentifier(ValueError):
    """An identifier that no registered scheme accepts, with the reason."""


def resident_id_check(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECKS[total % 11]


def uscc_check(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def plausible_birth_date(value: str) -> bool:
    """Whether characters 7-14 of a resident ID are a real date from 1800 to 2099."""
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return 1800 <= born.year <= 2099


def validate_resident_id(value: str) -> str | None:
    """None when `value` is a valid resident ID, else why it is not."""
    if len(value) != 18:
        return f"resident ID must have 18 characters, got {len(value)}"
    if not value[:17].isdigit() or not value[:17].isascii():
        return "resident ID must start with 17 digits"
    if value[17] not in "0123456789X":
        return "resident ID check character must be a digit or X"
    if not plausible_birth_date(value):
        return "resident ID has an impossible birth date"
    expected = resident_id_check(value[:17])
    if value[17] != expected:
        return f"resident ID check character is {value[17]}, expected {expected}"
    return None


def validate_uscc(value: str) -> str | None:
    """None when `value` is a valid Unified Social Credit Code, else why it is not."""
    if len(value) != 18:
        return f"USCC must have 18 characters, got {len(value)}"
    bad = sorted({c for c in value if c not in USCC_ALPHABET})
    if bad:
        return f"USCC contains characters outside its alphabet: {''.join(bad)}"
    expected = uscc_check(value[:17])
    if value[17] != expected:
        return f"USCC check character is {value[17]}, expected {expected}"
    return None


@dataclass(frozen=True)
class Scheme:
    """An identifier scheme: its name, the kind of subject it names, and how to check it."""

    name: str
    subject_kind: str
    claims: Callable[[str], bool]
    validate: Callable[[str], str | None]
    definite: Callable[[str], bool] = lambda _value: False
    """True when a value is unmistakably of this scheme, so no later scheme is asked."""


_SCHEMES: list[Scheme] = [
    Scheme(
        "resident_id",
        PERSON,
        lambda v: len(v) == 18 and v[:17].isdigit(),
        validate_resident_id,
        plausible_birth_date,
    ),
    Scheme(
        "uscc",
        ORGANISATION,
        lambda v: len(v) == 18 and v[:2].isalnum(),
        validate_uscc,
    ),
]


def register_scheme(scheme: Scheme) -> None:
    """Add an identifier scheme; earlier schemes are asked first, and the first that
    accepts an identifier decides its kind."""
    _SCHEMES.append(scheme)
    _identify.cache_clear()


def normalise(value: str) -> str:
    """The canonical spelling of an identifier: trimmed and upper case."""
    return value.strip().upper()


def identify(value: object) -> tuple[str, str]:
    """Return (canonical id, subject kind) or raise InvalidIdentifier naming the reason."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier("subject identifier is missing")
    return _identify(value)


@lru_cache(maxsize=1 << 18)
def _identify(value: str) -> tuple[str, str]:
    # Cached: a furnisher's file names the same subjects again and again.
    canonical = normalise(value)
    reasons = []
    for scheme in _SCHEMES:
        if scheme.claims(canonical):
            reason = scheme.validate(canonical)
            if reason is None:
                return canonical, scheme.subject_kind
            reasons.append(reason)
            if scheme.definite(canonical):
                break
    if reasons:
        # Numeric USCCs look like resident IDs: say why it is neither.
        raise InvalidIdentifier("; ".join(reasons))
    raise InvalidIdentifier(f"{value!r} is neither a resident ID nor a USCC")


def masked(value: str) -> str:
    """An identifier as a public list shows it: a person's resident ID with its birth date
    hidden, as the Supreme People's Court's list shows it (110105********002X); any other
    person's id with all but its first and last two characters hidden; an organisation's code
    whole, as it is public anyway."""
    canonical, kind = identify(value)
    if kind != PERSON:
        return canonical
    if len(canonical) == 18:
        return canonical[:6] + "*" * 8 + canonical[14:]
    return canonical[:2] + "*" * max(len(canonical) - 4, 0) + canonical[-2:]


def subject_kind(value: str) -> str:
    """The kind of subject an identifier names (raises InvalidIdentifier)."""
    return identify(value)[1]
