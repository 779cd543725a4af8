"""The reports policy (policy/data/reports.toml): load it and check it against the catalogue.

Errors name the file, the line and the field, as for programs.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from socialcredit.domain.catalogue import REPORT_FURNISHER_TYPE, Catalogue
from socialcredit.domain.reports import ReportSettings
from socialcredit.policy.loader import PolicyError, Problem, locate, shipped_catalogue

_TEXTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("furnisher",), "furnisher"),
    (("furnisher_name",), "furnisher_name"),
)
_INTEGERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("limit", "reports"), "max_reports"),
    (("limit", "days"), "window_days"),
    (("limit", "max_age_days"), "max_age_days"),
    (("flags", "ring_days"), "ring_days"),
)
_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("outcomes", "reward_kind"), "reward_kind"),
    (("outcomes", "penalty_kind"), "penalty_kind"),
)


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def load_report_settings_text(
    text: str, source: str = "<reports>", catalogue: Catalogue | None = None
) -> ReportSettings:
    """Validate the reports policy's TOML text (raises PolicyError naming each problem)."""
    catalogue = catalogue or shipped_catalogue()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([Problem(source, None, "", f"not valid TOML: {exc}")]) from None
    problems: list[Problem] = []
    values: dict[str, Any] = {}

    def refuse(path: tuple[str, ...], message: str) -> None:
        problems.append(Problem(source, locate(text, path), ".".join(path), message))

    for path, name in _TEXTS:
        value = _get(data, path)
        if not isinstance(value, str) or not value.strip():
            refuse(path, "must be a non-empty string")
        values[name] = value
    for path, name in _INTEGERS:
        value = _get(data, path)
        if type(value) is not int or value < 1:
            refuse(path, "must be a whole number of at least 1")
        values[name] = value
    if REPORT_FURNISHER_TYPE not in catalogue.furnisher_types:
        refuse(("furnisher",), f"the catalogue has no furnisher type {REPORT_FURNISHER_TYPE!r}")
    for path, name in _KINDS:
        value = _get(data, path)
        if value in (None, ""):
            values[name] = None
            continue
        refusal = (
            "must be a record kind"
            if not isinstance(value, str)
            else catalogue.may_send(REPORT_FURNISHER_TYPE, value)
        )
        if refusal:
            refuse(path, refusal)
        values[name] = value
    if problems:
        raise PolicyError(problems)
    return ReportSettings(**values)


@cache
def shipped_report_settings() -> ReportSettings:
    """The reports policy that ships with the platform."""
    resource = resources.files("socialcredit.policy") / "data" / "reports.toml"
    return load_report_settings_text(resource.read_text(encoding="utf-8"), "reports.toml")
