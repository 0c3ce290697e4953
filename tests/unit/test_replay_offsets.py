"""Where a replay moves a group: bisection over record stamps, and clamping."""

import pytest

from cohortstream.replay.offsets import clamp, first_offset_at


def stamps_reader(stamps: dict[int, int]):
    """timestamp_at over a log with these offsets (gaps allowed), as the broker reads it."""

    async def timestamp_at(offset: int) -> int | None:
        later = [o for o in sorted(stamps) if o >= offset]
        return stamps[later[0]] if later else None

    return timestamp_at


@pytest.mark.parametrize(
    ("at_ms", "expected"),
    [(0, 0), (1000, 0), (1001, 1), (5000, 4), (5500, 5), (9000, 8), (9001, 10), (10**12, 10)],
)
async def test_the_first_offset_stamped_at_or_after_a_time(at_ms, expected):
    # offsets 0..9, 5 missing (compacted: starting at 5 reads 6 first), stamps not all distinct
    stamps = {0: 1000, 1: 2000, 2: 3000, 3: 3000, 4: 5000, 6: 6000, 7: 7000, 8: 9000, 9: 9000}
    assert await first_offset_at(stamps_reader(stamps), 0, 10, at_ms) == expected


async def test_a_log_that_starts_later_is_searched_from_its_start():
    stamps = {100 + i: 1000 * i for i in range(50)}
    assert await first_offset_at(stamps_reader(stamps), 100, 150, 20_000) == 120


def test_offsets_outside_the_log_are_clamped_to_it():
    assert [clamp(o, earliest=10, end=20) for o in (0, 10, 15, 20, 99)] == [10, 10, 15, 20, 20]
