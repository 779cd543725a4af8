"""Lists, joint measures and decisions: entries derived from the ledger, context binding, the
decision trace, public search, phoenix flags and credit repair."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from factories import new_store, record_row, registry_row, relation_row, resident_id, uscc
from service_world import A, C, World, day, utc_now, world
from socialcredit.cli import app
from socialcredit.domain.identifiers import masked
from socialcredit.domain.lists import (
    LedgerRecord,
    ListEntry,
    Representation,
    ScoreFact,
    entry_of,
    phoenix_reason,
)
from socialcredit.domain.measures import Outcome, SubjectFacts, decide
from socialcredit.domain.principals import Principal, Role
from socialcredit.domain.records import Furnisher
from socialcredit.domain.tiers import Tier, add_months
from socialcredit.policy.loader import PolicyError
from socialcredit.policy.measures import load_measures_text, shipped_measures
from socialcredit.services.consents import grant_consent
from socialcredit.services.decisions import DecisionRequest, decide_one
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.lists import apply_for_repair, list_entries, phoenix_flags

T0 = datetime(2025, 1, 10, 9, 0)
CATALOGUE = shipped_measures()
DEFAULTERS = CATALOGUE.lists["judgment_defaulters"]


def listing(id: int, at: datetime, case: str = "case:(2025)Lu1Zhi1") -> LedgerRecord:
    return LedgerRecord(id, "court.judgment_unfulfilled", at, None, case)


# ------------------------------------------------------------------ entries (pure)


def test_a_listing_order_puts_the_subject_on_the_list_until_the_duration_ends() -> None:
    entry = entry_of(DEFAULTERS, A, [listing(7, T0)], T0 + timedelta(days=1))
    assert entry is not None
    assert entry.record_ids == (7,)
    assert entry.since == T0
    assert entry.until == add_months(T0, 24)
    assert entry.repairable_from == add_months(T0, 12)
    assert entry_of(DEFAULTERS, A, [listing(7, T0)], add_months(T0, 24)) is None
    assert entry_of(DEFAULTERS, A, [listing(7, T0)], T0 - timedelta(seconds=1)) is None


def test_fulfilling_one_judgment_removes_only_its_case() -> None:
    fulfilled = LedgerRecord(9, "court.judgment_fulfilled", T0 + timedelta(days=30), None, "c1")
    records = [listing(7, T0, "c1"), listing(8, T0 + timedelta(days=5), "c2"), fulfilled]
    entry = entry_of(DEFAULTERS, A, records, T0 + timedelta(days=40))
    assert entry is not None and entry.record_ids == (8,)
    assert [c.evidence for c in entry.cases] == ["c2"]
    # before the fulfilment both cases count
    both = entry_of(DEFAULTERS, A, records, T0 + timedelta(days=10))
    assert both is not None and both.record_ids == (7, 8)


def test_an_extension_lengthens_a_case_but_never_past_the_tiers_maximum() -> None:
    extended = LedgerRecord(9, "court.listing_extended", T0 + timedelta(days=300), 3.0, "c1")
    entry = entry_of(DEFAULTERS, A, [listing(7, T0, "c1"), extended], T0 + timedelta(days=800))
    assert entry is not None and entry.record_ids == (7, 9)
    assert entry.until == add_months(T0, 36)  # 24 + 36 months asked; the serious tier stops at 36
    assert entry_of(DEFAULTERS, A, [listing(7, T0, "c1"), extended], add_months(T0, 36)) is None


def test_a_redlist_window_counts_hours_within_the_year() -> None:
    volunteers = CATALOGUE.lists["redlist_volunteers"]
    hours = [
        LedgerRecord(i, "volunteer.hours", T0 + timedelta(days=30 * i), 40.0) for i in range(3)
    ]
    now = T0 + timedelta(days=61)
    entry = entry_of(volunteers, A, hours, now)
    assert entry is not None
    assert entry.since == hours[2].occurred_at  # 120 hours reached with the third record
    assert entry.until == hours[0].occurred_at + timedelta(days=365)  # 80 hours left after that
    assert entry_of(volunteers, A, hours[:2], now) is None


def test_a_score_list_follows_the_latest_grade() -> None:
    aaa = CATALOGUE.lists["honest_aaa"]
    fact = ScoreFact("rongcheng", "v1", T0, 1060, "AAA", (3, 4))
    entry = entry_of(aaa, A, [], T0 + timedelta(days=3), score=fact)
    assert entry is not None and entry.record_ids == (3, 4)
    lower = ScoreFact("rongcheng", "v1", T0, 1040, "AA")
    assert entry_of(aaa, A, [], T0 + timedelta(days=3), score=lower) is None


def test_a_granted_repair_ends_the_cases_begun_before_it() -> None:
    repaired = T0 + timedelta(days=400)
    records = [listing(7, T0)]
    assert (
        entry_of(DEFAULTERS, A, records, repaired + timedelta(days=1), repaired_at=repaired) is None
    )
    later = listing(8, repaired + timedelta(days=2), "c9")
    entry = entry_of(
        DEFAULTERS, A, [*records, later], repaired + timedelta(days=3), repaired_at=repaired
    )
    assert entry is not None and entry.record_ids == (8,)


# ------------------------------------------------------------------ decisions (pure)


def facts(entries: dict[str, ListEntry], score: int | None = 640) -> SubjectFacts:
    fact = None if score is None else ScoreFact("sesame", "v1", T0, score, "good")
    return SubjectFacts(A, entries, fact)


def test_a_defaulter_is_denied_a_flight_with_a_trace_naming_the_court_record() -> None:
    entry = entry_of(DEFAULTERS, A, [listing(42, T0)], T0 + timedelta(days=1))
    assert entry is not None
    decision = decide(CATALOGUE.services["flight_booking"], facts({entry.list: entry}), T0)
    assert decision.outcome is Outcome.DENY
    assert [m["id"] for m in decision.measures] == ["no_flights_for_defaulters"]
    step = next(s for s in decision.trace if s["rule"].endswith("no_flights_for_defaulters"))
    assert step["outcome"] == "applies" and step["inputs"]["record_ids"] == [42]
    assert decision.trace[-1]["outcome"] == "deny"


def test_perks_need_the_score_and_conditions_are_named() -> None:
    visa = CATALOGUE.services["visa_paperwork"]
    assert decide(visa, facts({}, 690), T0).outcome is Outcome.DENY
    assert decide(visa, facts({}, None), T0).outcome is Outcome.DENY
    granted = decide(visa, facts({}, 760), T0)
    assert granted.outcome is Outcome.ALLOW_WITH_CONDITIONS
    assert granted.trace[-1]["inputs"]["conditions"] == [
        "simplified paperwork for Singapore",
        "simplified paperwork for Luxembourg",
    ]
    assert decide(CATALOGUE.services["bike_rental_deposit_waiver"], facts({}, 650), T0).outcome == (
        Outcome.ALLOW
    )


entries_on_any_list = st.dictionaries(
    st.sampled_from(sorted(CATALOGUE.lists)),
    st.just(entry_of(DEFAULTERS, A, [listing(1, T0)], T0 + timedelta(days=1))),
)


@settings(max_examples=60, deadline=None)
@given(
    service=st.sampled_from(sorted(CATALOGUE.services)),
    entries=entries_on_any_list,
    score=st.one_of(st.none(), st.integers(350, 950)),
)
def test_a_service_decides_only_from_the_lists_it_names(
    service: str, entries: dict[str, ListEntry], score: int | None
) -> None:
    """Context binding: entries on lists a service does not name never change its decision."""
    chosen = CATALOGUE.services[service]
    named = {k: v for k, v in entries.items() if k in chosen.lists}
    everything = decide(chosen, facts(entries, score), T0)
    only_named = decide(chosen, facts(named, score), T0)
    assert everything.outcome == only_named.outcome
    assert everything.trace == only_named.trace


def test_a_traffic_list_cannot_affect_a_tenancy_decision() -> None:
    drunk = CATALOGUE.lists["drunk_driving_convictions"]
    entry = entry_of(drunk, A, [LedgerRecord(5, "traffic.drunk_driving", T0)], T0)
    assert entry is not None
    decision = decide(CATALOGUE.services["rental_deposit"], facts({entry.list: entry}), T0)
    assert decision.outcome is Outcome.ALLOW
    assert "drunk_driving_convictions" not in json.dumps(decision.trace)


# ------------------------------------------------------------------ the catalogue


LISTS_TEXT = (Path(__file__).parents[1] / "src/socialcredit/policy/data/lists.toml").read_text()
TENANCY = """
[services.rental_deposit]
title = "Rental deposit"
purposes = ["tenancy"]
program = "sesame"
lists = ["drunk_driving_convictions", "redlist_volunteers"]
categories = ["credit", "contract"]
[[services.rental_deposit.measures]]
id = "no_flat_after_drunk_driving"
title = "No flat after drunk driving"
effect = "deny"
when = { on_list = "drunk_driving_convictions" }
severity = "serious"
"""


def test_the_shipped_catalogue_is_valid_and_covers_the_services() -> None:
    expected = {
        "flight_booking", "high_speed_rail", "soft_sleeper", "star_hotel", "golf", "nightclub",
        "property_purchase", "car_purchase", "holiday_travel", "private_school_tuition",
        "high_premium_insurance", "loan", "rental_deposit", "civil_service_hiring",
        "company_legal_representative", "broadband_tier", "bike_rental_deposit_waiver",
        "car_rental_deposit_waiver", "visa_paperwork", "vip_lane",
    }  # fmt: skip
    assert expected <= set(CATALOGUE.services)
    assert {
        "judgment_defaulters", "serious_tax_arrears", "drunk_driving_convictions",
        "redlist_volunteers", "redlist_blood_donors",
    } <= set(CATALOGUE.lists)  # fmt: skip
    assert not CATALOGUE.lists["drunk_driving_convictions"].public
    assert [w.field for w in CATALOGUE.warnings] == ["lists.judgment_defaulters.extension"]


def test_check_warns_of_unrelated_contexts_and_measures_heavier_than_the_tier() -> None:
    loaded = load_measures_text(LISTS_TEXT, TENANCY)
    messages = [str(w) for w in loaded.warnings]
    assert any("unrelated context 'traffic'" in m and "5(1)(c)" in m for m in messages)
    assert any(
        "heavier than the general tier of list 'drunk_driving_convictions'" in m for m in messages
    )


def test_a_measure_on_a_list_the_service_does_not_name_is_refused() -> None:
    text = TENANCY.replace(
        'lists = ["drunk_driving_convictions", "redlist_volunteers"]',
        'lists = ["redlist_volunteers"]',
    )
    with pytest.raises(PolicyError) as caught:
        load_measures_text(LISTS_TEXT, text)
    assert "context binding" in str(caught.value)
    assert "measures.toml:" in str(caught.value)


def test_a_prohibited_category_cannot_be_named() -> None:
    text = TENANCY.replace('categories = ["credit", "contract"]', 'categories = ["religion"]')
    with pytest.raises(PolicyError, match="refused"):
        load_measures_text(LISTS_TEXT, text)


# ------------------------------------------------------------------ phoenix companies


def test_a_new_company_sharing_representative_and_address_with_a_listed_one_is_flagged() -> None:
    old, new, unrelated = uscc(1), uscc(2), uscc(3)
    entry = entry_of(DEFAULTERS, old, [listing(1, T0)], T0 + timedelta(days=90))
    assert entry is not None
    reps = [
        Representation("p1", old, T0 - timedelta(days=900)),
        Representation("p1", new, T0 + timedelta(days=60)),
        Representation("p1", unrelated, T0 - timedelta(days=100)),  # before the listing
    ]
    addresses = {old: "No. 5 Renmin Road, Rongcheng", new: "no. 5  renmin road rongcheng"}
    addresses[unrelated] = addresses[old]
    blacklisted = {old: entry}
    assert phoenix_reason(new, reps, addresses, blacklisted) is not None
    assert phoenix_reason(unrelated, reps, addresses, blacklisted) is None
    addresses[new] = "No. 6 Renmin Road, Rongcheng"
    assert phoenix_reason(new, reps, addresses, blacklisted) is None


# ------------------------------------------------------------------ through the store and API


def court_listing(subject: str, external_id: str, case: str, occurred: str) -> dict[str, object]:
    return record_row(
        subject=subject,
        furnisher="court-a",
        kind="court.judgment_unfulfilled",
        external_id=external_id,
        evidence=case,
        occurred_at=occurred,
    )


def decisions_consent(w: World, purpose: str = "travel_booking") -> str:
    subject = Principal(w.ids["subject"], Role.SUBJECT, "A", utc_now(), subject=A)
    created = grant_consent(
        w.engine,
        subject,
        relying_party=w.ids["relying_party"],
        purpose=purpose,
        scopes=["decisions", "lists"],
        expires_at=utc_now() + timedelta(days=30),
    )
    return created.token


def ask(w: World, service: str, token: str, purpose: str = "travel_booking") -> dict[str, object]:
    answer = w.client.get(
        f"/v1/subjects/{A}/decisions/{service}",
        params={"purpose": purpose},
        headers=w.auth("relying_party", **{"X-Consent": token}),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_defaulter_denied_then_fulfilment_allows(tmp_path: Path, store_backend: str) -> None:
    with world(new_store(tmp_path)) as w:
        token = decisions_consent(w)
        assert ask(w, "flight_booking", token)["decision"] == "allow"
        listed = w.post_records("court", [court_listing(A, "L-1", "case:(2026)Lu1Zhi7", day(20))])
        assert listed.status_code == 200 and listed.json()["accepted"] == 1, listed.text
        denied = ask(w, "flight_booking", token)
        assert denied["decision"] == "deny"
        assert denied["policy_version"] and denied["program"] == "sesame"
        with w.engine.connect() as c:
            court_id = c.execute(
                sa.text("SELECT id FROM records WHERE external_id = 'L-1'")
            ).scalar_one()
        trace = denied["trace"]
        assert isinstance(trace, list)
        assert any(s["inputs"].get("record_ids") == [court_id] for s in trace)
        done = record_row(
            subject=A,
            furnisher="court-a",
            kind="court.judgment_fulfilled",
            external_id="F-1",
            evidence="case:(2026)Lu1Zhi7",
            occurred_at=day(1),
        )
        assert w.post_records("court", [done]).json()["accepted"] == 1
        assert ask(w, "flight_booking", token)["decision"] == "allow"
        log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
        decisions = [e for e in log["items"] if e["what"] == "decision"]
        assert [e["returned"]["decision"] for e in decisions] == ["allow", "deny", "allow"]
        mine = w.client.get(f"/v1/subjects/{A}/decisions", headers=w.auth("subject")).json()
        assert [d["decision"] for d in mine["items"]] == ["allow", "deny", "allow"]


def test_an_expired_entry_stops_counting_at_its_expiry(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        listed = w.post_records("court", [court_listing(A, "L-1", "c-1", day(5))])
        assert listed.json()["accepted"] == 1
        listed_at = datetime.fromisoformat(day(5))
        operator = Principal("op", Role.ADMIN, "op", utc_now())
        request = DecisionRequest(A, "flight_booking")
        before = decide_one(
            w.engine, operator, request, endpoint="t", now=add_months(listed_at, 24) - timedelta(1)
        )
        after = decide_one(w.engine, operator, request, endpoint="t", now=add_months(listed_at, 24))
        assert (before["decision"], after["decision"]) == ("deny", "allow")


def test_a_traffic_list_does_not_reach_tenancy_over_the_api(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        register_furnisher(w.engine, Furnisher("police-a", "traffic_police", "Police A"))
        drunk = record_row(
            subject=A, furnisher="police-a", kind="traffic.drunk_driving", external_id="d1",
            occurred_at=day(3),
        )  # fmt: skip
        ingest_rows(w.engine, "records", [(1, drunk)])
        token = decisions_consent(w, "tenancy")
        body = ask(w, "rental_deposit", token, "tenancy")
        assert body["decision"] == "allow"
        assert "drunk_driving" not in json.dumps(body)
        lists = w.client.get(f"/v1/subjects/{A}/lists", headers=w.auth("subject")).json()
        assert [i["list"] for i in lists["items"]] == ["drunk_driving_convictions"]
        # the same relying party may not use a tenancy consent to ask about flights
        wrong = w.client.get(
            f"/v1/subjects/{A}/decisions/flight_booking",
            params={"purpose": "tenancy"},
            headers=w.auth("relying_party", **{"X-Consent": token}),
        )
        assert wrong.status_code == 403


def test_decisions_need_consent_and_the_right_role(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        url = f"/v1/subjects/{A}/decisions/flight_booking"
        params = {"purpose": "travel_booking"}
        assert w.client.get(url, params=params).status_code == 401
        no_scope = w.client.get(
            url, params=params, headers=w.auth("relying_party", **{"X-Consent": w.consent_token})
        )
        assert no_scope.status_code == 403 and "does not cover decisions" in no_scope.text
        assert w.client.get(url, headers=w.auth("furnisher")).status_code == 403
        assert w.client.get(url, headers=w.auth("subject_b")).status_code == 403
        assert w.client.get(url, headers=w.auth("subject")).json()["decision"] == "allow"
        unknown = w.client.get(f"/v1/subjects/{A}/decisions/teleport", headers=w.auth("subject"))
        assert unknown.status_code == 404
        other = w.client.get(f"/v1/subjects/{A}/decisions", headers=w.auth("subject_b"))
        assert other.status_code == 403


def test_batch_decisions_log_each_one(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        token = decisions_consent(w)
        items = [{"subject": A, "service": s, "consent": token} for s in ("golf", "vip_lane")]
        answer = w.client.post(
            "/v1/decisions",
            json={"purpose": "travel_booking", "items": items},
            headers=w.auth("relying_party"),
        )
        assert answer.status_code == 403  # golf serves leisure, not travel booking
        items = [{"subject": A, "service": s, "consent": token} for s in ("flight_booking",) * 3]
        answer = w.client.post(
            "/v1/decisions",
            json={"purpose": "travel_booking", "items": items},
            headers=w.auth("relying_party"),
        )
        assert answer.status_code == 200, answer.text
        assert len({d["id"] for d in answer.json()["items"]}) == 3


def test_public_search_by_id_and_name_shows_only_public_fields(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        ingest_rows(w.engine, "registry", [(1, registry_row(subject=A, name="Zhang Minghui"))])
        w.post_records("court", [court_listing(A, "L-1", "case:(2026)Lu1Zhi9", day(10))])
        by_id = w.client.get("/v1/public/lists/judgment_defaulters", params={"q": A})
        assert by_id.status_code == 200
        (item,) = by_id.json()["items"]
        assert item["name"] == "Zhang Minghui" and item["cases"] == ["case:(2026)Lu1Zhi9"]
        assert set(item) == {"subject", "name", "list", "since", "until", "cases"}
        by_name = w.client.get("/v1/public/lists/judgment_defaulters", params={"q": "minghui"})
        assert [i["subject"] for i in by_name.json()["items"]] == [masked(A)]
        nobody = w.client.get("/v1/public/lists/judgment_defaulters", params={"q": "Li Lei"})
        assert nobody.json()["items"] == []
        hidden = w.client.get("/v1/public/lists/drunk_driving_convictions", params={"q": A})
        assert hidden.status_code == 404
        names = [d["name"] for d in w.client.get("/v1/public/lists").json()]
        assert "judgment_defaulters" in names and "drunk_driving_convictions" not in names


def test_repair_after_the_minimum_period_with_the_obligation_met(tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        register_furnisher(w.engine, Furnisher("tax-a", "tax_bureau", "Tax A"))
        arrears = record_row(
            subject=A, furnisher="tax-a", kind="tax.arrears", external_id="t1",
            value=250_000.0, occurred_at=day(20),
        )  # fmt: skip
        ingest_rows(w.engine, "records", [(1, arrears)])
        subject = Principal(w.ids["subject"], Role.SUBJECT, "A", utc_now(), subject=A)
        early = apply_for_repair(w.engine, subject, "serious_tax_arrears", "I will pay on time")
        assert early.status == "refused" and "may be repaired from" in early.reason
        later = utc_now() + timedelta(days=400)
        unpaid = apply_for_repair(
            w.engine, subject, "serious_tax_arrears", "I will pay on time", now=later
        )
        assert unpaid.status == "refused" and "obligation is not met" in unpaid.reason
        paid = record_row(
            subject=A, furnisher="tax-a", kind="tax.arrears_paid", external_id="t2",
            value=250_000.0, occurred_at=day(2),
        )  # fmt: skip
        ingest_rows(w.engine, "records", [(1, paid)])
        operator = Principal("op", Role.ADMIN, "op", utc_now())
        request = DecisionRequest(A, "civil_service_hiring")
        assert decide_one(w.engine, operator, request, endpoint="t", now=later)["decision"] == (
            "deny"
        )
        answer = w.client.post(
            "/v1/repairs",
            json={"list": "serious_tax_arrears", "commitment": "I will pay on time"},
            headers=w.auth("subject"),
        )
        assert answer.status_code == 201 and answer.json()["status"] == "refused"  # now: too early
        granted = apply_for_repair(
            w.engine, subject, "serious_tax_arrears", "I will pay on time", now=later
        )
        assert granted.status == "granted"
        after = decide_one(w.engine, operator, request, endpoint="t", now=later)
        assert after["decision"] == "allow"
        assert len(w.client.get("/v1/repairs", headers=w.auth("subject")).json()["items"]) == 4
        empty = w.client.post(
            "/v1/repairs", json={"list": "serious_tax_arrears", "commitment": ""},
            headers=w.auth("subject"),
        )  # fmt: skip
        assert empty.status_code == 422


def test_phoenix_flag_through_the_store_reaches_loan_decisions(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    old, new, person = uscc(11), uscc(12), resident_id(77)
    register_furnisher(engine, Furnisher("court-a", "court", "Court A"))
    register_furnisher(engine, Furnisher("reg-a", "market_regulator", "Regulator A"))
    address = "No. 9 Xinhua Road, Rongcheng"
    ingest_rows(
        engine,
        "registry",
        [
            (1, registry_row(subject=old, name="Old Co", address=address, birth_year=None)),
            (2, registry_row(subject=new, name="New Co", address=address, birth_year=None)),
        ],
    )
    ingest_rows(engine, "records", [(1, court_listing(old, "L-1", "c-1", day(200)))])
    reps = [
        relation_row(furnisher="reg-a", external_id="r1", subject=person, other=old,
                     relation="legal_representative_of", start=day(900)),
        relation_row(furnisher="reg-a", external_id="r2", subject=person, other=new,
                     relation="legal_representative_of", start=day(30)),
    ]  # fmt: skip
    ingest_rows(engine, "relations", enumerate(reps, start=1))
    with engine.connect() as connection:
        flags = phoenix_flags(connection, utc_now())
    assert list(flags) == [new] and old in flags[new]
    operator = Principal("op", Role.ADMIN, "op", utc_now())
    body = decide_one(engine, operator, DecisionRequest(new, "loan"), endpoint="t")
    assert body["decision"] == "allow_with_conditions"
    assert [m["id"] for m in body["measures"]] == ["phoenix_review"]
    clean = decide_one(engine, operator, DecisionRequest(old, "loan"), endpoint="t")
    assert [m["id"] for m in clean["measures"]] == ["strict_review_for_defaulters"]


# ------------------------------------------------------------------ the CLI


def test_cli_lists_decide_and_policy_check(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    url = str(engine.url)
    register_furnisher(engine, Furnisher("court-a", "court", "Court A"))
    ingest_rows(engine, "records", [(1, court_listing(C, "L-1", "c-1", day(3)))])
    runner = CliRunner()
    shown = runner.invoke(app, ["lists", "judgment_defaulters", "--json", "--db", url])
    assert shown.exit_code == 0, shown.output
    (entry,) = json.loads(shown.stdout)
    assert entry["subject"] == C and entry["list"] == "judgment_defaulters"
    assert {"since", "until", "record_ids"} <= set(entry)
    decided = runner.invoke(app, ["decide", C, "flight_booking", "--json", "--db", url])
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.stdout)["decision"] == "deny"
    human = runner.invoke(app, ["decide", C, "golf", "--db", url])
    assert human.exit_code == 0 and "deny" in human.stdout
    missing = runner.invoke(app, ["decide", C, "teleport", "--db", url])
    assert missing.exit_code == 1 and "no service" in missing.output
    early = runner.invoke(
        app, ["repair", C, "judgment_defaulters", "--commitment", "I will pay", "--db", url]
    )
    assert (
        early.exit_code == 1
        and "refused" in early.output
        and "may be repaired from" in early.output
    )
    with engine.connect() as c:
        notice = c.execute(sa.text("SELECT kind FROM notices WHERE subject = :s"), {"s": C})
        assert [n.kind for n in notice] == ["repair.refused"]
    measures = tmp_path / "measures.toml"
    measures.write_text(TENANCY)
    checked = runner.invoke(app, ["policy", "check", "--measures", str(measures)])
    assert checked.exit_code == 0, checked.output
    assert "unrelated context" in checked.output and "4 warnings" in checked.output
    measures.write_text(TENANCY.replace('"tenancy"', '"gossip"'))
    refused = runner.invoke(app, ["policy", "check", "--measures", str(measures)])
    assert refused.exit_code == 1 and "unknown purpose 'gossip'" in refused.output


def test_list_entries_for_everyone(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    register_furnisher(engine, Furnisher("court-a", "court", "Court A"))
    rows = [court_listing(s, f"L-{s}", f"c-{s}", day(3)) for s in (A, C)]
    ingest_rows(engine, "records", enumerate(rows, start=1))
    entries = list_entries(engine, "judgment_defaulters")
    assert sorted(e.subject for e in entries) == sorted([A, C])
    assert entries[0].tier is Tier.SERIOUS
    assert list_entries(engine, "redlist_volunteers") == []
