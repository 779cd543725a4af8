"""Operators' commands for the social side (a subject's shares and opt-ins), and how `show`
prints a subject's tips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.shares import Settings
from socialcredit.services.errors import NotFound
from socialcredit.services.pages import MAX_LIMIT, PageRequest

sharing_app = typer.Typer(
    help="A subject's badge shares and opt-ins (public percentile, leaderboard, game).",
    no_args_is_help=True,
)

Subject = Annotated[str, typer.Argument(help="Resident ID or USCC.")]


def _subject(value: str) -> str:
    try:
        return identify(value)[0]
    except InvalidIdentifier as exc:
        raise fail(str(exc)) from None


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


@sharing_app.command("list")
def list_shares(subject: Subject, as_json: Json = False, db: Db = None) -> None:
    """A subject's badge shares: with whom, under which program, and their status."""
    from socialcredit.services.shares import shares_of

    items, _ = shares_of(ready_store(db), _subject(subject), PageRequest(limit=MAX_LIMIT))
    rows = [
        {**i, **{k: _stamp(i[k]) for k in ("created_at", "expires_at", "revoked_at")}}
        for i in items
    ]
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("no shares")
    for r in rows:
        console.print(
            f"{r['id']}  {r['program']}  {r['relying_party']} ({r['relying_party_name']})  "
            f"{r['status']}  since {r['created_at']}",
            highlight=False,
        )


@sharing_app.command("revoke")
def revoke(
    share_id: Annotated[str, typer.Argument(help="The share's id (sh_...).")], db: Db = None
) -> None:
    """Revoke a share at once (for example when a subject lost its key)."""
    from socialcredit.services.shares import revoke_share

    try:
        share = revoke_share(ready_store(db), share_id, owner=None)
    except NotFound as exc:
        raise fail(str(exc)) from None
    console.print(f"share {share.id} revoked at {_stamp(share.revoked_at)}", highlight=False)


@sharing_app.command("settings")
def settings(subject: Subject, as_json: Json = False, db: Db = None) -> None:
    """A subject's opt-ins to the public side."""
    from socialcredit.services.social import settings_json
    from socialcredit.store.sharing import settings_of

    subject_id = _subject(subject)
    with ready_store(db).connect() as connection:
        out = settings_json(subject_id, settings_of(connection, subject_id))
    if as_json:
        print(json.dumps(out))
        return
    for name in ("public_percentile", "leaderboard", "game"):
        console.print(f"{name}: {'on' if out[name] else 'off'}")


@sharing_app.command("withdraw")
def withdraw(subject: Subject, db: Db = None) -> None:
    """Turn every opt-in of a subject off at once (only the subject can turn them on)."""
    from socialcredit.services.social import set_settings

    subject_id = _subject(subject)
    set_settings(ready_store(db), subject_id, Settings())
    console.print(f"every opt-in of {subject_id} is off")


def tips_report(
    entries: list[dict[str, Any]], out: Console, scored: Sequence[dict[str, Any]] = ()
) -> None:
    """Print a subject's tips per program, each with its exact effect, saying the day they were
    computed for when the stored scores in `scored` are of another day (`score --as-of`)."""
    shown = {s["program"]: s["as_of"] for s in scored}
    for entry in entries:
        day = entry["as_of"]
        title = f"tips under {entry['program']} for {day}"
        if entry["score"] is None:
            out.print(f"[bold]{title}[/bold]: no score that day, so no tips", highlight=False)
            continue
        other = shown.get(entry["program"], day)
        note = "" if other == day else f" (its score that day; the panel above is as of {other})"
        out.print(f"[bold]{title}[/bold], from {entry['score']}{note}:", highlight=False)
        if not entry["tips"]:
            out.print("  no action found that would raise this score", highlight=False)
        for tip in entry["tips"]:
            out.print(f"  {tip['text']}", highlight=False, markup=False)
