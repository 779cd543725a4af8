"""One writer at a time on SQLite, queued in this process.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
in steps of milliseconds. Short, frequent writes from many threads (an access-log entry per
read) queue far better on a lock here. Other databases need no such lock. The queue is per
store file, shared by every engine on it, and no longer than the engine's busy wait: a writer
that waited that long gives up with StoreBusy, as it would in SQLite's own handler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from socialcredit.store.database import StoreBusy, busy_message, busy_timeout

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock(engine: sa.Engine) -> threading.Lock:
    store = engine.url.render_as_string(hide_password=False)
    with _guard:
        return _locks.setdefault(store, threading.Lock())


@contextmanager
def one_writer(engine: sa.Engine) -> Iterator[None]:
    """Hold this around a short write transaction: on SQLite, writers of this process take
    turns; elsewhere it does nothing. Raises StoreBusy after the engine's busy wait."""
    if engine.dialect.name != "sqlite":
        yield
        return
    lock = _lock(engine)
    seconds = busy_timeout(engine)
    if not lock.acquire(timeout=seconds):
        raise StoreBusy(busy_message(seconds))
    try:
        yield
    finally:
        lock.release()
