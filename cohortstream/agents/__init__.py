"""Faust agents: thin loops that call pipeline steps and hand results on.

Importing this package registers every agent and timer on the app.
"""

from cohortstream.agents import definitions, ingest, lifecycle, sink  # noqa: F401
