"""The live variant table: a line-API widget that stays fast with tens of thousands of rows.

Textual's DataTable re-renders every visible cell and rebuilds O(n) maps on any change (see
research/textual.md §2.3), so this widget keeps its own model instead: rows by variant id, an
ordered list of the visible ids (sorted and filtered), and a cache of rendered lines keyed by
(id, row version, cursor, tag). An update touches only the rows that changed; the order is
rebuilt only when the sort key or the filter could have changed. The cursor follows its variant
across re-sorts (htop's "follow"), and rows can be tagged so actions apply to a set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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

STATUS_ORDER = {"running": 0, "waiting_input": 1, "queued": 2, "completed": 3, "failed": 4, "pruned": 5,
                "cancelled": 6}
STATUS_STYLES = {
    "queued": Style(dim=True),
    "running": Style(color="yellow", bold=True),
    "waiting_input": Style(color="cyan", bold=True),
    "completed": Style(color="green"),
    "failed": Style(color="red", bold=True),
    "pruned": Style(color="magenta"),
    "cancelled": Style(color="bright_black"),
}
GAP = 1


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


@dataclass
class Row:
    id: int
    data: dict
    version: int = 0
    text: dict[str, str] = field(default_factory=dict)
    hay: str | None = None  # what a plain word of the filter is searched in (lower case)


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
        self.position: dict[int, int] = {}  # id -> index in order
        self._sorted: list[int] = []  # every id, in display order
        self._sorted_keys: list[tuple] = []  # their sort keys, in the same order
        self._key_of: dict[int, tuple] = {}
        self.tagged: set[int] = set()
        self.sort_key = "id"
        self.sort_reverse = False
        self.filter_text = ""
        self._filter: Callable[[dict], bool] | None = None
        self.cursor = 0
        self._cursor_id: int | None = None
        self._lines: LRUCache[tuple, Strip] = LRUCache(1024)  # a few screens: Strips are not small
        self._style_cache: dict[tuple, Style] = {}
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
            row.text = {}
        self._update_virtual_size()

    @property
    def total_width(self) -> int:
        return sum(c.width + GAP for c in self.columns)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.total_width, len(self.order) + 1)

    def upsert(self, rows: Iterable[dict]) -> None:
        """Add or update rows (variant rows from kb.queries); re-sorts and re-filters only if needed."""
        new_params: list[str] = []
        new_metrics: list[str] = []
        reorder = False  # the shown order may have changed
        moved: list[int] = []  # rows whose sort key changed, or new ones
        changed_visible: list[int] = []
        for data in rows:
            vid = int(str(data["id"]).lstrip("v"))
            for k in data["params"]:
                if k not in self._param_keys and k not in new_params:
                    new_params.append(k)
            for k in data["metrics"]:
                if k not in self._seen_metrics and k not in new_metrics:
                    new_metrics.append(k)
            row = self.rows.get(vid)
            if row is None:
                self.rows[vid] = Row(vid, data)
                moved.append(vid)
                continue
            if self.sort_key != "id" and cell_value(row.data, self.sort_key) != cell_value(data, self.sort_key):
                moved.append(vid)
            if self._filter is not None:
                was = self._filter(row)
            row.data = data
            row.version += 1
            row.text = {}
            row.hay = None
            if self._filter is not None and self._filter(row) != was:
                reorder = True
            if vid in self.position:
                changed_visible.append(vid)
        if new_params or new_metrics:
            self._param_keys += new_params
            self._seen_metrics.update(new_metrics)  # past 8 metric columns, the rest only in details
            self._metric_keys += new_metrics[: max(0, 8 - len(self._metric_keys))]
            self._set_columns()
        if moved:
            self._resort(moved)
        if moved or reorder:
            self._rebuild_order(resort=False)
            self.refresh()
        else:
            for vid in changed_visible:
                self._refresh_row(self.position[vid])

    def _sort_key(self) -> Callable[[int], tuple]:
        key = self.sort_key
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

    def _before(self) -> Callable[[tuple, tuple], bool]:
        """Whether a row with sort key `a` is shown above one with key `b`."""
        if not self.sort_reverse:
            return lambda a, b: a < b
        if self.sort_key in ("id", "status"):
            return lambda a, b: a > b

        def before(a: tuple, b: tuple) -> bool:  # reversed, but rows without a value stay at the bottom
            a_missing, b_missing = a[0] == 2, b[0] == 2
            return b_missing if a_missing != b_missing else a > b

        return before

    def _full_sort(self) -> None:
        key = self._sort_key()
        self._key_of = {vid: key(vid) for vid in self.rows}
        ids = sorted(self.rows, key=self._key_of.__getitem__, reverse=self.sort_reverse)
        if self.sort_reverse and self.sort_key not in ("id", "status"):
            # keep missing values at the bottom when sorting in reverse too
            ids = [v for v in ids if self._key_of[v][0] != 2] + [v for v in ids if self._key_of[v][0] == 2]
        self._sorted = ids
        self._sorted_keys = [self._key_of[v] for v in ids]

    def _resort(self, changed: list[int]) -> None:
        """Move the rows whose sort key changed (or that are new) to their place: a binary search
        each, instead of sorting every row again while the engine writes."""
        if len(changed) > 256 or len(self._sorted) != len(self.rows) - sum(v not in self._key_of for v in changed):
            self._full_sort()
            return
        key, before, keys, ids = self._sort_key(), self._before(), self._sorted_keys, self._sorted
        for vid in changed:
            old = self._key_of.get(vid)
            if old is not None:
                i = self._search(old, before)
                if i >= len(ids) or ids[i] != vid:
                    i = ids.index(vid)
                del ids[i], keys[i]
            new = self._key_of[vid] = key(vid)
            i = self._search(new, before)
            ids.insert(i, vid)
            keys.insert(i, new)

    def _search(self, key: tuple, before: Callable[[tuple, tuple], bool]) -> int:
        keys = self._sorted_keys
        lo, hi = 0, len(keys)
        while lo < hi:
            mid = (lo + hi) // 2
            if before(keys[mid], key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _rebuild_order(self, resort: bool = True) -> None:
        """The shown order: sorted (again, if `resort`), then filtered. The cached lines are keyed by
        row, not position, so they stay valid."""
        if resort:
            self._full_sort()
        keep, rows = self._filter, self.rows
        self.order = list(self._sorted) if keep is None else [vid for vid in self._sorted if keep(rows[vid])]
        self.position = {vid: i for i, vid in enumerate(self.order)}
        self._update_virtual_size()
        if self.follow and self._cursor_id in self.position:
            self.cursor = self.position[self._cursor_id]
        self.cursor = max(0, min(self.cursor, len(self.order) - 1))
        self._cursor_changed(scroll=self.follow)

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
        self.filter_text = text
        self._filter = make_filter(text) if text.strip() else None
        self._rebuild_order(resort=False)
        self.refresh()

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
            strip = self._lines.get(key)
            if strip is None:
                strip = self._row_strip(row, index == self.cursor, vid in self.tagged)
                self._lines[key] = strip
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

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._lines.clear()

    def on_resize(self) -> None:
        self._update_virtual_size()

    def on_focus(self) -> None:
        self.refresh()  # cached lines are keyed by focus too

    def on_blur(self) -> None:
        self.refresh()


def _fit(text: str, width: int, right: bool, ellipsis: str = "…") -> str:
    if len(text) > width:
        return text[: width - 1] + ellipsis
    return text.rjust(width) if right else text.ljust(width)


def _hay(row: Row) -> str:
    if row.hay is None:
        data = row.data
        row.hay = " ".join([str(data.get("id")), data.get("space", ""), data.get("status", ""),
                            data.get("origin", ""), *(f"{k}={v}" for k, v in data["params"].items())]).lower()
    return row.hay


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
            if term not in _hay(table_row):
                return False
        return True

    return (lambda row: not matches(row)) if invert else matches
