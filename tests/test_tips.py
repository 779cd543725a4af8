"""Tips: the candidate actions and their ranking as pure rules; every tip's effect equals an
unbatched scoring of the ledger with its record, and the record's actual arrival; the API
(only the subject itself) and `show`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import furnisher_rows, new_store, record_row, relation_row, resident_id
from service_world import A, B, World, day, utc_now, world
from socialcredit.cli import app as cli_app
from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.programs import Program
from socialcredit.domain.tips import (
    Candidate,
    LedgerRecord,
    NewRecord,
    Tip,
    candidates,
    day_number,
    live_records,
    merit_candidates,
    rank_tips,
    resolution_candidates,
)
from socialcredit.engines import backends
from socialcredit.engines.definition import score_program
from socialcredit.policy.compile import CompiledProgram
from socialcredit.policy.loader import shipped_program, shipped_program_names
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.scoring import active_programs, rescore_subjects
from socialcredit.services.subjects import subject_view
from socialcredit.services.tips import neighbourhood, program_tips, subject_tips
from socialcredit.store.ledger import LEDGER_SCHEMAS

SESAME: Program = shipped_program("sesame").program
RONGCHENG: Program = shipped_program("rongcheng").program
TODAY = day_number(date(2026, 6, 30))


def compiled(program: str) -> CompiledProgram:
    return next(p for p in active_programs() if p.id == program)


def rec(n: int, kind: str, ago: int, **fields: Any) -> LedgerRecord:
    values: dict[str, Any] = {"furnisher": "f", "external_id": f"x{n}", **fields}
    return LedgerRecord(id=n, kind=kind, day=TODAY - ago, **values)


# ---------------------------------------------------------------- pure rules


def test_live_records_leave_out_replaced_retractions_and_the_future() -> None:
    records = [
        rec(1, "traffic.fine_unpaid", 10),
        rec(2, "traffic.fine_unpaid", 20),
        rec(3, RETRACTION_KIND, 5, replaces="x2"),
        rec(4, "tax.arrears", 30, furnisher="g", external_id="x1"),  # other furnisher's x1
        rec(5, "tax.arrears", -1),
    ]
    assert [r.id for r in live_records(records, TODAY)] == [1, 4]


def test_adverse_records_an_action_resolves_become_candidates() -> None:
    records = [
        rec(1, "traffic.fine_unpaid", 10, value=200.0),
        rec(2, "court.judgment_unfulfilled", 40, evidence="(2026) Zhi 7"),
        rec(3, "utility.payment_late", 10),  # already paid late: nothing resolves it
        rec(4, "traffic.fine_unpaid", 400),  # past its display period under rongcheng
        rec(5, "contract.breached", 10),
    ]
    found = {c.record: c for c in resolution_candidates(records, RONGCHENG, TODAY)}
    assert set(found) == {1, 2}
    # the compiled program's window for a kind (its display period) decides, not the rule's
    shown = {"traffic.fine_unpaid": 5}
    assert {c.record for c in resolution_candidates(records, RONGCHENG, TODAY, shown)} == {2}
    assert found[1].action == "pay traffic fine 1 (200 yuan)"
    assert found[1].brings == NewRecord(RETRACTION_KIND, "f", replaces="x1")
    assert found[2].brings == NewRecord("court.judgment_fulfilled", "f", evidence="(2026) Zhi 7")


def test_a_judgment_already_performed_is_not_offered_again() -> None:
    records = [
        rec(1, "court.judgment_unfulfilled", 90, evidence="case-1"),
        rec(2, "court.judgment_unfulfilled", 80, evidence="case-2"),
        rec(3, "court.judgment_unfulfilled", 70),
        rec(4, "court.judgment_unfulfilled", 60),
        rec(5, "court.judgment_fulfilled", 10, evidence="case-2"),
        rec(6, "court.judgment_fulfilled", 65),  # names no case: answers the one before it
        rec(7, "court.judgment_fulfilled", 5, furnisher="other-court"),
    ]
    offered = {c.record for c in resolution_candidates(records, SESAME, TODAY)}
    assert offered == {1, 4}


def test_merits_offer_the_next_tier_and_respect_the_interval_between_donations() -> None:
    records = [
        rec(1, "volunteer.hours", 20, value=30.0),
        rec(2, "volunteer.hours", 400, value=100.0),  # out of the 365-day window
    ]
    found = {c.kind: c for c in merit_candidates(records, RONGCHENG, TODAY)}
    assert found["volunteer.hours"].brings.value == 20.0
    assert found["volunteer.hours"].action == "volunteer 20 more hours"
    assert found["blood.donation"].brings.value == 400.0
    recent = [*records, rec(3, "blood.donation", 100, value=200.0)]
    assert "blood.donation" not in {c.kind for c in merit_candidates(recent, RONGCHENG, TODAY)}
    top = [rec(1, "volunteer.hours", 20, value=250.0)]
    assert "volunteer.hours" not in {c.kind for c in merit_candidates(top, RONGCHENG, TODAY)}
    # sesame rewards verified identity, not volunteering; heroic acts are never offered
    assert {c.kind for c in candidates([], SESAME, TODAY)} == {
        "identity.phone_verified",
        "identity.address_verified",
    }
    assert "heroic_act.recognised" not in {c.kind for c in candidates([], RONGCHENG, TODAY)}
    # an organisation neither donates blood nor volunteers
    assert {c.kind for c in candidates([], RONGCHENG, TODAY, "organisation")} == set()
    assert {c.kind for c in candidates([], SESAME, TODAY, "organisation")} == {
        "identity.phone_verified",
        "identity.address_verified",
    }


def test_tips_rank_by_points_at_most_three_and_only_gains() -> None:
    def tip(action: str, points: int, record: int | None = None) -> Tip:
        candidate = Candidate(action, "k", record, NewRecord("k"))
        return Tip(candidate, points, 600 + points, "good")

    ranked = rank_tips(
        [tip("b", 5), tip("a", 14), tip("c", 0), tip("d", -3), tip("a", 5), tip("e", 9)]
    )
    assert [(t.candidate.action, t.points) for t in ranked] == [("a", 14), ("e", 9), ("a", 5)]
    assert ranked[0].text == "a: +14 points, to 614"
    assert rank_tips([tip("x", 0)]) == []


# ---------------------------------------------------------------- exact effects

S = resident_id(7001)
NEIGHBOURS = [resident_id(7002 + n) for n in range(3)]
OTHERS = [resident_id(7100 + n) for n in range(3)]
FURNISHERS = (
    ("bank-a", "lender", "Bank A"),
    ("court-a", "court", "Court A"),
    ("tax-a", "tax_bureau", "Tax Bureau A"),
    ("police-a", "traffic_police", "Traffic Police A"),
    ("vol-a", "volunteer_registry", "Volunteers A"),
    ("tel-a", "telecom", "Telecom A"),
    ("reg-a", "civil_registry", "Civil Registry A"),
    ("work-a", "employer", "Employer A"),
)


def _rows(subject: str, prefix: str, good: bool) -> list[dict[str, Any]]:
    rows = [
        record_row(subject=subject, external_id=f"{prefix}-loan-{n}", occurred_at=day(ago))
        for n, ago in enumerate((420, 300, 200, 100))
    ]
    if good:
        for kind, furnisher in (
            ("identity.phone_verified", "tel-a"),
            ("identity.address_verified", "reg-a"),
            ("employment.verified", "work-a"),
        ):
            rows.append(
                record_row(
                    subject=subject,
                    furnisher=furnisher,
                    kind=kind,
                    external_id=f"{prefix}-{kind}",
                    occurred_at=day(50),
                )
            )
    return rows


def _adverse(subject: str) -> list[dict[str, Any]]:
    def row(kind: str, furnisher: str, key: str, ago: int, **extra: Any) -> dict[str, Any]:
        return record_row(
            subject=subject,
            furnisher=furnisher,
            kind=kind,
            external_id=key,
            occurred_at=day(ago),
            **extra,
        )

    return [
        row("traffic.fine_unpaid", "police-a", "fine-1", 10, value=200),
        row("traffic.fine_unpaid", "police-a", "fine-2", 50, value=100),
        row("loan.arrears_cycle", "bank-a", "arr-1", 30),
        row("tax.arrears", "tax-a", "tax-1", 40, value=5000),
        row("court.judgment_unfulfilled", "court-a", "j-1", 100, evidence="(2026) Zhi 12"),
        row("volunteer.hours", "vol-a", "vol-1", 20, value=30),
    ]


@pytest.fixture
def city(tmp_path: Path) -> sa.Engine:
    """A subject with adverse records and merits to earn, related to three subjects of long
    standing (so sesame's relationship factor counts), in a store large enough that its
    rescoring is partial."""
    engine = new_store(tmp_path)
    ingest_rows(engine, "furnishers", enumerate(furnisher_rows(FURNISHERS), start=1))
    rows = _rows(S, "s", good=False) + _adverse(S)
    for n, subject in enumerate(NEIGHBOURS + OTHERS):
        rows += _rows(subject, f"n{n}", good=True)
    ingest_rows(engine, "records", enumerate(rows, start=1))
    relations = [
        relation_row(
            external_id=f"rel-{n}", subject=S, other=other, relation="contact", start=day(500)
        )
        for n, other in enumerate(NEIGHBOURS)
    ]
    ingest_rows(engine, "relations", enumerate(relations, start=1))
    return engine


def _reference(program: Any, near: Any, tip: dict[str, Any]) -> int:
    """The subject's score, scored without batching: the neighbourhood plus the tip's record."""
    brings = tip["brings"]
    extra = {
        "id": 10**9,
        "furnisher": brings["furnisher"] or "any",
        "external_id": "reference-1",
        "subject": S,
        "kind": brings["kind"],
        "occurred_at": utc_now(),
        "value": brings["value"],
        "replaces": brings["replaces"],
    }
    tables = dict(near.tables)
    tables["records"] = pa.concat_tables(
        [tables["records"], pa.Table.from_pylist([extra], schema=LEDGER_SCHEMAS["records"])]
    )
    scoring = score_program(program, backends.duckdb_ledger(tables), utc_now().date())
    return next(r["score"] for r in scoring.scores.to_pyarrow().to_pylist() if r["subject"] == S)


def test_every_tip_equals_an_unbatched_scoring_of_its_counterfactual(city: sa.Engine) -> None:
    near = neighbourhood(city, S)
    assert {r.kind for r in near.records} >= {"traffic.fine_unpaid", "tax.arrears"}
    by_program = {}
    for program in active_programs():
        entry = program_tips(program, near, S, utc_now(), limit=100)
        by_program[program.id] = entry
        assert entry["status"] == "scored" and entry["tips"]
        fines = [t for t in entry["tips"][3:] if t["kind"] == "traffic.fine_unpaid"]
        for tip in entry["tips"][:3] + fines:
            assert tip["score"] == entry["score"] + tip["points"]
            assert _reference(program, near, tip) == tip["score"], tip["text"]
    sesame = {t["kind"]: t for t in by_program["sesame"]["tips"]}
    rongcheng = {t["kind"]: t for t in by_program["rongcheng"]["tips"]}
    # rongcheng does not reward a performed judgment; each of two fines costs 5 points there
    assert "court.judgment_unfulfilled" in sesame and "court.judgment_unfulfilled" not in rongcheng
    fines = [t for t in by_program["rongcheng"]["tips"] if t["kind"] == "traffic.fine_unpaid"]
    assert [t["points"] for t in fines] == [5, 5]
    assert {t["action"].split(" (")[1] for t in fines} == {"200 yuan)", "100 yuan)"}
    assert rongcheng["tax.arrears"]["points"] == 20
    assert rongcheng["volunteer.hours"]["action"] == "volunteer 20 more hours"


def test_a_tip_comes_true_when_its_record_arrives(city: sa.Engine) -> None:
    entry = program_tips(compiled("rongcheng"), neighbourhood(city, S), S, utc_now())
    assert len(entry["tips"]) == 3
    best = next(t for t in entry["tips"] if t["kind"] == "tax.arrears")
    assert best["points"] == entry["tips"][0]["points"] == 20
    assert best["brings"]["kind"] == RETRACTION_KIND
    rescore_subjects(city, [S])
    before = {s["program"]: s for s in subject_view(city, S)["scores"]}
    assert before["rongcheng"]["score"] == entry["score"]
    sesame_entry = program_tips(compiled("sesame"), neighbourhood(city, S), S, utc_now(), 100)
    sesame_tip = next(t for t in sesame_entry["tips"] if t["kind"] == "tax.arrears")
    assert any(c["rule"] == "relationships" for c in before["sesame"]["contributions"])
    brings = best["brings"]
    row = record_row(
        subject=S,
        furnisher=brings["furnisher"],
        kind=brings["kind"],
        external_id="tax-1-paid",
        occurred_at=day(0),
        replaces=brings["replaces"],
    )
    ingest_rows(city, "records", [(1, row)])
    runs = rescore_subjects(city, [S])
    assert all(r.result.subjects is not None for r in runs)  # a partial rescoring
    after = {s["program"]: s for s in subject_view(city, S)["scores"]}
    assert after["rongcheng"]["score"] == best["score"]
    assert after["sesame"]["score"] == sesame_tip["score"]


def test_tips_for_one_subject_take_about_a_second_of_cpu(city: sa.Engine) -> None:
    # CPU time (every thread of the process), so a busy machine does not fail the test
    start = time.process_time()
    entries = subject_tips(city, S)
    seconds = time.process_time() - start
    assert [e["program"] for e in entries] == shipped_program_names()
    # programs with rules that give points have three tips each; a deductions-only one has none
    # for a subject with nothing to resolve
    assert all(len(e["tips"]) == 3 for e in entries if e["program"] in ("sesame", "rongcheng"))
    assert seconds < 2 * len(entries), seconds


# ---------------------------------------------------------------- API and CLI


def _served(tmp_path: Path) -> Iterator[World]:
    engine = new_store(tmp_path)
    with world(engine) as built:
        yield built
    engine.dispose()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[World]:
    yield from _served(tmp_path)


@pytest.fixture
def served_on_each_store(tmp_path: Path, store_backend: str) -> Iterator[World]:
    yield from _served(tmp_path)


def _tips(w: World, role: str = "subject", subject: str = A, **params: str) -> Any:
    return w.client.get(f"/v1/subjects/{subject}/tips", headers=w.auth(role), params=params)


def _scores(w: World) -> dict[str, int]:
    body = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
    return {s["program"]: s["score"] for s in body["scores"]}


def test_tips_over_the_api_come_true_and_only_the_subject_sees_them(
    served_on_each_store: World,
) -> None:
    w = served_on_each_store
    judgment = record_row(
        subject=A,
        furnisher="court-a",
        kind="court.judgment_unfulfilled",
        external_id="j-9",
        occurred_at=day(60),
        evidence="(2026) Zhi 9",
    )
    arrears = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="arr-9", occurred_at=day(20)
    )
    assert w.post_records("court", [judgment]).json()["accepted"] == 1
    assert w.post_records("furnisher", [arrears]).json()["accepted"] == 1

    answer = _tips(w)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["subject"] == A and body["as_of"] == utc_now().date().isoformat()
    entries = {e["program"]: e for e in body["programs"]}
    assert set(entries) == set(shipped_program_names())
    now = _scores(w)
    for program, entry in entries.items():
        assert entry["score"] == now[program]
        points = [t["points"] for t in entry["tips"]]
        assert 0 < len(points) <= 3 and points == sorted(points, reverse=True)
    perform = next(
        t for t in entries["sesame"]["tips"] if t["kind"] == "court.judgment_unfulfilled"
    )
    assert perform["brings"] == {
        "kind": "court.judgment_fulfilled",
        "furnisher": "court-a",
        "replaces": None,
        "value": None,
        "evidence": "(2026) Zhi 9",
    }
    assert perform["text"] == f"perform court judgment {perform['record']}: " + (
        f"+{perform['points']} points, to {perform['score']}"
    )
    assert not any(t["kind"] == "court.judgment_unfulfilled" for t in entries["rongcheng"]["tips"])

    # the judgment is performed: sesame moves exactly as the tip said, rongcheng not at all
    performed = record_row(
        subject=A,
        furnisher="court-a",
        kind="court.judgment_fulfilled",
        external_id="j-9-done",
        occurred_at=day(0),
        evidence="(2026) Zhi 9",
    )
    assert w.post_records("court", [performed]).json()["accepted"] == 1
    # every program moves exactly as its tip to perform the judgment said, or not at all
    said = {
        p: next((t for t in e["tips"] if t["kind"] == "court.judgment_unfulfilled"), None)
        for p, e in entries.items()
    }
    assert _scores(w) == {p: now[p] if t is None else t["score"] for p, t in said.items()}
    assert said["sesame"] == perform and said["rongcheng"] is None

    # then the arrears are cleared: every program as its tip said
    entries = {e["program"]: e for e in _tips(w).json()["programs"]}
    clear = {
        p: next(t for t in e["tips"] if t["kind"] == "loan.arrears_cycle")
        for p, e in entries.items()
    }
    brings = clear["rongcheng"]["brings"]
    assert brings == {**clear["sesame"]["brings"], "replaces": "arr-9"}
    retraction = record_row(
        subject=A,
        kind=brings["kind"],
        external_id="arr-9-paid",
        occurred_at=day(0),
        replaces=brings["replaces"],
    )
    assert w.post_records("furnisher", [retraction]).json()["accepted"] == 1
    assert _scores(w) == {p: t["score"] for p, t in clear.items()}

    # one program only; the read is in the subject's access log
    only = _tips(w, program="rongcheng").json()["programs"]
    assert [e["program"] for e in only] == ["rongcheng"]
    assert _tips(w, program="nope").status_code == 422
    log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
    assert [e["what"] for e in log["items"]].count("tips") == 3

    # nobody else: not another subject, never a relying party (even with consent), no role
    assert _tips(w, "subject_b").status_code == 403
    consented = w.client.get(
        f"/v1/subjects/{A}/tips", headers=w.auth("relying_party", **{"X-Consent": w.consent_token})
    )
    assert consented.status_code == 403 and "never" in consented.json()["detail"]
    for role in ("furnisher", "adjudicator", "admin"):
        assert _tips(w, role).status_code == 403
    assert w.client.get(f"/v1/subjects/{A}/tips").status_code == 401
    assert _tips(w, "subject_b", subject=B).status_code == 200  # B's own


def test_show_prints_the_tips(served: World) -> None:
    w = served
    url = w.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    arrears = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="arr-7", occurred_at=day(20)
    )
    w.post_records("furnisher", [arrears])
    shown = runner.invoke(cli_app, ["show", A, "--json", "--db", url])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    assert [e["program"] for e in view["tips"]] == shipped_program_names()
    rongcheng = next(e for e in view["tips"] if e["program"] == "rongcheng")
    clear = next(t for t in rongcheng["tips"] if t["kind"] == "loan.arrears_cycle")
    assert clear["points"] == 10 and clear["score"] == rongcheng["score"] + 10
    text = runner.invoke(cli_app, ["show", A, "--db", url])
    assert text.exit_code == 0, text.output
    assert "tips under rongcheng" in text.output and clear["text"] in text.output
    organisation = json.loads(runner.invoke(cli_app, ["show", B, "--json", "--db", url]).output)
    organisations = [p.id for p in active_programs() if "organisation" in p.program.subjects]
    assert [e["program"] for e in organisation["tips"]] == organisations  # sesame: persons


def test_the_tips_clock_is_the_day_asked_for(city: sa.Engine) -> None:
    later = utc_now() + timedelta(days=400)
    entry = program_tips(compiled("rongcheng"), neighbourhood(city, S), S, later)
    # a year on, the adverse records have passed their display period: nothing to resolve
    assert entry["as_of"] == later.date().isoformat()
    assert all(t["record"] is None for t in entry["tips"])
