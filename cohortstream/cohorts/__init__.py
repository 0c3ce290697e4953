"""Cohorts: definitions, criteria evaluation, window counters and membership rules.

Plain logic, free of Faust and I/O: the person actor calls it in-stream and
the batch oracle calls it on a full event log.
"""
