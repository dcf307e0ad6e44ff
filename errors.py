"""Every error Flightdeck raises on purpose, grouped by what the caller should do about it.

    FlightdeckError                  base class; never raised itself
    ├── ConfigError                  the config file or a FLIGHTDECK_* variable is wrong:
    │                                fix the named key and start again
    ├── DatabaseUnavailable          the database cannot be reached: check the URL and that
    │                                the server runs; pages show a banner and retry
    ├── InputError                   a command's input is wrong (a filter, a file, a line):
    │   │                            nothing was written; fix the input and run again
    │   └── ImportRejected           an NDJSON import had invalid lines; carries each
    │                                `FILE:LINE: problem` and wrote nothing
    ├── BackendError                 a deploy backend did not do what a release action asked;
    │   │                            the action is recorded as failed with this message
    │   ├── BackendRejected          the backend refused (4xx: bad credentials, version
    │   │                            conflict, nothing pending): fix what it names first
    │   └── BackendUnavailable       5xx / timeout / network error after the retries: try
    │                                again; the idempotency key keeps it to one effect
    └── SourceError                  a collector could not read a source; the run failed,
        │                            its page was rolled back and the cursor kept
        ├── RetriableSourceError     429 / 5xx / timeout / connection refused after the
        │   │                        retries: nothing to fix, the next run tries again
        │   ├── BadSourceResponse    the source answered something unreadable (truncated,
        │   │                        not JSON, missing fields): retried by the next run
        │   └── LeaseLost            another worker took the stream over mid-run (our
        │                            lease expired): it carries on, nothing to do
        ├── SourceConfigError        401 / 403 / 404 / 422, a missing token variable or a
        │                            bad scope: fix the named connection; no retry helps
        └── SkippableRecordError     one record or file is malformed: it is skipped and
                                     reported, the rest of the run carries on

Entry points (cli.py, app.py) catch `FlightdeckError`, print its message in one line (or a
list for `ImportRejected`) and exit 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FlightdeckError(Exception):
    """Base class of the errors users can act on."""


class ConfigError(FlightdeckError):
    """The configuration is invalid; the message names the key and the problem."""


class DatabaseUnavailable(FlightdeckError):
    """The database named by the settings cannot be reached or opened."""


class InputError(FlightdeckError):
    """A command's input is invalid; nothing was written."""


class ImportRejected(InputError):
    """An import found invalid lines and wrote nothing.

    Attributes:
        problems: One `FILE:LINE: what is wrong` string per invalid line, in file order.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        noun = "line" if len(problems) == 1 else "lines"
        super().__init__(f"{len(problems)} invalid {noun}; nothing was imported")


class BackendError(FlightdeckError):
    """A deploy backend did not carry out a promotion or rollback; the message says why."""


class BackendRejected(BackendError):
    """The backend refused the request (a 4xx, or nothing there to act on); not retried."""


class BackendUnavailable(BackendError):
    """The backend could not be reached or kept failing (5xx, timeout) through the retries."""


class SourceError(FlightdeckError):
    """A collector could not read its source; the message names the connection."""


class RetriableSourceError(SourceError):
    """A temporary failure (rate limit, server error, timeout) that outlived the retries."""


class BadSourceResponse(RetriableSourceError):
    """The source sent a response that cannot be read (truncated, not JSON, wrong shape)."""


class LeaseLost(RetriableSourceError):
    """Another worker took over a stream's lease while this one was collecting it."""


class SourceConfigError(SourceError):
    """The connection is misconfigured (credentials, permissions, a missing repository)."""


class SkippableRecordError(SourceError):
    """One record or file cannot be read; collectors skip it and report it."""
