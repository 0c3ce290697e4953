"""A realistic, seeded stream of product-analytics events (demo and benchmarks)."""
