"""The ``cohortstream`` command line."""
