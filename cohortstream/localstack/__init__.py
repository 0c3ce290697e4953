"""The embedded local stack: real broker, PostgreSQL, Redis and chdb, started as processes."""
