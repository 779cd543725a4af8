"""Retention and maintenance: display periods end a record's effect on the right day, the purge
removes and logs (and is the only deletion), corrections may not re-age a delinquency, and
`maintain` is idempotent, from the service, the HTTP API, the CLI and the server's schedule."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factories import count, new_store, record_row, resident_id, write_rows
from service_world import A, B, world
from socialcredit.api import ApiSettings, create_app
from socialcredit.cli import app
from socialcredit.domain.records import Furnisher
from socialcredit.domain.retention import display_days, expires_on, reaging_refusal
from socialcredit.domain.tiers import Tier, display_ends
from socialcredit.policy.compile import compile_program
from socialcredit.policy.loader import (
    PolicyError,
    load_catalogue_text,
    load_program_text,
    shipped_catalogue,
    shipped_program,
    shipped_program_names,
)
from socialcredit.policy.retention import load_retention_text, shipped_retention
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_files, ingest_rows
from socialcredit.services.maintenance import maintain
from socialcredit.services.scoring import score_all
from socialcredit.services.subjects import latest_scores
from socialcredit.store import tables

runner = CliRunner()
S = resident_id(7001)
T = resident_id(7002)


def furnishers(engine: sa.Engine) -> None:
    for fid, ftype in (("bank-a", "lender"), ("power-a", "utility"), ("court-a", "court")):
        register_furnisher(engine, Furnisher(fid, ftype, fid))


def ingest(engine: sa.Engine, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    result = ingest_rows(engine, "records", enumerate(rows, start=1), now=now)
    return result.rejects


def rongcheng(engine: sa.Engine, subject: str) -> dict[str, Any]:
    with engine.connect() as connection:
        scores = {s["program"]: s for s in latest_scores(connection, subject)}
    return scores["rongcheng"]


def records_of(engine: sa.Engine, subject: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT external_id FROM records WHERE subject = :s"), {"s": subject}
        )
        return {r[0] for r in rows}


# ------------------------------------------------------------------------------ rules


def test_display_days_never_pass_the_calendar_maximum() -> None:
    assert [display_days(t) for t in Tier] == [89, 365, 1095]
    start = datetime(2023, 1, 1, 9)
    for n in range(0, 3 * 366, 7):
        moment = start + timedelta(days=n)
        for tier in Tier:
            assert expires_on(tier, moment) <= display_ends(tier, moment.replace(hour=0)).date()
    # 28 Feb + 3 months is 28 May: 89 days, the shortest three months there are.
    assert (display_ends(Tier.MINOR, datetime(2023, 2, 28)) - datetime(2023, 2, 28)).days == 89


def test_adverse_kinds_have_tiers_and_the_catalogue_checks_them() -> None:
    catalogue = shipped_catalogue()
    assert catalogue.tier("utility.payment_late") is Tier.MINOR
    assert catalogue.tier("loan.arrears_cycle") is Tier.GENERAL
    assert catalogue.tier("traffic.drunk_driving") is Tier.GENERAL  # as its list's tier
    for kind in ("court.judgment_unfulfilled", "utility.theft", "finance.illegal_fundraising"):
        assert catalogue.tier(kind) is Tier.SERIOUS
    for kind in ("loan.repaid_on_time", "blood.donation", "record.retracted"):
        assert catalogue.tier(kind) is None
    base = '[categories]\ncredit = "c"\nadministrative = "a"\n[furnisher_types]\nlender = "l"\n'
    with pytest.raises(PolicyError, match="unknown tier 'awful'"):
        load_catalogue_text(base + '[kinds."x"]\ncategory = "credit"\ntier = "awful"\n')
    with pytest.raises(PolicyError, match="cannot have a tier"):
        load_catalogue_text(
            base + '[kinds."record.retracted"]\ncategory = "administrative"\ntier = "minor"\n'
        )


def test_retention_policy_is_sourced_and_refuses_purging_what_is_still_shown() -> None:
    retention = shipped_retention()
    assert retention.adverse.months == 60 and "art. 16" in retention.adverse.basis
    assert retention.positive.months is None
    with pytest.raises(PolicyError) as caught:
        load_retention_text("[adverse]\nmonths = 24\n", "r.toml")
    (problem,) = {p.field for p in caught.value.problems}
    assert problem == "adverse.months"
    assert "before its display period" in str(caught.value) and "r.toml:2" in str(caught.value)
    with pytest.raises(PolicyError, match="unknown field"):
        load_retention_text("[adverse]\nyears = 5\n")
    shorter = load_retention_text('[kinds."utility.payment_late"]\nmonths = 12\n')
    assert shorter.period("utility.payment_late", Tier.MINOR).months == 12


def test_no_reaging_rule() -> None:
    first = datetime(2026, 1, 10, 9)
    assert reaging_refusal("loan.arrears_cycle", first, "r-1", first) is None
    assert reaging_refusal("loan.arrears_cycle", first.replace(hour=17), "r-1", first) is None
    assert reaging_refusal("loan.arrears_cycle", first - timedelta(days=3), "r-1", first) is None
    reason = reaging_refusal("loan.arrears_cycle", first + timedelta(days=1), "r-1", first)
    assert reason is not None and "no re-aging" in reason and "2026-01-10 to 2026-01-11" in reason


def test_the_compiler_cuts_windows_to_display_periods_and_policy_check_warns(
    tmp_path: Path,
) -> None:
    # The shipped texts state windows within the display periods; this one asks for more.
    text = shipped_program("rongcheng").text.replace(
        'points = -20\ndisplay_days = 89\nreason = "Utility fees paid late"',
        'points = -20\ndisplay_days = 365\nreason = "Utility fees paid late"',
    )
    assert 'display_days = 365\nreason = "Utility fees paid late"' in text
    compiled = compile_program(load_program_text(text, "r.toml"), shipped_catalogue())
    windows = dict(
        zip(
            compiled.rules_by_kind.column("kind").to_pylist(),
            compiled.rules_by_kind.column("display_days").to_pylist(),
            strict=True,
        )
    )
    assert windows["utility.payment_late"] == 89  # the program asks for 365
    assert windows["contract.breached"] == 365 and windows["court.judgment_unfulfilled"] == 730
    assert windows["blood.donation"] == 365  # a merit keeps its window
    programs = Path(__file__).parents[1] / "src/socialcredit/policy/data/programs"
    for name in shipped_program_names():
        shipped = runner.invoke(app, ["policy", "check", str(programs / f"{name}.toml")])
        assert shipped.exit_code == 0 and "warning:" not in shipped.output
    path = tmp_path / "r.toml"
    path.write_text(text)
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 0 and "is valid" in result.output
    assert "warning:" in result.output and "'utility.payment_late' is a minor item" in result.output
    assert "count for 89 days, not 365" in result.output
    line = text.splitlines().index('id = "utility_late"') + 1
    assert f"{path}:{line + 4}: rules.9.display_days" in result.output


# ------------------------------------------------------------------------------ display periods


def test_display_expiry_changes_the_score_on_the_right_day(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    furnishers(engine)
    occurred = datetime(2026, 1, 10, 10)
    late = record_row(
        subject=S, furnisher="power-a", kind="utility.payment_late", external_id="late-1",
        occurred_at=occurred.isoformat(),
    )  # fmt: skip
    assert ingest(engine, [late], now=occurred + timedelta(days=1)) == []
    last_day = occurred.date() + timedelta(days=88)  # 2026-04-08: still counts
    score_all(engine, last_day)
    assert rongcheng(engine, S)["score"] == 980

    before = maintain(engine, datetime(2026, 4, 8, 23, 59))
    assert (before.expired, before.rescored) == (0, [])
    assert rongcheng(engine, S)["score"] == 980

    report = maintain(engine, datetime(2026, 4, 9, 0, 0))  # day 89: the record stops counting
    assert report.expired == 1 and report.expired_by_tier == {"minor": 1}
    assert report.rescored == [S] and set(report.programs) == set(shipped_program_names())
    after = rongcheng(engine, S)
    assert after["score"] == 1000 and after["as_of"] == "2026-04-09"
    assert after["contributions"] == []

    again = maintain(engine, datetime(2026, 4, 9, 0, 0))
    assert again.as_json()["expired"]["records"] == 0 and again.rescored == []
    assert again.since == datetime(2026, 4, 9) and again.run_id == report.run_id + 1
    # a full run and one rescoring, each of every program
    assert count(engine, "score_runs") == 2 * len(shipped_program_names())


# ------------------------------------------------------------------------------ the purge


def old_ledger(engine: sa.Engine) -> None:
    """S: an arrears record and its correction (March 2020); a judgment and its retraction
    (May 2020); a recent arrears record; a loan repaid in 2019 (positive). T: one old fine."""
    rows = [
        record_row(subject=S, kind="loan.arrears_cycle", external_id="a-1",
                   occurred_at="2020-03-01T09:00:00"),
        record_row(subject=S, kind="loan.arrears_cycle", external_id="a-1c", replaces="a-1",
                   occurred_at="2020-02-15T09:00:00"),
        record_row(subject=S, kind="loan.repaid_on_time", external_id="p-1",
                   occurred_at="2019-06-01T09:00:00"),
        record_row(subject=S, furnisher="court-a", kind="court.judgment_unfulfilled",
                   external_id="j-1", occurred_at="2020-05-01T09:00:00"),
        record_row(subject=T, furnisher="power-a", kind="utility.payment_late",
                   external_id="u-1", occurred_at="2020-01-20T09:00:00"),
    ]  # fmt: skip
    assert ingest(engine, rows, now=datetime(2020, 6, 1)) == []
    later = [
        record_row(subject=S, furnisher="court-a", kind="record.retracted", external_id="j-1r",
                   replaces="j-1", occurred_at="2024-01-05T09:00:00"),
        record_row(subject=S, kind="loan.arrears_cycle", external_id="a-2",
                   occurred_at="2024-02-01T09:00:00"),
    ]  # fmt: skip
    assert ingest(engine, later, now=datetime(2024, 3, 1)) == []


def purge_log(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(tables.purges).order_by(tables.purges.c.id))
        return [dict(r._mapping) for r in rows]


def test_the_purge_removes_chains_past_retention_and_logs_each_record(
    tmp_path: Path, store_backend: str
) -> None:
    engine = new_store(tmp_path)
    furnishers(engine)
    old_ledger(engine)
    with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        connection.execute(sa.text("DELETE FROM records WHERE external_id = 'a-1'"))
    with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        connection.execute(sa.text("UPDATE records SET kind = 'x' WHERE external_id = 'a-1'"))

    first = maintain(engine, datetime(2025, 3, 1, 12))
    # a-1 (1 March 2020) and its correction went; u-1 (January) too; j-1 (May) stays.
    assert (first.purged, first.purged_chains, first.purged_subjects) == (3, 2, 2)
    assert first.purged_by_kind == {"loan.arrears_cycle": 2, "utility.payment_late": 1}
    assert records_of(engine, S) == {"p-1", "j-1", "j-1r", "a-2"}
    assert records_of(engine, T) == set()
    log = purge_log(engine)
    assert [(e["external_id"], e["subject"], e["kind"]) for e in log] == [
        ("a-1", S, "loan.arrears_cycle"),
        ("a-1c", S, "loan.arrears_cycle"),
        ("u-1", T, "utility.payment_late"),
    ]
    assert set(log[0]) == {
        "id", "purged_at", "record_id", "furnisher", "external_id", "subject", "kind",
        "occurred_at", "received_at", "reason", "run",
    }  # fmt: skip
    assert {e["run"] for e in log} == {first.run_id}
    assert log[0]["occurred_at"] == datetime(2020, 3, 1, 9)
    assert log[0]["purged_at"] == datetime(2025, 3, 1, 12)
    assert "kept 5 years after it occurred" in log[0]["reason"]
    assert "kept until 2025-03-01" in log[0]["reason"]

    # The judgment and the retraction that withdrew it go together, in May.
    assert maintain(engine, datetime(2025, 4, 30)).purged == 0
    second = maintain(engine, datetime(2025, 5, 2))
    assert second.purged == 2 and records_of(engine, S) == {"p-1", "a-2"}
    reasons = {e["external_id"]: e["reason"] for e in purge_log(engine)}
    assert "goes with record j-1 of court-a" in reasons["j-1r"]

    # Nothing else is due, the positive record stays, and a plain DELETE is still refused.
    assert maintain(engine, datetime(2025, 5, 2)).purged == 0
    assert maintain(engine, datetime(2040, 1, 1)).purged == 1  # a-2, in 2029
    assert records_of(engine, S) == {"p-1"}
    with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        connection.execute(sa.text("DELETE FROM records"))
    with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        connection.execute(sa.text("DELETE FROM purges"))
    assert count(engine, "purges") == 6 and count(engine, "maintenance_runs") == 5
    engine.dispose()


def test_a_purged_record_cannot_be_sent_back(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    furnishers(engine)
    old_ledger(engine)
    maintain(engine, datetime(2025, 3, 1, 12))
    resent = record_row(subject=S, kind="loan.arrears_cycle", external_id="a-1",
                        occurred_at="2020-03-01T09:00:00")  # fmt: skip
    (reject,) = ingest(engine, [resent], now=datetime(2025, 3, 2))
    assert reject["line"] == 1
    assert "past its retention period (5 years after it occurred" in reject["reason"]
    assert "a-1" not in records_of(engine, S)


# ------------------------------------------------------------------------------ no re-aging


def test_a_correction_that_re_ages_a_delinquency_is_refused_at_ingest(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    furnishers(engine)
    now = datetime(2026, 6, 30)
    original = record_row(subject=S, kind="loan.arrears_cycle", external_id="d-1",
                          occurred_at="2026-01-10T09:00:00")  # fmt: skip
    assert ingest(engine, [original], now) == []
    path = write_rows(
        tmp_path / "corrections.csv",
        [
            record_row(subject=S, kind="loan.arrears_cycle", external_id="d-1a",
                       replaces="d-1", occurred_at="2026-03-01T09:00:00"),  # later: refused
            record_row(subject=S, kind="loan.arrears_cycle", external_id="d-1b",
                       replaces="d-1", occurred_at="2026-01-10T16:00:00"),  # same day: fine
            record_row(subject=S, kind="loan.repaid_on_time", external_id="d-1c",
                       replaces="d-1b", occurred_at="2026-05-01T09:00:00"),  # not adverse
            record_row(subject=S, kind="loan.arrears_cycle", external_id="d-1d",
                       replaces="d-1c", occurred_at="2026-04-01T09:00:00"),  # through it: refused
            record_row(subject=S, kind="loan.arrears_cycle", external_id="d-1e",
                       replaces="d-1c", occurred_at="2026-01-05T09:00:00"),  # earlier: fine
        ],
    )  # fmt: skip
    rejects = tmp_path / "rejects.ndjson"
    summary = ingest_files(engine, [path], now=now, rejects=rejects)
    assert (summary.accepted, summary.rejected) == (3, 2)
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2, 5]
    assert "no re-aging" in entries[0]["reason"]
    assert "from 2026-01-10 to 2026-03-01" in entries[0]["reason"]
    assert "from 2026-01-10 to 2026-04-01" in entries[1]["reason"]
    assert records_of(engine, S) == {"d-1", "d-1b", "d-1c", "d-1e"}


def test_the_api_rejects_a_re_aging_correction_with_its_reason(tmp_path: Path) -> None:
    with world(new_store(tmp_path), scored=False) as w:

        def arrears(external_id: str, days_ago: int, replaces: str | None = None) -> Any:
            occurred = (datetime.now(UTC) - timedelta(days=days_ago)).replace(tzinfo=None)
            return record_row(subject=A, furnisher=None, kind="loan.arrears_cycle",
                              external_id=external_id, replaces=replaces,
                              occurred_at=occurred.replace(microsecond=0).isoformat())  # fmt: skip

        assert w.post_records("furnisher", [arrears("k-1", 40)]).json()["accepted"] == 1
        body = w.post_records(
            "furnisher", [arrears("k-1a", 10, "k-1"), arrears("k-1b", 45, "k-1")]
        ).json()
        assert (body["accepted"], body["rejected"]) == (1, 1)
        (reject,) = body["rejects"]
        assert reject["line"] == 1 and reject["reason"].startswith("no re-aging: this ")


# ------------------------------------------------------------------------------ HTTP


def test_purges_over_http_for_admins_and_the_subject_with_access_logging(tmp_path: Path) -> None:
    with world(new_store(tmp_path), scored=False) as w:
        old = record_row(subject=A, kind="card.overdue", external_id="old-1",
                         occurred_at="2019-01-05T09:00:00")  # fmt: skip
        assert ingest(w.engine, [old], now=datetime(2019, 2, 1)) == []
        assert maintain(w.engine).purged == 1

        admin = w.client.get("/v1/purges", headers=w.auth("admin"))
        assert admin.status_code == 200, admin.text
        (item,) = admin.json()["items"]
        assert (item["subject"], item["external_id"], item["kind"]) == (A, "old-1", "card.overdue")
        assert item["occurred_at"] == "2019-01-05T09:00:00Z" and "reason" in item

        own = w.client.get(f"/v1/subjects/{A}/purges", headers=w.auth("subject"))
        assert own.status_code == 200 and own.json()["items"] == [item]
        assert w.client.get(f"/v1/subjects/{A}/purges", headers=w.auth("admin")).status_code == 200

        log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
        purge_reads = [e for e in log["items"] if e["what"] == "purges"]
        assert {e["endpoint"] for e in purge_reads} == {
            "GET /v1/purges",
            "GET /v1/subjects/{id}/purges",
        }
        assert all(e["role"] == "admin" for e in purge_reads)  # the subject's own reads are not

        for role in ("subject", "furnisher", "relying_party", "adjudicator"):
            assert w.client.get("/v1/purges", headers=w.auth(role)).status_code == 403
        for role in ("subject_b", "relying_party", "furnisher"):
            refused = w.client.get(f"/v1/subjects/{A}/purges", headers=w.auth(role))
            assert refused.status_code == 403, role
        assert w.client.get("/v1/purges").status_code == 401
        assert (
            w.client.get(f"/v1/subjects/{B}/purges", headers=w.auth("subject_b")).json()["items"]
            == []
        )
        missing = w.client.get(f"/v1/subjects/{resident_id(9999)}/purges", headers=w.auth("admin"))
        assert missing.status_code == 404


def test_the_server_runs_maintain_on_a_schedule(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    app_ = create_app(engine, ApiSettings(rate=0, maintain_every=0.05))
    with TestClient(app_) as client:
        assert client.get("/healthz").status_code == 200
        deadline = time.monotonic() + 10
        while count(engine, "maintenance_runs") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        schedule = app_.state.maintenance
        assert schedule is not None and schedule.runs >= 3
    stopped = count(engine, "maintenance_runs")
    time.sleep(0.2)
    assert count(engine, "maintenance_runs") == stopped  # it stops with the app
    assert create_app(engine).state.api.settings.maintain_every == 0


# ------------------------------------------------------------------------------ CLI


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_maintain_from_the_cli_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    cli("init", "--db", url)
    cli("furnisher", "add", "bank-a", "--type", "lender", "--db", url)
    cli("furnisher", "add", "power-a", "--type", "utility", "--db", url)
    today = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    occurred = (today - timedelta(days=30)).isoformat()
    path = write_rows(
        tmp_path / "records.ndjson",
        [
            record_row(subject=S, furnisher="power-a", kind="utility.payment_late",
                       external_id="u-1", occurred_at=occurred),
            record_row(subject=S, kind="loan.arrears_cycle", external_id="a-1",
                       occurred_at=occurred),
        ],
    )  # fmt: skip
    cli("ingest", str(path), "--db", url)
    cli("score", "--db", url)
    show = json.loads(cli("show", S, "--json", "--db", url))
    assert {s["program"]: s["score"] for s in show["scores"]}["rongcheng"] == 970

    soon = (today + timedelta(days=70)).date().isoformat()  # the late fee expired on day 59
    first = json.loads(cli("maintain", "--now", soon, "--json", "--db", url))
    assert first["expired"] == {"records": 1, "by_tier": {"minor": 1}}
    assert first["rescored"]["subjects"] == 1 and first["purged"]["records"] == 0
    assert first["since"] is None and first["disputes"]["closed"] == 0
    show = json.loads(cli("show", S, "--json", "--db", url))
    assert {s["program"]: s["score"] for s in show["scores"]}["rongcheng"] == 990

    again = json.loads(cli("maintain", "--now", soon, "--json", "--db", url))
    assert again["expired"]["records"] == again["rescored"]["subjects"] == 0
    assert again["purged"]["records"] == 0 and again["since"] == first["as_of"]

    later = (today + timedelta(days=6 * 366)).date().isoformat()
    text = cli("maintain", "--now", later, "--db", url)
    assert "records purged past retention: 2 in 2 chains, of 1 subject " in text
    assert "records past their display period: 1 (general 1)" in text
    purges = json.loads(cli("purges", "--json", "--subject", S, "--db", url))
    assert [p["external_id"] for p in purges] == ["u-1", "a-1"]
    assert "kept 5 years" in cli("purges", "--db", url)

    bad = runner.invoke(app, ["maintain", "--now", "soon", "--db", url])
    assert bad.exit_code == 1 and "--now must be a date" in bad.output


def test_serve_runs_maintain_daily_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging
    import sys

    import uvicorn

    url = f"sqlite:///{tmp_path}/serve.db"
    cli("init", "--db", url)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app_, **_kwargs: served.append(app_))
    # `serve` configures logging and the switch interval for the process: put them back after.
    loggers = [logging.getLogger(n) for n in ("socialcredit", "uvicorn", "uvicorn.error")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    access_disabled = logging.getLogger("uvicorn.access").disabled
    monkeypatch.setattr(sys, "setswitchinterval", lambda _interval: None)
    try:
        cli("serve", "--db", url)
        cli("serve", "--maintain-every", "0.5", "--db", url)
        cli("serve", "--maintain-every", "0", "--db", url)
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
        logging.getLogger("uvicorn.access").disabled = access_disabled
    every = [a.state.api.settings.maintain_every for a in served]
    assert every == [24 * 3600, 1800, 0]


def test_maintain_closes_overdue_disputes_once(tmp_path: Path) -> None:
    from socialcredit.services.disputes import open_dispute
    from socialcredit.services.principals import authenticate

    with world(new_store(tmp_path), scored=False) as w:
        subject = authenticate(w.engine, w.keys["subject"])
        assert subject is not None
        records = w.client.get(f"/v1/subjects/{A}/records", headers=w.auth("subject")).json()
        opened = datetime.now(UTC).replace(tzinfo=None)
        dispute = open_dispute(w.engine, subject, records["items"][0]["id"], "not mine", now=opened)
        assert maintain(w.engine, opened + timedelta(days=1)).disputes_closed == []
        late = opened + timedelta(days=60)
        assert maintain(w.engine, late).disputes_closed == [dispute.id]
        assert maintain(w.engine, late).disputes_closed == []
