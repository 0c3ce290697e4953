"""Replaying dead letters into the pipeline, one replayer at a time."""
