"""The worker: APScheduler 3.x wiring only (one interval job per stream) plus "run now".

Each configured stream gets one job (`max_instances=1`: never two runs of a stream in
this process; `coalesce`: runs missed while busy or down collapse into one; `jitter`:
streams sharing a token do not fire together). The job store is in memory and rebuilt
from the config at start, because APScheduler 3 cannot share a job store between
processes; several workers on one database are kept apart by the runner's lease instead.
Every `poll_seconds` the worker claims "run now" requests and brings their jobs forward.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from collectors.runner import Runner
from collectors.status import claim_requests
from collectors.streams import Stream

logger = logging.getLogger(__name__)

MAX_PARALLEL_STREAMS = 4
MAX_JITTER_S = 60


def build_scheduler(runner: Runner, streams: Sequence[Stream]) -> BackgroundScheduler:
    """A scheduler with one job per stream, each due at once and then every interval."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(MAX_PARALLEL_STREAMS)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    now = datetime.now(UTC)
    for stream in streams:
        interval_s = stream.config.interval_minutes * 60
        scheduler.add_job(
            runner.run,
            "interval",
            args=[stream],
            id=stream.key,
            name=stream.key,
            seconds=interval_s,
            jitter=min(MAX_JITTER_S, interval_s // 10),
            next_run_time=now,
        )
    return scheduler


def run_worker(runner: Runner, streams: Sequence[Stream], poll_seconds: float = 2.0) -> None:
    """Collect on schedule until `runner.stop` is set; then let running jobs finish a page.

    Args:
        runner: Runs the streams; its `stop` event ends the worker.
        streams: The streams to schedule.
        poll_seconds: How often "run now" requests are looked for.
    """
    scheduler = build_scheduler(runner, streams)
    keys = {stream.key for stream in streams}
    scheduler.start()
    logger.info("worker %s collecting %d streams", runner.owner, len(keys))
    try:
        while not runner.stop.wait(poll_seconds):
            with runner.sessions.begin() as session:
                claimed = claim_requests(session, runner.owner, datetime.now(UTC))
            for key in claimed:
                if key in keys:
                    logger.info("run now: %s", key)
                    scheduler.modify_job(key, next_run_time=datetime.now(UTC))
                else:
                    logger.warning("run now: %s is not a configured stream; ignored", key)
    finally:
        # wait=True: running collections see `stop` and end after the page being written.
        scheduler.shutdown(wait=True)
        logger.info("worker %s stopped", runner.owner)
