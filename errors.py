"""Every error Flightdeck raises on purpose, grouped by what the caller should do about it.

    FlightdeckError                  base class; never raised itself
    ├── ConfigError                  the config file or a FLIGHTDECK_* variable is wrong:
    │                                fix the named key and start again
    ├── DatabaseUnavailable          the database cannot be reached: check the URL and that
    │                                the server runs; pages show a banner and retry
    └── InputError                   a command's input is wrong (a filter, a file, a line):
        │                            nothing was written; fix the input and run again
        └── ImportRejected           an NDJSON import had invalid lines; carries each
                                     `FILE:LINE: problem` and wrote nothing

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
