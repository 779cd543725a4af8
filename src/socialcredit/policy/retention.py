"""Load and check the retention policy (policy/data/retention.toml)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.retention import Retention, RetentionPeriod
from socialcredit.domain.tiers import DISPLAY_PERIODS
from socialcredit.policy.loader import PolicyError, Problem, locate, shipped_catalogue


def _period(data: Any, where: tuple[str, ...], text: str, source: str) -> RetentionPeriod:
    def problem(message: str) -> PolicyError:
        return PolicyError([Problem(source, locate(text, where), ".".join(where), message)])

    if not isinstance(data, dict):
        raise problem("must be a table with optional `months` and `basis`")
    unknown = sorted(set(data) - {"months", "basis"})
    if unknown:
        raise problem(f"unknown field(s) {', '.join(unknown)}; fields: months, basis")
    months = data.get("months")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int)):
        raise problem("months must be a whole number")
    if months is not None and months <= 0:
        raise problem("months must be positive (leave it out for no limit)")
    basis = data.get("basis", "")
    if not isinstance(basis, str):
        raise problem("basis must be text")
    return RetentionPeriod(months=months, basis=" ".join(basis.split()))


def _check(retention: Retention, catalogue: Catalogue, text: str, source: str) -> None:
    """Refuse periods that would purge an adverse record while it may still be shown."""
    problems = []
    for name, kind in catalogue.kinds.items():
        if kind.tier is None:
            continue
        months = retention.period(name, kind.tier).months
        longest = DISPLAY_PERIODS[kind.tier].maximum_months
        if months is not None and months < longest:
            where = ("kinds", name) if name in retention.kinds else ("adverse",)
            problems.append(
                Problem(
                    source,
                    locate(text, (*where, "months")),
                    ".".join((*where, "months")),
                    f"{months} months would purge {name!r} ({kind.tier.value}) before its "
                    f"display period of up to {longest} months ends",
                )
            )
    for name in retention.kinds:
        if catalogue.kind(name) is None:
            problems.append(
                Problem(source, locate(text, ("kinds", name)), f"kinds.{name}", "unknown kind")
            )
    if problems:
        raise PolicyError(problems)


def load_retention_text(
    text: str, source: str = "<retention>", catalogue: Catalogue | None = None
) -> Retention:
    """A retention policy from its TOML text, checked against the catalogue (raises
    PolicyError naming file, line and field)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([Problem(source, None, "", f"not valid TOML: {exc}")]) from None
    unknown = sorted(set(data) - {"adverse", "positive", "kinds"})
    if unknown:
        raise PolicyError(
            [Problem(source, locate(text, (unknown[0],)), unknown[0], "unknown section")]
        )
    kinds = data.get("kinds", {})
    if not isinstance(kinds, dict):
        raise PolicyError([Problem(source, locate(text, ("kinds",)), "kinds", "must be a table")])
    retention = Retention(
        adverse=_period(data.get("adverse", {}), ("adverse",), text, source),
        positive=_period(data.get("positive", {}), ("positive",), text, source),
        kinds={name: _period(spec, ("kinds", name), text, source) for name, spec in kinds.items()},
    )
    _check(retention, catalogue or shipped_catalogue(), text, source)
    return retention


def load_retention(path: Path | str) -> Retention:
    """A retention policy from a file (raises PolicyError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None
    return load_retention_text(text, str(path))


@cache
def shipped_retention() -> Retention:
    """The retention policy that ships with the platform."""
    resource = resources.files("socialcredit.policy") / "data" / "retention.toml"
    return load_retention_text(resource.read_text(encoding="utf-8"), "retention.toml")
