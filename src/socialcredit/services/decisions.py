"""Decide whether a subject may have a service: gather only what the service's catalogue entry
names, evaluate its measures, and log the decision (in the decision log, and in the subject's
access log) before the answer leaves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.lists import kinds_read
from socialcredit.domain.measures import Decision, Service, SubjectFacts, decide
from socialcredit.domain.principals import NotAllowed, Principal, Role, require_role
from socialcredit.policy.measures import MeasuresCatalogue, shipped_measures
from socialcredit.services.consents import check_consent
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.lists import (
    ListInputs,
    entries_from,
    phoenix_flags,
    read_inputs,
    score_programs,
)
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.store import access
from socialcredit.store import lists as store
from socialcredit.store.writers import one_writer

DECISION_SCOPE = "decisions"


@dataclass(frozen=True)
class DecisionRequest:
    """One question: may `subject` have `service`, asked for `purpose` with a consent token."""

    subject: str
    service: str
    purpose: str | None = None
    consent_token: str | None = None


def _service(catalogue: MeasuresCatalogue, name: str) -> Service:
    service = catalogue.service(name)
    if service is None:
        raise NotFound(f"no service {name!r}; services: {', '.join(catalogue.services)}")
    return service


def _subject_id(subject: str) -> str:
    try:
        return identify(subject)[0]
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None


def _check_caller(
    connection: sa.Connection,
    principal: Principal,
    service: Service,
    request: DecisionRequest,
    subject: str,
    now: datetime,
) -> str | None:
    """Raise unless the principal may ask; the consent id a relying party used, if any."""
    if principal.role is Role.SUBJECT:
        if principal.subject != subject:
            raise NotAllowed("a subject may ask for decisions about itself only")
        return None
    if principal.role is Role.ADMIN:
        return None
    if principal.role is not Role.RELYING_PARTY:
        raise NotAllowed(f"a principal with role {principal.role.value} may not ask for decisions")
    if request.purpose is not None and request.purpose not in service.purposes:
        raise NotAllowed(
            f"a decision on {service.name} serves the purpose "
            f"{' or '.join(service.purposes)}, not {request.purpose}"
        )
    consent = check_consent(
        connection,
        principal,
        request.consent_token,
        subject=subject,
        purpose=request.purpose,
        scope=DECISION_SCOPE,
        now=now,
    )
    return consent.id


def _inputs(
    connection: sa.Connection,
    services: Sequence[Service],
    subjects: Sequence[str],
    now: datetime,
    catalogue: MeasuresCatalogue,
) -> ListInputs:
    """What the decisions on these services need about these subjects, read at once."""
    definitions = [catalogue.lists[n] for s in services for n in s.lists]
    kinds = kinds_read(definitions) | {
        k for s in services for m in s.measures if m.when.records for k in m.when.records.kinds
    }
    programs = score_programs(definitions) | {s.program for s in services}
    return read_inputs(connection, subjects, kinds, programs, now)


def subject_facts(
    inputs: ListInputs,
    service: Service,
    subject: str,
    now: datetime,
    catalogue: MeasuresCatalogue,
    flags: dict[str, str],
) -> SubjectFacts:
    """Everything the service's entry names about the subject, and nothing else."""
    definitions = [catalogue.lists[n] for n in service.lists]
    entries = entries_from(inputs, definitions, subject, now)
    kinds = {k for m in service.measures if m.when.records for k in m.when.records.kinds}
    records: dict[str, list[tuple[int, datetime]]] = {}
    for r in inputs.records.get(subject, []):
        if r.kind in kinds:
            records.setdefault(r.kind, []).append((r.id, r.occurred_at))
    uses_flags = any(m.when.flag for m in service.measures)
    return SubjectFacts(
        subject,
        entries,
        inputs.score(subject, service.program),
        {"phoenix": flags[subject]} if uses_flags and subject in flags else {},
        records,
    )


def decision_json(
    decision: Decision, decision_id: int, purpose: str | None, at: datetime, version: str
) -> dict[str, Any]:
    """A decision as the API, the CLI and the log show it."""
    return {
        "id": decision_id,
        "subject": decision.subject,
        "service": decision.service,
        "purpose": purpose,
        "decision": decision.outcome.value,
        "measures": decision.measures,
        "program": decision.program,
        "policy_version": decision.policy_version,
        "catalogue_version": version,
        "at": at.isoformat() + "Z",
        "trace": decision.trace,
    }


def decide_many(
    engine: sa.Engine,
    principal: Principal,
    requests: Sequence[DecisionRequest],
    *,
    endpoint: str,
    now: datetime | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> list[dict[str, Any]]:
    """Decide each request and log every decision, all in one transaction: either every answer
    is logged and returned, or none is (raises on the first request that may not be asked)."""
    catalogue = catalogue or shipped_measures()
    now = now or utc_now()
    asked = [(r, _service(catalogue, r.service), _subject_id(r.subject)) for r in requests]
    subjects = sorted({subject for _, _, subject in asked})
    with engine.connect() as connection:
        consents = [_check_caller(connection, principal, s, r, i, now) for r, s, i in asked]
        kinds = store.subject_kinds(connection, subjects)
        missing = [s for s in subjects if s not in kinds]
        if missing:
            raise NotFound(f"no subject {missing[0]} in the store")
        services = list({s.name: s for _, s, _ in asked}.values())
        inputs = _inputs(connection, services, subjects, now, catalogue)
        flags: dict[str, str] = {}
        organisations = [s for s in subjects if kinds[s] == "organisation"]
        if organisations and any(m.when.flag == "phoenix" for s in services for m in s.measures):
            flags = phoenix_flags(connection, now, organisations, catalogue=catalogue)
    made = [
        (decide(s, subject_facts(inputs, s, i, now, catalogue, flags), now), r, consent)
        for (r, s, i), consent in zip(asked, consents, strict=True)
    ]
    with one_writer(engine), engine.begin() as connection:
        ids = store.add_decisions(
            connection,
            [
                {
                    "at": now,
                    "subject": d.subject,
                    "service": d.service,
                    "purpose": r.purpose,
                    "principal": principal.id,
                    "decision": d.outcome.value,
                    "measures": json.dumps(d.measures, separators=(",", ":")),
                    "program": d.program,
                    "policy_version": d.policy_version,
                    "catalogue_version": catalogue.version,
                    "trace": json.dumps(d.trace, separators=(",", ":")),
                }
                for d, r, _ in made
            ],
        )
        access.append_accesses(
            connection,
            [
                access.read_by(
                    principal,
                    d.subject,
                    at=now,
                    what="decision",
                    endpoint=endpoint,
                    returned={
                        "decision_id": decision_id,
                        "service": d.service,
                        "decision": d.outcome.value,
                        "measures": [m["id"] for m in d.measures],
                    },
                    purpose=r.purpose,
                    consent=consent,
                )
                for decision_id, (d, r, consent) in zip(ids, made, strict=True)
            ],
        )
    return [
        decision_json(d, i, r.purpose, now, catalogue.version)
        for i, (d, r, _) in zip(ids, made, strict=True)
    ]


def decide_one(
    engine: sa.Engine,
    principal: Principal,
    request: DecisionRequest,
    *,
    endpoint: str,
    now: datetime | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> dict[str, Any]:
    """Decide one request and log it (see decide_many)."""
    return decide_many(
        engine, principal, [request], endpoint=endpoint, now=now, catalogue=catalogue
    )[0]


def stored_decision_json(row: dict[str, Any]) -> dict[str, Any]:
    """A logged decision as the API shows it."""
    return {
        "id": row["id"],
        "subject": row["subject"],
        "service": row["service"],
        "purpose": row["purpose"],
        "decision": row["decision"],
        "measures": json.loads(row["measures"]),
        "program": row["program"],
        "policy_version": row["policy_version"],
        "catalogue_version": row["catalogue_version"],
        "at": row["at"].isoformat() + "Z",
        "trace": json.loads(row["trace"]),
        "principal": row["principal"],
    }


def decision_log(
    engine: sa.Engine,
    principal: Principal,
    subject: str,
    page: PageRequest,
    *,
    endpoint: str = "GET /v1/subjects/{id}/decisions",
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Every decision taken about a subject, newest first: the subject's own, or any for
    adjudicators and admins (who review them), whose read the subject sees in its access log.
    Raises NotAllowed or InvalidRequest."""
    if principal.role is not Role.SUBJECT:
        require_role(principal, Role.ADJUDICATOR, Role.ADMIN)
    subject_id = _subject_id(subject)
    if principal.role is Role.SUBJECT and principal.subject != subject_id:
        raise NotAllowed("a subject may read only its own decisions")
    before = int_cursor("decisions", page.cursor)
    with engine.connect() as connection:
        rows = store.decisions_of(connection, subject_id, before, page.limit + 1)
    cursor = next_cursor("decisions", rows, page.limit, "id")
    items = [stored_decision_json(r) for r in rows]
    if principal.role is not Role.SUBJECT:
        returned = {"items": len(items), "decision_ids": [i["id"] for i in items]}
        entry = access.read_by(
            principal,
            subject_id,
            at=now or utc_now(),
            what="decisions",
            endpoint=endpoint,
            returned=returned,
        )
        with one_writer(engine), engine.begin() as connection:
            access.append_access(connection, entry)
    return items, cursor
