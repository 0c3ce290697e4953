"""cohortstream: product-analytics events, persons and cohorts processed in-stream."""

__version__ = "0.1.0"
