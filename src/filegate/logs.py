"""Log lines: one JSON object a line in production, plain text for people at a terminal.

Fields given with ``extra={...}`` (ticket_id, build_id, principal, duration_ms, bytes ...)
become keys of the JSON object, so a ticket's life can be followed by its id.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        text = super().format(record)
        return f"{text} {' '.join(f'{k}={v}' for k, v in extra.items())}" if extra else text


def configure_logging(level: str, log_format: str) -> None:
    """Send the ``filegate`` loggers to stderr in ``log_format`` ('json' or 'text'); once."""
    logger = logging.getLogger("filegate")
    logger.setLevel(level.upper())
    if any(getattr(handler, "filegate", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.filegate = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
