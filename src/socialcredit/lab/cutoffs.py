"""The lab's decision cutoffs: which score or grade a service needs (a stand-in for issue 5).

The measures catalogue will replace `cutoffs.toml`; everything else in the lab reads cutoffs
only through `load_cutoffs` and `Cutoff.threshold`, so the swap stays small.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from socialcredit.domain.programs import Program

EFFECTS = ("reward", "restriction")


class CutoffError(ValueError):
    """A cutoffs file that cannot be used."""


@dataclass(frozen=True)
class Cutoff:
    """A service that a program's score or grade decides."""

    service: str
    program: str
    effect: str
    description: str = ""
    min_score: int | None = None
    min_grade: str | None = None

    def threshold(self, program: Program) -> int:
        """The lowest score that is approved under `program`."""
        if self.min_score is not None:
            return self.min_score
        for band in program.bands:
            if band.grade == self.min_grade:
                return band.min
        raise CutoffError(
            f"cutoff {self.service!r} needs grade {self.min_grade!r}, which program "
            f"{program.id!r} does not have"
        )

    @property
    def rule(self) -> str:
        """The cutoff in words, e.g. 'score >= 600' or 'grade B or better'."""
        if self.min_score is not None:
            return f"score >= {self.min_score}"
        return f"grade {self.min_grade} or better"


def _cutoff(entry: dict[str, object], source: str, number: int) -> Cutoff:
    where = f"{source}: cutoffs[{number}]"
    known = {"service", "program", "effect", "description", "min_score", "min_grade"}
    unknown = set(entry) - known
    if unknown:
        raise CutoffError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("service", "program", "effect"):
        if not isinstance(entry.get(name), str):
            raise CutoffError(f"{where}: {name} is required (text)")
    if entry["effect"] not in EFFECTS:
        raise CutoffError(f"{where}: effect must be one of {', '.join(EFFECTS)}")
    score, grade = entry.get("min_score"), entry.get("min_grade")
    if (score is None) == (grade is None):
        raise CutoffError(f"{where}: give exactly one of min_score or min_grade")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int)):
        raise CutoffError(f"{where}: min_score must be a whole number")
    if grade is not None and not isinstance(grade, str):
        raise CutoffError(f"{where}: min_grade must be text")
    return Cutoff(
        service=str(entry["service"]),
        program=str(entry["program"]),
        effect=str(entry["effect"]),
        description=str(entry.get("description", "")),
        min_score=score,
        min_grade=grade,
    )


def parse_cutoffs(text: str, source: str = "<cutoffs>") -> list[Cutoff]:
    """Cutoffs from TOML text (raises CutoffError)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CutoffError(f"{source}: not valid TOML: {exc}") from None
    entries = data.get("cutoffs", [])
    if not isinstance(entries, list):
        raise CutoffError(f"{source}: cutoffs must be an array of tables")
    return [_cutoff(e, source, i) for i, e in enumerate(entries)]


def load_cutoffs(path: Path | str | None = None) -> list[Cutoff]:
    """The cutoffs in a file, or the lab's shipped ones."""
    if path is None:
        resource = resources.files("socialcredit.lab") / "cutoffs.toml"
        return parse_cutoffs(resource.read_text(encoding="utf-8"), "cutoffs.toml")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CutoffError(f"{path}: cannot read: {exc}") from None
    return parse_cutoffs(text, str(path))


def cutoffs_for(cutoffs: list[Cutoff], program: Program) -> list[Cutoff]:
    """The cutoffs a program decides, checked against its grades."""
    chosen = [c for c in cutoffs if c.program == program.id]
    for cutoff in chosen:
        cutoff.threshold(program)
    return chosen
