"""The HTTP API: a thin FastAPI entrypoint over the services (see docs/api.md)."""

from socialcredit.api.app import ApiSettings, create_app

__all__ = ["ApiSettings", "create_app"]
