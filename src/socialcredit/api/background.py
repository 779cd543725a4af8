"""Work the server does on threads of its own while it runs: a job repeated every few seconds
until the server stops. A failed run is logged and the next one runs on time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("socialcredit.background")


class Periodic:
    """Runs `job` at start and then `seconds` after each run ends, until stopped. `job` returns
    what to log about its run (None: nothing worth a line); it may raise `quiet` exceptions,
    which are logged as information, not failures."""

    def __init__(
        self,
        name: str,
        seconds: float,
        job: Callable[[], dict[str, Any] | None],
        quiet: tuple[type[Exception], ...] = (),
    ) -> None:
        self.name = name
        self.seconds = seconds
        self.runs = 0
        self.last: dict[str, Any] | None = None
        self._job = job
        self._quiet = quiet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(wait)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._job()
            except self._quiet as exc:
                log.info("%s skipped: %s", self.name, exc)
            except Exception:
                log.exception("%s failed", self.name)
            else:
                self.runs += 1
                if report is not None:
                    self.last = report
                    log.info("%s done", self.name, extra={self.name: report})
            self._stop.wait(self.seconds)


@contextmanager
def running(
    name: str,
    seconds: float,
    job: Callable[[], dict[str, Any] | None],
    quiet: tuple[type[Exception], ...] = (),
) -> Iterator[Periodic | None]:
    """A Periodic job while the block runs (seconds 0: none)."""
    if seconds <= 0:
        yield None
        return
    periodic = Periodic(name, seconds, job, quiet)
    periodic.start()
    try:
        yield periodic
    finally:
        periodic.stop()
