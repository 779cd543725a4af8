"""Is the store there and at the code's schema? For readiness checks."""

from __future__ import annotations

import sqlalchemy as sa

from socialcredit.store.database import StoreNotReady, check_ready


def store_problem(engine: sa.Engine) -> str | None:
    """None when the store answers and its schema is current, else what is wrong."""
    try:
        check_ready(engine)
    except StoreNotReady as exc:
        return str(exc)
    except sa.exc.SQLAlchemyError as exc:
        return f"the store does not answer: {type(exc).__name__}"
    return None
