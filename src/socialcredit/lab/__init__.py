"""The policy lab: simulate a program on a synthetic population and audit it before rollout.

`simulate` runs one world per program month by month (behaviour that responds to the
program's incentives, re-scored by the engine) and audits the measures of the catalogue
(`lab_catalogue`) that each program's score decides and those that records decide (lists
entered by records, recent records: `listed`), `figures` turns a run into the audit's
metrics, `write_report` writes figures.json and report.html, and `gate` says whether a program
may ship. Nothing here writes to the store: the lab's ledgers live in an in-process DuckDB.
"""

from socialcredit.lab.attacks import AttackResult, Attacks
from socialcredit.lab.behaviour import Behaviour
from socialcredit.lab.cutoffs import Cutoff, CutoffError, lab_catalogue
from socialcredit.lab.figures import FIGURE_KEYS, figures
from socialcredit.lab.gate import GateResult, gate
from socialcredit.lab.report import render_html, write_report
from socialcredit.lab.simulate import DEFAULT_START, LabConfig, LabResult, simulate, steps_for

__all__ = [
    "DEFAULT_START",
    "FIGURE_KEYS",
    "AttackResult",
    "Attacks",
    "Behaviour",
    "Cutoff",
    "CutoffError",
    "GateResult",
    "LabConfig",
    "LabResult",
    "figures",
    "gate",
    "lab_catalogue",
    "render_html",
    "simulate",
    "steps_for",
    "write_report",
]
