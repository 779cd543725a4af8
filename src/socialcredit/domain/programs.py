"""Scoring programs: factors, rules, grade bands and the minimum data for a score.

A program is data. The policy layer loads it from a file; engines run its compiled form.
Points are whole numbers at the contribution level so that every explanation adds up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

# Read by the policy loader's validator: a misspelt field is an error, not silently ignored.
FORBID_UNKNOWN_FIELDS = {"extra": "forbid"}


@dataclass(frozen=True)
class Tier:
    """Points awarded once a value reaches `at`."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    at: float
    points: int


@dataclass(frozen=True)
class Rule:
    """Maps record kinds to points in one factor.

    Each record earns `points` (or the highest `value_tiers` entry its value reaches), decayed
    by `half_life_days`. With `sum_tiers` the rule instead awards the highest tier reached by
    the sum of the records' values. Records older than `display_days` no longer count.
    `cap` bounds the rule's total; for a rule that gives points it is also the best attainable.
    `gap_is_reason` says whether falling short of that best is a reason code (it is not for
    merits nobody is expected to earn, such as heroic acts).
    """

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    id: str
    kinds: list[str]
    factor: str
    reason: str
    points: int = 0
    value_tiers: list[Tier] = field(default_factory=list)
    sum_tiers: list[Tier] = field(default_factory=list)
    half_life_days: float | None = None
    display_days: int = 730
    cap: int | None = None
    gap_is_reason: bool = True

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("a rule needs at least one record kind")
        if self.sum_tiers and (self.points or self.value_tiers or self.half_life_days):
            raise ValueError("sum_tiers excludes points, value_tiers and half_life_days")
        if not self.sum_tiers and not self.points and not self.value_tiers:
            raise ValueError("a rule needs points, value_tiers or sum_tiers")
        signs = {_sign(p) for p in self.all_points() if p}
        if len(signs) > 1:
            raise ValueError("a rule's points must all give or all take away")
        if self.gives and self.best is None:
            raise ValueError("a rule that gives points needs a cap (its best attainable)")
        if self.cap is not None and self.cap <= 0:
            raise ValueError("cap must be positive")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError("half_life_days must be positive")
        if self.display_days <= 0:
            raise ValueError("display_days must be positive")
        for tiers in (self.value_tiers, self.sum_tiers):
            if [t.at for t in tiers] != sorted({t.at for t in tiers}):
                raise ValueError("tiers must be in increasing order of 'at'")

    def all_points(self) -> list[int]:
        """Every point value the rule can award per record or per tier."""
        return [
            self.points,
            *(t.points for t in self.value_tiers),
            *(t.points for t in self.sum_tiers),
        ]

    @property
    def gives(self) -> bool:
        """True when the rule adds points (a merit), False when it takes them (a demerit)."""
        return any(p > 0 for p in self.all_points())

    @property
    def best(self) -> int | None:
        """The best total a subject can reach under this rule."""
        if not self.gives:
            return 0
        if self.sum_tiers:
            top = max(t.points for t in self.sum_tiers)
            return min(top, self.cap) if self.cap is not None else top
        return self.cap


def _sign(value: int) -> int:
    return 1 if value > 0 else -1


@dataclass(frozen=True)
class Propagation:
    """The relationship factor: damped propagation over confirmed relations from trusted seeds."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    relations: list[str]
    damping: float = 0.85
    iterations: int = 10
    seed_history_days: int = 365
    min_degree: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.damping < 1:
            raise ValueError("damping must be between 0 and 1")
        if not 1 <= self.iterations <= 100:
            raise ValueError("iterations must be between 1 and 100")
        if self.min_degree < 1:
            raise ValueError("min_degree must be at least 1")


@dataclass(frozen=True)
class Factor:
    """A group of rules whose total is bounded by its weight or explicit caps."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    id: str
    name: str
    weight: float | None = None
    floor: int | None = None
    ceiling: int | None = None
    propagation: Propagation | None = None

    def __post_init__(self) -> None:
        if self.weight is not None and not 0 < self.weight <= 1:
            raise ValueError("weight must be in (0, 1]")
        if self.weight is not None and (self.floor is not None or self.ceiling is not None):
            raise ValueError("give a factor a weight or a floor and ceiling, not both")
        if self.floor is not None and self.floor > 0:
            raise ValueError("floor must be zero or negative")
        if self.ceiling is not None and self.ceiling < 0:
            raise ValueError("ceiling must be zero or positive")
        if self.propagation is not None and self.weight is None and self.ceiling is None:
            raise ValueError("a relationship factor must be capped by a weight or a ceiling")


@dataclass(frozen=True)
class Band:
    """A grade and the lowest score that earns it."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    grade: str
    min: int


@dataclass(frozen=True)
class Minimum:
    """Below this much data a subject gets no score, only 'insufficient data'."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    records: int = 0
    history_days: int = 0


@dataclass(frozen=True)
class Program:
    """A declarative scoring program."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    id: str
    name: str
    min_score: int
    max_score: int
    base: int
    factors: list[Factor]
    rules: list[Rule]
    bands: list[Band]
    subjects: list[str] = field(default_factory=lambda: ["person", "organisation"])
    minimum: Minimum = field(default_factory=Minimum)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.min_score <= self.base <= self.max_score or self.min_score == self.max_score:
            raise ValueError("need min_score <= base <= max_score and a non-empty range")
        factor_ids = [f.id for f in self.factors]
        if len(set(factor_ids)) != len(factor_ids):
            raise ValueError("factor ids must be unique")
        if sum(1 for f in self.factors if f.propagation) > 1:
            raise ValueError("at most one factor may be a relationship factor")
        rule_ids = [r.id for r in self.rules]
        if len(set(rule_ids)) != len(rule_ids):
            raise ValueError("rule ids must be unique")
        seen: dict[str, str] = {}
        for rule in self.rules:
            if rule.factor not in factor_ids:
                raise ValueError(f"rule {rule.id!r} names unknown factor {rule.factor!r}")
            if self.factor(rule.factor).propagation is not None:
                raise ValueError(f"rule {rule.id!r} cannot score into the relationship factor")
            for kind in rule.kinds:
                if kind in seen:
                    raise ValueError(
                        f"kind {kind!r} is scored by both {seen[kind]!r} and {rule.id!r}"
                    )
                seen[kind] = rule.id
        if not self.bands:
            raise ValueError("a program needs grade bands")
        mins = [b.min for b in self.bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError(
                "bands must be listed from the highest grade down, with distinct minimums"
            )
        if mins[-1] > self.min_score:
            raise ValueError("the lowest band must start at or below min_score")
        for kind in self.subjects:
            if kind not in ("person", "organisation"):
                raise ValueError(f"unknown subject kind {kind!r}")

    def factor(self, factor_id: str) -> Factor:
        """The factor with this id."""
        return next(f for f in self.factors if f.id == factor_id)

    def factor_bounds(self, factor: Factor) -> tuple[int | None, int | None]:
        """The (floor, ceiling) on a factor's points, from its weight or explicit caps."""
        if factor.weight is not None:
            down = round(factor.weight * (self.base - self.min_score))
            up = round(factor.weight * (self.max_score - self.base))
            return -down, up
        return factor.floor, factor.ceiling

    @property
    def relationship_factor(self) -> Factor | None:
        """The factor scored by propagation over relations, if any."""
        return next((f for f in self.factors if f.propagation is not None), None)

    def grade(self, score: int) -> str:
        """The grade a score earns."""
        return next(b.grade for b in self.bands if score >= b.min)

    def kinds(self) -> list[str]:
        """Every record kind the program scores."""
        return sorted({k for r in self.rules for k in r.kinds})
