"""Flightdeck's command line (DESIGN §6): `python cli.py COMMAND --help`.

Each command loads the settings, opens the database and calls one function of the library;
user errors end with a one-line reason on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from sqlalchemy.orm import Session, sessionmaker

from errors import FlightdeckError, ImportRejected, InputError
from ingest.catalog import sync_catalog
from ingest.demo import SCALES, write_demo
from ingest.ndjson import import_files
from models.db import make_engine, session_factory
from models.migrate import upgrade
from reports.inventory import data_inventory
from settings import Settings, load_settings

app = typer.Typer(
    help="Flightdeck: delivery metrics and release control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # never wrap FILE:LINE lines


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(1)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn Flightdeck's own errors into a one-line message and exit code 1."""
    try:
        yield
    except ImportRejected as exc:
        for problem in exc.problems:
            err.print(problem, markup=False, highlight=False)
        raise _fail(str(exc)) from None
    except FlightdeckError as exc:
        raise _fail(str(exc)) from None


def _migrated(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return session_factory(engine)


def _print_counts(verb: str, written: Counter[str]) -> None:
    parts = ", ".join(f"{count} {table}" for table, count in sorted(written.items()) if count)
    out.print(f"{verb} {parts or 'nothing'}", markup=False, highlight=False)


@app.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (alembic upgrade head) and load the catalog."""
    with _user_errors():
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions.begin() as session:
            services = sync_catalog(session, settings)
    out.print(f"Database is up to date; {services} services from the catalog.")


def _parse_end(value: str | None) -> datetime:
    if value is None:
        # The start of today (UTC): recent enough for "the last 90 days" views, never in the
        # future, and the same all day, so running the demo again the same day changes nothing.
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--end: not an ISO date or date-time: {value!r}"
        raise InputError(msg) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@app.command()
def demo(
    scale: Annotated[
        str,
        typer.Option(
            help="small (5 services, 90 days), medium (50, 1 year), large (200, 2 years)."
        ),
    ] = "small",
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed and end give the same data.")
    ] = 7,
    end: Annotated[
        str | None,
        typer.Option(
            help="End of the generated period (ISO; UTC if no zone). Default: tonight, UTC."
        ),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database already holds data.")
    ] = False,
) -> None:
    """Fill the database with a realistic synthetic organisation."""
    with _user_errors():
        if scale not in SCALES:
            msg = f"--scale: unknown scale {scale!r} (expected {', '.join(SCALES)})"
            raise InputError(msg)
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions() as session:
            if if_empty and not data_inventory(session).is_empty:
                out.print("The database already holds data; no demo data added.")
                return
        written = write_demo(sessions, SCALES[scale], seed=seed, end=_parse_end(end))
    _print_counts("Wrote", written)


@app.command("import")
def import_(
    files: Annotated[
        list[Path], typer.Argument(help="NDJSON files (DESIGN §3), imported in order.")
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the valid lines and report the invalid ones."),
    ] = False,
) -> None:
    """Import NDJSON event files; nothing is written if any line is invalid."""
    with _user_errors():
        sessions = _migrated(load_settings())
        total = sum(path.stat().st_size for path in files if path.is_file())
        columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, disable=not err.is_terminal, transient=True) as bar:
            task = bar.add_task("import", total=total)
            advance = partial(bar.advance, task)
            report = import_files(sessions, files, skip_invalid=skip_invalid, on_bytes=advance)
        for problem in report.problems:
            err.print(f"skipped {problem}", markup=False, highlight=False)
    _print_counts(f"Read {report.lines} lines; imported", report.written)


def main() -> None:
    """Run the command line."""
    app()


if __name__ == "__main__":
    main()
