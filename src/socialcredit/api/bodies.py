"""JSON request bodies read with the nesting limit: every router of the API builds its routes
with JsonRoute, so no body reaches the parser's recursion or pydantic's deeper than the limit."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from socialcredit.domain import nesting


class LimitedRequest(Request):
    """A request whose JSON body is parsed with the nesting limit."""

    async def json(self) -> Any:
        """The body as JSON; too deep a body is a decode error (answered 422, never 500)."""
        if not hasattr(self, "_json"):
            try:
                self._json = nesting.loads(await self.body())
            except nesting.TooDeep as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class JsonRoute(APIRoute):
    """A route that hands its handler a LimitedRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            return await handler(LimitedRequest(request.scope, request.receive))

        return limited
