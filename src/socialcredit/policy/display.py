"""Display periods in programs: a rule scores an adverse kind for at most its tier's maximum
display period, whatever window the program asks for; `policy check` warns where it asks more.
"""

from __future__ import annotations

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.retention import display_days
from socialcredit.domain.tiers import DISPLAY_PERIODS
from socialcredit.policy.loader import LoadedProgram, Problem, locate


def scored_window(catalogue: Catalogue, kind: str, window_days: int) -> int:
    """The days a rule's records of `kind` count: its window, cut to the kind's display
    period when the kind has a tier."""
    tier = catalogue.tier(kind)
    return window_days if tier is None else min(window_days, display_days(tier))


def display_warnings(loaded: LoadedProgram, catalogue: Catalogue) -> list[Problem]:
    """Where a program asks to score an adverse kind longer than its display period allows
    (the compiler cuts the window), or gives points for an adverse kind."""
    program, text, source = loaded.program, loaded.text, loaded.source
    warnings: list[Problem] = []

    def warn(loc: tuple[str | int, ...], message: str) -> None:
        warnings.append(Problem(source, locate(text, loc), ".".join(map(str, loc)), message))

    for r, rule in enumerate(program.rules):
        for k, kind in enumerate(rule.kinds):
            tier = catalogue.tier(kind)
            if tier is None:
                continue
            if rule.gives:
                warn(
                    ("rules", r, "kinds", k),
                    f"{kind!r} is adverse ({tier.value}) but the rule gives points",
                )
            most = display_days(tier)
            if rule.display_days > most:
                months = DISPLAY_PERIODS[tier].maximum_months
                warn(
                    ("rules", r, "display_days"),
                    f"{kind!r} is a {tier.value} item, shown at most {months} months: "
                    f"its records count for {most} days, not {rule.display_days}",
                )
    return warnings
