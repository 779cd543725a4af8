"""The lab gate: a policy change fails when it fails the four-fifths screen or a Sybil ring
moves its target by more than the limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GateResult", "gate", "ratio_text"]


@dataclass(frozen=True)
class GateResult:
    """The failures found (none means the gate passes) and what was checked."""

    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def ratio_text(ratio: float, threshold: float) -> str:
    """A ratio with two decimals, or as many more as it takes to read on the same side of the
    threshold as it is: 0.7996 under 0.8 prints as 0.7996, never as 0.80."""
    for digits in range(2, 10):
        text = f"{ratio:.{digits}f}"
        if (float(text) < threshold) == (ratio < threshold):
            return text
    return repr(ratio)


def _best(rows: list[dict[str, Any]], dimension: str) -> dict[str, Any] | None:
    eligible = [r for r in rows if r["dimension"] == dimension and not r["small"]]
    return max(eligible, key=lambda r: r["rate"]) if eligible else None


def gate(figures: dict[str, Any], *, significant_only: bool = False) -> GateResult:
    """Check a run's figures against the four-fifths screen and the Sybil limit.

    Every flagged ratio fails the gate, unless `significant_only`, when only ratios whose gap
    to the best group is larger than chance do.
    """
    meta = figures["meta"]
    threshold = figures["adverse_impact_ratios"]["threshold"]
    limit = meta["sybil_limit"]
    failures: list[str] = []
    checks: list[str] = []
    screens = figures["adverse_impact_ratios"]["screens"]
    for program in meta["programs"]:
        pid = program["id"]
        mine = [s for s in screens if s["program"] == pid]
        if not program["cutoffs"]:
            failures.append(
                f"{pid}: no measure in the catalogue is decided by this program's score, so its "
                "adverse impact cannot be screened (give --measures)"
            )
        flagged = [
            (screen, row)
            for screen in mine
            for row in screen["groups"]
            if row["flagged"] and (row["significant"] or not significant_only)
        ]
        # gaps larger than chance first: those are the ones to read
        flagged.sort(key=lambda pair: not pair[1]["significant"])
        for screen, row in flagged:
            best = _best(screen["groups"], row["dimension"])
            best_text = f"{best['group']}, {best['rate']:.1%}" if best else "?"
            failures.append(
                f"{pid}: {screen['service']}:{screen['measure']} ({screen['rule']}) in month "
                f"{screen['month']}: "
                f"{row['dimension']} {row['group']} approved {row['rate']:.1%}, "
                f"{ratio_text(row['ratio'], threshold)} of the best group's rate ({best_text}); "
                f"under {threshold}" + ("" if row["significant"] else " (within chance at 5%)")
            )
        groups = sum(len(s["groups"]) for s in mine)
        checks.append(
            f"{pid}: {len(mine)} cutoff screens over {groups} group rates "
            f"(four-fifths threshold {threshold})"
        )
        for screen in mine:
            if not screen["judged"]:
                checks.append(
                    f"{pid}: {screen['service']}:{screen['measure']} in month {screen['month']} "
                    f"not judged: it approves {screen['approved']} persons, fewer than "
                    f"{meta['min_group']}"
                )
        for attack in figures["attacks"]:
            if attack["program"] != pid or attack["attack"] != "sybil_ring":
                continue
            moved = attack["points_moved"]
            size = attack.get("identities")
            if moved is None:
                failures.append(f"{pid}: the Sybil ring's effect could not be measured")
            elif abs(moved) > limit:
                failures.append(
                    f"{pid}: a Sybil ring of {size} identities moved its target by "
                    f"{moved:+d} points (limit {limit})"
                )
            checks.append(
                f"{pid}: Sybil ring of {size} identities moved its target {moved:+d} points "
                f"(limit {limit})"
                if moved is not None
                else f"{pid}: Sybil ring not measurable"
            )
    return GateResult(failures, checks)
