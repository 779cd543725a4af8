"""Human review of adverse decisions: a subject asks for a review of a decision about it that
denied a service or attached conditions; an adjudicator confirms or overrides it, saying why.
The decision log stays as it was (append-only); the review holds the override and its reason,
the due-process log who did what, and the subject is told."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain import disputes as rules
from socialcredit.domain.disputes import ReviewOutcome, Status
from socialcredit.domain.principals import NotAllowed, Principal, Role
from socialcredit.services.disputes import Actor, log_case_reads, log_entry
from socialcredit.services.errors import Conflict, InvalidRequest, NotFound
from socialcredit.services.notices import add_notice
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.store import disputes as store
from socialcredit.store.writers import one_writer


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def review_json(row: dict[str, Any]) -> dict[str, Any]:
    """A review as the API shows it."""
    return {
        "id": row["id"],
        "decision": row["decision"],
        "subject": row["subject"],
        "service": row["service"],
        "original": row["original"],
        "reason": row["reason"],
        "requested_at": _stamp(row["requested_at"]),
        "status": row["status"],
        "outcome": row["outcome"],
        "new_decision": row["new_decision"],
        "decided_at": _stamp(row["decided_at"]),
        "decided_by": row["decided_by"],
        "decision_reason": row["decision_reason"],
    }


def _reason(value: str | None) -> str:
    text = rules.clean_text(value)
    refusal = rules.text_refusal("reason", text, rules.REASON_MAX_CHARS, required=True)
    if refusal:
        raise InvalidRequest(refusal)
    assert text is not None
    return text


def request_review(
    engine: sa.Engine,
    principal: Principal,
    decision_id: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The subject asks for a human review of an adverse decision about it (one open review
    per decision). Raises NotFound, NotAllowed, InvalidRequest or Conflict."""
    if principal.role is not Role.SUBJECT:
        raise NotAllowed(f"only the subject asks for a review; this key has {principal.role.value}")
    now = now or utc_now()
    text = _reason(reason)
    with one_writer(engine), engine.begin() as connection:
        decision = (
            store.decision_by_id(connection, decision_id)
            if rules.valid_id(decision_id, rules.INT64_MAX)
            else None
        )
        # A decision about another subject is answered as one that does not exist.
        if decision is None or rules.review_permission_refusal(principal, decision["subject"]):
            raise NotFound(f"no decision {decision_id}")
        refusal = rules.reviewable_refusal(decision["decision"])
        if refusal:
            raise Conflict(refusal)
        open_one = store.open_review_of(connection, decision_id)
        if open_one is not None:
            raise Conflict(
                f"decision {decision_id} is under review already: review {open_one['id']}"
            )
        try:  # the unique index on open reviews settles a race; the transaction is undone
            review_id = store.add_review(
                connection,
                {
                    "decision": decision_id,
                    "subject": decision["subject"],
                    "service": decision["service"],
                    "original": decision["decision"],
                    "reason": text,
                    "requested_at": now,
                    "requested_by": principal.id,
                },
            )
        except sa.exc.IntegrityError:
            raise Conflict(f"decision {decision_id} is under review already") from None
        detail = {"decision": decision_id, "original": decision["decision"]}
        store.log_action(
            connection,
            log_entry(
                Actor.of(principal),
                now,
                decision["subject"],
                "requested",
                text,
                detail,
                review=review_id,
            ),
        )
        add_notice(
            connection,
            decision["subject"],
            "review.requested",
            f"You asked for a human review of decision {decision_id} ({decision['service']}: "
            f"{decision['decision']}); review {review_id} is open.",
            {"review": review_id, "decision": decision_id},
            now,
        )
        row = store.review_by_id(connection, review_id)
    assert row is not None
    return row


def decide_review(
    engine: sa.Engine,
    principal: Principal,
    review_id: int,
    outcome: ReviewOutcome,
    reason: str,
    new_decision: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An adjudicator confirms the decision or overrides it with `new_decision`, saying why;
    the override, who made it and why are logged and the subject is told."""
    refusal = rules.adjudicator_refusal(principal)
    if refusal:
        raise NotAllowed(refusal)
    now = now or utc_now()
    text = _reason(reason)
    with one_writer(engine), engine.begin() as connection:
        review = store.review_by_id(connection, review_id) if rules.valid_id(review_id) else None
        if review is None:
            raise NotFound(f"no review {review_id}")
        if review["status"] != Status.OPEN:
            raise Conflict(f"review {review_id} is closed already ({review['outcome']})")
        refusal = rules.override_refusal(review["original"], outcome, new_decision)
        if refusal:
            raise InvalidRequest(refusal)
        final = new_decision if outcome is ReviewOutcome.OVERRIDDEN else review["original"]
        closed = store.close_review(
            connection,
            review_id,
            {
                "outcome": outcome.value,
                "new_decision": final if outcome is ReviewOutcome.OVERRIDDEN else None,
                "decided_at": now,
                "decided_by": principal.id,
                "decision_reason": text,
            },
        )
        if not closed:
            raise Conflict(f"review {review_id} was closed meanwhile")
        detail = {
            "decision": review["decision"],
            "original": review["original"],
            "final": final,
        }
        store.log_action(
            connection,
            log_entry(
                Actor.of(principal),
                now,
                review["subject"],
                outcome.value,
                text,
                detail,
                review=review_id,
            ),
        )
        if outcome is ReviewOutcome.OVERRIDDEN:
            told = (
                f"An adjudicator ({principal.name}) overrode decision {review['decision']} "
                f"({review['service']}): {review['original']} became {final}. Why: {text}"
            )
        else:
            told = (
                f"An adjudicator ({principal.name}) confirmed decision {review['decision']} "
                f"({review['service']}: {review['original']}). Why: {text}"
            )
        add_notice(
            connection,
            review["subject"],
            f"review.{outcome.value}",
            told,
            {"review": review_id, "decision": review["decision"]},
            now,
        )
        row = store.review_by_id(connection, review_id)
    assert row is not None
    return row


def list_reviews(
    engine: sa.Engine,
    principal: Principal,
    page: PageRequest,
    *,
    status: Status | None = None,
    endpoint: str = "GET /v1/reviews",
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Reviews oldest first: a subject's own; all for adjudicators and admins (whose reads
    go to each subject's access log)."""
    if principal.role is Role.SUBJECT:
        subject = principal.subject
    elif principal.role in (Role.ADJUDICATOR, Role.ADMIN):
        subject = None
    else:
        raise NotAllowed(f"a principal with role {principal.role.value} may not see reviews")
    after = int_cursor("reviews", page.cursor)
    with engine.connect() as connection:
        rows = store.list_reviews(connection, subject, status, after, page.limit + 1)
    cursor = next_cursor("reviews", rows, page.limit, "id")
    cases = [(r["subject"], r["id"]) for r in rows]
    log_case_reads(engine, principal, cases, "reviews", endpoint, now or utc_now())
    return rows, cursor
