"""The synthetic city: persons, organisations, furnishers, their records and relations.

Everything is drawn from one seeded numpy generator and built column by column as Arrow tables,
so a city of 100,000 persons and about two million records takes seconds, and the same arguments
always give the same city. Nothing here loops over rows in Python.

The behaviour model: every person has latent traits (unreliability, income, civic-mindedness,
driving risk, appetite for online shopping) and every organisation an unreliability. Each kind of
record is a Poisson or Bernoulli draw whose rate grows with the relevant trait, so most subjects
have clean histories and a minority carry most of the arrears, judgments and fines.

Relations read "subject <relation> other": a guarantor relation names the guarantor as subject
and the borrower as other; employee_of and legal_representative_of point from a person to an
organisation. Contacts are directed (the subject's phone book) and never family ties.

Every city also holds three fixed example subjects (`EXAMPLES`), whatever its size and seed, so
that documented commands name subjects that exist. They take the place of the first two residents
and the first organisation (the counts stay as asked; a one-person city holds only the first),
keep those subjects' relations, and get a fixed history instead of a drawn one, dated in days
before `as_of` (squeezed into a window shorter than two years):

- 11010519491231002X, Li Wei: a judgment defaulter (an unperformed judgment 150 days back), so
  flight booking is refused; also on the serious tax arrears list since 430 days back, arrears
  paid 120 days back, so a credit repair of that entry is granted.
- 370687198506120317, Zhao Ming: 240 volunteer hours in the last year and three 400 ml blood
  donations, on both civic redlists and graded AAA by the Rongcheng-style program.
- 91370687MA3C7R2K16, Rongcheng Shidao Bay Fisheries Co., Ltd.: an organisation with a clean
  history (taxes filed on time, loan instalments repaid), Zhao Ming's employer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.identifiers import (
    RESIDENT_ID_CHECKS,
    RESIDENT_ID_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
)

__all__ = [
    "EXAMPLES",
    "EXAMPLE_ORGANISATIONS",
    "EXAMPLE_PERSONS",
    "FORMATS",
    "FURNISHERS",
    "REGIONS",
    "City",
    "generate_city",
    "write_city",
]

Ints = np.ndarray
Floats = np.ndarray

SECOND = 1_000_000
DAY = 86_400 * SECOND
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

FORMATS = ("csv", "ndjson", "parquet")

# (furnisher id, furnisher type, display name)
FURNISHERS: tuple[tuple[str, str, str], ...] = (
    ("bank-rongcheng-rural", "lender", "Rongcheng Rural Commercial Bank"),
    ("bank-weihai-commercial", "lender", "Weihai City Commercial Bank"),
    ("court-rongcheng", "court", "Rongcheng People's Court"),
    ("tax-weihai", "tax_bureau", "Weihai Municipal Tax Service"),
    ("traffic-rongcheng", "traffic_police", "Rongcheng Traffic Police Brigade"),
    ("power-grid-weihai", "utility", "Weihai Power Supply Company"),
    ("water-rongcheng", "utility", "Rongcheng Water Supply Company"),
    ("employers-weihai", "employer", "Weihai Employer Verification Service"),
    ("shop-market", "shop", "Shop Market online marketplace"),
    ("telecom-weihai", "telecom", "Weihai Mobile"),
    (
        "registry-rongcheng",
        "civil_registry",
        "Rongcheng Public Security and Civil Affairs Registry",
    ),
    ("edu-registry", "education_registry", "Higher Education Credential Registry"),
    ("market-regulator-weihai", "market_regulator", "Weihai Market Supervision Administration"),
    ("volunteers-rongcheng", "volunteer_registry", "Rongcheng Volunteers Association"),
    ("blood-centre-weihai", "blood_centre", "Weihai Central Blood Station"),
)
_F = {fid: i for i, (fid, _, _) in enumerate(FURNISHERS)}
BANKS = (_F["bank-rongcheng-rural"], _F["bank-weihai-commercial"])
_BANK_PREFIX = ("RCB", "WHCB")
COURT = _F["court-rongcheng"]
TAX = _F["tax-weihai"]
TRAFFIC = _F["traffic-rongcheng"]
POWER = _F["power-grid-weihai"]
WATER = _F["water-rongcheng"]
EMPLOYERS = _F["employers-weihai"]
SHOP = _F["shop-market"]
TELECOM = _F["telecom-weihai"]
CIVIL = _F["registry-rongcheng"]
EDUCATION = _F["edu-registry"]
REGULATOR = _F["market-regulator-weihai"]
VOLUNTEERS = _F["volunteers-rongcheng"]
BLOOD = _F["blood-centre-weihai"]

# Administrative division codes: (code, name, share of persons, share of organisations).
REGIONS: tuple[tuple[int, str, float, float], ...] = (
    (371082, "Rongcheng", 0.45, 0.50),
    (371002, "Huancui", 0.20, 0.22),
    (371003, "Wendeng", 0.12, 0.12),
    (371083, "Rushan", 0.10, 0.12),
    (370102, "Lixia", 0.04, 0.02),
    (370103, "Shizhong", 0.03, 0.00),
    (370202, "Shinan", 0.03, 0.02),
    (370602, "Zhifu", 0.03, 0.00),
)

KINDS: tuple[str, ...] = (
    "identity.phone_verified",
    "identity.address_verified",
    "education.degree_verified",
    "employment.verified",
    "tax.filed_on_time",
    "tax.arrears",
    "loan.repaid_on_time",
    "loan.arrears_cycle",
    "card.overdue",
    "loan.private_lending_breach",
    "guarantee.breached",
    "finance.illegal_fundraising",
    "contract.breached",
    "contract.lawsuit_lost",
    "court.judgment_unfulfilled",
    "court.judgment_fulfilled",
    "traffic.fine_unpaid",
    "traffic.drunk_driving",
    "utility.payment_late",
    "utility.theft",
    "utility.equipment_destroyed",
    "commerce.order_completed",
    "commerce.counterfeit_goods",
    "volunteer.hours",
    "blood.donation",
    "heroic_act.recognised",
    RETRACTION_KIND,
)
_K = {kind: i for i, kind in enumerate(KINDS)}

SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun",
    "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo", "Yu", "Qu", "Bi", "Tang", "Song", "Han",
    "Cong", "Yue", "Jiang", "Dong",
)  # fmt: skip
FEMALE_NAMES = (
    "Xiuying", "Guiying", "Xiulan", "Yumei", "Jing", "Li", "Min", "Yan", "Fang", "Na", "Xia",
    "Hong", "Juan", "Ling", "Lan", "Ting", "Xue", "Hui", "Yuxin", "Zihan", "Yutong", "Xinyi",
    "Mei", "Qian",
)  # fmt: skip
MALE_NAMES = (
    "Wei", "Qiang", "Lei", "Jun", "Yong", "Jie", "Tao", "Ming", "Chao", "Gang", "Ping", "Hui",
    "Jianguo", "Jianhua", "Zhiqiang", "Haitao", "Haoran", "Yuxuan", "Zihao", "Bo", "Peng",
    "Xin", "Long", "Dong",
)  # fmt: skip
ORG_WORDS = (
    "Xinyuan", "Hengtai", "Huafeng", "Jinhai", "Haida", "Shenghui", "Dongfang", "Tianrun",
    "Yongsheng", "Haiyang", "Rongda", "Zhongxin", "Baoli", "Hongxing", "Ruifeng", "Shidao",
    "Lanhai", "Jiahe", "Fuxing", "Chengda",
)  # fmt: skip
ORG_TRADES = (
    "Trading", "Fisheries", "Food", "Logistics", "Construction", "Machinery", "Textile",
    "Tourism", "Marine Products", "Technology", "Real Estate", "Catering", "Tyre", "Shipbuilding",
)  # fmt: skip


def _prop(z: Floats, beta: float) -> Floats:
    """A multiplicative rate factor with mean 1 that grows with the latent trait z ~ N(0, 1)."""
    return np.exp(beta * z - beta * beta / 2.0)


def _chance(rng: np.random.Generator, p: Floats | float, n: int) -> np.ndarray:
    """Bernoulli draws with success probability p (clipped to [0, 1])."""
    return rng.random(n) < np.clip(p, 0.0, 1.0)


def _within(counts: Ints) -> Ints:
    """For rows expanded with np.repeat(..., counts): each row's index within its group."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.asarray(np.arange(total, dtype=np.int64) - np.repeat(starts, counts), np.int64)


def _strings(values: np.ndarray | list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values) if isinstance(values, tuple | list) else values, pa.string())


def _text(values: np.ndarray) -> pa.Array:
    """Numbers as text, e.g. for JSON attributes."""
    return pc.cast(pa.array(values), pa.string())


def _pick(
    rng: np.random.Generator, options: tuple[str, ...], n: int, p: list[float] | None = None
) -> pa.Array:
    return _strings(options).take(pa.array(rng.choice(len(options), n, p=p)))


def _json(**fields: pa.Array | np.ndarray) -> pa.Array:
    """Build JSON object text per row; string arrays are quoted, numeric arrays are not."""
    pieces: list[object] = []
    for i, (key, values) in enumerate(fields.items()):
        sep = "{" if i == 0 else ", "
        if isinstance(values, np.ndarray):
            pieces += [f'{sep}"{key}": ', _text(values)]
        else:
            pieces += [f'{sep}"{key}": "', values, '"']
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")


def _join(*pieces: object) -> pa.Array:
    return pc.binary_join_element_wise(*pieces, "")


def _years_of(times: Ints) -> Ints:
    return times.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970


def _start_of_window(as_of: date, years: int) -> date:
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:  # 29 February
        return as_of.replace(year=as_of.year - years, day=28)


@dataclass(frozen=True)
class City:
    """A generated city: furnishers, the subject registry, relations and records per furnisher."""

    furnishers: pa.Table
    registry: pa.Table
    relations: pa.Table
    records: dict[str, pa.Table]
    as_of: date | None = None
    seed: int | None = None

    @property
    def record_count(self) -> int:
        return sum(t.num_rows for t in self.records.values())


class _Window:
    """The period [start, as_of) in microseconds since the epoch; times fall on whole seconds."""

    def __init__(self, rng: np.random.Generator, as_of: date, years: int) -> None:
        self.rng = rng
        self.years = years
        first = _start_of_window(as_of, years)
        self.start = (datetime(first.year, first.month, first.day) - _EPOCH) // _MICROSECOND
        self.end = (datetime(as_of.year, as_of.month, as_of.day) - _EPOCH) // _MICROSECOND
        self.days = (as_of - first).days

    def times(self, n: int, first_day: int = 0, days: int | None = None) -> Ints:
        """Random times of day (07:00 to 22:00) on random days of the window."""
        span = self.days - first_day if days is None else days
        day = first_day + self.rng.integers(0, span, n)
        sec = self.rng.integers(7 * 3600, 22 * 3600, n)
        return self.start + day * DAY + sec * SECOND

    def slot(self, j: int, n: int) -> Ints:
        """Random times within the j-th of `years` equal slots (one per year)."""
        width = self.days // self.years
        return self.times(n, first_day=j * width, days=width)

    def _office_hours(self, moment: Ints) -> Ints:
        """The same day as `moment` at a random time between 07:00 and 22:00."""
        day = (moment - self.start) // DAY
        seconds = self.rng.integers(7 * 3600, 22 * 3600, len(moment))
        return np.asarray(self.start + day * DAY + seconds * SECOND, np.int64)

    def between(self, a: Ints, b: Ints | int) -> Ints:
        """Random times in [a, b), in office hours where the interval allows; a when b <= a."""
        b = np.maximum(np.asarray(b, dtype=np.int64), a)
        gap = (b - a) // SECOND
        moment = a + (self.rng.random(len(a)) * gap).astype(np.int64) * SECOND
        moment = np.clip(self._office_hours(moment), a, np.maximum(b - SECOND, a))
        return np.asarray(moment, np.int64)

    def after(self, base: Ints, lo_days: int, hi_days: int) -> Ints:
        """A time lo_days to hi_days after base's day, in office hours (may pass as_of)."""
        later = base + self.rng.integers(lo_days, hi_days, len(base)) * DAY
        return self._office_hours(later)


# -------------------------------------------------------------------------------- identifiers


def _digits(numbers: Ints, width: int) -> Ints:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers[None, :]) % 10


def _ascii_rows(codes: np.ndarray) -> pa.Array:
    """A (n, w) uint8 array of ASCII codes -> Arrow strings of width w."""
    n, width = codes.shape
    data = pa.py_buffer(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, data])


def _resident_ids(
    rng: np.random.Generator, n: int, as_of: date
) -> tuple[pa.Array, Ints, Ints, np.ndarray, Floats]:
    """Valid resident IDs: (ids, region index, birth year, male flag, age in years)."""
    shares = np.array([r[2] for r in REGIONS])
    region = rng.choice(len(REGIONS), n, p=shares / shares.sum())
    # 6,577 days is more than 18 years, 31,380 days less than 86: ages 18 to 85 as of `as_of`.
    age_days = (6_577 + rng.beta(1.3, 1.7, n) * (31_380 - 6_577)).astype(np.int64)
    birth = np.datetime64(as_of, "D") - age_days.astype("timedelta64[D]")
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    male = rng.random(n) < 0.5
    sex_digit = 2 * rng.integers(0, 5, n) + male
    codes = np.array([r[0] for r in REGIONS], dtype=np.int64)[region]
    prefix = codes * 10**11 + (year * 10_000 + month * 100 + day) * 1_000
    prefix += rng.integers(0, 100, n) * 10 + sex_digit
    for _ in range(1_000):
        _, first = np.unique(prefix, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        redraw = rng.integers(0, 100, int(dup.sum())) * 10 + sex_digit[dup]
        prefix[dup] = prefix[dup] - prefix[dup] % 1_000 + redraw
    else:
        raise ValueError("too many persons for the available resident ID space")
    digits = _digits(prefix, 17)
    total = digits @ np.array(RESIDENT_ID_WEIGHTS, dtype=np.int64)
    checks = np.frombuffer(RESIDENT_ID_CHECKS.encode(), dtype=np.uint8)[total % 11]
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = digits + ord("0")
    chars[:, 17] = checks
    return _ascii_rows(chars), region, year, male, age_days / 365.2425


def _usccs(rng: np.random.Generator, n: int) -> tuple[pa.Array, Ints]:
    """Valid Unified Social Credit Codes for companies: (ids, region index)."""
    shares = np.array([r[3] for r in REGIONS])
    region = rng.choice(len(REGIONS), n, p=shares / shares.sum())
    codes = np.array([r[0] for r in REGIONS], dtype=np.int64)[region]
    idx = np.empty((n, 17), dtype=np.int64)
    idx[:, 0], idx[:, 1] = 9, 1  # registered by market regulation, an enterprise
    idx[:, 2:8] = _digits(codes, 6)
    idx[:, 8:] = rng.integers(0, len(USCC_ALPHABET), (n, 9))
    for _ in range(1_000):
        # at least one letter, so the code is never mistaken for a resident ID; all distinct
        redo = (idx[:, 8:] < 10).all(axis=1)
        key = (idx[:, 2:] * (31 ** np.arange(15, dtype=np.int64))[None, ::-1]).sum(axis=1)
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        redo |= dup
        if not redo.any():
            break
        idx[redo, 8:] = rng.integers(0, len(USCC_ALPHABET), (int(redo.sum()), 9))
    else:
        raise ValueError("too many organisations for the available USCC space")
    total = idx @ np.array(USCC_WEIGHTS, dtype=np.int64)
    check = (31 - total % 31) % 31
    alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = alphabet[idx]
    chars[:, 17] = alphabet[check]
    return _ascii_rows(chars), region


# -------------------------------------------------------------------------------- collectors


class _Records:
    """Collects record columns chunk by chunk (one kind per chunk)."""

    def __init__(self) -> None:
        self.subject: list[Ints] = []
        self.furnisher: list[Ints] = []
        self.kind: list[Ints] = []
        self.time: list[Ints] = []
        self.value: list[Floats] = []
        self.attributes: list[pa.Array] = []
        self.evidence: list[pa.Array] = []

    def add(
        self,
        kind: str,
        furnisher: int | Ints,
        subject: Ints,
        time: Ints,
        value: Floats | None = None,
        attributes: str | pa.Array = "{}",
        evidence: pa.Array | None = None,
    ) -> None:
        n = len(subject)
        if n == 0:
            return
        self.subject.append(np.asarray(subject, dtype=np.int64))
        self.furnisher.append(np.broadcast_to(np.asarray(furnisher, dtype=np.int64), (n,)))
        self.kind.append(np.full(n, _K[kind], dtype=np.int64))
        self.time.append(np.asarray(time, dtype=np.int64))
        self.value.append(
            np.full(n, np.nan) if value is None else np.asarray(value, dtype=np.float64)
        )
        self.attributes.append(
            pa.repeat(attributes, n) if isinstance(attributes, str) else attributes
        )
        self.evidence.append(pa.nulls(n, pa.string()) if evidence is None else evidence)


class _Relations:
    """Collects relation columns chunk by chunk."""

    RELATION_TYPES = (
        "contact",
        "guarantor",
        "co_borrower",
        "employee_of",
        "legal_representative_of",
    )

    def __init__(self, n_subjects: int) -> None:
        self.n_subjects = n_subjects
        self.subject: list[Ints] = []
        self.other: list[Ints] = []
        self.furnisher: list[Ints] = []
        self.relation: list[Ints] = []
        self.start: list[Ints] = []
        self.end: list[Ints] = []
        self.confirmed: list[np.ndarray] = []

    def add(
        self,
        relation: str,
        furnisher: int | Ints,
        subject: Ints,
        other: Ints,
        start: Ints,
        end: Ints,
        confirmed: np.ndarray,
    ) -> None:
        """end is -1 where the relation is still current."""
        n = len(subject)
        if n == 0:
            return
        self.subject.append(np.asarray(subject, dtype=np.int64))
        self.other.append(np.asarray(other, dtype=np.int64))
        self.furnisher.append(np.broadcast_to(np.asarray(furnisher, dtype=np.int64), (n,)))
        self.relation.append(np.full(n, self.RELATION_TYPES.index(relation), dtype=np.int64))
        self.start.append(np.asarray(start, dtype=np.int64))
        self.end.append(np.asarray(end, dtype=np.int64))
        self.confirmed.append(np.asarray(confirmed, dtype=bool))


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def _external_ids(furnisher: Ints, seq: Ints, infix: str = "") -> pa.Array:
    names = _strings([f"{fid}-{infix}" for fid, _, _ in FURNISHERS]).take(pa.array(furnisher))
    number = pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), width=9, padding="0")
    return _join(names, number)


def _group_rank(sorted_groups: Ints, n_groups: int) -> Ints:
    """For an array sorted by group: 1-based position of each row within its group."""
    starts = np.searchsorted(sorted_groups, np.arange(n_groups))
    rank = np.arange(len(sorted_groups), dtype=np.int64) - starts[sorted_groups] + 1
    return np.asarray(rank, np.int64)


def _timestamps(us: Ints, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(us, type=pa.timestamp("us"), mask=null)


# -------------------------------------------------------------------------------- fixed examples


@dataclass(frozen=True)
class ExampleRecord:
    """One record of an example subject, `days` before the city's as-of day; "{year}" and
    "{tax_year}" in its attributes or evidence become the year it occurred and the one before."""

    furnisher: str
    kind: str
    days: int
    value: float | None = None
    attributes: str = "{}"
    evidence: str | None = None


@dataclass(frozen=True)
class Example:
    """A fixed subject that every generated city holds, with its history."""

    subject: str
    name: str
    records: tuple[ExampleRecord, ...]
    birth_year: int | None = None
    sex: str | None = None
    address: str | None = None


_TAX_YEAR = '{"tax_year": {tax_year}}'
_EMPLOYER = "91370687MA3C7R2K16"

EXAMPLE_PERSONS: tuple[Example, ...] = (
    Example(
        "11010519491231002X",
        "Li Wei",
        (
            ExampleRecord("telecom-weihai", "identity.phone_verified", 690),
            ExampleRecord(
                "registry-rongcheng",
                "identity.address_verified",
                680,
                attributes='{"address": "household_register"}',
            ),
            *(
                ExampleRecord(
                    "bank-rongcheng-rural",
                    "loan.repaid_on_time",
                    days,
                    attributes='{"loan": "RCB-20190412"}',
                )
                for days in (640, 610, 580)
            ),
            ExampleRecord("tax-weihai", "tax.filed_on_time", 600, attributes=_TAX_YEAR),
            ExampleRecord(
                "shop-market",
                "commerce.order_completed",
                500,
                268.0,
                '{"category": "household"}',
            ),
            ExampleRecord("tax-weihai", "tax.arrears", 430, 128_000.0, '{"tax": "property"}'),
            ExampleRecord(
                "shop-market",
                "commerce.order_completed",
                300,
                89.5,
                '{"category": "groceries"}',
            ),
            ExampleRecord(
                "court-rongcheng",
                "contract.lawsuit_lost",
                260,
                evidence="case:({year})Lu1082Minchu1231",
            ),
            ExampleRecord(
                "court-rongcheng",
                "court.judgment_unfulfilled",
                150,
                evidence="case:({year})Lu1082Zhi1949",
            ),
            ExampleRecord("tax-weihai", "tax.arrears_paid", 120, 128_000.0, '{"tax": "property"}'),
            ExampleRecord(
                "shop-market",
                "commerce.order_completed",
                30,
                45.0,
                '{"category": "food_delivery"}',
            ),
        ),
        birth_year=1949,
        sex="F",
    ),
    Example(
        "370687198506120317",
        "Zhao Ming",
        (
            ExampleRecord("telecom-weihai", "identity.phone_verified", 700),
            ExampleRecord(
                "registry-rongcheng",
                "identity.address_verified",
                690,
                attributes='{"address": "residential"}',
            ),
            ExampleRecord(
                "edu-registry",
                "education.degree_verified",
                680,
                attributes='{"level": "bachelor"}',
            ),
            *(
                ExampleRecord(
                    "employers-weihai",
                    "employment.verified",
                    days,
                    attributes=f'{{"employer": "{_EMPLOYER}"}}',
                )
                for days in (650, 200)
            ),
            *(
                ExampleRecord("tax-weihai", "tax.filed_on_time", days, attributes=_TAX_YEAR)
                for days in (600, 235)
            ),
            *(
                ExampleRecord(
                    "bank-weihai-commercial",
                    "loan.repaid_on_time",
                    days,
                    attributes='{"loan": "WHCB-35071288"}',
                )
                for days in (560, 470, 380, 290)
            ),
            *(
                ExampleRecord("blood-centre-weihai", "blood.donation", days, 400.0)
                for days in (480, 300, 115)
            ),
            *(
                ExampleRecord(
                    "volunteers-rongcheng",
                    "volunteer.hours",
                    40 + 25 * k,
                    20.0,
                    f'{{"activity": "{activity}"}}',
                )
                for k, activity in enumerate(
                    ("beach_cleanup", "elderly_care", "tutoring", "community_service") * 3
                )
            ),
            ExampleRecord(
                "shop-market", "commerce.order_completed", 350, 56.0, '{"category": "books"}'
            ),
            ExampleRecord(
                "shop-market", "commerce.order_completed", 60, 1280.0, '{"category": "travel"}'
            ),
        ),
        birth_year=1985,
        sex="M",
    ),
)

EXAMPLE_ORGANISATIONS: tuple[Example, ...] = (
    Example(
        _EMPLOYER,
        "Rongcheng Shidao Bay Fisheries Co., Ltd.",
        (
            *(
                ExampleRecord("tax-weihai", "tax.filed_on_time", days, attributes=_TAX_YEAR)
                for days in (620, 255)
            ),
            *(
                ExampleRecord(
                    "bank-weihai-commercial",
                    "loan.repaid_on_time",
                    days,
                    attributes='{"loan": "WHCB-60218834"}',
                )
                for days in (540, 420, 300, 180)
            ),
        ),
        address="No. 88 Shidao Harbour, Rongcheng",
    ),
)

EXAMPLES = EXAMPLE_PERSONS + EXAMPLE_ORGANISATIONS


def _with_examples(generated: pa.Array, examples: tuple[Example, ...]) -> pa.Array:
    """Generated identifiers with the first ones replaced by the examples' (as many as fit)."""
    k = min(len(examples), len(generated))
    return pa.concat_arrays([_strings([e.subject for e in examples[:k]]), generated.slice(k)])


def _placed_examples(persons: int, organisations: int) -> dict[int, Example]:
    """The registry rows the examples take: the first residents, the first organisations."""
    placed = dict(enumerate(EXAMPLE_PERSONS[:persons]))
    placed.update({persons + i: e for i, e in enumerate(EXAMPLE_ORGANISATIONS[:organisations])})
    return placed


def _example_registry(registry: pa.Table, placed: dict[int, Example]) -> pa.Table:
    """The registry with the examples' names, birth years, sexes and addresses at their rows."""
    mask = np.zeros(registry.num_rows, dtype=bool)
    mask[list(placed)] = True
    chosen = [placed[row] for row in sorted(placed)]
    values: dict[str, list[object]] = {
        "name": [e.name for e in chosen],
        "region": ["Rongcheng"] * len(chosen),
        "urban": [True] * len(chosen),
        "birth_year": [e.birth_year for e in chosen],
        "sex": [e.sex for e in chosen],
        "address": [e.address for e in chosen],
    }
    for name, new in values.items():
        i = registry.schema.get_field_index(name)
        column = registry.column(i).combine_chunks()
        replaced = pc.replace_with_mask(column, pa.array(mask), pa.array(new, column.type))
        registry = registry.set_column(i, name, replaced)
    return registry


def _dated(text: str, at: datetime) -> str:
    """Fill in "{year}" and "{tax_year}" for a record that occurred at `at`."""
    return text.replace("{year}", str(at.year)).replace("{tax_year}", str(at.year - 1))


def _example_rows(examples: list[Example], w: _Window) -> dict[str, list[dict[str, object]]]:
    """The examples' records by furnisher, dated back from as_of (squeezed into the window)."""
    span = max(r.days for e in examples for r in e.records)
    scale = min(1.0, (w.days - 1) / span)
    end = _EPOCH + w.end * _MICROSECOND
    rows: dict[str, list[dict[str, object]]] = {}
    for example in examples:
        for i, r in enumerate(example.records):
            days = max(1, round(r.days * scale))
            at = end - timedelta(days=days) + timedelta(hours=10, minutes=7 * i)
            mine = rows.setdefault(r.furnisher, [])
            mine.append(
                {
                    "subject": example.subject,
                    "furnisher": r.furnisher,
                    "kind": r.kind,
                    "occurred_at": at,
                    "external_id": f"{r.furnisher}-example-{len(mine) + 1:04d}",
                    "value": r.value,
                    "attributes": _dated(r.attributes, at),
                    "evidence": None if r.evidence is None else _dated(r.evidence, at),
                    "replaces": None,
                }
            )
    return rows


def _place_examples(
    records: dict[str, pa.Table], examples: list[Example], w: _Window
) -> dict[str, pa.Table]:
    """Each furnisher's records without the drawn records of the examples' rows, with the
    examples' own records in time order."""
    if not examples:
        return records
    ids = _strings([e.subject for e in examples])
    extra = _example_rows(examples, w)
    out = {}
    for fid, table in records.items():
        kept = table.filter(pc.invert(pc.is_in(table.column("subject"), value_set=ids)))
        if fid in extra:
            both = pa.concat_tables([kept, pa.Table.from_pylist(extra[fid], schema=table.schema)])
            kept = both.take(pc.sort_indices(both, sort_keys=[("occurred_at", "ascending")]))
        out[fid] = kept
    return out


# -------------------------------------------------------------------------------- the generator


def generate_city(
    persons: int = 100_000,
    organisations: int | None = None,
    *,
    seed: int = 7,
    as_of: date | None = None,
    years: int = 2,
    examples: bool = True,
) -> City:
    """Generate a deterministic synthetic city; all times fall in [as_of - years, as_of).

    With `examples` (the default) the first two residents and the first organisation are the
    fixed subjects of `EXAMPLES` (see the module's docstring); the rest of the city is the same."""
    if persons < 1:
        raise ValueError("a city needs at least one person")
    n_org = max(1, persons // 20) if organisations is None else organisations
    if n_org < 1:
        raise ValueError("a city needs at least one organisation")
    if years < 1:
        raise ValueError("years must be at least 1")
    as_of = datetime.now(UTC).date() if as_of is None else as_of
    rng = np.random.default_rng(seed)
    w = _Window(rng, as_of, years)

    person_ids, p_region, birth_year, male, age = _resident_ids(rng, persons, as_of)
    org_ids, o_region = _usccs(rng, n_org)
    placed = _placed_examples(persons, n_org) if examples else {}
    if examples:
        person_ids = _with_examples(person_ids, EXAMPLE_PERSONS)
        org_ids = _with_examples(org_ids, EXAMPLE_ORGANISATIONS)
    ids = pa.concat_arrays([person_ids, org_ids])
    n_all = persons + n_org

    registry = _registry(rng, ids, persons, p_region, birth_year, male, o_region)
    recs = _Records()
    rels = _Relations(n_all)
    _simulate(rng, w, recs, rels, persons, n_org, age, male, org_ids)
    records = _place_examples(_record_tables(rng, w, recs, ids), list(placed.values()), w)
    registry = _example_registry(registry, placed) if placed else registry
    relations = _relation_table(rels, ids)
    furnishers = pa.table(
        {
            "furnisher": _strings([f[0] for f in FURNISHERS]),
            "type": _strings([f[1] for f in FURNISHERS]),
            "name": _strings([f[2] for f in FURNISHERS]),
        }
    )
    return City(furnishers, registry, relations, records, as_of, seed)


def _registry(
    rng: np.random.Generator,
    ids: pa.Array,
    persons: int,
    p_region: Ints,
    birth_year: Ints,
    male: np.ndarray,
    o_region: Ints,
) -> pa.Table:
    n_org = len(o_region)
    region_names = _strings([r[1] for r in REGIONS])
    surname = _strings(SURNAMES).take(pa.array(rng.choice(len(SURNAMES), persons)))
    given_pool = _strings(FEMALE_NAMES + MALE_NAMES)
    given_idx = np.where(
        male,
        len(FEMALE_NAMES) + rng.integers(0, len(MALE_NAMES), persons),
        rng.integers(0, len(FEMALE_NAMES), persons),
    )
    person_names = _join(surname, " ", given_pool.take(pa.array(given_idx)))
    org_names = _join(
        region_names.take(pa.array(o_region)),
        " ",
        _strings(ORG_WORDS).take(pa.array(rng.choice(len(ORG_WORDS), n_org))),
        " ",
        _strings(ORG_TRADES).take(pa.array(rng.choice(len(ORG_TRADES), n_org))),
        " Co., Ltd.",
    )
    urban = np.concatenate([rng.random(persons) < 0.6, rng.random(n_org) < 0.8])
    return pa.table(
        {
            "subject": ids,
            "name": pa.concat_arrays([person_names, org_names]),
            "region": region_names.take(pa.array(np.concatenate([p_region, o_region]))),
            "urban": pa.array(urban, pa.bool_()),
            "birth_year": pa.array(
                np.concatenate([birth_year, np.zeros(n_org, dtype=np.int64)]).astype(np.int32),
                pa.int32(),
                mask=np.arange(persons + n_org) >= persons,
            ),
            "sex": pa.array(np.where(male, "M", "F").tolist() + [None] * n_org, pa.string()),
            "address": pa.array([None] * persons + _org_addresses(o_region), pa.string()),
        }
    )


STREETS = ("Chengshan", "Shidao", "Yatou", "Haiyang", "Xinhua", "Renmin", "Jianshe", "Binhai")


def _org_addresses(o_region: Ints) -> list[str]:
    """Registered addresses for organisations, fixed by their position (no random draws, so
    the rest of the city does not change)."""
    return [
        f"No. {1 + (i * 7919) % 400} {STREETS[(i * 31) % len(STREETS)]} Road, {REGIONS[r][1]}"
        for i, r in enumerate(o_region.tolist())
    ]


def _case_numbers(
    rng: np.random.Generator, times: Ints, subject_region: str, kind_code: str
) -> pa.Array:
    """Court case references such as case:(2025)Lu1082Zhi123."""
    return _join(
        "case:(",
        _text(_years_of(times)),
        f"){subject_region}{kind_code}",
        _text(rng.integers(1, 5_000, len(times))),
    )


def _court_records(
    rng: np.random.Generator,
    w: _Window,
    recs: _Records,
    subjects: Ints,
    risk: Floats,
    rates: dict[str, float],
) -> None:
    """Judgments and their enforcement from the court, for persons or organisations."""
    n = len(subjects)
    court = "Lu1082"
    # unfulfilled judgments: about half are performed a few months later
    unf = _chance(rng, rates["unfulfilled"] * _prop(risk, 1.5), n)
    counts = unf.astype(np.int64) + (unf & (rng.random(n) < 0.15))
    who = np.repeat(subjects, counts)
    t = w.times(len(who))
    cases = _case_numbers(rng, t, court, "Zhi")
    recs.add("court.judgment_unfulfilled", COURT, who, t, evidence=cases)
    later = w.after(t, 30, 300)
    done = (rng.random(len(who)) < 0.62) & (later < w.end)
    recs.add(
        "court.judgment_fulfilled",
        COURT,
        who[done],
        later[done],
        evidence=cases.filter(pa.array(done)),
    )
    for kind, rate, beta, code in (
        ("contract.lawsuit_lost", rates.get("lawsuit", 0.0), 1.3, "Minchu"),
        ("contract.breached", rates.get("breach", 0.0), 1.3, "Minchu"),
        ("loan.private_lending_breach", rates.get("private_lending", 0.0), 1.3, "Minchu"),
        ("finance.illegal_fundraising", rates.get("fundraising", 0.0), 2.0, "Xingchu"),
    ):
        if rate <= 0:
            continue
        who = subjects[_chance(rng, rate * _prop(risk, beta), n)]
        t = w.times(len(who))
        recs.add(kind, COURT, who, t, evidence=_case_numbers(rng, t, court, code))


def _loans(
    rng: np.random.Generator,
    w: _Window,
    recs: _Records,
    subjects: Ints,
    bank: Ints,
    risk: Floats,
    repaid_mean: float,
    delinquency: float,
) -> None:
    """loan.repaid_on_time for each borrower, loan.arrears_cycle runs for delinquent ones."""
    n = len(subjects)
    loan_no = rng.integers(10_000_000, 100_000_000, n)
    loan = _join(_strings(_BANK_PREFIX).take(pa.array(bank)), "-", _text(loan_no))
    repaid = 1 + rng.poisson(repaid_mean, n)
    rows = np.repeat(np.arange(n), repaid)
    recs.add(
        "loan.repaid_on_time",
        np.array(BANKS)[bank[rows]],
        subjects[rows],
        w.times(len(rows)),
        attributes=_json(loan=loan.take(pa.array(rows))),
    )
    late = _chance(rng, delinquency * _prop(risk, 1.3), n)
    cycles = np.where(late, 1 + np.minimum(rng.geometric(0.4, n) - 1, 5), 0)
    rows = np.repeat(np.arange(n), cycles)
    cycle = _within(cycles[late]) + 1 if late.any() else np.empty(0, dtype=np.int64)
    # the first cycle falls early enough for the last to fall before as_of
    first = w.times(n, days=max(1, w.days - 6 * 31))
    times = first[rows] + (cycle - 1) * 30 * DAY
    recs.add(
        "loan.arrears_cycle",
        np.array(BANKS)[bank[rows]],
        subjects[rows],
        times,
        attributes=_json(loan=loan.take(pa.array(rows)), cycle=cycle),
    )


def _simulate(
    rng: np.random.Generator,
    w: _Window,
    recs: _Records,
    rels: _Relations,
    P: int,
    O: int,  # noqa: E741
    age: Floats,
    male: np.ndarray,
    org_ids: pa.Array,
) -> None:
    people = np.arange(P, dtype=np.int64)
    orgs = np.arange(P, P + O, dtype=np.int64)

    # latent traits
    risk = rng.standard_normal(P)  # unreliability
    income = np.exp(rng.normal(0.0, 0.6, P))
    civic = rng.standard_normal(P)
    driving = (rng.standard_normal(P) + risk) / np.sqrt(2.0)
    shopping = rng.gamma(1.2, 1 / 1.2, P)
    org_risk = rng.standard_normal(O)
    org_size = rng.pareto(1.2, O) + 1.0
    bank = (rng.random(P) < 0.45).astype(np.int64)
    org_bank = (rng.random(O) < 0.5).astype(np.int64)

    # ---------------------------------------------------------------- identity and education
    phone = rng.random(P) < 0.9
    counts = phone.astype(np.int64) + (phone & (rng.random(P) < 0.1))
    who = np.repeat(people, counts)
    recs.add("identity.phone_verified", TELECOM, who, w.times(len(who)))

    who = people[rng.random(P) < 0.8]
    recs.add(
        "identity.address_verified",
        CIVIL,
        who,
        w.times(len(who)),
        attributes=_pick(
            rng, ('{"address": "residential"}', '{"address": "household_register"}'), len(who)
        ),
    )

    who = people[_chance(rng, np.where(age < 45, 0.47, 0.25) * income**0.3, P)]
    levels = (
        '{"level": "associate"}',
        '{"level": "bachelor"}',
        '{"level": "master"}',
        '{"level": "doctorate"}',
    )
    recs.add(
        "education.degree_verified",
        EDUCATION,
        who,
        w.times(len(who)),
        attributes=_pick(rng, levels, len(who), [0.35, 0.5, 0.13, 0.02]),
    )

    # ---------------------------------------------------------------- employment
    employed = (age < 60) & (rng.random(P) < 0.7)
    staff = people[employed]
    employer = rng.choice(O, len(staff), p=org_size / org_size.sum())
    start = w.times(len(staff))
    ended = rng.random(len(staff)) < 0.12
    stop = np.where(ended, w.between(start, w.end), -1)
    rels.add(
        "employee_of", EMPLOYERS, staff, P + employer, start, stop, rng.random(len(staff)) < 0.97
    )
    counts = 1 + (rng.random(len(staff)) < 0.5)
    rows = np.repeat(np.arange(len(staff)), counts)
    until = np.where(stop[rows] >= 0, stop[rows], w.end)
    recs.add(
        "employment.verified",
        EMPLOYERS,
        staff[rows],
        w.between(start[rows], until),
        attributes=_json(employer=org_ids.take(pa.array(employer[rows]))),
    )

    # ---------------------------------------------------------------- tax
    filer = _chance(rng, np.where(employed, 0.8, 0.45), P)
    for j in range(w.years):
        who = people[filer & _chance(rng, 0.98 - 0.04 * np.clip(risk, 0, None), P)]
        t = w.slot(j, len(who))
        recs.add("tax.filed_on_time", TAX, who, t, attributes=_json(tax_year=_years_of(t) - 1))
        who = orgs[_chance(rng, np.where(org_risk > 1.5, 0.75, 0.99), O)]
        t = w.slot(j, len(who))
        recs.add("tax.filed_on_time", TAX, who, t, attributes=_json(tax_year=_years_of(t) - 1))
    for subjects, z, rate, extra, scale, taxes in (
        (people, risk, 0.03, 0.3, 1_500.0, ('{"tax": "individual_income"}', '{"tax": "property"}')),
        (orgs, org_risk, 0.08, 0.5, 20_000.0, ('{"tax": "vat"}', '{"tax": "corporate_income"}')),
    ):
        n = len(subjects)
        counts = _chance(rng, rate * _prop(z, 1.0), n) * (1 + rng.poisson(extra, n))
        who = np.repeat(subjects, counts)
        m = len(who)
        amount = np.round(np.maximum(10.0, rng.lognormal(np.log(scale), 1.0, m)), 2)
        recs.add("tax.arrears", TAX, who, w.times(m), value=amount, attributes=_pick(rng, taxes, m))

    # ---------------------------------------------------------------- loans and cards
    borrower = _chance(rng, 0.45 * income**0.4 * np.where(age < 70, 1.0, 0.4), P)
    _loans(rng, w, recs, people[borrower], bank[borrower], risk[borrower], 3.0, 0.07)
    org_borrower = rng.random(O) < 0.45
    _loans(
        rng, w, recs, orgs[org_borrower], org_bank[org_borrower], org_risk[org_borrower], 5.0, 0.06
    )
    card = rng.random(P) < 0.5
    counts = np.where(card, rng.poisson(0.15 * _prop(risk, 1.3)), 0)
    who = np.repeat(people, counts)
    recs.add(
        "card.overdue",
        np.array(BANKS)[bank[who]],
        who,
        w.times(len(who)),
        attributes=_json(days_overdue=rng.integers(3, 120, len(who))),
    )

    # guarantors and co-borrowers (persons), reported by the borrower's bank
    debtors = people[borrower]
    for relation, share in (("guarantor", 0.06), ("co_borrower", 0.045)):
        them = debtors[rng.random(len(debtors)) < share]
        partner = rng.integers(0, P, len(them))
        if relation == "guarantor":
            subject, other = partner, them  # the guarantor guarantees the borrower
        else:
            subject, other = np.minimum(partner, them), np.maximum(partner, them)
        start = w.times(len(them))
        stop = np.where(rng.random(len(them)) < 0.2, w.between(start, w.end), -1)
        furnisher = np.array(BANKS)[bank[them]]
        rels.add(relation, furnisher, subject, other, start, stop, rng.random(len(them)) < 0.97)
        if relation == "guarantor":
            keep = (subject != other) & _chance(rng, 0.04 * _prop(risk[subject], 1.3), len(them))
            until = np.where(stop >= 0, stop, w.end)
            recs.add(
                "guarantee.breached",
                furnisher[keep],
                subject[keep],
                w.between(start[keep], until[keep]),
            )

    # ---------------------------------------------------------------- courts
    person_rates = {
        "unfulfilled": 0.01,
        "lawsuit": 0.005,
        "breach": 0.006,
        "private_lending": 0.003,
        "fundraising": 0.0002,
    }
    _court_records(rng, w, recs, people, risk, person_rates)
    org_rates = {"unfulfilled": 0.03, "lawsuit": 0.03, "breach": 0.04}
    _court_records(rng, w, recs, orgs, org_risk, org_rates)

    # ---------------------------------------------------------------- market regulator
    for kind, rate, beta, code in (
        ("commerce.counterfeit_goods", 0.02, 1.5, "Jian"),
        ("finance.illegal_fundraising", 0.004, 2.0, "Jin"),
    ):
        who = orgs[_chance(rng, rate * _prop(org_risk, beta), O)]
        t = w.times(len(who))
        evidence = _join(
            "decision:(",
            _text(_years_of(t)),
            f")WeiShi{code}Fa",
            _text(rng.integers(1, 900, len(who))),
        )
        recs.add(kind, REGULATOR, who, t, evidence=evidence)

    # ---------------------------------------------------------------- online shopping
    shopper = _chance(rng, 0.97 - 0.008 * (age - 18), P)
    counts = np.where(shopper, rng.poisson(15.0 * shopping), 0)
    who = np.repeat(people, counts)
    m = len(who)
    categories = tuple(
        f'{{"category": "{c}"}}'
        for c in (
            "groceries",
            "clothing",
            "electronics",
            "household",
            "books",
            "travel",
            "food_delivery",
        )
    )
    recs.add(
        "commerce.order_completed",
        SHOP,
        who,
        w.times(m),
        value=np.round(np.clip(rng.lognormal(np.log(90.0), 0.9, m), 1.0, 50_000.0), 2),
        attributes=_pick(rng, categories, m, [0.3, 0.2, 0.1, 0.15, 0.05, 0.05, 0.15]),
    )
    who = people[shopper & _chance(rng, 0.004 * _prop(risk, 1.2), P)]
    recs.add("contract.breached", SHOP, who, w.times(len(who)), attributes='{"contract": "order"}')
    who = people[_chance(rng, 0.0008 * _prop(risk, 1.5), P)]
    recs.add(
        "commerce.counterfeit_goods", SHOP, who, w.times(len(who)), attributes='{"role": "seller"}'
    )

    # ---------------------------------------------------------------- utilities
    holder = rng.random(P) < 0.6
    for furnisher, rate, org_rate in ((POWER, 0.25, 0.5), (WATER, 0.2, 0.3)):
        service = '"power"' if furnisher == POWER else '"water"'
        for subjects, z, base, mask in (
            (people, risk, rate, holder),
            (orgs, org_risk, org_rate, None),
        ):
            counts = rng.poisson(base * _prop(z, 1.0))
            if mask is not None:
                counts = np.where(mask, counts, 0)
            who = np.repeat(subjects, counts)
            m = len(who)
            attrs = _join(
                f'{{"service": {service}, "days_late": ', _text(rng.integers(5, 90, m)), "}"
            )
            recs.add("utility.payment_late", furnisher, who, w.times(m), attributes=attrs)
    for kind, rate in (("utility.theft", 0.0006), ("utility.equipment_destroyed", 0.0002)):
        who = people[_chance(rng, rate * _prop(risk, 1.5), P)]
        recs.add(kind, np.where(rng.random(len(who)) < 0.6, POWER, WATER), who, w.times(len(who)))

    # ---------------------------------------------------------------- traffic
    driver = _chance(rng, np.where(male, 0.72, 0.45) * (age < 75), P)
    counts = np.where(driver, rng.poisson(0.12 * _prop(driving, 1.0)), 0)
    who = np.repeat(people, counts)
    m = len(who)
    offences = tuple(
        f'{{"offence": "{o}"}}'
        for o in ("speeding", "red_light", "parking", "no_seatbelt", "phone_use")
    )
    recs.add(
        "traffic.fine_unpaid",
        TRAFFIC,
        who,
        w.times(m),
        value=rng.choice(
            np.array([50.0, 100.0, 150.0, 200.0, 500.0, 1000.0, 2000.0]),
            m,
            p=[0.2, 0.3, 0.2, 0.15, 0.1, 0.04, 0.01],
        ),
        attributes=_pick(rng, offences, m),
        evidence=_join("ticket:3710", _text(rng.integers(10**11, 10**12, m))),
    )
    who = people[driver & _chance(rng, 0.0055 * _prop(driving, 1.2), P)]
    m = len(who)
    recs.add(
        "traffic.drunk_driving",
        TRAFFIC,
        who,
        w.times(m),
        attributes=_json(bac_mg_per_100ml=rng.integers(80, 220, m)),
        evidence=_join("ticket:3710", _text(rng.integers(10**11, 10**12, m))),
    )

    # ---------------------------------------------------------------- civic life
    volunteer = _chance(rng, 0.12 * _prop(civic, 0.8), P)
    counts = np.where(volunteer, 1 + rng.poisson(3.0 * np.exp(0.4 * civic)), 0)
    intensity = rng.lognormal(np.log(7.0), 0.6, P)
    who = np.repeat(people, counts)
    m = len(who)
    hours = np.maximum(1.0, np.round(intensity[who] * rng.uniform(0.5, 1.5, m)))
    activities = tuple(
        f'{{"activity": "{a}"}}'
        for a in ("community_service", "elderly_care", "beach_cleanup", "traffic_guide", "tutoring")
    )
    recs.add(
        "volunteer.hours",
        VOLUNTEERS,
        who,
        w.times(m),
        value=hours,
        attributes=_pick(rng, activities, m),
    )

    donor = (age <= 60) & _chance(rng, 0.06 * _prop(civic, 0.6), P)
    counts = np.where(donor, 1 + np.minimum(rng.poisson(0.6, P), 3), 0)
    who = np.repeat(people, counts)
    m = len(who)
    ml = rng.choice(np.array([200.0, 300.0, 400.0]), m, p=[0.45, 0.2, 0.35])
    recs.add("blood.donation", BLOOD, who, w.times(m), value=ml)

    who = people[_chance(rng, 0.0002 * _prop(civic, 1.0), P)]
    m = len(who)
    acts = tuple(
        f'{{"act": "{a}"}}'
        for a in ("rescue_from_drowning", "fire_rescue", "stopped_robbery", "accident_aid")
    )
    t = w.times(m)
    recs.add(
        "heroic_act.recognised",
        CIVIL,
        who,
        t,
        attributes=_pick(rng, acts, m),
        evidence=_join(
            "commendation:(", _text(_years_of(t)), ")Rong", _text(rng.integers(1, 100, m))
        ),
    )

    # ---------------------------------------------------------------- contacts and representatives
    # contacts cluster in communities of similar people, so neighbours' records correlate
    per = rng.poisson(3.15, P)
    subject = np.repeat(people, per)
    m = len(subject)
    order = np.argsort(risk + rng.standard_normal(P), kind="stable")
    rank = np.empty(P, dtype=np.int64)
    rank[order] = np.arange(P)
    block = 40
    local = np.minimum((rank[subject] // block) * block + rng.integers(0, block, m), P - 1)
    other = np.where(rng.random(m) < 0.7, order[local], rng.integers(0, P, m))
    start = w.times(m)
    stop = np.where(rng.random(m) < 0.08, w.between(start, w.end), -1)
    rels.add("contact", TELECOM, subject, other, start, stop, rng.random(m) < 0.85)

    adults = people[age >= 25] if (age >= 25).any() else people
    rep = adults[rng.integers(0, len(adults), O)]
    start = w.times(O)
    stop = np.where(rng.random(O) < 0.03, w.between(start, w.end), -1)
    rels.add("legal_representative_of", REGULATOR, rep, orgs, start, stop, np.ones(O, dtype=bool))


# -------------------------------------------------------------------------------- assembly


def _by_furnisher_then_time(furnisher: Ints, time: Ints) -> Ints:
    """A stable order by furnisher, then time (ties keep their order)."""
    if len(time) == 0:
        return np.empty(0, dtype=np.int64)
    offset = time - time.min()
    if int(offset.max()) >= 1 << 52 or int(furnisher.max()) >= 1 << 10:
        return np.lexsort((time, furnisher))
    return np.argsort((furnisher << 52) | offset, kind="stable")


def _record_tables(
    rng: np.random.Generator, w: _Window, recs: _Records, ids: pa.Array
) -> dict[str, pa.Table]:
    subject = _cat(recs.subject, np.int64)
    furnisher = _cat(recs.furnisher, np.int64)
    kind = _cat(recs.kind, np.int64)
    time = _cat(recs.time, np.int64)
    value = _cat(recs.value, np.float64)
    attributes = pa.concat_arrays(recs.attributes) if recs.attributes else pa.array([], pa.string())
    evidence = pa.concat_arrays(recs.evidence) if recs.evidence else pa.array([], pa.string())
    n, n_f = len(subject), len(FURNISHERS)

    # originals are numbered from 1 per furnisher in time order
    order = _by_furnisher_then_time(furnisher, time)
    seq = np.empty(n, dtype=np.int64)
    seq[order] = _group_rank(furnisher[order], n_f)
    external = _external_ids(furnisher, seq)

    # about 0.5% are later corrected (same kind, changed value or time) or retracted
    m = round(n * 0.005)
    picked = order[np.sort(rng.choice(n, m, replace=False))] if m else np.empty(0, np.int64)
    retract = rng.random(m) < 0.4
    c_furn = furnisher[picked]
    c_seq = np.bincount(furnisher, minlength=n_f)[c_furn] + _group_rank(c_furn, n_f)
    c_kind = np.where(retract, _K[RETRACTION_KIND], kind[picked])
    old = value[picked]
    new = np.round(old * rng.choice(np.array([0.5, 0.8, 1.25, 1.5]), m), 2)
    whole = np.isin(kind[picked], [_K["volunteer.hours"], _K["traffic.fine_unpaid"]])
    new = np.where(whole, np.maximum(1.0, np.round(new)), new)
    new = np.where(kind[picked] == _K["blood.donation"], np.where(old == 400.0, 200.0, 400.0), new)
    c_value = np.where(retract, np.nan, new)
    shift = rng.integers(1, 15, m) * DAY * np.where(rng.random(m) < 0.5, -1, 1)
    moved = time[picked] + shift
    moved = np.where((moved < w.start) | (moved >= w.end), time[picked] - shift, moved)
    retracted_at = w.after(time[picked], 1, 90)
    retracted_at = np.where(retracted_at < w.end, retracted_at, w.between(time[picked], w.end))
    c_time = np.where(retract, retracted_at, np.where(np.isnan(old), moved, time[picked]))
    reasons = (
        '{"reason": "entered_in_error"}',
        '{"reason": "wrong_subject"}',
        '{"reason": "duplicate"}',
    )
    retract_arr = pa.array(retract, pa.bool_())
    kept = pa.array(picked)
    c_attributes = pc.if_else(retract_arr, _pick(rng, reasons, m), attributes.take(kept))
    c_evidence = pc.if_else(retract_arr, pa.nulls(m, pa.string()), evidence.take(kept))

    # everything in time order per furnisher; a correction follows its original at equal times
    subject = np.concatenate([subject, subject[picked]])
    furnisher = np.concatenate([furnisher, c_furn])
    kind = np.concatenate([kind, c_kind])
    time = np.concatenate([time, c_time])
    value = np.concatenate([value, c_value])
    order = _by_furnisher_then_time(furnisher, time)
    take = pa.array(order)
    replaces = pa.concat_arrays([pa.nulls(n, pa.string()), external.take(kept)])
    external = pa.concat_arrays([external, _external_ids(c_furn, c_seq)])
    attributes = pa.concat_arrays([attributes, c_attributes.cast(pa.string())])
    evidence = pa.concat_arrays([evidence, c_evidence.cast(pa.string())])
    table = pa.table(
        {
            "subject": ids.take(pa.array(subject[order])),
            "furnisher": _strings([f[0] for f in FURNISHERS]).take(pa.array(furnisher[order])),
            "kind": _strings(KINDS).take(pa.array(kind[order])),
            "occurred_at": _timestamps(time[order]),
            "external_id": external.take(take),
            "value": pa.array(value[order], pa.float64(), mask=np.isnan(value[order])),
            "attributes": attributes.take(take),
            "evidence": evidence.take(take),
            "replaces": replaces.take(take),
        }
    )
    bounds = np.searchsorted(furnisher[order], np.arange(n_f + 1))
    return {
        fid: table.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        for i, (fid, _, _) in enumerate(FURNISHERS)
    }


def _relation_table(rels: _Relations, ids: pa.Array) -> pa.Table:
    subject = _cat(rels.subject, np.int64)
    other = _cat(rels.other, np.int64)
    furnisher = _cat(rels.furnisher, np.int64)
    relation = _cat(rels.relation, np.int64)
    start = _cat(rels.start, np.int64)
    end = _cat(rels.end, np.int64)
    confirmed = _cat(rels.confirmed, np.bool_)

    # no self-relations and one row per (subject, other, relation)
    n_all = np.int64(rels.n_subjects)
    key = (relation * n_all + subject) * n_all + other
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(len(key), dtype=bool)
    keep[first] = True
    keep &= subject != other
    subject, other, furnisher, relation, start, end, confirmed = (
        a[keep] for a in (subject, other, furnisher, relation, start, end, confirmed)
    )
    order = _by_furnisher_then_time(furnisher, start)
    subject, other, furnisher, relation, start, end, confirmed = (
        a[order] for a in (subject, other, furnisher, relation, start, end, confirmed)
    )
    seq = _group_rank(furnisher, len(FURNISHERS))
    return pa.table(
        {
            "furnisher": _strings([f[0] for f in FURNISHERS]).take(pa.array(furnisher)),
            "external_id": _external_ids(furnisher, seq, "rel-"),
            "subject": ids.take(pa.array(subject)),
            "other": ids.take(pa.array(other)),
            "relation": _strings(_Relations.RELATION_TYPES).take(pa.array(relation)),
            "start": _timestamps(start),
            "end": _timestamps(np.maximum(end, 0), null=end < 0),
            "confirmed": pa.array(confirmed, pa.bool_()),
        }
    )


# -------------------------------------------------------------------------------- writing


def _iso_text(table: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 text (whole seconds), other columns unchanged."""
    columns = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
        columns.append(col)
    return pa.table(columns, names=table.column_names)


_CONTROL = r"[\x00-\x1f]"


def _json_fragments(col: pa.Array, name: str) -> pa.Array:
    """Each value of a column as JSON text ("null" for nulls)."""
    if name == "attributes" and pa.types.is_string(col.type):
        return pc.fill_null(col, "null")
    if pa.types.is_timestamp(col.type):
        text = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
        return pc.fill_null(_join('"', text, '"'), "null")
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        if pc.any(pc.match_substring_regex(col, _CONTROL)).as_py():
            return pa.array(
                [json.dumps(v) if v is not None else "null" for v in col.to_pylist()], pa.string()
            )
        escaped = pc.replace_substring(pc.replace_substring(col, "\\", "\\\\"), '"', '\\"')
        return pc.fill_null(_join('"', escaped, '"'), "null")
    if pa.types.is_floating(col.type):
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)
    return pc.fill_null(pc.cast(col, pa.string()), "null")


def _write_ndjson(table: pa.Table, path: Path) -> None:
    names = table.column_names
    with path.open("wb") as out:
        for batch in table.to_batches(max_chunksize=200_000):
            if batch.num_rows == 0:
                continue
            pieces: list[object] = []
            for i, name in enumerate(names):
                pieces.append(("{" if i == 0 else ", ") + json.dumps(name) + ": ")
                pieces.append(_json_fragments(batch.column(i), name))
            pieces.append("}\n")
            lines = _join(*pieces).cast(pa.large_string())
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
                lines.offset : lines.offset + len(lines) + 1
            ]
            data = lines.buffers()[2]
            out.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def _write(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "csv":
        pacsv.write_csv(_iso_text(table), path)
    elif fmt == "ndjson":
        _write_ndjson(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} or mixed")


def write_city(city: City, out: Path, fmt: str = "mixed") -> list[Path]:
    """Write furnishers.csv, the registry, relations and one records file per furnisher.

    fmt is "csv", "ndjson", "parquet" or "mixed" (the formats in rotation, so all are used).
    Returns the paths written, furnishers.csv first.
    """
    if fmt != "mixed" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} or mixed")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    furnishers = out / "furnishers.csv"
    _write(city.furnishers, furnishers, "csv")
    written = [furnishers]
    files = [("registry", city.registry), ("relations", city.relations)]
    files += [(f"records-{fid}", table) for fid, table in city.records.items()]
    for i, (stem, table) in enumerate(files):
        file_fmt = FORMATS[i % len(FORMATS)] if fmt == "mixed" else fmt
        path = out / f"{stem}.{file_fmt}"
        _write(table, path, file_fmt)
        written.append(path)
    return written
