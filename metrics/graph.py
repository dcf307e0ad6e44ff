"""The commit graph of one repository, and `git log base..tip` over it.

The graph is the repository's commit records; a parent with no record ends the walk
(DESIGN §4). `only_in` walks both ends at once in decreasing generation number, the way
git paints commits, so its cost is the size of the difference, not of the history: a
deployment that ships three commits on top of a long history visits about three commits.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from datetime import datetime

_TIP, _BASE = 1, 2


class CommitGraph:
    """Commits of one repository with their parents and authored times."""

    def __init__(
        self,
        parents: Mapping[str, Sequence[str]],
        authored: Mapping[str, datetime] | None = None,
    ) -> None:
        """Build the graph and number its commits.

        Args:
            parents: Each commit's parent shas, as recorded (unrecorded parents allowed).
            authored: Each commit's `authored_at`, for lead-time samples.
        """
        self._recorded = {
            sha: tuple(parent for parent in shas if parent in parents)
            for sha, shas in parents.items()
        }
        self._merges = {sha for sha, shas in parents.items() if len(shas) > 1}
        self.authored: Mapping[str, datetime] = authored or {}
        self._generation = self._number()

    def __contains__(self, sha: object) -> bool:
        return sha in self._recorded

    def is_merge(self, sha: str) -> bool:
        """Whether the commit has more than one parent (recorded or not)."""
        return sha in self._merges

    def _number(self) -> dict[str, int]:
        """Generation of every commit: 1 + the longest chain of recorded ancestors."""
        known: dict[str, int] = {}
        for start in self._recorded:
            if start in known:
                continue
            stack, entered = [start], set()
            while stack:
                top = stack[-1]
                if top in known:
                    stack.pop()
                    continue
                pending = [parent for parent in self._recorded[top] if parent not in known]
                if pending and top not in entered:
                    entered.add(top)
                    stack.extend(pending)
                    continue
                # Every parent is numbered, or lies on a cycle (which real git cannot
                # produce); counting it as 0 keeps the walk finite.
                known[top] = 1 + max((known.get(p, 0) for p in self._recorded[top]), default=0)
                stack.pop()
        return known

    def only_in(self, tip: str, base: str) -> list[str]:
        """Commits reachable from `tip` and not from `base` (`git log base..tip`).

        Both shas must be in the graph. Merge commits are included; callers filter them.

        Returns:
            The commits, newest generation first.
        """
        generation, recorded = self._generation, self._recorded
        flags = {tip: _TIP}
        flags[base] = flags.get(base, 0) | _BASE
        heap = [(-generation[tip], tip)]
        if base != tip:
            heap.append((-generation[base], base))
            heapq.heapify(heap)
        queued = {tip, base}
        interesting = 1 if flags[tip] == _TIP else 0  # queued commits reachable from tip only
        found: list[str] = []
        # Popping in decreasing generation means every descendant of a commit has passed
        # on its flags before the commit itself is popped; once only commits reachable
        # from `base` are queued, nothing further can be reachable from `tip` alone.
        while interesting:
            _, sha = heapq.heappop(heap)
            queued.discard(sha)
            flag = flags[sha]
            if flag == _TIP:
                interesting -= 1
                found.append(sha)
            for parent in recorded[sha]:
                old = flags.get(parent, 0)
                new = old | flag
                if new == old:
                    continue
                flags[parent] = new
                if parent not in queued:
                    queued.add(parent)
                    heapq.heappush(heap, (-generation[parent], parent))
                    if new == _TIP:
                        interesting += 1
                elif old == _TIP:
                    interesting -= 1
        return found
