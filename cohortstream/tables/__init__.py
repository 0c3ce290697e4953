"""State the stream keeps in changelog-backed tables, and the plain logic that updates it.

Every module here except ``faust_tables`` is free of Faust and I/O: the agents
call these functions with their tables (any MutableMapping), and the tests and
the batch oracle call them with dicts.
"""
