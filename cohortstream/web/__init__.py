"""Faust web views: JSON over HTTP, each answered by the worker that owns the key."""
