"""Indexes that keep the variant table's keys fast at 100,000 rows (issue 19).

A key press must show its effect within a frame or two, so nothing it triggers may walk every row
through Python function calls:

- `SortIndex`: every id of one column in ascending order, built once (a C-keyed sort) the first
  time the table is sorted by that column, then kept up to date row by row (a binary search to take
  a changed row out and one to put it back) as the engine writes. Sorting by a column again, or
  inverting the sort, only reads the index.
- `ValueIndex`: for a `key:value` filter term, the rows by lower-case value of one field, so the
  term is a union of a few sets instead of a test per row.
- `FilterPlan`: a `/` filter compiled to list comprehensions over ids (plain words against each
  row's cached search text) that narrows the rows term by term; typing one more character of the
  same filter narrows what is already shown instead of starting from every row.

The semantics are exactly those of `variant_table.make_filter` (which still judges single rows as
they change); tests compare the two.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, cast

FIXED_FIELDS = ("space", "status", "origin", "id")
MISSING = 2


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
    """Rows by the lower-case text of one field's value (rows where it is missing are left out)."""

    def __init__(self) -> None:
        self.by_value: dict[str, set[int]] = {}

    def add(self, vid: int, value) -> None:
        if value is not None:
            self.by_value.setdefault(str(value).lower(), set()).add(vid)

    def discard(self, vid: int, value) -> None:
        if value is not None:
            ids = self.by_value.get(str(value).lower())
            if ids is not None:
                ids.discard(vid)
                if not ids:
                    del self.by_value[str(value).lower()]

    def starting_with(self, prefix: str) -> set[int]:
        out: set[int] = set()
        for text, ids in self.by_value.items():
            if text.startswith(prefix):
                out |= ids
        return out


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
