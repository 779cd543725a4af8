"""Sharing and the social side: badge links for one relying party, opt-ins, the public
percentile and leaderboard, and "higher or lower"; the pure rules, then the flows over the
API (each endpoint's authorization included) and the operators' commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from factories import new_store, record_row, registry_row, relation_row, resident_id
from service_world import A, B, C, World, day, utc_now, world
from socialcredit.cli import app as cli_app
from socialcredit.domain.principals import Principal, Role
from socialcredit.domain.shares import (
    BadgeRefusal,
    BandRange,
    Guess,
    Settings,
    Share,
    Standing,
    Tie,
    badge_refusal,
    band_of,
    band_ranges,
    game_refusal,
    guess_correct,
    leaderboard,
)
from socialcredit.policy.loader import shipped_program
from socialcredit.services.errors import NotFound
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.principals import authenticate, create_principal
from socialcredit.services.shares import read_badge
from socialcredit.services.social import set_settings

NOW = datetime(2026, 6, 30, 12)

# ---------------------------------------------------------------- pure rules


def test_bands_are_the_programs_own() -> None:
    sesame = shipped_program("sesame").program
    assert band_ranges(sesame) == [
        BandRange("excellent", 700, 950),
        BandRange("very good", 650, 699),
        BandRange("good", 600, 649),
        BandRange("fair", 550, 599),
        BandRange("poor", 350, 549),
    ]
    rongcheng = shipped_program("rongcheng").program
    assert [(b.grade, b.low, b.high) for b in band_ranges(rongcheng)] == [
        ("AAA", 1050, 1300),
        ("AA", 1030, 1049),
        ("A", 960, 1029),
        ("B", 850, 959),
        ("C", 600, 849),
        ("D", 0, 599),
    ]
    assert band_of(rongcheng, "A") == BandRange("A", 960, 1029)
    assert band_of(rongcheng, None) is None and band_of(rongcheng, "excellent") is None


def _principal(role: Role, pid: str = "p_1") -> Principal:
    return Principal(id=pid, role=role, name=pid, created_at=NOW)


def test_only_the_named_relying_party_reads_a_live_badge() -> None:
    share = Share("sh_1", A, "sesame", "p_rp", NOW, expires_at=NOW + timedelta(days=1))
    party = _principal(Role.RELYING_PARTY, "p_rp")
    assert badge_refusal(share, party, NOW) is None
    assert badge_refusal(share, _principal(Role.SUBJECT), NOW) is not None
    assert badge_refusal(share, _principal(Role.SUBJECT), NOW)[0] is BadgeRefusal.FORBIDDEN  # type: ignore[index]
    other_party = badge_refusal(share, _principal(Role.RELYING_PARTY, "p_x"), NOW)
    assert other_party == badge_refusal(None, _principal(Role.RELYING_PARTY, "p_x"), NOW)
    assert other_party is not None and other_party[0] is BadgeRefusal.GONE
    expired = badge_refusal(share, party, NOW + timedelta(days=1))
    assert expired == (BadgeRefusal.GONE, "this badge link is expired")
    revoked = Share("sh_1", A, "sesame", "p_rp", NOW, revoked_at=NOW)
    assert badge_refusal(revoked, party, NOW) == (BadgeRefusal.GONE, "this badge link is revoked")
    assert Share("sh_2", A, "sesame", "p_rp", NOW).status(NOW + timedelta(days=9999)) == "active"


def test_guesses_compare_the_two_scores_and_a_tie_is_neither() -> None:
    assert guess_correct(612, 600, Guess.HIGHER) and not guess_correct(612, 600, Guess.LOWER)
    assert guess_correct(590, 600, Guess.LOWER) and not guess_correct(590, 600, Guess.HIGHER)
    assert not guess_correct(600, 600, Guess.HIGHER) and not guess_correct(600, 600, Guess.LOWER)


def test_who_may_play_with_whom() -> None:
    on, off = Settings(game=True), Settings()
    confirmed = Tie(B, A, True, NOW - timedelta(days=10), None)  # either direction counts
    assert game_refusal(A, B, [confirmed], on, on, NOW) is None
    assert game_refusal(A, A, [confirmed], on, on, NOW) == "a subject cannot play against itself"
    for ties in (
        [],
        [Tie(A, B, False, NOW - timedelta(days=10), None)],  # not confirmed
        [Tie(A, B, True, NOW - timedelta(days=10), NOW - timedelta(days=1))],  # ended
        [Tie(A, B, True, NOW + timedelta(days=1), None)],  # not started
        [Tie(A, C, True, NOW - timedelta(days=10), None)],  # someone else
    ):
        assert (
            game_refusal(A, B, ties, on, on, NOW)
            == f"you and {B} have no confirmed relation in force"
        )
    assert "you have not opted in" in str(game_refusal(A, B, [confirmed], off, on, NOW))
    assert game_refusal(A, B, [confirmed], on, off, NOW) == f"{B} has not opted in to the game"


def test_the_leaderboard_ranks_ties_together() -> None:
    standings = [
        Standing("s3", "person", None, 700),
        Standing("s1", "person", "Li", 720),
        Standing("s4", "person", None, 700),
        Standing("s2", "person", None, 650),
        Standing("s0", "person", None, 640),
    ]
    places = leaderboard(standings, 4)
    assert [(p.rank, p.standing.subject) for p in places] == [
        (1, "s1"),
        (2, "s3"),
        (2, "s4"),
        (4, "s2"),
    ]


# ---------------------------------------------------------------- over the API


def _world(tmp_path: Path) -> Iterator[World]:
    engine = new_store(tmp_path)
    with world(engine) as built:
        party = create_principal(engine, "relying_party", "Dating Example")
        built.keys["dating"] = party.key
        built.ids["dating"] = party.principal.id
        yield built
    engine.dispose()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


@pytest.fixture
def served_on_each_store(tmp_path: Path, store_backend: str) -> Iterator[World]:
    yield from _world(tmp_path)


def _share(w: World, role: str = "subject", **body: Any) -> Any:
    payload = {"program": "sesame", "relying_party": w.ids["dating"], **body}
    return w.client.post("/v1/shares", headers=w.auth(role), json=payload)


def _log(w: World, role: str = "subject", subject: str = A) -> list[dict[str, Any]]:
    answer = w.client.get(f"/v1/subjects/{subject}/access-log", headers=w.auth(role))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_a_badge_link_serves_the_named_relying_party_only_until_revoked(
    served_on_each_store: World,
) -> None:
    w = served_on_each_store
    created = _share(w)
    assert created.status_code == 201, created.text
    share = created.json()
    assert share["url"] == "/v1/badges/" + share["token"] and share["token"].startswith("scb_")
    assert share["status"] == "active" and share["relying_party_name"] == "Dating Example"
    assert share["expires_at"] is None

    badge = w.client.get(share["url"], headers=w.auth("dating"))
    assert badge.status_code == 200, badge.text
    scores = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
    sesame = next(s for s in scores["scores"] if s["program"] == "sesame")
    body = badge.json()
    assert body["band"] == sesame["grade"] and body["as_of"] == sesame["as_of"]
    assert body["band_low"] <= sesame["score"] <= body["band_high"]
    assert set(body) == {
        "program",
        "program_name",
        "status",
        "band",
        "band_low",
        "band_high",
        "as_of",
        "shared_at",
    }
    assert A not in badge.text and str(sesame["score"]) not in json.dumps(
        {k: v for k, v in body.items() if k not in ("band_low", "band_high")}
    )
    read = next(e for e in _log(w) if e["what"] == "badge")
    assert read["principal"] == w.ids["dating"] and read["role"] == "relying_party"
    assert read["returned"]["share"] == share["id"] and share["token"] not in json.dumps(read)

    # the token alone is not enough: only the named relying party, with its own key
    assert w.client.get(share["url"]).status_code == 401
    assert w.client.get(share["url"], headers=w.auth("relying_party")).status_code == 404
    for role in ("subject", "subject_b", "furnisher", "adjudicator", "admin"):
        assert w.client.get(share["url"], headers=w.auth(role)).status_code == 403, role
    assert w.client.get("/v1/badges/scb_unknown", headers=w.auth("dating")).status_code == 404

    listed = w.client.get("/v1/shares", headers=w.auth("subject")).json()
    assert [s["id"] for s in listed["items"]] == [share["id"]] and "token" not in listed["items"][0]
    assert w.client.get("/v1/shares", headers=w.auth("subject_b")).json()["items"] == []
    for role in ("dating", "furnisher", "admin"):
        assert w.client.get("/v1/shares", headers=w.auth(role)).status_code == 403

    # revoking: only the subject itself (another subject's share looks like none), and the
    # link stops at once
    path = f"/v1/shares/{share['id']}"
    assert w.client.delete(path, headers=w.auth("subject_b")).status_code == 404
    assert w.client.delete(path, headers=w.auth("dating")).status_code == 403
    assert w.client.delete(path).status_code == 401
    revoked = w.client.delete(path, headers=w.auth("subject"))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    gone = w.client.get(share["url"], headers=w.auth("dating"))
    assert gone.status_code == 404 and "revoked" in gone.json()["detail"]
    assert w.client.delete("/v1/shares/sh_none", headers=w.auth("subject")).status_code == 404


def test_shares_are_refused_when_they_cannot_work(served: World) -> None:
    w = served
    assert _share(w, program="nope").status_code == 422
    assert _share(w, relying_party=w.ids["subject_b"]).status_code == 422  # not a relying party
    assert _share(w, "subject_b").status_code == 422  # sesame scores persons, B is a company
    past = (utc_now() - timedelta(days=1)).isoformat() + "Z"
    assert _share(w, expires_at=past).status_code == 422
    assert _share(w, extra="field").status_code == 422
    for role in ("dating", "furnisher", "adjudicator", "admin"):
        assert _share(w, role).status_code == 403
    assert w.client.post("/v1/shares", json={"program": "sesame"}).status_code == 401
    # B's badge under rongcheng is its grade; an expired link is gone
    soon = utc_now() + timedelta(hours=1)
    created = _share(w, "subject_b", program="rongcheng", expires_at=soon.isoformat() + "Z").json()
    badge = w.client.get(created["url"], headers=w.auth("dating")).json()
    assert badge["band"] in {"AAA", "AA", "A", "B", "C", "D"} and badge["status"] == "scored"
    party = authenticate(w.engine, w.keys["dating"])
    assert party is not None
    with pytest.raises(NotFound, match="expired"):
        read_badge(w.engine, party, created["token"], now=soon + timedelta(seconds=1))


def test_opt_ins_are_the_subjects_own_and_off_by_default(served: World) -> None:
    w = served
    path = f"/v1/subjects/{A}/settings"
    off = {"subject": A, "public_percentile": False, "leaderboard": False, "game": False}
    assert w.client.get(path, headers=w.auth("subject")).json() == off
    turned = w.client.put(path, headers=w.auth("subject"), json={"public_percentile": True})
    assert turned.status_code == 200 and turned.json() == {**off, "public_percentile": True}
    assert w.client.get(path, headers=w.auth("subject")).json()["public_percentile"] is True
    assert w.client.put(path, headers=w.auth("subject"), json={"gmae": True}).status_code == 422
    for role in ("subject_b", "relying_party", "furnisher", "adjudicator", "admin"):
        assert w.client.put(path, headers=w.auth(role), json={}).status_code == 403, role
        assert w.client.get(path, headers=w.auth(role)).status_code == 403, role
    assert w.client.put(path, json={}).status_code == 401
    assert w.client.get(path).status_code == 401


def test_the_public_percentile_answers_only_for_those_who_opted_in(served: World) -> None:
    w = served

    def percentile(subject: str, program: str = "sesame") -> Any:
        return w.client.get(f"/v1/public/subjects/{subject}/percentile?program={program}")

    hidden, unknown, malformed = percentile(A), percentile(resident_id(909)), percentile("123")
    assert hidden.status_code == unknown.status_code == malformed.status_code == 404
    assert hidden.json() == unknown.json() == malformed.json()
    w.client.put(
        f"/v1/subjects/{A}/settings", headers=w.auth("subject"), json={"public_percentile": True}
    )
    shown = percentile(A)
    assert shown.status_code == 200, shown.text
    scores = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
    sesame = next(s for s in scores["scores"] if s["program"] == "sesame")
    assert shown.json() == {
        "subject": A,
        "program": "sesame",
        "percentile": sesame["percentile"],
        "as_of": sesame["as_of"],
    }
    assert percentile(A, "nope").status_code == 422
    reads = [e for e in _log(w) if e["what"] == "percentile"]
    assert len(reads) == 1 and (reads[0]["role"], reads[0]["principal"]) == ("public", "public")
    w.client.put(f"/v1/subjects/{A}/settings", headers=w.auth("subject"), json={})
    assert percentile(A).json() == unknown.json()


def test_the_leaderboard_lists_only_those_who_opted_in_by_name(served: World) -> None:
    w = served
    ingest_rows(w.engine, "registry", enumerate([registry_row(subject=A, name="Li Wei")], 1))
    arrears = record_row(
        subject=C, kind="loan.arrears_cycle", external_id="c-arr", occurred_at=day(10)
    )
    assert w.post_records("furnisher", [arrears]).json()["accepted"] == 1
    for subject in (A, B, C):
        set_settings(w.engine, subject, Settings(leaderboard=subject != B))
    board = w.client.get("/v1/public/leaderboard?program=rongcheng")
    assert board.status_code == 200, board.text
    items = board.json()["items"]
    assert [(i["rank"], i["name"], i["subject"], i["kind"]) for i in items] == [
        (1, "Li Wei", None, "person"),  # a resident ID is never shown
        (2, None, None, "person"),
    ]
    assert items[0]["score"] == items[1]["score"] + 10
    assert [e["what"] for e in _log(w)].count("leaderboard") == 1
    set_settings(w.engine, B, Settings(leaderboard=True))
    companies = w.client.get("/v1/public/leaderboard?program=rongcheng&kind=organisation").json()
    assert [(i["subject"], i["rank"]) for i in companies["items"]] == [(B, 1)]  # USCCs are public
    one = w.client.get("/v1/public/leaderboard?program=rongcheng&limit=1").json()
    assert len(one["items"]) == 1
    assert w.client.get("/v1/public/leaderboard?program=rongcheng&limit=101").status_code == 422
    assert w.client.get("/v1/public/leaderboard?program=nope").status_code == 422
    assert (
        w.client.get("/v1/public/leaderboard?program=sesame&kind=organisation").status_code == 422
    )


def test_higher_or_lower_answers_only_whether_the_guess_is_right(served: World) -> None:
    w = served

    def play(guess: str = "higher", other: str = B, role: str = "subject") -> Any:
        body = {"other": other, "program": "rongcheng", "guess": guess}
        return w.client.post("/v1/games/higher-or-lower", headers=w.auth(role), json=body)

    arrears = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="a-arr", occurred_at=day(10)
    )
    assert w.post_records("furnisher", [arrears]).json()["accepted"] == 1  # A: 990, B: 1000
    refused = play()
    assert refused.status_code == 403 and "you have not opted in" in refused.json()["detail"]
    w.client.put(f"/v1/subjects/{A}/settings", headers=w.auth("subject"), json={"game": True})
    refused = play()
    assert refused.status_code == 403 and refused.json()["detail"] == (
        f"{B} has not opted in to the game"
    )
    w.client.put(f"/v1/subjects/{B}/settings", headers=w.auth("subject_b"), json={"game": True})
    higher, lower = play("higher"), play("lower")
    assert higher.status_code == lower.status_code == 200
    assert higher.json() == {"correct": False} and lower.json() == {"correct": True}
    assert play(role="subject_b", other=A).json() == {"correct": True}  # B is higher than A
    game = [e for e in _log(w, "subject_b", B) if e["what"] == "game"]
    assert len(game) == 2 and game[0]["principal"] == w.ids["subject"]
    assert game[0]["returned"] == {"program": "rongcheng", "guess": "lower", "correct": True}

    # no confirmed relation in force, no game (C is not related; then related unconfirmed)
    set_settings(w.engine, C, Settings(game=True))
    assert "no confirmed relation" in play(other=C).json()["detail"]
    unconfirmed = relation_row(
        external_id="g-2", subject=A, other=C, confirmed=False, start=day(30)
    )
    ingest_rows(w.engine, "relations", [(1, unconfirmed)])
    assert play(other=C).status_code == 403
    assert play(other=A).status_code == 403  # not against itself
    stranger = play(other=resident_id(909))  # not in the store: refused like any stranger
    assert stranger.status_code == 403 and "no confirmed relation" in stranger.json()["detail"]
    assert play(guess="same").status_code == 422
    assert play(other="123").status_code == 422
    for role in ("relying_party", "furnisher", "adjudicator", "admin"):
        assert play(role=role).status_code == 403
    assert w.client.post("/v1/games/higher-or-lower", json={}).status_code == 401


def test_operators_list_and_revoke_shares_and_withdraw_opt_ins(served: World) -> None:
    w = served
    url = w.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    share = _share(w).json()
    w.client.put(
        f"/v1/subjects/{A}/settings", headers=w.auth("subject"), json={"leaderboard": True}
    )
    listed = runner.invoke(cli_app, ["sharing", "list", A, "--json", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert [(s["id"], s["status"]) for s in json.loads(listed.output)] == [(share["id"], "active")]
    revoked = runner.invoke(cli_app, ["sharing", "revoke", share["id"], "--db", url])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert w.client.get(share["url"], headers=w.auth("dating")).status_code == 404
    assert runner.invoke(cli_app, ["sharing", "revoke", "sh_none", "--db", url]).exit_code == 1
    shown = runner.invoke(cli_app, ["sharing", "settings", A, "--json", "--db", url])
    assert json.loads(shown.output)["leaderboard"] is True
    withdrawn = runner.invoke(cli_app, ["sharing", "withdraw", A, "--db", url])
    assert withdrawn.exit_code == 0, withdrawn.output
    text = runner.invoke(cli_app, ["sharing", "settings", A, "--db", url]).output
    assert "leaderboard: off" in text
    assert runner.invoke(cli_app, ["sharing", "list", "123", "--db", url]).exit_code == 1
