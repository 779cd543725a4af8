"""A small scored store with one principal of every role, and an in-process client for the API.

Subject A (a person) and B (an organisation) each have three loan records over 200 days and a
guarantor relation between them; both are scored under the shipped programs. The relying party
holds a consent from A for every scope, for travel booking.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from factories import enrol_subject, record_row, relation_row, resident_id, uscc
from socialcredit.api import ApiSettings, create_app
from socialcredit.domain.records import Furnisher
from socialcredit.services.consents import grant_consent
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.principals import create_principal
from socialcredit.services.scoring import score_all

A = resident_id(101)
B = uscc(202)
C = resident_id(303)  # in the store, no principal of its own
ROLES = ("furnisher", "subject", "relying_party", "adjudicator", "admin")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def day(days_ago: int) -> str:
    return (utc_now() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()


def loans(subject: str, prefix: str) -> list[dict[str, Any]]:
    return [
        record_row(subject=subject, external_id=f"{prefix}-{n}", occurred_at=day(ago))
        for n, ago in enumerate((200, 150, 100))
    ]


def ndjson(rows: Sequence[Mapping[str, Any] | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@dataclass
class World:
    engine: sa.Engine
    client: TestClient
    keys: dict[str, str]
    ids: dict[str, str]
    consent_token: str
    consent_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    def auth(self, role: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **headers}

    def post_records(self, role: str, rows: Sequence[Mapping[str, Any] | str]) -> Any:
        return self.client.post(
            "/v1/records",
            headers=self.auth(role, **{"Content-Type": "application/x-ndjson"}),
            content=ndjson(rows),
        )


def populate(engine: sa.Engine, scored: bool = True) -> None:
    """Furnishers, records and a relation for A, B and C, scored (unless told not to)."""
    register_furnisher(engine, Furnisher("bank-a", "lender", "Bank A"))
    register_furnisher(engine, Furnisher("court-a", "court", "Court A"))
    rows = loans(A, "a") + loans(B, "b") + loans(C, "c")
    ingest_rows(engine, "records", enumerate(rows, start=1))
    relation = relation_row(subject=A, other=B, start=day(180))
    ingest_rows(engine, "relations", [(1, relation)])
    if scored:
        score_all(engine)


@contextmanager
def world(
    engine: sa.Engine, settings: ApiSettings | None = None, scored: bool = True
) -> Iterator[World]:
    """A populated store, a principal of each role, A's consent, and a client."""
    populate(engine, scored)
    made = {
        "furnisher": create_principal(engine, "furnisher", "bank-a"),
        "subject": enrol_subject(engine, A, "A"),
        "relying_party": create_principal(engine, "relying_party", "Air Example"),
        "adjudicator": create_principal(engine, "adjudicator", "Judge"),
        "admin": create_principal(engine, "admin", "Root"),
        "subject_b": enrol_subject(engine, B, "B"),
        "court": create_principal(engine, "furnisher", "court-a"),
    }
    consent = grant_consent(
        engine,
        made["subject"].principal,
        relying_party=made["relying_party"].principal.id,
        purpose="travel_booking",
        scopes=["scores", "history", "records", "relations"],
        expires_at=utc_now() + timedelta(days=30),
    )
    app = create_app(engine, settings or ApiSettings(rate=0, failed_auth_rate=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(
            engine=engine,
            client=client,
            keys={role: m.key for role, m in made.items()},
            ids={role: m.principal.id for role, m in made.items()},
            consent_token=consent.token,
            consent_id=consent.consent.id,
        )
