"""In-process tests keep Faust tables in memory (agent.test_context()); the workers
the integration tests start get the production default, RocksDB, explicitly."""

import os

os.environ["TABLE_STORE"] = "memory"
