"""Handing cohort entrants to owners: strategies and per-cohort assignment state."""
