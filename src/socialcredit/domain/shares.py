"""Sharing and the social side: score badges shared by link with one relying party, a
subject's opt-ins (public percentile, leaderboard, the "higher or lower" game), and the rules
that decide who may see or play what. Plain rules, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from socialcredit.domain.principals import Principal, Role
from socialcredit.domain.programs import Program


@dataclass(frozen=True)
class Share:
    """A subject's score badge under one program, shared with one relying party by a link
    whose token is never kept (only its hash). Revoked or expired, the link stops at once."""

    id: str
    subject: str
    program: str
    relying_party: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class BadgeRefusal(StrEnum):
    """Why a badge is not served: the caller may not see it at all, or the link is dead."""

    FORBIDDEN = "forbidden"
    GONE = "gone"


def badge_refusal(
    share: Share | None, principal: Principal, now: datetime
) -> tuple[BadgeRefusal, str] | None:
    """Why `principal` may not read the badge behind a link, or None when it may. Only the
    relying party named in the share may: the token alone is not enough."""
    if principal.role is not Role.RELYING_PARTY:
        return BadgeRefusal.FORBIDDEN, "only the relying party a badge was shared with reads it"
    if share is None or share.relying_party != principal.id:
        # Another party's link looks exactly like an unknown one: it learns nothing from it.
        return BadgeRefusal.GONE, "no badge behind this link for this relying party"
    status = share.status(now)
    if status != "active":
        return BadgeRefusal.GONE, f"this badge link is {status}"
    return None


@dataclass(frozen=True)
class BandRange:
    """A program's grade band: its name and the scores it spans."""

    grade: str
    low: int
    high: int


def band_ranges(program: Program) -> list[BandRange]:
    """Every band of a program, highest first, with the scores each spans."""
    out = []
    top = program.max_score
    for band in program.bands:
        low = max(band.min, program.min_score)
        out.append(BandRange(band.grade, low, top))
        top = low - 1
    return out


def band_of(program: Program, grade: str | None) -> BandRange | None:
    """The band called `grade` in `program`, or None (no score, or an unknown grade)."""
    return next((b for b in band_ranges(program) if b.grade == grade), None)


@dataclass(frozen=True)
class Settings:
    """A subject's opt-ins to the public side, all off until the subject turns them on."""

    public_percentile: bool = False
    leaderboard: bool = False
    game: bool = False


class Guess(StrEnum):
    """A guess in "higher or lower": is my score above, or below, the other's?"""

    HIGHER = "higher"
    LOWER = "lower"


def guess_correct(mine: int, theirs: int, guess: Guess) -> bool:
    """Whether the guess is right. Equal scores make both guesses wrong: neither is above."""
    if guess is Guess.HIGHER:
        return mine > theirs
    return mine < theirs


@dataclass(frozen=True)
class Tie:
    """A relation between two subjects as the game sees it."""

    subject: str
    other: str
    confirmed: bool
    start: datetime
    end: datetime | None

    def in_force(self, now: datetime) -> bool:
        """Confirmed, started, and not ended at `now`."""
        return self.confirmed and self.start <= now and (self.end is None or self.end > now)


def game_refusal(
    player: str,
    other: str,
    ties: Sequence[Tie],
    player_settings: Settings,
    other_settings: Settings,
    now: datetime,
) -> str | None:
    """Why `player` may not play against `other`, or None when it may: they need a confirmed
    relation in force (either direction), and both must have opted in to the game."""
    if player == other:
        return "a subject cannot play against itself"
    related = any({t.subject, t.other} == {player, other} and t.in_force(now) for t in ties)
    if not related:
        return f"you and {other} have no confirmed relation in force"
    if not player_settings.game:
        return "you have not opted in to the game (settings: game = true)"
    if not other_settings.game:
        return f"{other} has not opted in to the game"
    return None


@dataclass(frozen=True)
class Standing:
    """One subject on a leaderboard before ranking."""

    subject: str
    kind: str
    name: str | None
    score: int


@dataclass(frozen=True)
class Place:
    """A leaderboard line: the rank (ties share it), the score, and how the subject is named."""

    rank: int
    standing: Standing


def leaderboard(standings: Sequence[Standing], limit: int) -> list[Place]:
    """The best `limit` standings, highest score first; equal scores share a rank (1, 2, 2, 4)
    and are listed in subject order so the board is the same on every read."""
    ordered = sorted(standings, key=lambda s: (-s.score, s.subject))[:limit]
    places: list[Place] = []
    for position, standing in enumerate(ordered, start=1):
        if places and places[-1].standing.score == standing.score:
            places.append(Place(places[-1].rank, standing))
        else:
            places.append(Place(position, standing))
    return places
