"""Logging levels set explicitly, library by library."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

# Under `faust worker` library loggers stay at DEBUG; aiokafka then builds a
# LogRecord per produced message (about half of produce time in a profile).
QUIET_LIBRARIES = {
    "aiokafka": logging.WARNING,
    "kafka": logging.WARNING,
    "faust": logging.INFO,
    # Warns each time a batch of table writes fills its send buffer, i.e. all the time.
    "faust.transport.producer": logging.ERROR,
    "mode": logging.INFO,
    "aiohttp.access": logging.WARNING,
    "urllib3": logging.WARNING,
}


def quiet_libraries() -> None:
    for name, level in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(level)


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the exception if
    any, and every ``extra=`` field (project_id, partition, cohort_id...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def use_json_logs() -> None:
    """Every handler of the root logger writes JSON lines."""
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
