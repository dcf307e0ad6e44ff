"""Groups small pages into larger batches, so the runner commits per thousand rows, not per page.

The runner writes each batch in its own transaction (with a lease renewal), which on
SQLite costs a disk sync: at 100 items a page that sync, not the source, would set the
pace. Merged batches stay bounded, so memory stays flat however many pages a run reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from collectors.spec import Batch
from ingest.records import Record

BATCH_RECORDS = 1000


def merged(batches: Iterable[Batch], size: int = BATCH_RECORDS) -> Iterator[Batch]:
    """Yield `batches` merged into batches of at least `size` records (the last may be less).

    A batch carrying a cursor ends the merged batch it falls in, so a cursor is never
    committed before rows that came ahead of it, nor held back behind later ones.
    """
    records: list[Record] = []
    problems: list[str] = []
    for batch in batches:
        records.extend(batch.records)
        problems.extend(batch.problems)
        if batch.cursor is not None or len(records) >= size:
            yield Batch(records, batch.cursor, problems)
            records, problems = [], []
    if records or problems:
        yield Batch(records, None, problems)
