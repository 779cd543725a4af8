"""The outbox worker while the server runs: it drains pending events every few seconds, so a
change whose request died before its rescoring is still rescored."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from socialcredit.api.background import Periodic, running
from socialcredit.services import worker as service


def drained_json(drained: service.Drained) -> dict[str, Any]:
    """What a drain did, as the logs, `socialcredit work --json` and tests read it."""
    return {
        "handled": drained.handled,
        "events": dict(sorted(drained.events.items())),
        "subjects": drained.subjects,
        "passes": drained.passes,
        "full_runs": drained.full_runs,
        "seconds": round(drained.seconds, 3),
    }


def _work(engine: sa.Engine) -> dict[str, Any] | None:
    drained = service.drain(engine)
    return drained_json(drained) if drained.handled else None


def scheduled(engine: sa.Engine, seconds: float) -> AbstractContextManager[Periodic | None]:
    """The worker, draining the outbox every `seconds` while the app runs (0: none)."""
    return running("worker", seconds, lambda: _work(engine))
