"""Reading the NDJSON event format (DESIGN §3): one record per line, validated line by line.

`import_files` is all-or-nothing: every line of every file is validated, and the rows are
written inside one transaction that commits only if no line was invalid (or, with
`skip_invalid`, commits the valid lines and reports the rest). Files are streamed, so
memory depends on the batch size, not on the file size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session, sessionmaker

from errors import ImportRejected, InputError
from ingest.records import RECORD_ADAPTER, RECORD_TYPES, Record, json_kind
from ingest.writer import RecordWriter, bulk_writing

_EXPECTED_NOUN = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
}


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        lines: Non-blank lines read.
        written: Records stored, by table.
        problems: `FILE:LINE: what is wrong` for each line not stored.
    """

    lines: int = 0
    written: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def describe_error(error: ErrorDetails) -> str:
    """Turn one pydantic error about a line into a sentence naming the field and the problem."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    record_type = str(loc[0]) if loc else ""
    path = ".".join(str(part) for part in loc)
    field_name = str(loc[-1]) if len(loc) > 1 else ""
    if kind == "json_invalid":
        return f"invalid JSON: {ctx.get('error', error['msg'])}"
    if kind in ("dict_type", "model_attributes_type") and not loc:
        return f"expected a JSON object, got {json_kind(error['input'])}"
    if kind == "union_tag_not_found":
        return "missing field 'type'"
    if kind == "union_tag_invalid":
        known = ", ".join(sorted(RECORD_TYPES))
        return f"unknown type {ctx.get('tag')!r} (expected one of: {known})"
    if kind == "missing":
        return f"{record_type}: missing field {field_name!r}"
    if kind == "extra_forbidden":
        return f"{record_type}: unknown field {field_name!r}"
    if kind == "literal_error":
        return f"{path}: unknown {field_name} {error['input']!r} (expected {ctx['expected']})"
    if kind in _EXPECTED_NOUN:
        return f"{path}: expected {_EXPECTED_NOUN[kind]}, got {json_kind(error['input'])}"
    if kind == "string_pattern_mismatch" and field_name.endswith(("sha", "commits", "parents")):
        return f"{path}: {error['input']!r} is not a hexadecimal git sha"
    if kind in ("datetime_parsing", "datetime_from_date_parsing"):
        reason = ctx.get("error", "")
        return f"{path}: not an ISO 8601 timestamp: {error['input']!r} ({reason})"
    if kind == "timezone_aware":
        return (
            f"{path}: timestamp {error['input']!r} has no time zone "
            "(add Z or an offset such as +02:00)"
        )
    if kind == "datetime_type":
        return f"{path}: expected an ISO 8601 timestamp string, got {json_kind(error['input'])}"
    if kind == "string_too_short":
        return f"{path}: must not be empty"
    return f"{path}: {error['msg']}"


# The adapter's own validator: the TypeAdapter wrapper costs a tenth of an import's time.
_validate_json = RECORD_ADAPTER.validator.validate_json

# Progress is reported every this many lines: a callback per line would cost more than
# validating it.
_PROGRESS_EVERY = 1000


def parse_line(line: bytes) -> Record:
    """Validate one line into its record.

    Raises:
        InputError: The line is not a valid record; the message says why (all problems).
    """
    try:
        return cast(Record, _validate_json(line))
    except ValidationError as exc:
        raise InputError("; ".join(describe_error(e) for e in exc.errors())) from None


def read_records(
    path: Path, on_bytes: Callable[[int], Any] = lambda _size: None
) -> Iterator[tuple[int, Record | str]]:
    """Yield (line number, record or problem) for each non-blank line of a file.

    Args:
        path: The NDJSON file.
        on_bytes: Called now and then with the bytes read since its last call (drives a
            progress bar); the calls add up to the file's size.
    """
    unreported = 0
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            unreported += len(line)
            if number % _PROGRESS_EVERY == 0:
                on_bytes(unreported)
                unreported = 0
            if not line.strip():
                continue
            try:
                yield number, parse_line(line)
            except InputError as exc:
                yield number, str(exc)
    on_bytes(unreported)


class LineRef(NamedTuple):
    """A line of an input file; orders by file position so problems print in reading order.

    A named tuple because one is made per line read: a dataclass costs several times more.
    """

    file_index: int
    line: int
    path: Path

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def import_files(
    sessions: sessionmaker[Session],
    paths: Iterable[Path],
    *,
    skip_invalid: bool = False,
    on_bytes: Callable[[int], Any] = lambda _size: None,
) -> ImportReport:
    """Import NDJSON files in one transaction.

    Args:
        sessions: Factory of the session that receives the rows.
        paths: The files, imported in this order (later lines win over earlier ones).
        skip_invalid: Store the valid lines even if some are invalid.
        on_bytes: Progress callback, called with the size of each line read.

    Returns:
        What was read, written and rejected.

    Raises:
        InputError: A file cannot be read.
        ImportRejected: Some lines are invalid and `skip_invalid` is off; nothing was written.
    """
    report = ImportReport()
    problems: list[tuple[LineRef, str]] = []
    with bulk_writing(), sessions.begin() as session:
        writer = RecordWriter(session)
        for index, path in enumerate(paths):
            if not path.is_file():
                msg = f"{path}: no such file"
                raise InputError(msg)
            for number, parsed in read_records(path, on_bytes):
                report.lines += 1
                where = LineRef(index, number, path)
                if isinstance(parsed, str):
                    problems.append((where, parsed))
                elif not problems or skip_invalid:
                    # Once a line is invalid the import will be rolled back, so validating
                    # the rest is all that is left to do.
                    writer.add(parsed, origin=where)
        writer.flush()
        problems.extend((rejected.origin, rejected.reason) for rejected in writer.rejected)
        report.problems = [f"{where}: {reason}" for where, reason in sorted(problems)]
        if report.problems and not skip_invalid:
            raise ImportRejected(report.problems)  # leaving the block rolls everything back
        report.written = writer.written
    return report
