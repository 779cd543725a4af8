"""Progress for long work: a bar for counted rows, a spinner with timings for steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.status import Status


@contextmanager
def bar(
    console: Console, description: str, total: int | None, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """A progress bar; yields a function that advances it by n. Drawn on a terminal only:
    elsewhere Rich would leave a blank line where the bar was."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


class StepTimer:
    """Names the current step on a spinner and prints each finished step with its time."""

    def __init__(self, console: Console, status: Status | None) -> None:
        self.console = console
        self.status = status
        self.timings: list[tuple[str, float]] = []
        self._current: tuple[str, float] | None = None

    def __call__(self, message: str) -> None:
        """Finish the current step (if any) and start the next."""
        self.finish()
        self._current = (message, time.perf_counter())
        if self.status is not None:
            self.status.update(message)
        else:
            self.console.print(f"  {message} …")

    def finish(self) -> None:
        """Finish the current step and print its time."""
        if self._current is None:
            return
        name, started = self._current
        elapsed = time.perf_counter() - started
        self.timings.append((name, elapsed))
        self.console.print(f"  [green]done[/green] {name} in {elapsed:.1f} s")
        self._current = None


@contextmanager
def steps(console: Console, spinner: bool = True) -> Iterator[StepTimer]:
    """Time named steps, on a spinner unless the steps show progress bars of their own."""
    if not spinner:
        timer = StepTimer(console, None)
        yield timer
        timer.finish()
        return
    with console.status("starting") as status:
        timer = StepTimer(console, status)
        yield timer
        timer.finish()
