"""Read-side reports over the stored data: inventory, exports and the notebook API."""
