"""Logs as JSON lines: one object per line with time, level, logger, message and any extra
fields a log call passes. Paths are logged with every secret in them redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SECRET = re.compile(r"\bsc[a-z]_[A-Za-z0-9_-]+")
"""A key, consent token, badge token or enrolment code: each starts with its `sc?_` prefix."""
SECRET_PARAMS = frozenset({"token", "key", "code", "secret", "consent"})
"""Path parameters whose value is a secret, whatever it looks like."""
REDACTED = "[redacted]"


def redacted_path(path: str, params: Mapping[str, Any] | None = None) -> str:
    """A request path fit for a log: each segment that is the value of a secret path
    parameter, and anything shaped like a key, token or code, replaced by [redacted] (the
    kind's prefix is kept, so the log still tells what kind of secret was sent)."""
    secrets = {str(v) for k, v in (params or {}).items() if k in SECRET_PARAMS and v != ""}
    segments = [REDACTED if s in secrets else s for s in path.split("/")]
    return SECRET.sub(lambda m: m.group()[:4] + REDACTED, "/".join(segments))


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "info", stream: Any = None) -> None:
    """Send the service's and uvicorn's logs to `stream` (default stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("socialcredit", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Requests are logged by the service itself, with the principal and the route.
    logging.getLogger("uvicorn.access").disabled = True
