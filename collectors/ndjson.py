"""NDJSON events (DESIGN §3) from a file, a folder or an HTTP URL -> any record type.

- A file is read from where the last run stopped (a byte offset); a partial last line
  waits for the next run, and a file that shrank or was replaced is read again from the
  start (the upsert makes that harmless).
- A folder (`*.ndjson`, `*.jsonl`) has each new file read once, in name order.
- A URL is fetched with a conditional GET; an unchanged body (304) yields nothing.

Lines are validated exactly as `python cli.py import` does; an invalid line is skipped
and reported as `WHERE:LINE: what is wrong`, and the valid ones are stored. The cursor
travels with every batch, so a stopped run resumes after the last committed line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from collectors.spec import Batch, CollectorSpec, Cursor, Scope, lagged
from errors import InputError, SourceConfigError
from ingest.ndjson import parse_line
from ingest.records import Record
from integrations.http import SourceClient

BATCH_LINES = 5000
FOLDER_PATTERNS = ("*.ndjson", "*.jsonl")


def _parse(lines: Iterable[tuple[int, bytes]], where: str) -> tuple[list[Record], list[str]]:
    records: list[Record] = []
    problems: list[str] = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            records.append(parse_line(line))
        except InputError as exc:
            problems.append(f"{where}:{number}: {exc}")
    return records, problems


def _read_file(
    path: Path, offset: int, first_line: int
) -> Iterator[tuple[list[tuple[int, bytes]], int, int]]:
    """Yield (numbered complete lines, offset after them, next line number) in chunks."""
    with path.open("rb") as stream:
        stream.seek(offset)
        chunk: list[tuple[int, bytes]] = []
        number = first_line
        for line in stream:
            if not line.endswith(b"\n"):
                break  # still being written: the next run reads it whole
            chunk.append((number, line))
            offset += len(line)
            number += 1
            if len(chunk) >= BATCH_LINES:
                yield chunk, offset, number
                chunk = []
        if chunk:
            yield chunk, offset, number


def _collect_file(path: Path, cursor: Cursor) -> Iterator[Batch]:
    stat = path.stat()
    same_file = cursor.get("inode") == stat.st_ino and cursor.get("offset", 0) <= stat.st_size
    start = int(cursor.get("offset", 0)) if same_file else 0
    first_line = int(cursor.get("line", 1)) if same_file else 1
    for chunk, offset, line in _read_file(path, start, first_line):
        records, problems = _parse(chunk, str(path))
        yield Batch(records, {"inode": stat.st_ino, "offset": offset, "line": line}, problems)


def _collect_folder(folder: Path, cursor: Cursor) -> Iterator[Batch]:
    done = set(cursor.get("done") or ())
    files = sorted({p for pattern in FOLDER_PATTERNS for p in folder.glob(pattern)})
    for path in files:
        if path.name in done:
            continue
        done.add(path.name)
        # The file counts as done only with its last batch; a stop before that re-reads it.
        batches = (replace(batch, cursor=None) for batch in _collect_file(path, {}))
        yield from lagged(batches, lambda: {"done": sorted(done)})


def collect_ndjson(client: SourceClient, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield the records of the file, folder or URL `scope.name` not read before.

    Cursor: file `{"inode", "offset", "line"}`; folder `{"done": [file names]}`; URL none
    (the HTTP cache remembers the last body's ETag).

    Raises:
        SourceConfigError: The path does not exist.
    """
    cursor = cursor or {}
    if scope.name.startswith(("http://", "https://")):
        page = client.get(scope.name, conditional=True, decode=False)
        if page is None or page.not_modified:
            return
        text: Any = page.data
        lines = enumerate(text.encode().splitlines(keepends=True), start=1)
        records, problems = _parse(lines, scope.name)
        for start in range(0, max(len(records), 1), BATCH_LINES):
            yield Batch(
                records[start : start + BATCH_LINES], problems=problems if start == 0 else ()
            )
        return
    path = Path(scope.name).expanduser()
    if path.is_dir():
        yield from _collect_folder(path, cursor)
    elif path.is_file():
        yield from _collect_file(path, cursor)
    else:
        msg = f"connection {scope.connection!r}: {path} is neither a file nor a folder"
        raise SourceConfigError(msg)


SPECS = (
    CollectorSpec(
        "ndjson",
        "events",
        "any (DESIGN §3 records)",
        "NDJSON events from a file (appended lines), a folder (new files) or an HTTP URL",
        collect_ndjson,
    ),
)
