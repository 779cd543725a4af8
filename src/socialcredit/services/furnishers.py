"""Register data furnishers: a furnisher's type decides which record kinds it may send."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.records import Furnisher
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.store.ledger import add_furnishers


def register_furnisher(
    engine: sa.Engine, furnisher: Furnisher, catalogue: Catalogue | None = None
) -> bool:
    """Register a furnisher; False when it was already registered. Raises ValueError for an
    unknown furnisher type."""
    catalogue = catalogue or shipped_catalogue()
    if furnisher.type not in catalogue.furnisher_types:
        known = ", ".join(sorted(catalogue.furnisher_types))
        raise ValueError(f"unknown furnisher type {furnisher.type!r}; known types: {known}")
    with engine.begin() as connection:
        return add_furnishers(connection, [furnisher], datetime.now(UTC).replace(tzinfo=None)) == 1
