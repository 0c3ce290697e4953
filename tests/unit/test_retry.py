import pytest

from cohortstream.retry import CLICKHOUSE, POSTGRES, RetryPolicy, retry


async def test_retry_returns_first_success():
    calls = []

    async def action():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("not yet")
        return "ok"

    policy = RetryPolicy("t", attempts=5, base_delay_s=0.0, jitter=0.0)
    assert await retry(policy, action, "thing") == "ok"
    assert len(calls) == 3


async def test_retry_gives_up_after_attempts():
    calls = []

    async def action():
        calls.append(1)
        raise OSError("never")

    with pytest.raises(OSError, match="never"):
        await retry(RetryPolicy("t", attempts=3, base_delay_s=0.0), action, "thing")
    assert len(calls) == 3


def test_presets_and_backoff_shape():
    assert (CLICKHOUSE.attempts, CLICKHOUSE.base_delay_s) == (3, 1.0)
    assert (POSTGRES.attempts, POSTGRES.base_delay_s) == (3, 0.2)
    policy = RetryPolicy("t", attempts=0, base_delay_s=1.0, max_delay_s=8.0, jitter=0.25)
    for failures, nominal in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)):
        assert nominal * 0.75 <= policy.delay(failures) <= nominal * 1.25
