"""Is the store there and at the code's schema? For readiness checks."""

from __future__ import annotations

import sqlalchemy as sa

from socialcredit.store.database import StoreBusy as StoreBusy
from socialcredit.store.database import StoreNotReady, check_ready, is_busy


def store_problem(engine: sa.Engine) -> str | None:
    """None when the store answers and its schema is current, else what is wrong."""
    try:
        check_ready(engine)
    except StoreNotReady as exc:
        return str(exc)
    except sa.exc.SQLAlchemyError as exc:
        return f"the store does not answer: {type(exc).__name__}"
    return None


def store_busy(exc: BaseException) -> bool:
    """Whether an error means that another process kept the store busy past the wait (nothing
    was changed; retrying later may succeed)."""
    return is_busy(exc)
