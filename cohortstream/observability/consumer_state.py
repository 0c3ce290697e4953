"""What Faust's consumer and aiokafka's fetcher hold for each partition, for the
log at a stall. Everything here reads private attributes of faust-streaming 0.15
and aiokafka 0.12 and never raises: it is a diagnostic, not an interface."""

from __future__ import annotations

from typing import Any


def _safe(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:  # a diagnostic must not take the worker down
        return f"<{type(exc).__name__}: {exc}>"


def _aiokafka_consumer(app: Any) -> Any:
    return app.consumer._thread._consumer


def partition_state(app: Any, topics: set[str]) -> dict[str, Any]:
    """Per partition of ``topics``: Faust's read/committed offsets, unacked and
    acked counts, whether it is active, paused or buffer-paused, and aiokafka's
    position, pause flag and prefetched records; per channel, its queue depth."""
    consumer = app.consumer
    found: dict[str, Any] = {
        "flow_control_active": _safe(app.flow_control.is_active),
        "consumer_flow_active": _safe(lambda: consumer.flow_active),
        "rebalancing": _safe(lambda: app.rebalancing),
        "in_recovery": _safe(lambda: app.in_recovery),
        "generation": _safe(lambda: app.consumer_generation_id),
    }
    kafka = _safe(lambda: _aiokafka_consumer(app))
    fetcher_records = _safe(lambda: kafka._fetcher._records)
    unacked = _safe(lambda: list(consumer.unacked))
    partitions = {}
    assigned = _safe(consumer.assignment)
    if not isinstance(assigned, set):
        assigned = set()
    for tp in sorted(assigned, key=lambda tp: (tp.topic, tp.partition)):
        if tp.topic not in topics:
            continue
        state: dict[str, Any] = {
            "read": _safe(lambda tp=tp: consumer._read_offset.get(tp)),
            "committed": _safe(lambda tp=tp: consumer._committed_offset.get(tp)),
            "acked": _safe(lambda tp=tp: len(consumer._acked.get(tp) or ())),
            "gaps": _safe(lambda tp=tp: len(consumer._gap.get(tp) or ())),
            "unacked": _safe(lambda tp=tp: sum(1 for message in unacked if message.tp == tp)),
            "active": _safe(lambda tp=tp: tp in (consumer._active_partitions or ())),
            "buffer_paused": _safe(lambda tp=tp: tp in consumer._buffered_partitions),
            "paused": _safe(lambda tp=tp: tp in consumer._paused_partitions),
            "highwater": _safe(lambda tp=tp: consumer.highwater(tp)),
        }
        if not isinstance(kafka, str):
            assignment_state = _safe(
                lambda tp=tp: kafka._subscription.subscription.assignment.state_value(tp)
            )
            state["kafka_position"] = _safe(lambda s=assignment_state: s.position)
            state["kafka_paused"] = _safe(lambda s=assignment_state: s.paused)
            state["kafka_prefetched"] = _safe(
                lambda tp=tp: tp in fetcher_records if isinstance(fetcher_records, dict) else None
            )
        partitions[f"{tp.topic}/{tp.partition}"] = state
    found["partitions"] = partitions
    channels = {}
    for topic in _safe(lambda: list(app.topics._topics)) or ():
        names = _safe(lambda topic=topic: sorted(topic.topics)) or []
        if not set(names) & topics:
            continue
        queue = topic.queue
        channels[",".join(names)] = {
            "queued": _safe(queue.qsize),
            "maxsize": _safe(lambda queue=queue: queue.maxsize),
            "pressure_drop_pending": _safe(
                lambda queue=queue: len(queue._pending_pressure_drop_callbacks)
            ),
        }
    found["channels"] = channels
    return found
