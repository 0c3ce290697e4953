"""Pipeline steps of ingestion: plain functions from raw messages to enriched events."""
