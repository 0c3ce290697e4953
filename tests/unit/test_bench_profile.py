"""py-spy's raw stacks folded into pipeline steps."""

from __future__ import annotations

from cohortstream.bench.profile import report, steps

RAW = [
    "<module> (a.py:1);BaseEventLoop._run_once (asyncio/base_events.py:1922);"
    "Handle._run (asyncio/events.py:80);Agent._execute_actor (faust/agents/agent.py:674);"
    "update_persons (cohortstream/agents/persons.py:30);"
    "apply_each (cohortstream/agents/outbox.py:12);"
    "evaluate (cohortstream/cohorts/evaluate.py:50) 6",
    "<module> (a.py:1);Handle._run (asyncio/events.py:80);"
    "update_persons (cohortstream/agents/persons.py:31);publish_outbox (x.py:3) 2",
    "Thread._bootstrap (threading.py:995);_worker (concurrent/futures/thread.py:81) 2",
    "",
]


def test_samples_are_counted_per_step_below_the_event_loop():
    total, shares = steps(RAW)
    assert total == 10
    assert shares == {
        "update_persons > apply_each": 6,
        "update_persons > publish_outbox": 2,
        "(thread) Thread._bootstrap > _worker": 2,
    }
    assert report(total, shares)[0] == {
        "share of samples": "60.0%",
        "step": "update_persons > apply_each",
    }
