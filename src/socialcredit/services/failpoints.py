"""Named points where an operator's drill (or a test) makes the process die hard, to show that
a crash there loses no acknowledged write and leaves no score stale once the worker has run.

`SOCIALCREDIT_FAILPOINT=ingest.after_commit socialcredit ingest ...` exits with status 137 at
that point, as a `kill -9` would, without unwinding: no rollback handler, no cleanup runs.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "SOCIALCREDIT_FAILPOINT"
EXIT_STATUS = 137

NAMES = frozenset(
    {
        "ingest.before_commit",  # a file's rows are written, its transaction not yet committed
        "ingest.after_commit",  # committed with its events, the answer or summary not yet given
        "score.before_snapshot_commit",  # a run's snapshot written, not yet committed
        "worker.after_rescore_before_ack",  # events handled (rescored), not yet acknowledged
    }
)


def failpoint(name: str) -> None:
    """Exit at once, with status 137, when $SOCIALCREDIT_FAILPOINT names this point."""
    assert name in NAMES, name
    chosen = os.environ.get(VARIABLE)
    if chosen and name in chosen.split(","):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_STATUS)
