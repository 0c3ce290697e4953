"""Batch oracles: what a full, sequential recomputation says the stream should hold.

Written independently of the stream's incremental logic (no shared code
beyond naming), so that tests comparing the two catch mistakes in either.
"""
