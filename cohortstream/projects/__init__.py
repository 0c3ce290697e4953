"""The project registry: which project ids the pipeline accepts."""
