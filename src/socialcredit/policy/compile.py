"""Compile a guarded program into the plain tables and constants every engine executes."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.programs import Program, Rule
from socialcredit.policy.display import scored_window
from socialcredit.policy.guard import guarded
from socialcredit.policy.loader import LoadedProgram

RULE_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("rule", pa.string()),
        ("factor", pa.string()),
        ("points", pa.int64()),
        ("half_life_days", pa.float64()),
        ("display_days", pa.int64()),
    ]
)
REASON_SCHEMA = pa.schema(
    [("rule", pa.string()), ("factor", pa.string()), ("best", pa.int64()), ("order", pa.int64())]
)
CAP_SCHEMA = pa.schema([("rule", pa.string()), ("factor", pa.string()), ("rule_cap", pa.int64())])


@dataclass(frozen=True)
class CompiledProgram:
    """A program ready to run: one row per scored kind, the rules that can be reasons, and
    each rule's cap."""

    program: Program
    version: str
    program_text: str
    rules_by_kind: pa.Table
    reason_rules: pa.Table
    rule_caps: pa.Table

    @property
    def id(self) -> str:
        """The program's id."""
        return self.program.id

    def rule(self, rule_id: str) -> Rule:
        """The program's rule with this id."""
        return next(r for r in self.program.rules if r.id == rule_id)


def compile_program(loaded: LoadedProgram, catalogue: Catalogue) -> CompiledProgram:
    """Guard and compile a loaded program (raises PolicyError when the guard refuses it)."""
    program = guarded(loaded, catalogue).program
    kind_rows = [
        {
            "kind": kind,
            "rule": rule.id,
            "factor": rule.factor,
            "points": rule.points,
            "half_life_days": rule.half_life_days,
            # an adverse kind counts no longer than its tier's display period
            "display_days": scored_window(catalogue, kind, rule.display_days),
        }
        for rule in program.rules
        for kind in rule.kinds
    ]
    reasons = sorted(
        (rule for rule in program.rules if not rule.gives or rule.gap_is_reason),
        key=lambda rule: rule.id,
    )
    # `order` is each reason's place among equal losses (by rule id), as one integer, so
    # engines rank reasons without comparing text in their own collation.
    reason_rows = [
        {"rule": rule.id, "factor": rule.factor, "best": rule.best, "order": place}
        for place, rule in enumerate(reasons)
    ]
    return CompiledProgram(
        program=program,
        version=loaded.version,
        program_text=loaded.text,
        rules_by_kind=pa.Table.from_pylist(kind_rows, schema=RULE_SCHEMA),
        reason_rules=pa.Table.from_pylist(reason_rows, schema=REASON_SCHEMA),
        rule_caps=pa.Table.from_pylist(
            [{"rule": r.id, "factor": r.factor, "rule_cap": r.cap} for r in program.rules],
            schema=CAP_SCHEMA,
        ),
    )
