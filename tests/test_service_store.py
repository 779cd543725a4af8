"""The service's store: bulk appends (COPY on PostgreSQL) skip what is stored, the 0003
migration goes down and up, the 0009 one gives stored corrections their chains, and the consent
rules refuse each way a read can be wrong."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from factories import count, new_store, table_rows
from socialcredit.domain.consents import Consent, Purpose, Scope, consent_refusal
from socialcredit.domain.principals import Principal, Role, reading_refusal
from socialcredit.store import tables
from socialcredit.store.bulk import append_new, append_rows
from socialcredit.store.database import _alembic_config, check_ready, migrate

NOW = datetime(2026, 6, 30, 12, 0)


@pytest.mark.usefixtures("store_backend")
def test_append_rows_counts_only_new_rows_and_keeps_the_first(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    names = ("id", "kind")
    with engine.begin() as connection:
        assert append_rows(connection, tables.subjects, names, [("s1", "person")]) == 1
        rows = [("s2", "person"), ("s1", "organisation"), ("s3", "organisation"), ("s2", "x")]
        assert append_rows(connection, tables.subjects, names, rows) == 2
        assert append_rows(connection, tables.subjects, names, []) == 0
        # Twice in one transaction: the staging table does not linger.
        assert append_rows(connection, tables.subjects, names, [("s4", "person")]) == 1
    assert table_rows(engine, "subjects") == {
        ("s1", "person"),
        ("s2", "person"),
        ("s3", "organisation"),
        ("s4", "person"),
    }


@pytest.mark.usefixtures("store_backend")
def test_append_new_names_the_rows_it_skipped(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    names = ("furnisher", "external_id", "subject", "kind", "occurred_at", "received_at")
    names += ("attributes",)

    def row(external_id: str, subject: str = "s") -> tuple[object, ...]:
        return ("f", external_id, subject, "k", NOW, NOW, "{}")

    key = ("furnisher", "external_id")
    with engine.begin() as connection:
        assert append_new(connection, tables.records, names, [row("a"), row("b")], key) == []
        again = [row("c"), row("a"), row("c", "t"), row("d"), row("b", "t")]
        assert append_new(connection, tables.records, names, again, key) == [1, 2, 4]
    assert count(engine, "records") == 4


@pytest.mark.usefixtures("store_backend")
def test_append_rows_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        append_rows(connection, tables.subjects, ("id", "kind"), [("s9", "person")] * 3)
        raise RuntimeError("abandon")
    assert count(engine, "subjects") == 0


@pytest.mark.usefixtures("store_backend")
def test_the_service_migration_goes_down_and_up(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0002")
    assert "access_log" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    check_ready(engine)
    assert {"principals", "consents", "access_log"} <= set(sa.inspect(engine).get_table_names())


@pytest.mark.usefixtures("store_backend")
def test_the_chain_migration_gives_stored_corrections_their_chains(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0008")
    insert = sa.text(
        "INSERT INTO records (furnisher, external_id, subject, kind, occurred_at, received_at, "
        "attributes, replaces) VALUES ('f', :e, 's', 'k', :t, :t, '{}', :r)"
    )
    named = [("c-2", "c-1"), ("o", None), ("c-1", "o"), ("c-3", "o"), ("u", "gone")]
    with engine.begin() as connection:
        for external_id, replaces in named:
            connection.execute(insert, {"e": external_id, "r": replaces, "t": NOW})
    migrate(engine)
    check_ready(engine)
    chains = dict(table_rows(engine, "records", ("external_id", "chain")))
    assert chains == {"o": None, "c-1": "o", "c-2": "o", "c-3": "o", "u": "gone"}
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:  # append-only again
        connection.execute(sa.text("UPDATE records SET chain = 'x'"))


def _consent(**overrides: object) -> Consent:
    values: dict[str, object] = {
        "id": "c_1",
        "subject": "S",
        "relying_party": "p_rp",
        "purpose": Purpose.TENANCY,
        "scopes": (Scope.SCORES,),
        "granted_at": NOW - timedelta(days=1),
        "expires_at": NOW + timedelta(days=1),
        "revoked_at": None,
    }
    values.update(overrides)
    return Consent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("consent", "asked", "reason"),
    [
        (_consent(), {}, None),
        (_consent(), {"purpose": None}, "declare a purpose"),
        (None, {}, "no valid consent token"),
        (_consent(relying_party="p_other"), {}, "another relying party"),
        (_consent(subject="T"), {}, "another subject"),
        (_consent(revoked_at=NOW - timedelta(hours=1)), {}, "revoked"),
        (_consent(expires_at=NOW), {}, "expired"),
        (_consent(), {"purpose": "insurance"}, "purpose tenancy, not insurance"),
        (_consent(), {"scope": "records"}, "does not cover records"),
    ],
)
def test_consent_refusal(
    consent: Consent | None, asked: dict[str, object], reason: str | None
) -> None:
    question: dict[str, object] = {
        "relying_party": "p_rp",
        "subject": "S",
        "purpose": "tenancy",
        "scope": "scores",
        "now": NOW,
        **asked,
    }
    refusal = consent_refusal(consent, **question)  # type: ignore[arg-type]
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal


def test_reading_refusal_by_role() -> None:
    def principal(role: Role, subject: str | None = None) -> Principal:
        return Principal("p", role, "n", NOW, subject=subject)

    assert reading_refusal(principal(Role.SUBJECT, "S"), "S", "access-log") is None
    assert reading_refusal(principal(Role.SUBJECT, "S"), "T", "scores")
    assert reading_refusal(principal(Role.RELYING_PARTY), "S", "scores") is None
    assert reading_refusal(principal(Role.RELYING_PARTY), "S", "access-log")
    for role in (Role.FURNISHER, Role.ADJUDICATOR, Role.ADMIN):
        assert reading_refusal(principal(role), "S", "scores")
