"""Reading the real broker in tests: the package's own reader."""

from cohortstream.streams.admin import read_topic

__all__ = ["read_topic"]
