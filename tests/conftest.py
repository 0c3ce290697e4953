"""In-process tests keep Faust tables in memory (agent.test_context()); the workers
the integration tests start say which store they use (RocksDB in the timer
restart test, which restarts on the same disk)."""

import os

os.environ["TABLE_STORE"] = "memory"
