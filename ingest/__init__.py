"""Normalized records and the one path that stores them: import, demo data, catalog."""
