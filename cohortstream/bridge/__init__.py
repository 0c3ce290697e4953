"""Sources outside Kafka bridged into the ingestion topic."""
