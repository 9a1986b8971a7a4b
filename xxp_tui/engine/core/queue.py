"""The queued variants: who starts next.

A variant with a higher priority starts first; between equal priorities the older one (lower id).
A node's `parallel N` bounds how many of its variants run at once: a variant of a node at its limit
is passed over, not dropped, and the next one that may start is taken. Re-queueing a variant (a new
priority) replaces it; the heap keeps stale entries and skips them when they surface, so a
reprioritisation costs O(log n) and no rebuild.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar


class Queueable(Protocol):
    """What the queue needs of a variant (kb.variants.Variant has it)."""

    @property
    def id(self) -> int: ...

    @property
    def space(self) -> str: ...

    @property
    def priority(self) -> int: ...


V = TypeVar("V", bound=Queueable)


class VariantQueue(Generic[V]):
    def __init__(self) -> None:
        self._items: dict[int, V] = {}
        self._per_node: dict[str, int] = {}
        self._heap: list[tuple[int, int]] = []  # (-priority, id); stale entries are skipped

    def push(self, v: V) -> None:
        """Queue a variant, or requeue it with its new priority."""
        if v.id not in self._items:
            self._per_node[v.space] = self._per_node.get(v.space, 0) + 1
        self._items[v.id] = v
        heapq.heappush(self._heap, (-v.priority, v.id))

    def remove(self, vid: int) -> V | None:
        """Take a variant out (it starts, or was pruned); None if it was not queued."""
        v = self._items.pop(vid, None)
        if v is not None:
            self._per_node[v.space] -= 1
        return v

    def pop_next(self, may_start: Callable[[str], bool] = lambda node: True) -> V | None:
        """The variant to start now: the first by priority whose node `may_start` (is below its
        `parallel` limit); None when no queued variant may start."""
        held: list[tuple[int, int]] = []
        found = None
        while self._heap:
            entry = heapq.heappop(self._heap)
            v = self._items.get(entry[1])
            if v is None or -entry[0] != v.priority:
                continue  # stale: started, removed, or requeued with another priority
            if not may_start(v.space):
                held.append(entry)
                continue
            found = v
            break
        for entry in held:
            heapq.heappush(self._heap, entry)
        if found is not None:
            self.remove(found.id)
        return found

    def count(self, node: str) -> int:
        """How many variants of `node` are queued."""
        return self._per_node.get(node, 0)

    def clear(self) -> None:
        self._items.clear()
        self._per_node.clear()
        self._heap.clear()

    def ids(self) -> list[int]:
        return list(self._items)

    def __contains__(self, vid: object) -> bool:
        return vid in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[int]:
        return iter(self._items)


def below_limit(limit_of: Callable[[str], int | None], running_in: Callable[[str], int]) -> Callable[[str], bool]:
    """A `may_start` for `pop_next`: a node without a limit always may; one with `parallel N`
    while fewer than N of its variants run."""

    def may_start(node: str) -> bool:
        limit = limit_of(node)
        return limit is None or running_in(node) < limit

    return may_start
