"""Record types and tables stay in step: every stored field has a column of the same meaning."""

from __future__ import annotations

import pytest

from ingest.records import RECORD_TYPES


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_every_stored_field_of_a_record_is_a_column_of_its_table(record_type: str) -> None:
    record = RECORD_TYPES[record_type]
    columns = set(record.table.__table__.columns.keys())

    stored = set(record._columns)

    assert stored <= columns
    # What the table needs and no record field fills must be derived or defaulted.
    unfilled = {
        name
        for name, column in record.table.__table__.columns.items()
        if not column.nullable and column.default is None and not column.primary_key
    } - stored
    assert unfilled <= {"build_id"}  # the writer looks the build up
