"""The live variant table: a line-API widget that stays fast with tens of thousands of rows.

Textual's DataTable re-renders every visible cell and rebuilds O(n) maps on any change (see
research/textual.md §2.3), so this widget keeps its own model instead: rows by variant id, an
ordered list of the visible ids (sorted and filtered), and a cache of rendered lines keyed by
(id, row version, cursor, tag). An update touches only the rows that changed. At 100,000 rows no
key may walk every row through Python calls (table_index.py): each column keeps a sort index up to
date as rows change, and the filter narrows by indexes and comprehensions. The cursor follows its
variant across re-sorts (htop's "follow"), and rows can be tagged so actions apply to a set.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import filterfalse

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from xxp_tui.tui.terminal import few_colours, glyphs
from xxp_tui.tui.widgets.table_index import (
    FIXED_FIELDS,
    HayGroups,
    SortIndex,
    ValueIndex,
    field_names,
    narrows,
    parse_terms,
    sorted_ids,
    word_may_match_id,
)

STATUS_ORDER = {"running": 0, "waiting_input": 1, "suspended": 2, "queued": 2, "completed": 3, "failed": 4,
                "pruned": 5, "cancelled": 6}
STATUS_STYLES = {
    "queued": Style(dim=True),
    "running": Style(color="yellow", bold=True),
    "waiting_input": Style(color="cyan", bold=True),
    "suspended": Style(color="blue", bold=True),
    "completed": Style(color="green"),
    "failed": Style(color="red", bold=True),
    "pruned": Style(color="magenta"),
    "cancelled": Style(color="bright_black"),
}
GAP = 1
PREBUILD_ROWS = 5000  # from this many rows, sort indexes are built ahead, while the viewer is idle


@dataclass
class Column:
    """A table column. `width` grows (never shrinks) to the widest value shown, so a number's digits
    or a state's name are never cut; only free text (`reason`) is cut, with an ellipsis."""

    key: str
    label: str
    width: int
    numeric: bool = False

    @property
    def may_cut(self) -> bool:
        return self.key == "reason"


@dataclass(slots=True)
class Row:
    id: int
    data: dict
    hay: str  # what a plain word of the filter is searched in besides the id (lower case), shared by rows alike
    version: int = 0
    text: dict[str, str] | None = None  # the cells' text, made when the row is first drawn


# Strings that repeat in every row (field and param names, states, spaces): one copy each, not one
# per row, which at 100,000 rows is tens of megabytes.
_SHARED = ("space", "status", "origin", "run")


def _interned(data: dict) -> dict:
    for key in _SHARED:
        value = data.get(key)
        if type(value) is str:
            data[key] = sys.intern(value)
    for key in ("params", "metrics"):
        values = data.get(key)
        if values:
            data[key] = {sys.intern(k): sys.intern(v) if type(v) is str and len(v) < 16 else v
                         for k, v in values.items()}
    return data


def _make_hay(data: dict) -> str:
    """The row's search text but its id (`_id_text`): a word of the filter passes a row when it is in
    either. Words hold no blank, so none can straddle the two."""
    return " ".join([data.get("space", ""), data.get("status", ""), data.get("origin", ""),
                     *(f"{k}={v}" for k, v in data["params"].items())]).lower()


def _id_text(data: dict) -> str:
    return str(data.get("id")).lower()


def _field(data: dict, name: str):
    """The value a `key:value` filter term compares: a fixed field (named with a leading NUL), or a
    metric or param of that name (a metric wins over a param of the same name)."""
    if name[0] == "\0":
        return data.get(name[1:])
    metrics = data["metrics"]
    return metrics[name] if name in metrics else data["params"].get(name)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}"


def objectives_text(row: dict) -> str:
    """Several objectives: their values `/`-separated in declared order, `*` marking the Pareto front."""
    values = row["objectives"]
    if all(x is None for x in values):
        return "-"
    return "/".join(_fmt(x) for x in values) + (" *" if row.get("pareto") else "")


def cell_value(row: dict, key: str):
    """The value of column `key` in a variant row (params and metrics are prefixed p:/m:)."""
    if key.startswith("p:"):
        return row["params"].get(key[2:])
    if key.startswith("m:"):
        return row["metrics"].get(key[2:])
    return row.get(key)


class VariantTable(ScrollView, can_focus=True):
    """Rows of variants; messages `Highlighted` when the cursor's variant changes."""

    DEFAULT_CSS = """
    VariantTable { background: $surface; scrollbar-size-horizontal: 0; }
    VariantTable > .variant-table--header { text-style: bold; background: $panel; color: $text; }
    VariantTable > .variant-table--cursor { background: $accent 40%; }
    VariantTable:focus > .variant-table--cursor { background: $accent; color: $text; }
    VariantTable > .variant-table--tagged { text-style: bold; color: $warning; }
    """
    COMPONENT_CLASSES = {"variant-table--header", "variant-table--cursor", "variant-table--tagged"}

    BINDINGS = [
        Binding("down,j", "cursor(1)", "Down", show=False, id="xxp.table.down"),
        Binding("up,k", "cursor(-1)", "Up", show=False, id="xxp.table.up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="xxp.table.pagedown"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="xxp.table.pageup"),
        Binding("home,g", "first", "First", show=False, id="xxp.table.first"),
        Binding("end,G", "last", "Last", show=False, id="xxp.table.last"),
        Binding("space", "tag", "Tag", show=False, id="xxp.table.tag"),
        Binding("U", "untag_all", "Untag all", show=False, id="xxp.table.untag"),
        Binding("left", "scroll_cols(-8)", "Left", show=False, id="xxp.table.left"),
        Binding("right", "scroll_cols(8)", "Right", show=False, id="xxp.table.right"),
    ]

    class Highlighted(Message):
        def __init__(self, table: VariantTable, variant_id: int | None) -> None:
            super().__init__()
            self.table = table
            self.variant_id = variant_id

    class Selected(Message):
        def __init__(self, table: VariantTable, variant_id: int) -> None:
            super().__init__()
            self.table = table
            self.variant_id = variant_id

    follow: reactive[bool] = reactive(False)  # F: keep the cursor on its variant across re-sorts (htop's F)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[Column] = []
        self.rows: dict[int, Row] = {}
        self.order: list[int] = []  # what is shown: the sorted ids that pass the filter
        self._position: dict[int, int] | None = {}  # id -> index in order (None: to build again)
        self._indexes: dict[str, SortIndex] = {}  # column -> every id in its ascending order
        self._values: dict[str, ValueIndex] = {}  # field -> rows by value, for `key:value` filters
        self._hays = HayGroups()  # rows by search text, for the filter's plain words
        self._built_ahead = False  # every index is built (and frozen out of the GC's way)
        self._odd_ids = False  # some row's id text is not `v` and its number (then any word may match an id)
        # The rows that pass the filter (None: no filter), as a set made when first needed (a key
        # press that filters leaves only the list of them, in _matched_ids: a set of 100,000 ids costs).
        self._matched_set: set[int] | None = None
        self._matched_ids: list[int] | None = None
        self.tagged: set[int] = set()
        self.sort_key = "id"
        self.sort_reverse = False
        self.filter_text = ""
        self._filter: Callable[[Row], bool] | None = None
        self.cursor = 0
        self._cursor_id: int | None = None
        self._lines: LRUCache[tuple, Strip] = LRUCache(1024)  # a few screens: Strips are not small
        self._style_cache: dict[tuple, Style] = {}
        self._styled_with: dict[bool, tuple] = {}  # focus -> the styles the cached lines of that focus were made with
        self._layout_version = 0
        self._relayout_pending = False
        self.glyphs = glyphs()
        self._param_keys: list[str] = []
        self._metric_keys: list[str] = []
        self._seen_metrics: set[str] = set()
        self._set_columns()

    # ------------------------------------------------------------------ model

    def _set_columns(self) -> None:
        grown = {c.key: c.width for c in self.columns}
        cols = [
            Column("id", "id", 6), Column("space", "space", 10), Column("status", "status", 9),
            Column("priority", "pri", 3, True), Column("objective", "objective", 9, True),
        ]
        cols += [Column(f"p:{k}", k.split(".")[-1], max(7, min(12, len(k.split(".")[-1]) + 1)), True)
                 for k in self._param_keys]
        cols += [Column(f"m:{k}", k, max(7, min(12, len(k) + 1)), True) for k in self._metric_keys]
        cols += [Column("duration", "time", 6, True), Column("origin", "origin", 10), Column("reason", "reason", 40)]
        for col in cols:
            col.width = max(col.width, grown.get(col.key, 0))
        self.columns = cols
        self._layout_version += 1
        self._lines.clear()
        for row in self.rows.values():
            row.text = None
        self._update_virtual_size()

    @property
    def total_width(self) -> int:
        return sum(c.width + GAP for c in self.columns)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.total_width, len(self.order) + 1)

    def upsert(self, rows: Iterable[dict]) -> None:
        """Add or update rows (variant rows from kb.queries). Each changed row moves in the sort
        indexes by two binary searches and is judged by the filter alone; the shown order is only
        rebuilt (one pass over ids, no Python call per row) when a row entered, left or moved."""
        new_params: list[str] = []
        new_metrics: list[str] = []
        reorder = False  # the shown order may have changed
        added: list[int] = []
        changed_visible: list[int] = []
        visible: set[int] | None = None
        keep = self._filter
        matched = self._matched if keep is not None else None
        for data in rows:
            data = _interned(data)
            vid = int(str(data["id"]).lstrip("v"))
            for k in data["params"]:
                if k not in self._param_keys and k not in new_params:
                    new_params.append(k)
            for k in data["metrics"]:
                if k not in self._seen_metrics and k not in new_metrics:
                    new_metrics.append(k)
            if not self._odd_ids and _id_text(data) != f"v{vid}":
                self._odd_ids = True
            row = self.rows.get(vid)
            if row is None:
                row = self.rows[vid] = Row(vid, data, hay=self._hays.add(vid, _make_hay(data)))
                for name, vindex in self._values.items():
                    vindex.add(vid, _field(data, name))
                added.append(vid)
                continue
            old = row.data
            touched = [] if vid in added else [
                index for key, index in self._indexes.items() if cell_value(old, key) != cell_value(data, key)]
            for index in touched:
                index.remove(vid)  # while the row still holds the values it was indexed by
            for name, vindex in self._values.items():
                before, after = _field(old, name), _field(data, name)
                if before != after:
                    vindex.discard(vid, before)
                    vindex.add(vid, after)
            row.data = data
            row.version += 1
            row.text = None
            hay = _make_hay(data)
            if hay != row.hay:
                self._hays.discard(vid, row.hay)
                row.hay = self._hays.add(vid, hay)
            for index in touched:
                index.insert(vid)
            if touched and self._indexes.get(self.sort_key) in touched:
                reorder = True
            if keep is not None and matched is not None and keep(row) != (vid in matched):
                (matched.discard if vid in matched else matched.add)(vid)
                reorder = True
            if not reorder:
                if visible is None:
                    top = int(self.scroll_y)
                    visible = set(self.order[top: top + max(1, self.size.height)])
                if vid in visible:
                    changed_visible.append(vid)
        if added:
            if len(added) > 256:
                self._indexes.clear()  # rebuilt on demand, faster than inserting one by one
            else:
                for index in self._indexes.values():
                    for vid in added:
                        index.insert(vid)
            if keep is not None and matched is not None:
                matched.update(vid for vid in added if keep(self.rows[vid]))
            reorder = True
        if new_params or new_metrics:
            self._param_keys += new_params
            self._seen_metrics.update(new_metrics)  # past 8 metric columns, the rest only in details
            self._metric_keys += new_metrics[: max(0, 8 - len(self._metric_keys))]
            self._set_columns()
        if reorder:
            self._rebuild_order()
            self.refresh()
        else:
            position = self.position if changed_visible else {}
            for vid in changed_visible:
                if vid in position:
                    self._refresh_row(position[vid])

    def _sort_key(self, key: str | None = None) -> Callable[[int], tuple]:
        """The total order of column `key` (the sort column by default), ascending: ids break ties,
        rows without a value come last."""
        key = key or self.sort_key
        rows = self.rows

        if key == "id":
            return lambda vid: (0, vid)
        if key == "status":
            return lambda vid: (STATUS_ORDER.get(rows[vid].data["status"], 9), vid)

        def by_value(vid: int) -> tuple:
            value = cell_value(rows[vid].data, key)
            if value is None:
                return (2, 0, vid)  # missing values last, whatever the direction
            if isinstance(value, int | float) and not isinstance(value, bool):
                return (0, value, vid)
            return (1, str(value), vid)

        return by_value

    def _index(self, key: str) -> SortIndex:
        """The sort index of a column, built the first time it is needed and then kept up to date."""
        index = self._indexes.get(key)
        if index is None:
            rows = self.rows
            ids = sorted(rows)
            if key == "id":
                ordered: list[int] | None = ids
            elif key == "status":
                states = {v: STATUS_ORDER.get(rows[v].data["status"], 9) for v in ids}
                ordered = sorted(ids, key=states.__getitem__)
            else:
                if key.startswith("p:"):
                    values = {v: rows[v].data["params"].get(key[2:]) for v in ids}
                elif key.startswith("m:"):
                    values = {v: rows[v].data["metrics"].get(key[2:]) for v in ids}
                else:
                    values = {v: rows[v].data.get(key) for v in ids}
                ordered = sorted_ids(ids, values)
            index = SortIndex(self._sort_key(key), ordered if ordered is not None else [])
            if ordered is None:  # mixed kinds of values: sort by the full keys
                index.ids = sorted(ids, key=index.key_of)
            self._indexes[key] = index
        return index

    def build_next_index(self) -> bool:
        """Build one missing index: the next column's sort index, so that sorting by any column later
        only reads an index, then the value index of a fixed field or a param, so that the first
        `key:` typed in the filter finds it built. Called when the viewer is idle after a big load.
        False when all are built."""
        if len(self.rows) < PREBUILD_ROWS:
            return False
        for col in self.columns:
            if col.key != "reason" and col.key not in self._indexes:
                self._index(col.key)
                return True
        for name in ["\0space", "\0status", "\0origin", *self._param_keys]:
            if name not in self._values:
                self._value_index(name)
                return True
        return False

    def _base_order(self) -> list[int]:
        """Every id in the shown order (sort column and direction), before the filter."""
        index = self._index(self.sort_key)
        ids = index.ids
        if not self.sort_reverse:
            return list(ids)
        if self.sort_key in ("id", "status"):
            return ids[::-1]
        missing = index.first_missing()  # rows without a value stay at the bottom in reverse too
        return ids[:missing][::-1] + ids[missing:][::-1]

    def _rebuild_order(self, resort: bool = False) -> None:
        """The shown order: sorted (from scratch if `resort`, else from the kept indexes), then
        filtered by the set of rows that pass. The cached lines are keyed by row, not position, so
        they stay valid."""
        if resort:
            self._indexes.clear()
            if self._filter is not None:
                self._matched_set = {vid for vid, row in self.rows.items() if self._filter(row)}
                self._matched_ids = None
        base = self._base_order()
        matched = self._matched
        self._show(base if matched is None else list(filter(matched.__contains__, base)))

    @property
    def _matched(self) -> set[int] | None:
        if self._matched_set is None and self._matched_ids is not None:
            self._matched_set, self._matched_ids = set(self._matched_ids), None
        return self._matched_set

    def _show(self, order: list[int]) -> None:
        self.order = order
        self._position = None
        self._update_virtual_size()
        if self.follow and self._cursor_id in self.position:
            self.cursor = self.position[self._cursor_id]
        self.cursor = max(0, min(self.cursor, len(self.order) - 1))
        self._cursor_changed(scroll=self.follow)

    @property
    def position(self) -> dict[int, int]:
        """id -> index in the shown order, built when first asked after the order changed."""
        if self._position is None:
            self._position = {vid: i for i, vid in enumerate(self.order)}
        return self._position

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if key == self.sort_key else key not in ("id", "space", "status")
        self.sort_key, self.sort_reverse = key, reverse
        self._rebuild_order()
        self.refresh()

    def cycle_sort(self) -> str:
        keys = [c.key for c in self.columns if c.key not in ("reason",)]
        nxt = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else "id"
        self.set_sort(nxt)
        return nxt

    def set_filter(self, text: str) -> None:
        """Filter the rows; typing on (`kind:` then `kind:c`) narrows what is shown already."""
        before, self.filter_text = self.filter_text, text
        if not text.strip():
            self._filter = self._matched_set = self._matched_ids = None
            self._rebuild_order()
        else:
            candidates = self.order if self._filter is not None and narrows(before, text) else self._base_order()
            shown = self._evaluate(text, candidates)
            self._filter = make_filter(text)
            self._matched_set, self._matched_ids = None, shown
            self._show(shown)
        self.refresh()

    def _evaluate(self, text: str, ids: list[int]) -> list[int]:
        """The ids (in their given order) that pass filter `text`, narrowed term by term with
        comprehensions; what `make_filter` says of one row, said of many at once."""
        invert, terms = parse_terms(text)
        shown = ids
        for term in terms:
            key, sep, value = term.partition(":")
            if not sep:
                shown = self._word_matches(term, shown)
                continue
            passing = self._field_matches(key, value, term, shown)
            if passing is not None:
                shown = list(filter(passing.__contains__, shown))
        if invert:
            passing = set(shown)
            shown = list(filterfalse(passing.__contains__, ids))
        return shown

    def _word_matches(self, term: str, ids: list[int]) -> list[int]:
        """The ids (in order) whose id or search text holds the plain word `term`. Few ids: a test
        each; many: a test per distinct text (HayGroups), then one C-level pass over the ids."""
        rows = self.rows
        by_id = self._odd_ids or word_may_match_id(term)
        if len(ids) <= 2 * len(self._hays):
            if by_id:
                return [v for v in ids if term in rows[v].hay or term in _id_text(rows[v].data)]
            return [v for v in ids if term in rows[v].hay]
        passing, groups = self._hays.matching(term, len(rows))
        if passing:
            keep = set().union(*groups)
            if by_id:
                keep.update(self._id_matches(term, ids))
            return list(filter(keep.__contains__, ids))
        if not groups:
            return list(ids)
        drop = set().union(*groups)
        if by_id:
            drop.difference_update(self._id_matches(term, list(drop)))
        return list(filterfalse(drop.__contains__, ids))

    def _id_matches(self, term: str, ids: list[int]) -> list[int]:
        """The ids whose id text (`v123`) holds `term`."""
        if self._odd_ids:
            return [v for v in ids if term in _id_text(self.rows[v].data)]
        number = term[1:] if term.startswith("v") else term  # the id text is `v` and the number, here
        if "v" in number:
            return []
        if number is term:
            return [v for v, text in zip(ids, map(str, ids), strict=True) if term in text]
        return [v for v, text in zip(ids, map(str, ids), strict=True) if text.startswith(number)]

    def _field_matches(self, key: str, value: str, term: str, ids: list[int]) -> set[int] | None:
        """The ids that pass a `key:value` term, None when every row does."""
        if key == "id":
            return {v for v in ids if f"v{v}".startswith(value)}
        if key in FIXED_FIELDS:
            name = "\0" + key
        else:
            names = field_names(key, [*self._param_keys, *self._seen_metrics])
            if len(names) != 1:  # no such field, or one per task: judge row by row
                single = make_filter(term)
                return {v for v in ids if single(self.rows[v])}
            name = names[0]
        return self._value_index(name).matching(value, len(self.rows))

    def _value_index(self, name: str) -> ValueIndex:
        """The rows by value of field `name` (see `_field`), built when first needed, then kept up to date."""
        index = self._values.get(name)
        if index is None:
            index = self._values[name] = ValueIndex.build(
                (vid, _field(row.data, name)) for vid, row in self.rows.items())
        return index


    # ------------------------------------------------------------------ cursor and tags

    @property
    def cursor_variant(self) -> int | None:
        return self.order[self.cursor] if 0 <= self.cursor < len(self.order) else None

    def targets(self) -> list[int]:
        """What an action applies to: the tagged rows, else the cursor's."""
        if self.tagged:
            return sorted(self.tagged)
        return [self.cursor_variant] if self.cursor_variant is not None else []

    def move_to_variant(self, vid: int) -> bool:
        if vid not in self.position:
            return False
        self._move(self.position[vid])
        return True

    def _move(self, index: int) -> None:
        if not self.order:
            return
        old = self.cursor
        self.cursor = max(0, min(index, len(self.order) - 1))
        self._refresh_row(old)
        self._refresh_row(self.cursor)
        self._cursor_changed(scroll=True)

    def _cursor_changed(self, scroll: bool) -> None:
        vid = self.cursor_variant
        if scroll:
            self._scroll_to_cursor()
        if vid != self._cursor_id:
            self._cursor_id = vid
            self.post_message(self.Highlighted(self, vid))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def _refresh_row(self, index: int) -> None:
        """Repaint the row at `index` of the order if it is on screen. ScrollView.refresh_line takes
        a virtual line (it subtracts the scroll offset itself); row `index` is virtual line
        index + 1, under the header line."""
        top = int(self.scroll_y)
        if top <= index < top + self.size.height - 1:
            self.refresh_line(index + 1)

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.order) - 1)

    def action_tag(self) -> None:
        vid = self.cursor_variant
        if vid is None:
            return
        self.tagged.symmetric_difference_update({vid})
        self._refresh_row(self.cursor)
        self._move(self.cursor + 1)

    def tag(self, ids: Iterable[int]) -> None:
        self.tagged.update(i for i in ids if i in self.rows)
        self._lines.clear()
        self.refresh()

    def action_untag_all(self) -> None:
        self.tagged.clear()
        self._lines.clear()
        self.refresh()

    def action_scroll_cols(self, delta: int) -> None:
        self.scroll_to(x=max(0, self.scroll_x + delta), animate=False)

    def on_click(self, event) -> None:
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.order):
            self._move(index)

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_x)
        if y == 0:
            strip = self._header_strip()
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self.order):
                return Strip.blank(width, self._style("base", False))
            vid = self.order[index]
            row = self.rows[vid]
            key = (vid, row.version, index == self.cursor, vid in self.tagged, self.has_focus, self._layout_version)
            cached = self._lines.get(key)
            if cached is None:
                strip = self._row_strip(row, index == self.cursor, vid in self.tagged)
                self._lines[key] = strip
            else:
                strip = cached
        base = self._style("base", False)
        if not scroll_x or not self.columns:
            return strip.crop_extend(0, width, base)
        # The id column stays put when the table scrolls sideways: which row is which stays readable.
        fixed = self.columns[0].width + GAP
        return Strip.join([strip.crop_extend(0, fixed, base),
                           strip.crop_extend(fixed + scroll_x, scroll_x + width, base)])

    def _header_strip(self) -> Strip:
        style = self.get_component_rich_style("variant-table--header")
        segments = []
        for col in self.columns:
            label = col.label
            if col.key == self.sort_key:
                label = f"{label}{self.glyphs.sort_down if self.sort_reverse else self.glyphs.sort_up}"
            segments.append(Segment(_fit(label, col.width, col.numeric, self.glyphs.ellipsis) + " " * GAP, style))
        return Strip(segments)

    def _cell_text(self, row: Row, col: Column) -> str:
        if row.text is None:
            row.text = {}
        text = row.text.get(col.key)
        if text is None:
            if col.key == "id":
                text = f"v{row.id}"
            elif col.key == "duration":
                text = _duration(row.data.get("duration"))
            elif col.key == "status" and row.data.get("between_tasks"):
                text = "paused"  # running, but between two tasks of a paused run: nothing works on it
            elif col.key == "status" and row.data.get("stalled") and row.data.get("status") == "running":
                text = "stalled"  # running, but silent for its stall_after (engine/stalls.py)
            elif col.key == "origin" and row.data.get("off_grid"):
                text = "off-grid"  # injected with a value the space's lists lack
            elif col.key == "origin" and (row.data.get("spec_version") or 1) > 1:
                text = f"{row.data['origin']} s{row.data['spec_version']}"  # sampled under an amended spec
            elif col.key == "objective" and len(row.data.get("objectives") or ()) > 1:
                text = objectives_text(row.data)
            else:
                text = _fmt(cell_value(row.data, col.key))
            if col.key != "duration" or row.data.get("status") != "running" or row.data.get("between_tasks"):
                row.text[col.key] = text
        return text

    def _style(self, kind: str, is_cursor: bool) -> Style:
        """A row style ("base", "tagged" or a status), on the cursor row or not; cached until the
        focus or the CSS changes, since combining Rich styles per cell is what rendering costs."""
        key = (kind, is_cursor, self.has_focus)
        style = self._style_cache.get(key)
        if style is None:
            style = self.rich_style
            if is_cursor and few_colours(self.app):
                # 16 colours turn the accent into bright red (every cursor row would read as an
                # error), and NO_COLOR has none: reverse video is the cursor every terminal draws.
                style = style + Style(reverse=True, bold=self.has_focus)
            elif is_cursor:
                style = style + self.get_component_rich_style("variant-table--cursor")
            if kind == "tagged":
                style = style + self.get_component_rich_style("variant-table--tagged")
            elif kind != "base":
                style = style + STATUS_STYLES.get(kind, Style())
            self._style_cache[key] = style
        return style

    def _row_strip(self, row: Row, is_cursor: bool, is_tagged: bool) -> Strip:
        """One segment per run of cells in the same style (usually three: before, at and after
        the status cell)."""
        base = self._style("base", is_cursor)
        segments = []
        run: list[str] = []
        for col in self.columns:
            text = self._cell_text(row, col)
            shown = len(text) + (col.key == "id" and is_tagged)
            if shown > col.width and not col.may_cut:
                self._widen(col, shown)
            style = base
            if col.key == "status":
                style = self._style("queued" if row.data.get("between_tasks") else row.data.get("status", ""),
                                    is_cursor)
            elif col.key == "id" and is_tagged:
                text = "*" + text
                style = self._style("tagged", is_cursor)
            if style is base:
                run.append(_fit(text, col.width, col.numeric, self.glyphs.ellipsis))
            else:
                if run:
                    segments.append(Segment("".join(run), base))
                    run = []
                segments.append(Segment(_fit(text, col.width, col.numeric, self.glyphs.ellipsis), style))
            run.append(" " * GAP)
        if run:
            segments.append(Segment("".join(run), base))
        return Strip(segments)

    def _widen(self, col: Column, width: int) -> None:
        """Grow a column to fit a value; lines drawn with the old widths are dropped and the table
        repainted once, after this frame."""
        col.width = width
        if not self._relayout_pending:
            self._relayout_pending = True
            self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        self._relayout_pending = False
        self.glyphs = glyphs()
        self._layout_version += 1
        self._lines.clear()
        self._update_virtual_size()
        # A key that moved the cursor in the same frame (End as the rows first appear) scrolled against
        # the old size, which the new one undid: keep the cursor in view.
        self.call_after_refresh(self._scroll_to_cursor)
        self.refresh()

    def render_lines(self, crop):
        """Drop the cached styles and lines when the styles they were made with changed (a theme, the
        CSS). Checked when drawing, once the styles are settled, per focus state: moving the focus to
        the `/` line and back restyles the table, but its cached styles and lines are keyed by focus
        and stay valid (clearing them on every restyle redrew every row on each `/` and Esc)."""
        styles = (self.rich_style, *(self.get_component_rich_style(name) for name in sorted(self.COMPONENT_CLASSES)))
        before = self._styled_with.get(self.has_focus)
        if before is not None and before != styles:
            self._styled_with = {}
            self._style_cache.clear()
            self._lines.clear()
        self._styled_with[self.has_focus] = styles
        return super().render_lines(crop)

    def on_resize(self) -> None:
        self._update_virtual_size()

    def on_mount(self) -> None:
        self.set_interval(0.3, self._build_ahead)

    def _build_ahead(self) -> None:
        """Build the next missing index while the viewer is idle. Once all are built, they live as long
        as the rows: out of the cyclic GC's way with them (as the app does after a big load), since a
        full collection walks every id of every index otherwise (~25 ms at 100,000 rows)."""
        if self.build_next_index():
            self._built_ahead = False
        elif not self._built_ahead and len(self.rows) >= PREBUILD_ROWS:
            self._built_ahead = True
            gc.collect()
            gc.freeze()

    def on_focus(self) -> None:
        self.refresh()  # cached lines are keyed by focus too

    def on_blur(self) -> None:
        self.refresh()


def _fit(text: str, width: int, right: bool, ellipsis: str = "…") -> str:
    if len(text) > width:
        return text[: width - 1] + ellipsis
    return text.rjust(width) if right else text.ljust(width)


def make_filter(text: str) -> Callable[[Row], bool]:
    """`/` filter: words must all match; `key:value` matches a field (space, status, origin or a
    param/metric name) by prefix; a leading `!` inverts the whole filter. It takes table rows
    (`Row`), whose searchable text is cached until the row changes: typing a filter re-checks
    every row on each key."""
    text = text.strip()
    invert = text.startswith("!")
    if invert:
        text = text[1:]
    terms = [t.lower() for t in text.split()]

    def matches(table_row: Row) -> bool:
        row = table_row.data
        for term in terms:
            key, sep, value = term.partition(":")
            if sep:
                field_value = row.get(key) if key in ("space", "status", "origin", "id") else None
                if field_value is None:
                    for name, v in {**row["params"], **row["metrics"]}.items():
                        if name.lower() == key or name.lower().endswith("." + key):
                            field_value = v
                            break
                if field_value is None or not str(field_value).lower().startswith(value):
                    return False
                continue
            if term not in table_row.hay and term not in _id_text(row):
                return False
        return True

    return (lambda row: not matches(row)) if invert else matches
