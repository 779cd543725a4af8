"""`socialcredit lab`: simulate programs on a synthetic population, report, and gate.

The lab's modules are imported inside the commands, so other commands start fast.
"""

from __future__ import annotations

import json
import resource
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from socialcredit.cli.common import console, errors
from socialcredit.cli.progress import bar
from socialcredit.cli.wording import plural

if TYPE_CHECKING:
    from socialcredit.lab import LabConfig
    from socialcredit.policy.compile import CompiledProgram

lab_app = typer.Typer(
    help="Simulate a program on a synthetic population and audit it before rollout.",
    no_args_is_help=True,
)

START = "2026-01-01"  # the lab's DEFAULT_START, so the same seed gives the same report

ProgramArg = Annotated[
    str,
    typer.Option(
        "--program",
        help="Program file (TOML), or the name of a shipped program (one of the programs folder).",
    ),
]
Months = Annotated[int, typer.Option(min=0, max=120, help="Months to simulate.")]
Population = Annotated[
    int,
    typer.Option(
        min=200,
        help="Number of synthetic residents (a larger city is generated 500,000 at a time).",
    ),
]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same run.")]
Start = Annotated[
    str, typer.Option(help="The first as-of date; each month is scored a month later.")
]
Measures = Annotated[
    Path | None,
    typer.Option(
        help="Measures catalogue to audit: measures a score or records decide (default: the "
        "shipped measures.toml)."
    ),
]
Lists = Annotated[
    Path | None,
    typer.Option(help="Lists file the measures refer to (default: the shipped lists.toml)."),
]
MinGroup = Annotated[
    int, typer.Option(min=1, help="Audit groups smaller than this are shown but not judged.")
]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _program(value: str) -> CompiledProgram:
    from socialcredit.policy.compile import compile_program
    from socialcredit.policy.loader import (
        PolicyError,
        load_program,
        shipped_catalogue,
        shipped_program,
        shipped_program_names,
    )

    path = Path(value)
    try:
        if not path.exists() and value in shipped_program_names():
            loaded = shipped_program(value)
        else:
            loaded = load_program(path)
        return compile_program(loaded, shipped_catalogue())
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def _config(
    population: int,
    months: int,
    seed: int,
    start: str,
    min_group: int,
    cut_rate: float = 0.1,
    adjudicator_error: float = 0.05,
    flagged_error: float = 0.0,
) -> LabConfig:
    from socialcredit.lab import Attacks, Behaviour, LabConfig

    try:
        first = date.fromisoformat(start)
        return LabConfig(
            population=population,
            months=months,
            seed=seed,
            start=first,
            min_group=min_group,
            behaviour=Behaviour(cut_rate=cut_rate),
            attacks=Attacks(adjudicator_error=adjudicator_error, flagged_error=flagged_error),
        )
    except ValueError as exc:
        raise _fail(f"--start: {exc}") from None


def _run(
    programs: list[CompiledProgram],
    measures: Path | None,
    lists: Path | None,
    config: LabConfig,
    show: bool,
) -> dict[str, Any]:
    from socialcredit.lab import CutoffError, figures, lab_catalogue, simulate, steps_for
    from socialcredit.policy.loader import PolicyError

    try:
        catalogue = lab_catalogue(measures, lists, [c.program for c in programs])
        with bar(console, "simulating", steps_for(config, len(programs)), enabled=show) as advance:
            result = simulate(programs, catalogue, config, progress=lambda _: advance(1))
    except (CutoffError, PolicyError) as exc:
        raise _fail(str(exc)) from None
    return figures(result)


@lab_app.command("run")
def run(
    program: ProgramArg,
    report: Annotated[Path, typer.Option(help="Folder for report.html and figures.json.")],
    vs: Annotated[
        str | None, typer.Option("--vs", help="A second program to simulate side by side.")
    ] = None,
    population: Population = 100_000,
    months: Months = 24,
    seed: Seed = 7,
    start: Start = START,
    measures: Measures = None,
    lists: Lists = None,
    min_group: MinGroup = 30,
    cut_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Monthly chance a subject follows the tip to drop low-scored contacts.",
        ),
    ] = 0.1,
    adjudicator_error: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chance an adjudicator upholds a false report.")
    ] = 0.05,
    flagged_error: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Chance an adjudicator upholds a false report despite a flag (reporter and "
            "target related, a ring of reports).",
        ),
    ] = 0.0,
) -> None:
    """Simulate month by month and write DIR/report.html and DIR/figures.json."""
    from socialcredit.lab import gate, write_report

    programs = [_program(program)] + ([_program(vs)] if vs else [])
    config = _config(
        population, months, seed, start, min_group, cut_rate, adjudicator_error, flagged_error
    )
    data = _run(programs, measures, lists, config, show=True)
    page, path = write_report(data, report)
    verdict = gate(data)
    seconds = data["meta"]["seconds"]["total"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"report: {page}\nfigures: {path}", soft_wrap=True, highlight=False)
    console.print(f"simulated in {seconds:.1f} s; peak memory {peak:,.0f} MiB")
    if verdict.passed:
        console.print("[green]gate: pass[/green]")
    else:
        console.print(
            f"[red]gate: {plural(len(verdict.failures), 'failure')}[/red] (see the report)"
        )


@lab_app.command("gate")
def gate_command(
    program: ProgramArg,
    population: Population = 20_000,
    months: Months = 3,
    seed: Seed = 7,
    start: Start = START,
    measures: Measures = None,
    lists: Lists = None,
    min_group: MinGroup = 30,
    significant_only: Annotated[
        bool,
        typer.Option(
            "--significant-only",
            help="Fail only on ratios whose gap to the best group is larger than chance.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a program before rollout; exit 1, naming each failure.

    A program fails when an adverse impact ratio is under 0.8 or a Sybil ring of 100
    identities moves its target by more than 5 points.
    """
    from socialcredit.lab import gate

    config = _config(population, months, seed, start, min_group)
    data = _run([_program(program)], measures, lists, config, show=not as_json)
    verdict = gate(data, significant_only=significant_only)
    if as_json:
        document = {
            "passed": verdict.passed,
            "failures": verdict.failures,
            "checks": verdict.checks,
        }
        print(json.dumps(document))
    else:
        for check in verdict.checks:
            console.print(f"checked: {check}", highlight=False, soft_wrap=True)
        for failure in verdict.failures:
            errors.print(f"FAIL {failure}", highlight=False, markup=False, soft_wrap=True)
        console.print(
            "gate: pass" if verdict.passed else f"gate: {plural(len(verdict.failures), 'failure')}"
        )
    if not verdict.passed:
        raise typer.Exit(1)
