"""LOG_FORMAT=json: one object per line, with the context passed as ``extra``."""

import logging
import sys

import orjson

from cohortstream.logs import JsonFormatter


def test_a_record_becomes_one_json_line_with_its_extra_fields_and_exception():
    logger = logging.getLogger("cohortstream.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "cohortstream.test",
            logging.ERROR,
            __file__,
            1,
            "command failed: %s",
            ("merge",),
            exc_info=sys.exc_info(),
            extra={"project_id": 7, "partition": 3},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["message"] == "command failed: merge"
    assert (entry["level"], entry["logger"]) == ("error", "cohortstream.test")
    assert (entry["project_id"], entry["partition"]) == (7, 3)
    assert "ValueError: boom" in entry["exception"]
    assert entry["ts"].endswith("Z")
