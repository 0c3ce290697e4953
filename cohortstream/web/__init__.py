"""Faust web views: JSON over HTTP, each answered by the worker that owns the key."""


def register_views() -> None:
    """Importing a view module registers its routes on the app: this imports all."""
    from cohortstream.web import (  # noqa: F401
        assignment,
        cohorts,
        openapi,
        operations,
        partitions,
        persons,
        status,
        timers,
    )
