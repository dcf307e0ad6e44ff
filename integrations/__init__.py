"""Thin clients for the outside world: one per system, on the shared HTTP base in `http.py`."""
