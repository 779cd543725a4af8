"""The HTTP API: a thin FastAPI entrypoint over the services (see docs/api.md)."""

from socialcredit.api.app import create_app
from socialcredit.api.deps import ApiSettings

__all__ = ["ApiSettings", "create_app"]
