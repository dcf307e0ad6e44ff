"""A local git repository -> commits with their parents and author/commit times.

For teams whose deployments come from elsewhere: the commit graph is what the DORA
engine walks to find the commits a deployment shipped. The scope is the repository's
path, or `owner/name=path` to store the commits under the repository name the service
catalog uses (default: the folder's name).

Each run lists the commits reachable from the current refs and not from the refs the
last run saw (`git log TIPS --not OLD_TIPS`), so commits are read once however often the
stream runs; a rewritten history simply adds the new commits. The cursor (the tips)
travels with the last batch.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collectors.spec import Batch, CollectorSpec, Cursor, Scope, parse_time
from errors import SourceConfigError
from ingest.records import CommitRecord

BATCH_COMMITS = 2000
_FIELDS = "%H%x1f%P%x1f%an%x1f%aI%x1f%cI%x1f%s%x1e"


def _repo_and_path(scope: str) -> tuple[str, Path]:
    name, separator, location = scope.partition("=")
    path = Path(location if separator else name).expanduser()
    return (name if separator else path.resolve().name), path


def _git(path: Path, *args: str, stdin: str = "") -> str:
    git = shutil.which("git")
    if git is None:
        msg = "the git stream needs the `git` program, which is not installed"
        raise SourceConfigError(msg)
    result = subprocess.run(  # noqa: S603 - fixed program and arguments, no shell
        [git, "-C", str(path), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = f"git {args[0]} in {path} failed: {result.stderr.strip() or result.returncode}"
        raise SourceConfigError(msg)
    return result.stdout


def collect_commits(_client: Any, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield the commits of the repository at `scope.name` not read by an earlier run.

    Cursor: `{"tips": [sha, ...]}`, the refs' commits when the last run started.

    Raises:
        SourceConfigError: The path is not a git repository, or git is missing.
    """
    repo, path = _repo_and_path(scope.name)
    if not path.is_dir():
        msg = f"connection {scope.connection!r}: {path} is not a folder"
        raise SourceConfigError(msg)
    tips = sorted(set(_git(path, "for-each-ref", "--format=%(objectname)").split()))
    old = list((cursor or {}).get("tips") or ())
    # `^sha` rather than `--not`: git before 2.42 takes no options on --stdin.
    revisions = "\n".join([*tips, *(f"^{sha}" for sha in old)]) + "\n"
    output = (
        _git(path, "log", "--stdin", "--ignore-missing", f"--format={_FIELDS}", stdin=revisions)
        if tips
        else ""
    )
    batch: list[CommitRecord] = []
    for entry in output.split("\x1e"):
        entry = entry.strip("\n")
        if not entry:
            continue
        sha, parents, author, authored, committed, subject = entry.split("\x1f")
        batch.append(
            CommitRecord(
                type="commit",
                source=scope.connection,
                repo=repo,
                sha=sha,
                parents=parents.split(),
                author=author or None,
                authored_at=parse_time(authored),  # type: ignore[arg-type]
                committed_at=parse_time(committed),
                message=subject or None,
            )
        )
        if len(batch) >= BATCH_COMMITS:
            yield Batch(batch)
            batch = []
    yield Batch(batch, {"tips": tips})


SPECS = (
    CollectorSpec(
        "git",
        "commits",
        "commits",
        "Commits with their parents from a local git repository",
        collect_commits,
    ),
)
