"""Log formatting: one JSON object per line (production) or plain text (development).

Every JSON line carries the request id of the request it belongs to, or of the request that
started the job it belongs to (`deskpilot.core.correlation.correlation_id`), and the workspace
when it is known (`workspace_id` below; the job runner sets it for each job).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from deskpilot.core.correlation import correlation_id

TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"

workspace_id: ContextVar[int | None] = ContextVar("log_workspace_id", default=None)
"""The workspace the current unit of work belongs to, for log lines (None when unknown)."""

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
# `color_message` is uvicorn's ANSI-coloured copy of the message.
_EXTRA_STANDARD_ATTRS = {"message", "asctime", "taskName", "color_message"}
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
_STANDARD_ATTRS |= _EXTRA_STANDARD_ATTRS
_RESERVED_KEYS = frozenset(
    {"time", "level", "logger", "message", "request_id", "workspace_id", "pid", "thread"}
    | {"exc_type", "exc_info", "stack_info"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages and tracebacks escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = correlation_id.get()
        if request_id is not None:
            payload["request_id"] = request_id
        workspace = workspace_id.get()
        if workspace is not None:
            payload["workspace_id"] = workspace
        payload["pid"] = record.process
        payload["thread"] = record.threadName
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in _RESERVED_KEYS:
                payload[key] = value
        if record.exc_info:
            exc_type = record.exc_info[0]
            payload["exc_type"] = exc_type.__name__ if exc_type is not None else None
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def formatter_for(log_format: Literal["json", "text"]) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def make_handler(log_format: Literal["json", "text"]) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(log_format))
    return handler


def uvicorn_log_config(log_format: Literal["json", "text"], level: str) -> dict[str, Any]:
    """uvicorn's own loggers (startup, errors) in the same format as ours.

    The access log is ours (`deskpilot.access`, with route template, duration and request id),
    so uvicorn's is switched off by `serve`.
    """
    formatter: dict[str, Any] = (
        {"()": "deskpilot.observability.logging.JsonFormatter"}
        if log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"deskpilot": formatter},
        "handlers": {
            "deskpilot": {
                "class": "logging.StreamHandler",
                "formatter": "deskpilot",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["deskpilot"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
        },
    }
