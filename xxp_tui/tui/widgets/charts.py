"""Charts with plotext (textual-plotext): objective per variant with best-so-far, the selected
variant's series metric over steps, and a parameter against the objective.

Rendering a plotext figure costs tens of milliseconds and grows with points (research/textual.md
§2.6), so data is downsampled to about twice the widget's width and the chart redraws at most once
a second, and only while it is shown.
"""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual_plotext import PlotextPlot

from xxp_tui.tui.terminal import glyphs

MODES = ("objective", "series", "param")
# plotext draws its frame and markers with box and bullet glyphs; the Linux console and non-UTF-8
# locales get these ASCII stand-ins, one character for one, so colours and positions stay.
ASCII_TABLE = str.maketrans({**dict.fromkeys("─━═", "-"), **dict.fromkeys("│┃║", "|"),
                             **dict.fromkeys("┌┐└┘├┤┬┴┼╭╮╰╯", "+"), "•": "*", "·": ".", "●": "o", "▲": "^",
                             "▼": "v", "…": "~", "⋅": "."})
MIN_INTERVAL = 1.0


def integer_ticks(xs: list[float], width: int) -> list[int] | None:
    """Whole-number ticks for an axis whose values are all whole (variant numbers, steps, an integer
    param): plotext would print 1.0 2.5 4.0. About one tick per 8 columns."""
    if not xs or any(not float(x).is_integer() for x in xs):
        return None
    lo, hi = int(min(xs)), int(max(xs))
    step = max(1, math.ceil((hi - lo + 1) / max(2, width // 8)))
    return list(range(lo, hi + 1, step))


def headroom(ys: list[float], lines: int) -> tuple[float, float] | None:
    """A y range with room above the data for a legend of `lines` lines (plotext draws it top left)."""
    if not ys:
        return None
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or abs(hi) or 1.0
    return lo - span * 0.05, hi + span * (0.15 + 0.12 * lines)


def downsample(xs: list[float], ys: list[float], buckets: int) -> tuple[list[float], list[float]]:
    """Keep the min and max of each bucket so peaks survive; a no-op for short series."""
    n = len(xs)
    if n <= buckets * 2 or buckets <= 0:
        return xs, ys
    size = n / buckets
    out_x, out_y = [], []
    for b in range(buckets):
        lo, hi = int(b * size), max(int((b + 1) * size), int(b * size) + 1)
        seg = range(lo, min(hi, n))
        i_min = min(seg, key=lambda i: ys[i])
        i_max = max(seg, key=lambda i: ys[i])
        for i in sorted({i_min, i_max}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


class ChartPane(PlotextPlot):
    DEFAULT_CSS = """
    ChartPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = "objective"
        self.param_index = 0
        self.maximize = True
        self._data: dict = {}
        self._last_draw = 0.0
        self._dirty = False
        self.ascii = glyphs().tree_lines is not None  # a terminal that draws ASCII only
        self.line_marker = glyphs().chart_marker  # braille, or dots where it cannot be drawn

    def render(self):
        text = super().render()
        if self.ascii:
            plain = text.plain.translate(ASCII_TABLE)
            text = Text(plain.encode("ascii", "replace").decode("ascii"), style=text.style, spans=text.spans)
        return text

    def set_data(self, **data) -> None:
        self._data.update(data)
        self._dirty = True

    def next_mode(self) -> str:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._dirty = True
        self.redraw(force=True)
        return self.mode

    def next_param(self) -> str | None:
        params = self._data.get("param_names") or []
        if params:
            self.param_index = (self.param_index + 1) % len(params)
            self._dirty = True
            self.redraw(force=True)
            return params[self.param_index]
        return None

    def redraw(self, force: bool = False) -> None:
        if not self.display or not (self._dirty or force):
            return
        now = time.monotonic()
        if not force and now - self._last_draw < MIN_INTERVAL:
            return
        self._last_draw, self._dirty = now, False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        buckets = max(10, self.size.width)
        if self.mode == "objective":
            self._objective(plt, buckets)
        elif self.mode == "series":
            self._series(plt, buckets)
        else:
            self._param(plt)
        self.refresh()

    def _objective(self, plt, buckets: int) -> None:
        if self._data.get("pareto"):
            self._pareto(plt, self._data["pareto"])
            return
        points: list[tuple[int, float]] = self._data.get("objective", [])
        plt.title("objective per variant (best so far)")
        if not points:
            plt.title("objective per variant: none completed yet")
            return
        xs = [float(x) for x, _ in points]
        ys = [y for _, y in points]
        best, running = [], -math.inf if self.maximize else math.inf
        for y in ys:
            running = max(running, y) if self.maximize else min(running, y)
            best.append(running)
        dx, dy = downsample(xs, ys, buckets)
        plt.scatter(dx, dy, marker="dot")
        bx, by = downsample(xs, best, buckets)
        plt.plot(bx, by, marker=self.line_marker)
        plt.xlabel("variant")
        self._ticks(plt, xs)

    def _pareto(self, plt, data: dict) -> None:
        """A multi-objective space: its first two objectives against each other, the front marked."""
        x_label, y_label = data["labels"]
        plt.title(f"{data['space']}: {y_label} vs {x_label} (+ Pareto front)")
        plt.scatter([p[0] for p in data["points"]], [p[1] for p in data["points"]], marker="dot")
        front = sorted(data["front"])
        if front:
            plt.plot([p[0] for p in front], [p[1] for p in front], marker="+" if self.ascii else "●")
        plt.xlabel(x_label)

    def _series(self, plt, buckets: int) -> None:
        series: dict[str, list[tuple[int, float]]] = self._data.get("series", {})
        label = self._data.get("series_label", "")
        if not series:
            plt.title(f"{label}: no series metric reported")
            return
        plt.title(f"{label}: series metrics by step")
        shown = list(series.items())[:3]
        every_x, every_y = [], []
        for name, pts in shown:
            xs = [float(s) for s, _ in pts]
            ys = [v for _, v in pts]
            every_x += xs
            every_y += ys
            dx, dy = downsample(xs, ys, buckets)
            plt.plot(dx, dy, marker=self.line_marker, label=name)
        limits = headroom(every_y, len(shown))
        if limits:
            plt.ylim(*limits)  # the legend sits in the room above the lines, never over them
        plt.xlabel("step")
        self._ticks(plt, every_x)

    def _param(self, plt) -> None:
        names = self._data.get("param_names") or []
        if not names:
            plt.title("parameter vs objective: no parameters")
            return
        name = names[self.param_index % len(names)]
        pairs = [(x, y) for x, y in self._data.get("param_points", {}).get(name, [])
                 if isinstance(x, int | float) and not isinstance(x, bool)]
        plt.title(f"{name} vs objective (x: next parameter)")
        if pairs:
            plt.scatter([p[0] for p in pairs], [p[1] for p in pairs], marker="dot")
            self._ticks(plt, [p[0] for p in pairs])
        plt.xlabel(name)

    def _ticks(self, plt, xs: list[float]) -> None:
        ticks = integer_ticks(xs, self.size.width or 80)
        if ticks:
            plt.xticks(ticks, [str(t) for t in ticks])
