"""Errors the service layer raises for an entrypoint to render (the HTTP API maps each to a
status): NotFound, InvalidRequest, and the domain's NotAllowed and ConsentRefused; and how much
of a caller's input an answer may quote back."""

from __future__ import annotations

from socialcredit.domain.consents import ConsentRefused
from socialcredit.domain.principals import NotAllowed

__all__ = [
    "ECHO_LIMIT",
    "Conflict",
    "ConsentRefused",
    "InvalidRequest",
    "NotAllowed",
    "NotFound",
    "clipped",
]


class NotFound(LookupError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class InvalidRequest(ValueError):
    """The request is well-formed but asks for something that cannot be done."""


class Conflict(InvalidRequest):
    """The request conflicts with the current state (e.g. a case that is closed already)."""


ECHO_LIMIT = 300
"""The most characters of a caller's own input an answer repeats back (in a reason, say)."""


def clipped(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` cut to at most `limit` characters, saying how long it was: an answer that
    quotes input never grows with the input."""
    if len(text) <= limit:
        return text
    tail = f"... ({len(text):,} characters in all)"
    return text[: max(limit - len(tail), 0)] + tail
