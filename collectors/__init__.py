"""Collectors: one module per source, the registry of streams, the runner and the scheduler."""
