"""The portal: static pages (HTML, CSS, plain ES modules; no build step, nothing fetched from
outside) that call the HTTP API with the signed-in key. The server decides every permission;
the pages only show what the API answers.

Served at `/` (the page) and `/web/...` (its files), registered after the API's routes so that
`/v1`, `/openapi.json` and the operations endpoints answer as before.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC = Path(str(resources.files("socialcredit.web") / "static"))

# Only this server's own files and API: no CDN, no outside fonts, no inline script.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class PortalFiles(StaticFiles):
    """The portal's files, with the headers above, counted in the metrics as one route."""

    ROUTE = SimpleNamespace(path="/web/{path}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.ROUTE
        await super().__call__(scope, receive, send)

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.update(HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the portal: the page at `/`, its files under `/web`."""

    @app.get("/", include_in_schema=False)
    def portal() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    app.mount("/web", PortalFiles(directory=STATIC), name="web")
