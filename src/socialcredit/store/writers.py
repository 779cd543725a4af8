"""One writer at a time on SQLite, queued in this process.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
in steps of milliseconds. Short, frequent writes from many threads (an access-log entry per
read) queue far better on a lock here. Other databases need no such lock.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext

import sqlalchemy as sa

_locks: weakref.WeakKeyDictionary[sa.Engine, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def one_writer(engine: sa.Engine) -> AbstractContextManager[object]:
    """Hold this around a short write transaction: on SQLite, writers of this process take
    turns; elsewhere it does nothing."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.Lock()
    return lock
