"""Flightdeck's command line (DESIGN §6): `python cli.py COMMAND --help`.

Each command loads the settings, opens the database and calls one function of the library;
user errors end with a one-line reason on stderr and exit code 1, never a traceback.
Commands import their library modules when they run: a command line is a new process
each time, and loading every command's machinery would cost more than most commands do.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from errors import FlightdeckError, ImportRejected, InputError
from models.db import make_engine, session_factory
from models.migrate import is_current, upgrade
from settings import Settings, load_settings

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="Flightdeck: delivery metrics and release control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Consoles are made on first use: rich costs a twentieth of a second to import, and
# `metrics --json`, the command scripts call in loops, prints without it.
@functools.cache
def out() -> Console:
    """Standard output, for results."""
    from rich.console import Console

    return Console(soft_wrap=True)


@functools.cache
def err() -> Console:
    """Standard error, for problems and progress; never wraps FILE:LINE lines."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err().print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(1)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn Flightdeck's own errors into a one-line message and exit code 1."""
    try:
        yield
    except ImportRejected as exc:
        for problem in exc.problems:
            err().print(problem, markup=False, highlight=False)
        raise _fail(str(exc)) from None
    except FlightdeckError as exc:
        raise _fail(str(exc)) from None


def _migrated(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.database_url)
    if not is_current(engine):
        upgrade(engine)
    return session_factory(engine)


def _print_counts(verb: str, written: Counter[str]) -> None:
    parts = ", ".join(f"{count} {table}" for table, count in sorted(written.items()) if count)
    out().print(f"{verb} {parts or 'nothing'}", markup=False, highlight=False)


@app.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (alembic upgrade head) and load the catalog."""
    from ingest.catalog import sync_catalog

    with _user_errors():
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions.begin() as session:
            services = sync_catalog(session, settings)
    out().print(f"Database is up to date; {services} services from the catalog.")


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
            help="End of the generated period (ISO; UTC if no zone). Default: today 00:00 UTC."
        ),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database already holds data.")
    ] = False,
) -> None:
    """Fill the database with a realistic synthetic organisation."""
    from ingest.demo import SCALES, write_demo
    from reports.inventory import data_inventory

    with _user_errors():
        if scale not in SCALES:
            msg = f"--scale: unknown scale {scale!r} (expected {', '.join(SCALES)})"
            raise InputError(msg)
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions() as session:
            if if_empty and not data_inventory(session).is_empty:
                out().print("The database already holds data; no demo data added.")
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
    from functools import partial

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from ingest.ndjson import import_files

    with _user_errors():
        sessions = _migrated(load_settings())
        total = sum(path.stat().st_size for path in files if path.is_file())
        columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(
            *columns, console=err(), disable=not err().is_terminal, transient=True
        ) as bar:
            task = bar.add_task("import", total=total)
            advance = partial(bar.advance, task)
            report = import_files(sessions, files, skip_invalid=skip_invalid, on_bytes=advance)
        for problem in report.problems:
            err().print(f"skipped {problem}", markup=False, highlight=False)
    _print_counts(f"Read {report.lines} lines; imported", report.written)


@app.command()
def gate(
    service: Annotated[str, typer.Argument(help="The service.")],
    environment: Annotated[str, typer.Argument(help="The environment it would go into.")],
    version: Annotated[str, typer.Option(help="The candidate version.")],
    sha: Annotated[
        str | None, typer.Option(help="Its commit, when no stored deployment names it.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
) -> None:
    """Evaluate the gate for promoting a version now; exit 1 unless it passes (a CI step)."""
    from releases.actions import pending_decisions
    from releases.gates import evaluate, target_for

    with _user_errors():
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions() as session:
            # Approvals count when the version has a pending promotion request.
            request = pending_decisions(session, service, environment, version)
            target = target_for(
                session,
                settings,
                service,
                environment,
                version,
                sha=sha,
                requester=request.requester if request else None,
                approvers=request.approvers if request else [],
                rejecters=request.rejecters if request else [],
            )
            evaluation = evaluate(session, settings, target, datetime.now(UTC))
    if as_json:
        typer.echo(json.dumps(evaluation.to_dict(), indent=2))
    else:
        commit = f" ({evaluation.sha[:12]})" if evaluation.sha else ""
        out().print(
            f"{service} {version}{commit} -> {environment}: {evaluation.verdict} "
            f"(evaluated {evaluation.evaluated_at:%Y-%m-%d %H:%M:%S} UTC)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if not evaluation.policy:
            out().print("no gate policy matches; nothing to check", markup=False, soft_wrap=True)
        for check in evaluation.checks:
            mode = "blocking" if check.blocking else "advisory"
            line = f"  {check.status:<11} {check.name} ({mode}): {check.summary}"
            out().print(line, markup=False, highlight=False, soft_wrap=True)
    if not evaluation.passed:
        raise typer.Exit(1)


@app.command()
def collect(
    streams: Annotated[
        list[str] | None,
        typer.Argument(
            help="Streams to collect: `connection`, `connection:stream` or a full "
            "`connection:stream:scope` key. Default: every configured stream."
        ),
    ] = None,
) -> None:
    """Collect every configured stream once; Ctrl-C stops after the current page."""
    from collectors.runner import Runner, stop_on_signals
    from collectors.streams import configured_streams, select_streams

    with _user_errors():
        settings = load_settings()
        sessions = _migrated(settings)
        available = configured_streams(settings)
        chosen = select_streams(available, streams) if streams else available
        if not chosen:
            out().print("No streams configured: add [sources.<name>] tables with scopes.")
            return
        runner = Runner(sessions, settings)
        with stop_on_signals(runner.stop):
            results = runner.run_all(chosen)
    for result in results:
        line = f"{result.status:<8} {result.key}: {result.rows} rows"
        if result.skipped:
            line += f", {result.skipped} skipped"
        out().print(line, markup=False, highlight=False, soft_wrap=True)
        for problem in result.problems[:10]:
            err().print(f"  skipped {problem}", markup=False, highlight=False, soft_wrap=True)
        if result.error:
            err().print(f"  {result.error}", markup=False, highlight=False, soft_wrap=True)
    if any(result.status == "failed" for result in results):
        raise typer.Exit(1)


def _parse_moment(option: str, value: str | None) -> datetime | None:
    """An ISO date (midnight UTC) or date-time; a time without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"{option}: not an ISO date or date-time: {value!r}"
        raise InputError(msg) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@app.command("metrics")
def metrics_(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print DESIGN §4's JSON object instead of a table.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Window start, inclusive: ISO date or date-time; UTC when it has no zone. "
            "Default: 90 days before --until."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Window end, exclusive: ISO date or date-time; UTC when it has no zone. "
            "Default: now."
        ),
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option(help="Only this service (repeat for several).")
    ] = None,
    team: Annotated[str | None, typer.Option(help="Only the services of this team.")] = None,
    environment: Annotated[
        str | None,
        typer.Option(help="Compute for this environment, treated as production (e.g. staging)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Add one group per `service` or `team`.")] = None,
    benchmark: Annotated[
        int, typer.Option(help="DORA report year of the tier table: 2021, 2023 or 2024.")
    ] = 2023,
) -> None:
    """Print the five DORA metrics (plus time to restore and unattributed incidents)."""
    from metrics import EngineConfig, Filters, GroupBy, dora_summary

    with _user_errors():
        if by is not None and by not in GroupBy.__members__:
            msg = f"--by: expected service or team, not {by!r}"
            raise InputError(msg)
        settings = load_settings()
        filters = Filters(
            since=_parse_moment("--since", since),
            until=_parse_moment("--until", until),
            services=tuple(service or ()),
            team=team,
            environment=environment,
            benchmark=benchmark,
            config=EngineConfig.from_settings(settings),
        )
        sessions = _migrated(settings)
        with sessions.begin() as session:
            summary = dora_summary(session, filters, by=None if by is None else GroupBy(by))
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
    else:
        from metrics.text import summary_table  # rich's tables: not needed for --json

        out().print(summary_table(summary, benchmark))


@app.command()
def recompute() -> None:
    """Rebuild the derived tables from scratch: DORA attribution and Builds & tests rollups."""
    from metrics import EngineConfig
    from metrics import recompute as rebuild_attribution
    from metrics.derived import DERIVED_MODELS
    from models.db import vacuum
    from reports.test_rollup import rebuild as rebuild_rollups

    with _user_errors():
        settings = load_settings()
        sessions = _migrated(settings)
        with sessions.begin() as session:
            report = rebuild_attribution(session, EngineConfig.from_settings(settings))
        with sessions.begin() as session:
            rollups = rebuild_rollups(session)
        # The DORA tables only: the engine's joins are what a stale, bloated table slows.
        # The rollups are analysed by their rebuild, and a Builds & tests read is one scan.
        vacuum(sessions, DERIVED_MODELS)
    out().print(
        f"Recomputed the DORA attribution of {report.services} services and "
        f"{rollups.groups} (service, day) build and test summaries."
    )


def _log_to_stderr(settings: Settings) -> None:
    import logging

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def worker(
    poll_seconds: Annotated[
        float, typer.Option(help="How often to look for 'Run now' requests from the app.")
    ] = 2.0,
    if_configured: Annotated[
        bool,
        typer.Option(
            "--if-configured", help="With no streams configured, say so and exit 0 (make run)."
        ),
    ] = False,
) -> None:
    """Collect every configured stream on its interval until Ctrl-C or SIGTERM.

    Several workers may share one database: a lease keeps each stream to one of them.
    Stopping lets each running collection finish the page it is writing.
    """
    from collectors.runner import Runner, stop_on_signals
    from collectors.scheduler import run_worker
    from collectors.streams import configured_streams

    with _user_errors():
        settings = load_settings()
        _log_to_stderr(settings)
        sessions = _migrated(settings)
        streams = configured_streams(settings)
        if not streams and if_configured:
            out().print("No sources configured, so no collector worker runs (see flightdeck.toml).")
            return
        if not streams:
            msg = "no streams configured: add [sources.<name>] tables with scopes"
            raise InputError(msg)
        runner = Runner(sessions, settings)
        err().print(f"Collecting {len(streams)} streams; Ctrl-C stops.", markup=False)
        with stop_on_signals(runner.stop):
            run_worker(runner, streams, poll_seconds=poll_seconds)


@app.command("serve-webhooks")
def serve_webhooks(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8502,
) -> None:
    """Receive GitHub and NDJSON webhook deliveries (see README, Collectors)."""
    import uvicorn

    from collectors.webhooks import create_app

    with _user_errors():
        settings = load_settings()
        _log_to_stderr(settings)
        application = create_app(_migrated(settings), settings)
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())


@app.command("reconcile-releases")
def reconcile_releases() -> None:
    """Ask deploy backends how dispatched promotions and rollbacks ended, and record it."""
    from releases.actions import reconcile

    with _user_errors():
        settings = load_settings()
        results = reconcile(_migrated(settings), settings)
    for result in results:
        out().print(f"#{result.action_id}: {result.message}", markup=False, highlight=False)
    out().print(f"{len(results)} dispatched actions reached their final state.")


def main() -> None:
    """Run the command line."""
    app()


if __name__ == "__main__":
    main()
