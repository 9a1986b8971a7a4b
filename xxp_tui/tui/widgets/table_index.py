"""Indexes that keep the variant table's keys fast at 100,000 rows (issue 19).

A key press must show its effect within a frame or two, so nothing it triggers may walk every row
through Python function calls:

- `SortIndex`: every id of one column in ascending order, built once (a C-keyed sort) the first
  time the table is sorted by that column, then kept up to date row by row (a binary search to take
  a changed row out and one to put it back) as the engine writes. Sorting by a column again, or
  inverting the sort, only reads the index.
- `ValueIndex`: for a `key:value` filter term, the rows by lower-case value of one field, so the
  term is a union of a few sets instead of a test per row.
- `HayGroups`: rows by their search text without the id (space, state, origin, params). A grid
  run's 100,000 rows have a few thousand distinct texts, so a plain word of the filter is tested
  once per text, not once per row, and rows that share a text share one string.
- `FilterPlan`: a `/` filter compiled to list comprehensions over ids (plain words against each
  row's cached search text) that narrows the rows term by term; typing one more character of the
  same filter narrows what is already shown instead of starting from every row.

The semantics are exactly those of `variant_table.make_filter` (which still judges single rows as
they change); tests compare the two.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections.abc import Callable, Collection, Iterable
from typing import Any, cast

FIXED_FIELDS = ("space", "status", "origin", "id")
MISSING = 2
ID_CHARS = "v0123456789"  # what a variant's id text ("v123") is made of
SMALL_GROUP = 64  # a group's ids in a list up to this many (small), in a set beyond (fast to take one out)


class SortIndex:
    """The ids of every row in the ascending order of `key_of` (a total order: ids break ties)."""

    def __init__(self, key_of: Callable[[int], tuple], ids: list[int]) -> None:
        self.key_of = key_of
        self.ids = ids

    def remove(self, vid: int) -> None:
        """Take `vid` out; call while its row still holds the values it was indexed with."""
        ids = self.ids
        i = bisect_left(ids, self.key_of(vid), key=self.key_of)
        if i >= len(ids) or ids[i] != vid:
            i = ids.index(vid)  # not where its key says (should not happen): find it the slow way
        del ids[i]

    def insert(self, vid: int) -> None:
        self.ids.insert(bisect_left(self.ids, self.key_of(vid), key=self.key_of), vid)

    def first_missing(self) -> int:
        """Where rows without a value start (they sort last)."""
        return bisect_left(self.ids, (MISSING,), key=self.key_of)


def sorted_ids(ids: list[int], values: dict[int, object]) -> list[int] | None:
    """`ids` (ascending) in ascending order of `values`, ties by id, rows without a value last,
    numbers before text: with a C-level key, which is what makes the first sort by a column fast.
    None when the values are not all of one plain kind (the caller sorts by tuples then)."""
    present = [v for v in ids if values[v] is not None]
    missing = [v for v in ids if values[v] is None] if len(present) != len(ids) else []
    kinds = {type(values[v]) for v in present}
    if kinds <= {int, float} or kinds == {str}:
        key = cast("Callable[[int], Any]", values.__getitem__)  # the values are all numbers, or all text
        return sorted(present, key=key) + missing  # stable: ties keep the id order
    return None


class ValueIndex:
    """Rows by the lower-case text of one field's value (rows where it is missing are left out),
    each value's ids in an ascending list: a tenth of the memory of sets, and a binary search to
    take one out. Small enough to build for every field ahead, while the viewer is idle."""

    def __init__(self) -> None:
        self.by_value: dict[str, list[int]] = {}

    def add(self, vid: int, value) -> None:
        if value is not None:
            insort(self.by_value.setdefault(str(value).lower(), []), vid)

    def discard(self, vid: int, value) -> None:
        if value is not None:
            text = str(value).lower()
            ids = self.by_value.get(text)
            if ids is not None:
                i = bisect_left(ids, vid)
                if i < len(ids) and ids[i] == vid:
                    del ids[i]
                if not ids:
                    del self.by_value[text]

    def matching(self, prefix: str, total: int) -> set[int] | None:
        """The ids whose value starts with `prefix`, or None when that is all `total` rows (then
        nothing need be tested or copied)."""
        hits = [ids for text, ids in self.by_value.items() if text.startswith(prefix)]
        if sum(map(len, hits)) == total:
            return None
        return set().union(*hits)

    @classmethod
    def build(cls, pairs: Iterable[tuple[int, Any]]) -> ValueIndex:
        """The index of (id, value) pairs: what `add` does one by one, in one tight loop."""
        index = cls()
        by_value = index.by_value
        for vid, value in pairs:
            if value is not None:
                text = str(value).lower()
                ids = by_value.get(text)
                if ids is None:
                    ids = by_value[text] = []
                ids.append(vid)
        for ids in by_value.values():
            ids.sort()
        return index


class HayGroups:
    """Rows grouped by their search text (`hay`, lower case, the id left out). `add` returns the
    group's own copy of the text, for the row to keep instead of its own."""

    def __init__(self) -> None:
        self.by_hay: dict[str, list[int] | set[int]] = {}

    def __len__(self) -> int:
        return len(self.by_hay)

    def add(self, vid: int, hay: str) -> str:
        hay = sys.intern(hay)  # one copy of the text, whoever made it
        ids = self.by_hay.get(hay)
        if ids is None:
            self.by_hay[hay] = [vid]
            return hay
        if type(ids) is list:
            ids.append(vid)
            if len(ids) > SMALL_GROUP:
                self.by_hay[hay] = set(ids)
        else:
            cast("set[int]", ids).add(vid)
        return hay

    def discard(self, vid: int, hay: str) -> None:
        ids = self.by_hay.get(hay)
        if ids is None:
            return
        if type(ids) is list:
            if vid in ids:
                ids.remove(vid)
        else:
            cast("set[int]", ids).discard(vid)
        if not ids:
            del self.by_hay[hay]

    def matching(self, term: str, total: int) -> tuple[bool, list[Collection[int]]]:
        """Which rows' text contains `term`, as (True, groups that pass), or (False, groups that
        fail) when fewer rows fail than pass; (False, []) means every row passes."""
        items = self.by_hay.items()
        hits: list[Collection[int]] = [ids for hay, ids in items if term in hay]
        passing = sum(map(len, hits))
        if passing * 2 <= total:
            return True, hits
        return False, [ids for hay, ids in items if term not in hay]


def word_may_match_id(term: str) -> bool:
    """Whether a plain word could occur in a variant's id text (`v123`): only v's and digits can."""
    return not term.strip(ID_CHARS)


def parse_terms(text: str) -> tuple[bool, list[str]]:
    text = text.strip()
    invert = text.startswith("!")
    if invert:
        text = text[1:]
    return invert, [t.lower() for t in text.split()]


def narrows(old: str, new: str) -> bool:
    """Whether every row that passes filter `new` passes `old` too (typing more of the same filter):
    then `new` need only look at what `old` shows. Conservative: a term may only grow at its end,
    and terms may be added; an inverted filter never narrows."""
    old_inv, old_terms = parse_terms(old)
    new_inv, new_terms = parse_terms(new)
    if old_inv or new_inv or not old_terms or len(new_terms) < len(old_terms):
        return False
    for a, b in zip(old_terms, new_terms, strict=False):
        if not b.startswith(a):
            return False
        a_key, a_sep, _ = a.partition(":")
        b_key, b_sep, _ = b.partition(":")
        if bool(a_sep) != bool(b_sep) or (a_sep and a_key != b_key):
            return False  # "kind" (a word) and "kind:" (a field) match different rows
    return True


def field_names(key: str, names: Iterable[str]) -> list[str]:
    """The param/metric names a `key:` term looks at: the name itself or a task's (`T.key`)."""
    return [n for n in names if n.lower() == key or n.lower().endswith("." + key)]
