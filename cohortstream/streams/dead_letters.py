"""Dead letters: the rejected bytes as value, why and where from as headers."""

from __future__ import annotations

from cohortstream.ingestion.outcomes import Rejected
from cohortstream.observability.metrics import DEAD_LETTERS
from cohortstream.streams.publishers import Headers, Publisher, publish_durably
from cohortstream.streams.records import DLQ_BATCH_INDEX, DLQ_DETAIL, DLQ_REASON, DLQ_SOURCE

MAX_DETAIL_BYTES = 2000


def dead_letter_headers(rejected: Rejected, source: str) -> Headers:
    headers: Headers = [
        (DLQ_REASON, rejected.reason.encode()),
        (DLQ_DETAIL, rejected.detail.encode()[:MAX_DETAIL_BYTES]),
        (DLQ_SOURCE, source.encode()),
    ]
    if rejected.batch_index is not None:
        headers.append((DLQ_BATCH_INDEX, str(rejected.batch_index).encode()))
    return headers


async def send_dead_letter(
    publisher: Publisher, rejected: Rejected, key: bytes | None, source: str
) -> None:
    """Publish one dead letter, retrying until the broker takes it (it is the last resort)."""
    await publish_durably(
        publisher,
        key,
        rejected.raw,
        headers=dead_letter_headers(rejected, source),
        what=f"dead letter ({rejected.reason})",
    )
    DEAD_LETTERS.labels(rejected.reason).inc()
