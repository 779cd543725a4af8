"""Fault: a row inserted into `purges` let a ledger record be deleted, since the records DELETE
trigger only looked for a purge naming the record. A purge must now name the maintenance run
under way (the latest logged as started in `maintenance_starts` and not yet logged as finished),
`maintain` logs its start before it purges, and both logs are append-only, so a forgery leaves
a trail that cannot be taken back. Checked with raw SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from factories import new_store, record_row, resident_id
from socialcredit.domain.records import Furnisher
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.maintenance import maintain

S = resident_id(8801)
REFUSED = "append-only|maintenance run"


def ledger(engine: sa.Engine) -> None:
    """An old arrears record (due for purging in 2025) and a recent one."""
    register_furnisher(engine, Furnisher("bank-a", "lender", "Bank A"))
    rows = [
        record_row(subject=S, kind="loan.arrears_cycle", external_id="old",
                   occurred_at="2020-03-01T09:00:00"),
        record_row(subject=S, kind="loan.arrears_cycle", external_id="new",
                   occurred_at="2025-02-01T09:00:00"),
    ]  # fmt: skip
    ingest_rows(engine, "records", enumerate(rows[:1], start=1), now=datetime(2020, 6, 1))
    ingest_rows(engine, "records", enumerate(rows[1:], start=1), now=datetime(2025, 2, 2))


def stored(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT external_id FROM records")).scalars())


def record(engine: sa.Engine, external_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT * FROM records WHERE external_id = :e"), {"e": external_id}
        ).one()
    return dict(row._mapping)


def forge(engine: sa.Engine, victim: dict[str, Any], run: int | None) -> None:
    """A raw purge row naming the record (every field the DELETE trigger compares), in its own
    transaction; the store may refuse it."""
    columns = "purged_at, record_id, furnisher, external_id, subject, kind, occurred_at, "
    columns += "received_at, reason"
    values = {
        "purged_at": datetime(2026, 1, 1),
        "record_id": victim["id"],
        **{k: victim[k] for k in ("furnisher", "external_id", "subject", "kind")},
        **{k: victim[k] for k in ("occurred_at", "received_at")},
        "reason": "forged",
    }
    has_run = "run" in {c["name"] for c in sa.inspect(engine).get_columns("purges")}
    if has_run:
        columns += ", run"
        values["run"] = run
    marks = ", ".join(f":{name.strip()}" for name in columns.split(","))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"INSERT INTO purges ({columns}) VALUES ({marks})"), values)
    except sa.exc.DBAPIError as exc:
        assert any(word in str(exc) for word in ("append-only", "maintenance run")), exc


def delete(engine: sa.Engine, gone: str) -> None:
    with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        connection.execute(sa.text("DELETE FROM records WHERE external_id = :e"), {"e": gone})


def test_a_raw_purge_row_deletes_no_record(tmp_path: Path, store_backend: str) -> None:
    engine = new_store(tmp_path)
    ledger(engine)
    victim = record(engine, "new")
    forge(engine, victim, None)
    delete(engine, "new")
    forge(engine, victim, 1)  # a run that does not exist
    delete(engine, "new")
    assert stored(engine) == {"old", "new"}
    engine.dispose()


def test_a_purge_row_naming_a_finished_run_deletes_no_record(
    tmp_path: Path, store_backend: str
) -> None:
    engine = new_store(tmp_path)
    ledger(engine)
    run = maintain(engine, datetime(2025, 3, 1, 12))  # purges "old", the real way
    assert run.purged == 1 and stored(engine) == {"new"}
    forge(engine, record(engine, "new"), run.run_id)
    delete(engine, "new")
    assert stored(engine) == {"new"}
    with engine.connect() as connection:
        purges = connection.execute(sa.text("SELECT external_id, run FROM purges")).all()
    assert [tuple(p) for p in purges] == [("old", run.run_id)]
    engine.dispose()


def test_a_forged_run_start_stays_in_the_log(tmp_path: Path, store_backend: str) -> None:
    engine = new_store(tmp_path)
    ledger(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO maintenance_starts (id, as_of, started_at) VALUES (7, :t, :t)"),
            {"t": datetime(2026, 1, 1)},
        )
    for statement in (
        "DELETE FROM maintenance_starts",
        "UPDATE maintenance_starts SET id = 8",
        "INSERT OR REPLACE INTO maintenance_starts (id, as_of, started_at) VALUES (7, 'x', 'x')"
        if store_backend == "sqlite"
        else "TRUNCATE maintenance_starts",
    ):
        with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match=REFUSED):
            connection.execute(sa.text(statement))
    with engine.connect() as connection:
        starts = connection.execute(sa.text("SELECT id FROM maintenance_starts")).scalars()
        assert list(starts) == [7]
    engine.dispose()


def test_temporary_tables_cannot_stand_in_for_the_logs(
    postgres_server: str, tmp_path: Path
) -> None:
    """PostgreSQL looks in a session's temporary tables first: a temporary `purges` (and run
    logs) named in no trigger's search path forges nothing."""
    import factories

    factories.use_backend("postgresql", postgres_server)
    try:
        engine = new_store(tmp_path)
    finally:
        factories.use_backend("sqlite", None)
    ledger(engine)
    victim = record(engine, "new")
    with engine.begin() as connection:
        for table in ("purges", "maintenance_starts", "maintenance_runs"):
            if sa.inspect(connection).has_table(table):
                connection.execute(
                    sa.text(f"CREATE TEMPORARY TABLE {table} AS SELECT * FROM {table} WITH NO DATA")
                )
        if sa.inspect(connection).has_table("maintenance_starts"):
            connection.execute(sa.text("INSERT INTO maintenance_starts VALUES (1, now(), now())"))
        columns = [c for c in victim if c in ("furnisher", "external_id", "subject", "kind")]
        connection.execute(
            sa.text(
                f"INSERT INTO pg_temp.purges (id, purged_at, record_id, reason, occurred_at, "
                f"received_at, {', '.join(columns)}) VALUES (1, now(), :id, 'forged', "
                f":occurred_at, :received_at, {', '.join(':' + c for c in columns)})"
            ),
            victim,
        )
        if "run" in {c["name"] for c in sa.inspect(connection).get_columns("purges")}:
            connection.execute(sa.text("UPDATE pg_temp.purges SET run = 1"))
        with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
            connection.execute(sa.text("DELETE FROM records WHERE id = :id"), victim)
    assert stored(engine) == {"old", "new"}
    engine.dispose()
