"""Errors the service layer raises for an entrypoint to render (the HTTP API maps each to a
status): NotFound, InvalidRequest, and the domain's NotAllowed and ConsentRefused."""

from __future__ import annotations

from socialcredit.domain.consents import ConsentRefused
from socialcredit.domain.principals import NotAllowed

__all__ = ["Conflict", "ConsentRefused", "InvalidRequest", "NotAllowed", "NotFound"]


class NotFound(LookupError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class InvalidRequest(ValueError):
    """The request is well-formed but asks for something that cannot be done."""


class Conflict(InvalidRequest):
    """The request conflicts with the current state (e.g. a case that is closed already)."""
