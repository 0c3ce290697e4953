"""Logging levels set explicitly, library by library."""

from __future__ import annotations

import logging

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
