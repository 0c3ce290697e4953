"""Metrics, health and readiness: what operators and orchestrators read."""
