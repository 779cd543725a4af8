"""The worker: drains the outbox, redoing the scores of the subjects its events name, and
acknowledges the events only after that. Delivery is at least once; rescoring is idempotent,
so an event handled twice (a crash before its acknowledgement) changes nothing more.

A program whose relationship factor propagates trust is rescored in full: a change to one
subject's standing can move the relationship points of anyone within the propagation's reach,
and only a full run gives what a full rescoring gives. Other programs rescore only the subjects
named, which is exact for them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from socialcredit.domain.events import RESCORING, Event
from socialcredit.policy.compile import CompiledProgram
from socialcredit.services.failpoints import failpoint
from socialcredit.services.scoring import active_programs, rescore_subjects, score_all, today
from socialcredit.store import outbox
from socialcredit.store.writers import one_writer

BATCH_EVENTS = 100_000
"""Events taken in one pass; their subjects are rescored together."""


@dataclass
class Drained:
    """What a drain did: events handled by kind, subjects rescored, passes and time taken."""

    events: Counter[str] = field(default_factory=Counter)
    subjects: int = 0
    passes: int = 0
    full_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def handled(self) -> int:
        return sum(self.events.values())


@dataclass(frozen=True)
class Backlog:
    """Pending events by kind, with when the oldest of each was written."""

    kinds: list[tuple[str, int, datetime]]

    @property
    def pending(self) -> int:
        return sum(n for _, n, _ in self.kinds)

    @property
    def oldest(self) -> datetime | None:
        return min((when for _, _, when in self.kinds), default=None)


def backlog(engine: sa.Engine) -> Backlog:
    """The outbox's pending events, for `socialcredit outbox` and /metrics."""
    with engine.connect() as connection:
        return Backlog(outbox.backlog(connection))


def handle(
    engine: sa.Engine,
    events: Sequence[Event],
    programs: Sequence[CompiledProgram],
    as_of: date,
) -> tuple[int, list[str]]:
    """Redo the scores the events leave stale; returns the subjects rescored and the programs
    that ran in full. Events of other kinds have nothing to do here yet."""
    subjects = sorted({e.subject for e in events if e.kind in RESCORING})
    if not subjects:
        return 0, []
    full = [p for p in programs if p.program.relationship_factor is not None]
    partial = [p for p in programs if p.program.relationship_factor is None]
    if full:
        score_all(engine, as_of, full)
    if partial:
        rescore_subjects(engine, subjects, as_of, partial)
    return len(subjects), [p.id for p in full]


def drain(
    engine: sa.Engine,
    *,
    programs: Sequence[CompiledProgram] | None = None,
    as_of: Callable[[], date] = today,
    until_idle: bool = True,
    batch: int = BATCH_EVENTS,
) -> Drained:
    """Handle pending events, oldest first, in passes of `batch`; with `until_idle`, until none
    is left (events written meanwhile included), else one pass."""
    compiled = list(programs) if programs is not None else active_programs()
    done = Drained()
    start = time.perf_counter()
    while True:
        with engine.connect() as connection:
            events = outbox.pending(connection, batch)
        if not events:
            break
        subjects, full = handle(engine, events, compiled, as_of())
        failpoint("worker.after_rescore_before_ack")
        with one_writer(engine), engine.begin() as connection:
            outbox.acknowledge(connection, [e.id for e in events])
        done.events.update(e.kind for e in events)
        done.subjects += subjects
        done.passes += 1
        done.full_runs.extend(p for p in full if p not in done.full_runs)
        if not until_idle:
            break
    done.seconds = time.perf_counter() - start
    return done
