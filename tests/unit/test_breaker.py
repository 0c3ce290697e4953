from cohortstream.replay.breaker import BreakerState, CircuitBreaker


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_opens_after_consecutive_failures_and_half_opens_after_the_cool_down():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, reset_after_s=300, clock=clock)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()  # consecutive: a success resets the count
    for _ in range(4):
        breaker.record_failure()
    assert breaker.allows()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allows()
    clock.now = 299.0
    assert breaker.seconds_until_trial() == 1.0
    assert not breaker.allows()
    clock.now = 300.0
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allows()


def test_a_failed_trial_reopens_and_a_good_one_closes():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.now = 10.0
    breaker.record_failure()  # the half-open trial failed
    assert breaker.state is BreakerState.OPEN
    clock.now = 19.9
    assert not breaker.allows()
    clock.now = 20.0
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.seconds_until_trial() == 0.0
