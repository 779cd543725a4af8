"""Notices to subjects: what happened to their file and why (a dispute's outcome, a record put
back, a review's answer, ...). Any use case adds one in its own transaction; the subject reads
its own, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import NotAllowed, Principal, Role
from socialcredit.services.errors import InvalidRequest
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.store import notices

KIND_MAX_CHARS = 32


def add_notice(
    connection: sa.Connection,
    subject: str,
    kind: str,
    text: str,
    refs: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Tell `subject` something, in the caller's transaction; `kind` names what happened (e.g.
    dispute.retracted) and `refs` the ids it is about. Returns the notice's id."""
    if not kind or len(kind) > KIND_MAX_CHARS:
        raise ValueError(f"a notice's kind has 1 to {KIND_MAX_CHARS} characters, got {kind!r}")
    if not text.strip():
        raise ValueError("a notice needs a text")
    return notices.append_notice(connection, subject, now or utc_now(), kind, text, refs or {})


def _stamp(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def notice_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored notice as the API shows it."""
    return {
        "id": row["id"],
        "subject": row["subject"],
        "at": _stamp(row["at"]),
        "kind": row["kind"],
        "text": row["text"],
        "refs": row["refs"],
    }


def list_notices(
    engine: sa.Engine, principal: Principal, subject: str, page: PageRequest
) -> tuple[list[dict[str, Any]], str | None]:
    """The subject's own notices, newest first (nobody else reads them)."""
    if principal.role is not Role.SUBJECT:
        raise NotAllowed(f"only the subject reads its notices; this key has {principal.role.value}")
    try:
        subject_id, _ = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    if principal.subject != subject_id:
        raise NotAllowed("a subject may read only its own notices")
    before = int_cursor("notices", page.cursor)
    with engine.connect() as connection:
        rows = notices.notices_of(connection, subject_id, before, page.limit + 1)
    cursor = next_cursor("notices", rows, page.limit, "id")
    return [notice_json(r) for r in rows], cursor
