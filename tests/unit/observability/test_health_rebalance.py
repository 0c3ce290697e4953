"""/health's liveness rule for a consumer that never finishes joining its group."""

from types import SimpleNamespace

from cohortstream.agents import health
from cohortstream.observability.progress import RebalanceWatch
from cohortstream.streams.app import app


def test_a_join_that_never_ends_fails_liveness_and_recovery_does_not(monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(health, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(health, "rebalance_watch", RebalanceWatch(stall_after_s=300))
    monkeypatch.setattr(app, "rebalancing", True)
    monkeypatch.setattr(app, "in_recovery", False)
    assert health.healthy()  # the join starts
    clock.now = 299
    assert health.healthy()
    clock.now = 300
    assert not health.healthy() and health.stuck_joining() == 300
    # Recovery of a large changelog may take long: alive however long it takes.
    monkeypatch.setattr(app, "in_recovery", True)
    clock.now = 5000
    assert health.healthy() and health.stuck_joining() is None
