"""Load the dispute procedure's settings (policy/data/disputes.toml)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from socialcredit.domain.disputes import DisputeRules
from socialcredit.policy.loader import PolicyError, Problem, _parse, locate

FIELDS = ("deadline_days", "statement_max_words")


def load_dispute_rules_text(text: str, source: str = "<disputes>") -> DisputeRules:
    """Validate the settings' TOML text (raises PolicyError naming each problem)."""
    data = _parse(text, source)
    problems = [
        Problem(source, locate(text, (name,)), name, "unknown setting")
        for name in data
        if name not in FIELDS
    ]
    values: dict[str, int] = {}
    for name in FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(source, locate(text, (name,)), name, "must be a whole number"))
            continue
        values[name] = value
    if problems:
        raise PolicyError(problems)
    try:
        return DisputeRules(**values)
    except ValueError as exc:
        field = next((n for n in FIELDS if str(exc).startswith(n)), "")
        line = locate(text, (field,)) if field else None
        raise PolicyError([Problem(source, line, field, str(exc))]) from None


def load_dispute_rules(path: Path | str) -> DisputeRules:
    """The settings from a file (raises PolicyError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None
    return load_dispute_rules_text(text, str(path))


@cache
def shipped_dispute_rules() -> DisputeRules:
    """The settings that ship with the platform."""
    resource = resources.files("socialcredit.policy") / "data" / "disputes.toml"
    return load_dispute_rules_text(resource.read_text(encoding="utf-8"), "disputes.toml")
