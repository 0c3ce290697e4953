"""Cohort sizes over time, for charts: a snapshot of cohort_members every interval.

One worker takes it, the one consuming partition 0 of person_commands (a
snapshot from two workers in one minute would collapse anyway).
"""

from __future__ import annotations

import logging

from cohortstream.agents import wiring
from cohortstream.streams.app import PERSON_COMMANDS_TOPIC, app, settings

log = logging.getLogger(__name__)

SNAPSHOT = """
INSERT INTO cohort_membership_history (project_id, cohort_id, at, members)
SELECT project_id, cohort_id, toStartOfMinute(now()), countIf(is_member = 1)
FROM cohort_members FINAL GROUP BY project_id, cohort_id"""


@app.timer(settings.membership_history_interval_s)
async def record_cohort_sizes() -> None:
    if not any(
        tp.topic == PERSON_COMMANDS_TOPIC and tp.partition == 0 for tp in app.consumer.assignment()
    ):
        return
    try:
        await (await wiring.current.warehouse()).execute(SNAPSHOT)
    except Exception as exc:
        log.warning("cohort size snapshot failed: %s", exc)
