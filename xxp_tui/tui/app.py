"""The xxp-tui viewer: watch a run live and steer it from the keyboard.

The app never runs tasks and never holds a write transaction: one worker thread polls the KB
read-only and posts deltas; each steering action is one short INSERT into the commands table
(a second worker waits for the engine's outcome and shows it). Killing the viewer — a dropped SSH
session, `q`, SIGHUP — therefore leaves the run untouched.
"""

from __future__ import annotations

import gc
import time
import tomllib
from functools import partial
from pathlib import Path

from textual import on, work
from textual._context import NoActiveAppError
from textual.actions import SkipAction
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Input
from textual.worker import get_current_worker

from xxp_tui.kb.commands import (
    Amend,
    Answer,
    CommandError,
    Inject,
    Parallel,
    Pause,
    Prioritize,
    Prune,
    Resume,
    ResumeVariants,
    SteerCommand,
    Stop,
    Suspend,
)
from xxp_tui.kb.queries import RunSummary
from xxp_tui.kb.status import FINISHED_VARIANT_STATES
from xxp_tui.lang.model import Project
from xxp_tui.tui import commandline
from xxp_tui.tui.screens.modals import AnswerForm, ConfirmScreen, HelpScreen, InjectForm, NoteForm
from xxp_tui.tui.source import Delta, RunSource, VariantDetail, read_tail
from xxp_tui.tui.terminal import glyphs
from xxp_tui.tui.widgets.charts import ChartPane
from xxp_tui.tui.widgets.footer import SteadyFooter
from xxp_tui.tui.widgets.panes import DetailsPane, EventsPane, LogPane, StatusBar
from xxp_tui.tui.widgets.run_tree import RunTree
from xxp_tui.tui.widgets.variant_table import VariantTable

# The viewer's steering actions (their keys are the `BINDINGS` below) and the commands they send;
# restarting a dead engine sends none, it starts one.
STEERING_ACTIONS: dict[str, tuple[type[SteerCommand], ...]] = {
    "prune": (Prune,), "priority_up": (Prioritize,), "priority_down": (Prioritize,), "inject": (Inject,),
    "pause_resume": (Pause, Resume), "parallel": (Parallel,), "answer": (Answer,), "stop": (Stop,),
    "amend": (Amend,), "hold": (Suspend, ResumeVariants), "resume_engine": (),
}
STEERING = set(STEERING_ACTIONS)
FINISHED = FINISHED_VARIANT_STATES  # one definition: kb/status.py
ASKED_PRIORITY_TTL = 5.0  # seconds a priority the viewer asked for counts over the table's older value
PALETTE_TITLES = {
    "xxp.prune": "Prune the cursor's or the tagged variants", "xxp.inject": "Inject a variant",
    "xxp.pause": "Pause or resume the run", "xxp.answer": "Answer a waiting interaction",
    "xxp.priority.up": "Raise priority", "xxp.priority.down": "Lower priority",
    "xxp.parallel.up": "More workers", "xxp.parallel.down": "Fewer workers", "xxp.stop": "Stop the run for good",
    "xxp.resume_engine": "Restart the dead engine", "xxp.command": "Command line (:)", "xxp.filter": "Filter the table",
    "xxp.help": "Help: every key", "xxp.quit": "Quit the viewer (the run goes on)", "xxp.details": "Details pane",
    "xxp.logs": "Log tail pane", "xxp.charts": "Charts pane (again: next chart)", "xxp.events": "Events pane",
    "xxp.sort": "Sort by a column (a list of them)", "xxp.sort.invert": "Invert the sort",
    "xxp.follow": "Follow the cursor's variant on/off", "xxp.freeze": "Freeze or unfreeze live updates",
    "xxp.table.tag": "Tag or untag the cursor's variant", "xxp.table.untag": "Untag all",
    "xxp.knowledge": "Knowledge: cache reuse, best configurations, parameter importance",
    "xxp.note": "Note on the cursor's variant (or the run): what you learned",
    "xxp.chart.full": "Chart on the whole screen",
    "xxp.hold": "Suspend the cursor's or tagged variants (again: resume them)",
}
# Moves and Back have no use in a palette.
PALETTE_SKIP = {"xxp.escape", "xxp.focus.tree", "xxp.table.down", "xxp.table.up", "xxp.table.pagedown",
                "xxp.table.pageup", "xxp.table.left", "xxp.table.right", "xxp.table.first", "xxp.table.last",
                "xxp.chart.param"}


def keymap_path() -> Path:
    from xxp_tui.paths import config_dir

    return config_dir() / "keymap.toml"


def load_keymap() -> dict[str, str]:
    """`"xxp.prune" = "x"` lines in ~/.config/xxp-tui/keymap.toml remap keys by binding id."""
    path = keymap_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


class DeltaArrived(Message):
    def __init__(self, delta: Delta) -> None:
        super().__init__()
        self.delta = delta


class DetailArrived(Message):
    def __init__(self, detail: VariantDetail | None) -> None:
        super().__init__()
        self.detail = detail


class ProjectLoaded(Message):
    def __init__(self, project: Project | None, version: int = 1) -> None:
        super().__init__()
        self.project = project
        self.version = version  # the run's spec version it was read from


class CommandDone(Message):
    def __init__(self, verb: str, status: str, outcome: str) -> None:
        super().__init__()
        self.verb = verb
        self.status = status
        self.outcome = outcome


class CommandSuggester(Suggester):
    def __init__(self, app: XxpApp) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.xapp = app

    async def get_suggestion(self, value: str) -> str | None:
        if value.startswith("/") or not value:
            return None
        table = self.xapp.table
        words = value.split(" ")
        options = commandline.completions(
            value, [f"v{i}" for i in table.order[:2000]], self.xapp.space_names(), self.xapp.node_names(),
            [c.key for c in table.columns])
        if not options:
            return None
        # A completed command keeps its trailing space (`:go` Tab gives `goto `, ready for `v3`).
        return " ".join([*words[:-1], options[0]]) if len(words) > 1 else options[0]


class CommandLine(Input):
    """The `:` and `/` line: Tab (or →) accepts the suggested completion."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="xxp.cmdline.complete")]

    def action_complete(self) -> None:
        self.cursor_position = len(self.value)
        self.action_cursor_right()


class XxpApp(App[str]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "xxp-tui"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="xxp.help"),
        # Priority: handled as the key arrives, before the keys typed after it are passed on to the
        # focused table; so those reach the line (see _focus_now). Text typed elsewhere keeps them.
        Binding("slash", "filter", "Filter", id="xxp.filter", priority=True),
        Binding("colon", "command_line", "Cmd", id="xxp.command", priority=True),
        Binding("d", "prune", "Prune", id="xxp.prune"),
        Binding("z", "hold", "Suspend/resume", show=False, id="xxp.hold"),
        Binding("i", "inject", "Inject", id="xxp.inject"),
        Binding("p", "pause_resume", "Pause", id="xxp.pause"),
        Binding("a", "answer", "Answer", id="xxp.answer"),
        Binding("q", "quit_viewer", "Quit", id="xxp.quit"),
        Binding("right_square_bracket", "priority_up", "Prio+", show=False, id="xxp.priority.up"),
        Binding("left_square_bracket", "priority_down", "Prio-", show=False, id="xxp.priority.down"),
        Binding("plus", "parallel(1)", "Workers+", show=False, id="xxp.parallel.up"),
        Binding("minus", "parallel(-1)", "Workers-", show=False, id="xxp.parallel.down"),
        Binding("X", "stop", "Stop run", show=False, id="xxp.stop"),
        Binding("A", "amend", "Amend spec", show=False, id="xxp.amend"),
        Binding("R", "resume_engine", "Restart engine", show=False, id="xxp.resume_engine"),
        Binding("enter", "pane('details', False)", "Details", show=False, id="xxp.details"),
        Binding("C", "chart_screen", "Full chart", show=False, id="xxp.chart.full"),
        Binding("l", "pane('logs')", "Logs", show=False, id="xxp.logs"),
        Binding("c", "charts", "Charts", show=False, id="xxp.charts"),
        Binding("x", "next_param", "Chart param", show=False, id="xxp.chart.param"),
        Binding("e", "pane('events')", "Events", show=False, id="xxp.events"),
        Binding("s", "sort", "Sort", show=False, id="xxp.sort"),
        Binding("I", "invert_sort", "Invert sort", show=False, id="xxp.sort.invert"),
        Binding("F", "follow", "Follow", show=False, id="xxp.follow"),
        Binding("Z", "freeze", "Freeze", show=False, id="xxp.freeze"),
        Binding("t", "focus_tree", "Tree", show=False, id="xxp.focus.tree"),
        Binding("K", "knowledge", "Knowledge", show=False, id="xxp.knowledge"),
        Binding("n", "note", "Note", show=False, id="xxp.note"),
        Binding("escape", "escape", "Back", show=False, id="xxp.escape"),
    ]

    def __init__(self, db: Path, run_id: int, *, read_only: bool = False, poll_interval: float = 0.25,
                 keymap: dict[str, str] | None = None, clock=time.time, low_bandwidth: bool = False) -> None:
        super().__init__()
        if self.no_color:
            # Textual answers NO_COLOR with grey shades; no-color.org asks for no colour at all.
            from textual.filter import Monochrome, NoColor

            self._filters = [NoColor() if isinstance(f, Monochrome) else f for f in self._filters]
        # --low-bandwidth: the screen changes only when the run does (no clock ticking each second),
        # the KB is read once a second, logs and charts refresh less often, and charts draw no braille.
        self.low_bandwidth = low_bandwidth
        if low_bandwidth:
            poll_interval = max(poll_interval, 1.0)
        self.clock = clock  # injectable, so snapshots of a live run are stable
        self.db = Path(db)
        self.run_id = run_id
        self.read_only = read_only
        self._asked_priority: dict[int, tuple[int, float]] = {}  # variant -> (priority asked, when)
        self._gc_frozen = False
        self.poll_interval = poll_interval
        self._keymap = load_keymap() if keymap is None else keymap
        self.summary: RunSummary | None = None
        self.nodes: dict = {}
        self.project: Project | None = None
        self.selected: int | None = None
        self.detail: VariantDetail | None = None
        self.frozen = False
        self.pending_deltas: list[Delta] = []
        self.history: list[str] = []
        self.history_pos = 0
        self.cmdline_mode = ":"
        self._want_detail: int | None = None
        self._force_poll = False
        self._log_task: tuple[str | None, str | None] = (None, None)
        self._log_offsets: dict[str, int] = {}
        self.completion_times: list[float] = []
        # Kept up to date as deltas arrive, so nothing per delta or per second walks all rows:
        # variants created and finished per (space, round), and those waiting for an answer.
        self._created: dict[tuple[str, int], int] = {}
        self._finished: dict[tuple[str, int], int] = {}
        self.waiting_ids: set[int] = set()
        self._binding_state: tuple | None = None
        self._command_suggester: Suggester | None = None  # the : line's, kept while the / line has none

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield RunTree(id="tree")
            yield VariantTable(id="table")
        with ContentSwitcher(id="bottom", initial="details"):
            with Vertical(id="details"):
                yield DetailsPane(id="details-pane")
            yield LogPane(id="logs")
            yield ChartPane(id="charts")
            yield EventsPane(id="events")
        yield CommandLine(id="cmdline", placeholder=":prune v12  :prio v7 5  :inject Space k=v  (Tab completes)",
                          suggester=CommandSuggester(self))
        yield SteadyFooter()

    def on_mount(self) -> None:
        # Main-screen widgets are kept by reference: while a modal is open, `query_one` would
        # search the modal instead, and messages keep arriving.
        self.table = self.query_one(VariantTable)
        self.run_tree = self.query_one(RunTree)
        self.status_bar = self.query_one(StatusBar)
        self.details_pane = self.query_one(DetailsPane)
        self.log_pane = self.query_one(LogPane)
        self.chart = self.query_one(ChartPane)
        self.events_pane = self.query_one(EventsPane)
        self.switcher = self.query_one(ContentSwitcher)
        self.bottom = self.query_one("#bottom")
        self.cmdline = self.query_one("#cmdline", Input)
        self.footer = self.query_one(Footer)
        self._mounted()

    def _mounted(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        self.cmdline.display = False
        self.table.focus()
        if glyphs().tree_lines is not None:
            self.screen.add_class("ascii")  # borders of ASCII characters (app.tcss)
        if self.low_bandwidth:
            self.chart.line_marker = "dot"
        self.on_resize()
        self.load_project()
        self.poll()
        slow = 4 if self.low_bandwidth else 1
        self.set_interval(0.5 * slow, self.tail_logs)
        self.set_interval(1.0 * slow, self.refresh_charts)
        if not self.low_bandwidth:  # with it, the status line changes with the run only (see _apply)
            self.set_interval(1.0, self.tick_status)
        self.set_interval(0.1, self._collect_between_keys)

    def _collect_between_keys(self) -> None:
        """Run the cyclic GC's full collection from a timer, a little before Python would run it by
        itself. Python runs it inside whatever allocates, which in a viewer is the handling and drawing
        of a key press: at 100,000 variants, some 20,000 young objects and 30 ms a time, in the key's
        frame. A timer runs between events, so a key waits for it only when it comes in those 30 ms."""
        if gc.isenabled() and gc.get_count()[2] >= gc.get_threshold()[2] - 2:
            gc.collect()

    def on_resize(self, event=None) -> None:
        if not hasattr(self, "bottom"):
            return  # before mount
        narrow = self.size.width < 100
        self.run_tree.set_class(narrow, "narrow")
        self.footer.compact = narrow  # so the footer's keys (up to q Quit) fit in 80 columns
        self.bottom.set_class(self.size.height < 30, "short")

    # ------------------------------------------------------------------ data in

    @work(thread=True, group="project", exclusive=True, exit_on_error=False)
    def load_project(self) -> None:
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr
        from xxp_tui.kb import spec_versions as kbsv
        from xxp_tui.lang import load_project

        with open_kb(self.db, create=False, readonly=True) as kb:
            spec_path = kbr.get_run(kb, self.run_id).spec_path
            current = kbsv.latest(kb, self.run_id)  # the version the run executes (amendments add some)
        assert current is not None  # every run stores the spec it was created with
        try:
            result = load_project(Path(current.path or spec_path), text=current.text)
            project = result.project
        except Exception:
            project = None
        self.post_message(ProjectLoaded(project, current.version))

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def poll(self) -> None:
        worker = get_current_worker()
        source = RunSource(self.db, self.run_id)
        shown_detail: tuple[int | None, int | None] = (None, None)
        try:
            while not worker.is_cancelled and self.is_running:
                delta = source.poll(force=self._force_poll)
                self._force_poll = False
                if delta is not None:
                    self.post_message(DeltaArrived(delta))
                want = self._want_detail
                if want is not None and (delta is not None or shown_detail[0] != want):
                    self.post_message(DetailArrived(source.detail(want)))
                    shown_detail = (want, source.version)
                if not source.more:  # else the next slice of a big first load, at once
                    time.sleep(self.poll_interval)
        except NoActiveAppError:
            pass  # the app closed while this thread was between two polls
        finally:
            source.close()

    @on(ProjectLoaded)
    def _project_loaded(self, message: ProjectLoaded) -> None:
        self.project = message.project
        self.run_tree.spec_version = message.version
        experiment = self.summary.run.experiment if self.summary else ""
        tree = self.run_tree
        if self.summary is not None:
            tree.build(self.project, experiment, self.nodes)
            tree.update_states(self.nodes, self.progress(), self.summary.run.status, self.summary.run.paused)
        chart = self.chart
        if self.project and experiment in self.project.experiments:
            objectives = [o for sp in self.project.experiments[experiment].spaces.values() for o in sp.objectives]
            chart.maximize = not objectives or objectives[0].direction == "maximize"

    @on(DeltaArrived)
    def _delta(self, message: DeltaArrived) -> None:
        if not self.screen_stack:
            return  # closing
        delta = message.delta
        if self.frozen and not delta.first:
            self.pending_deltas.append(delta)
            self.summary = delta.summary
            self.status_bar.show(delta.summary, None, None, self.read_only, True, self.clock())
            self._refresh_bindings_if_changed()
            return
        self._apply(delta)

    def _apply(self, delta: Delta) -> None:
        first_summary = self.summary is None
        self.summary = delta.summary
        self.status_bar.gpu_samples = delta.gpu_samples
        self.nodes = delta.nodes
        if delta.spec_version != self.run_tree.spec_version and not first_summary:
            self.load_project()  # amended: the tree shows the new version's nodes
        with self.batch_update():
            for row in delta.variants:
                vid = int(row["id"][1:])
                old = self.table.rows.get(vid)
                if old is not None:
                    self._tally(old.data, -1)
                self._tally(row, 1)
                if row["status"] in FINISHED and row.get("ended") and (
                        old is None or old.data.get("status") not in FINISHED):
                    self.completion_times.append(row["ended"])
                (self.waiting_ids.add if row["status"] == "waiting_input" else self.waiting_ids.discard)(vid)
            self.table.upsert(delta.variants)
            self._mark_pareto(delta)
            if len(delta.variants) >= 1000:
                # A big load (the slices of a large run's first polls): its rows live as long as the
                # viewer. Move everything alive now out of the cyclic GC's way, after a collection
                # (so no garbage is pinned), so later full collections do not walk tens of thousands
                # of rows in the middle of a key press.
                gc.collect()
                gc.freeze()
                self._gc_frozen = True
            tree = self.run_tree
            if first_summary or not tree.node_items:
                tree.build(self.project, delta.summary.run.experiment, delta.nodes)
            tree.update_states(delta.nodes, self.progress(), delta.summary.run.status, delta.summary.run.paused)
            events = self.events_pane
            for e in delta.events:
                when = time.strftime("%H:%M:%S", time.localtime(e.time))
                text = e.detail.get("outcome") or e.detail.get("text") or ""
                who = "" if e.actor == "engine" else f"{e.actor} {e.kind}: "
                events.write_line(f"{when} {who}{text}")
            if not self.low_bandwidth or self._run_changed(delta):
                self.tick_status()
        if self.selected is None and self.table.cursor_variant is not None:
            self._select(self.table.cursor_variant)
        self._refresh_bindings_if_changed()

    def _run_changed(self, delta: Delta) -> bool:
        """Whether a delta carries news (rows, events, states), not only the passing of time: with
        --low-bandwidth the status line is redrawn for news only, so an idle run sends nothing."""
        s = delta.summary
        state = (s.run.status, s.run.paused, s.run.workers, s.engine, tuple(sorted(s.counts.items())),
                 tuple(sorted((n, st.status) for n, st in delta.nodes.items())))
        changed = state != getattr(self, "_last_news", None) or bool(delta.variants or delta.events)
        self._last_news = state
        return changed

    def _tally(self, data: dict, sign: int) -> None:
        key = (data["space"], data.get("iteration") or 0)
        self._created[key] = self._created.get(key, 0) + sign
        if data["status"] in FINISHED:
            self._finished[key] = self._finished.get(key, 0) + sign

    def _refresh_bindings_if_changed(self) -> None:
        """The footer is rebuilt on every refresh_bindings(), so only when what check_action
        answers can have changed: something waits for an answer, the engine is dead."""
        state = (bool(self.waiting_ids), self.summary.engine if self.summary else None)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def progress(self) -> dict[str, str]:
        """`done/total` per space: finished variants of the node's current round."""
        out = {}
        for name, state in self.nodes.items():
            if state.kind == "space" and state.iteration:
                total = state.total if state.total is not None else "?"
                out[name] = f"{self._finished.get((name, state.iteration), 0)}/{total}"
        return out

    def tick_status(self) -> None:
        if self.summary is None:
            return
        table = self.table
        shown = table.filter_text.strip()
        self.status_bar.filter_note = f"filter {shown}: {len(table.order)} of {len(table.rows)}" if shown else ""
        now = self.clock()
        recent = self.completion_times = [t for t in self.completion_times if now - t < 300]
        window = min(300.0, max(30.0, now - (self.summary.run.started or now)))
        throughput = len(recent) / window * 60 if recent else None
        remaining = self.summary.counts.get("queued", 0) + self.summary.counts.get("running", 0)
        for name, state in self.nodes.items():
            if state.kind == "space" and state.status == "running" and state.total:
                created = self._created.get((name, state.iteration), 0)
                remaining += max(0, state.total - created)
            elif state.status == "pending":
                remaining += self._node_size(name)  # nodes still ahead: later spaces, interactions
        self.status_bar.show(self.summary, throughput, remaining, self.read_only, self.frozen, now)

    def _node_size(self, name: str) -> int:
        """How many variants a node not reached yet will run: a space's budget or grid size, 1 for a
        task or an interaction (0 when the spec cannot say, e.g. a continuous space without runs)."""
        exp = self.project.experiments.get(self.summary.run.experiment) if self.project and self.summary else None
        if exp is None:
            return 0
        if name not in exp.spaces:
            return 1 if name in exp.tasks else 0
        space = exp.spaces[name]
        if space.runs:
            return space.runs
        size = 1
        for vp in {b.vp for b in space.bindings if b.vp is not None}:
            domains = space.param_values.get(vp, ())
            if not domains or not all(d.is_finite for d in domains):
                return 0
            try:
                size *= sum(len(d.enumerate()) for d in domains)
            except ValueError:
                return 0
        return size

    # ------------------------------------------------------------------ selection and panes

    @on(VariantTable.Highlighted)
    def _highlighted(self, message: VariantTable.Highlighted) -> None:
        if message.variant_id is not None:
            self._select(message.variant_id)

    def _select(self, vid: int) -> None:
        self.selected = vid
        self._want_detail = vid
        self._force_poll = True

    @on(DetailArrived)
    def _detail(self, message: DetailArrived) -> None:
        self.detail = message.detail
        self.details_pane.show(message.detail)
        if message.detail is not None:
            chart = self.chart
            chart.set_data(series=message.detail.series, series_label=message.detail.row["id"])
            self._retarget_log(message.detail)

    def _retarget_log(self, detail: VariantDetail) -> None:
        task = next((t for t in reversed(detail.tasks) if t.stdout_path), None)
        target = (task.stdout_path, task.stderr_path) if task else (None, None)
        if target != self._log_task:
            self._log_task = target
            log = self.log_pane
            log.clear()
            self._log_offsets = {}
            if task is not None:
                log.write(f"── {detail.row['id']} {task.task} (attempt {task.attempt}) ──\n")
            self.tail_logs(force=True)

    def tail_logs(self, force: bool = False) -> None:
        log = self.log_pane
        if not force and self.switcher.current != "logs":
            return
        for path in self._log_task:
            if not path:
                continue
            text, offset = read_tail(path, self._log_offsets.get(path, 0))
            self._log_offsets[path] = offset
            if text:
                log.write(text)

    def _mark_pareto(self, delta: Delta) -> None:
        """Recompute the Pareto front of each multi-objective space the delta touched, over every row
        of that space in the table (a new completion can push others off the front)."""
        from xxp_tui.kb import objectives as kbo

        self.objectives = delta.objectives
        spaces = {r["space"] for r in delta.variants if len(delta.objectives.get(r["space"], [])) >= 2}
        changed = []
        for space in spaces:
            rows = [r for r in self.table.rows.values() if r.data["space"] == space]
            flags = kbo.pareto_flags(delta.objectives[space], [(r.id, r.data["status"], r.data.get("objectives") or [])
                                                                for r in rows])
            changed += [{**r.data, "pareto": flags[r.id]} for r in rows if r.data.get("pareto") != flags[r.id]]
        if changed:
            self.table.upsert(changed)

    def _pareto_chart(self) -> dict | None:
        """The first two objectives of a multi-objective space against each other (the cursor's space,
        else the first one with completed variants), its front apart."""
        declared = getattr(self, "objectives", {})
        multi = [s for s, objs in declared.items() if len(objs) >= 2]
        if not multi:
            return None
        row = self.table.rows.get(self.table.cursor_variant) if self.table.cursor_variant else None
        order = ([row.data["space"]] if row is not None and row.data["space"] in multi else []) + multi
        for space in order:
            done = [r.data for r in self.table.rows.values() if r.data["space"] == space
                    and r.data["status"] == "completed" and None not in (r.data.get("objectives") or [None])[:2]]
            if done:
                points = [tuple(d["objectives"][:2]) for d in done]
                front = [tuple(d["objectives"][:2]) for d in done if d.get("pareto")]
                labels = [f"{o.direction[:3]} {o.label}" for o in declared[space][:2]]
                return {"space": space, "labels": labels, "points": points, "front": front}
        return None

    def chart_data(self) -> dict:
        done = sorted((r.data.get("ended") or 0, vid, r.data) for vid, r in self.table.rows.items()
                      if r.data["status"] == "completed" and r.data.get("objective") is not None)
        points = [(i, data["objective"]) for i, (_, _, data) in enumerate(done, start=1)]
        names = list(dict.fromkeys(k for _, _, data in done for k in data["params"]))
        param_points = {n: [(data["params"].get(n), data["objective"]) for _, _, data in done] for n in names}
        return {"objective": points, "param_names": names, "param_points": param_points,
                "pareto": self._pareto_chart()}

    def refresh_charts(self) -> None:
        chart = self.chart
        if self.switcher.current != "charts":
            return
        chart.set_data(**self.chart_data())
        chart.redraw()

    def action_chart_screen(self) -> None:
        """C: the chart on the whole screen, where its axes and points can be read (c, x as below)."""
        from xxp_tui.tui.screens.chart import ChartScreen

        self.push_screen(ChartScreen(self.chart))

    def action_pane(self, name: str, toggle: bool = True) -> None:
        """Show a bottom pane; its key again hides it (l, c, e). Enter only ever shows the details."""
        switcher = self.switcher
        bottom = self.bottom
        if switcher.current == name and bottom.display and toggle:
            bottom.display = False
            self.screen.add_class("no-bottom")  # the command line goes back in the flow (app.tcss)
            return
        bottom.display = True
        self.screen.remove_class("no-bottom")
        switcher.current = name
        if name == "logs":
            self.tail_logs(force=True)
        if name == "charts":
            self.refresh_charts()

    def action_charts(self) -> None:
        switcher = self.switcher
        chart = self.chart
        if switcher.current == "charts" and self.bottom.display:
            self.notify(f"chart: {chart.next_mode()}", timeout=2)
        else:
            self.action_pane("charts")
        self.refresh_charts()
        chart.redraw(force=True)

    def action_next_param(self) -> None:
        name = self.chart.next_param()
        if name:
            self.notify(f"chart parameter: {name}", timeout=2)

    # ------------------------------------------------------------------ table view actions

    def action_sort(self) -> None:
        """A list of the columns: one key press and Enter sorts by any of them (I inverts)."""
        from xxp_tui.tui.screens.modals import SortScreen

        table = self.table
        columns = [(c.key, c.label) for c in table.columns if c.key != "reason"]

        def done(key: str | None) -> None:
            if key:
                table.set_sort(key)

        self.push_screen(SortScreen(columns, table.sort_key), callback=done)

    def action_invert_sort(self) -> None:
        self.table.set_sort(self.table.sort_key, not self.table.sort_reverse)

    def action_follow(self) -> None:
        self.table.follow = not self.table.follow
        self.notify("follow on: the cursor stays on its variant as rows re-sort" if self.table.follow
                    else "follow off: the cursor stays on its row", timeout=2)

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        if not self.frozen:
            pending, self.pending_deltas = self.pending_deltas, []
            for delta in pending:
                self._apply(delta)
        self.tick_status()

    def action_focus_tree(self) -> None:
        self.run_tree.focus()

    def action_escape(self) -> None:
        cmd = self.cmdline
        if cmd.display:
            cmd.display = False
            if self.cmdline_mode == "/":
                self.set_filter("")
        self._focus_now(self.table)

    def action_knowledge(self) -> None:
        from xxp_tui.tui.screens.knowledge import KnowledgeScreen

        self.push_screen(KnowledgeScreen(self.db, self.run_id))

    def action_help(self) -> None:
        # Every key of every binding id: a binding may be split per key (down and j are one id).
        keys_of: dict[str, list[str]] = {}
        first: dict[str, Binding] = {}
        sources = [a.binding for a in self.active_bindings.values()]
        sources += [b for node in (self, self.table) for bs in node._bindings.key_to_bindings.values() for b in bs]
        for b in sources:
            if not b.id:
                continue
            first.setdefault(b.id, b)
            for k in b.key.split(","):
                shown = self.get_key_display(b.with_key(k.strip()))
                if shown not in keys_of.setdefault(b.id, []):
                    keys_of[b.id].append(shown)
        rows = [(", ".join(keys_of[i]), first[i].description, i) for i in first]
        for binding in self.run_tree.BINDINGS:  # the tree's own keys, once t has focused it
            assert isinstance(binding, Binding)  # RunTree declares Binding objects only
            rows.append((f"{binding.key} (tree)", binding.description, binding.id or ""))
        rows += [("ctrl+p", "command palette: every action by name", ""),
                 ("tab, →", "complete the word on the : line", "xxp.cmdline.complete"),
                 ("↑, ↓", "history on the : line", "")]
        self.push_screen(HelpScreen(rows, commandline.VERBS))

    def _all_bindings(self):
        """Every binding with an id, as currently mapped (after the user's keymap)."""
        seen = set()
        for _key, active in self.active_bindings.items():
            b = active.binding
            if b.id and b.id not in seen:
                seen.add(b.id)
                yield b.key, b
        for node in (self, self.table):
            for bindings in node._bindings.key_to_bindings.values():
                for b in bindings:
                    if b.id and b.id not in seen:
                        seen.add(b.id)
                        yield b.key, b

    # ------------------------------------------------------------------ command line

    def action_command_line(self) -> None:
        self._open_line(":")

    def action_filter(self) -> None:
        self._open_line("/")

    def _typing_elsewhere(self) -> bool:
        """In a line, a form or another screen, `:` and `/` (priority bindings) are text."""
        return self.screen is not self.screen_stack[0] or isinstance(self.focused, Input)

    def _focus_now(self, widget: Widget) -> None:
        """Focus `widget` before the next key is passed on. `Widget.focus()` defers the change behind
        the events already received: keys typed ahead (a paste, a fast typist, keys that arrive in
        one packet over SSH) after `:` or `/` reached the table, whose `p` paused the run."""
        self.screen.set_focus(widget)

    def _open_line(self, mode: str) -> None:
        if self._typing_elsewhere():
            raise SkipAction()  # the key goes on to what has the focus
        self.cmdline_mode = mode
        cmd = self.cmdline
        cmd.display = True
        # Commands complete on the `:` line only: on the `/` line a filter word is no command, and a
        # suggestion per typed character would cost each key a worker.
        if self._command_suggester is None:
            self._command_suggester = cmd.suggester
        cmd.suggester = self._command_suggester if mode == ":" else None
        cmd.value = self.table.filter_text if mode == "/" else ""
        cmd.placeholder = ("filter: words, key:value (status:running, space:Grid, lr:0.1), ! inverts"
                           if mode == "/" else ":prune v12  :prio v7 5  :inject Space k=v  (Tab completes)")
        self._focus_now(cmd)
        self.history_pos = len(self.history)

    @on(Input.Changed, "#cmdline")
    def _line_changed(self, event: Input.Changed) -> None:
        if self.cmdline_mode == "/":
            self.set_filter(event.value)

    def set_filter(self, text: str) -> None:
        self.table.set_filter(text)
        self.tick_status()

    @on(Input.Submitted, "#cmdline")
    def _line_submitted(self, event: Input.Submitted) -> None:
        cmd = self.cmdline
        cmd.display = False
        self._focus_now(self.table)
        if self.cmdline_mode == "/":
            return
        text = event.value.strip()
        if not text:
            return
        self.history.append(text)
        self.run_command_line(text)

    def on_key(self, event) -> None:
        if self._refused_key(event.key):
            event.stop()
            return
        cmd = self.cmdline
        if not cmd.has_focus or self.cmdline_mode != ":" or not self.history:
            return
        if event.key in ("up", "down"):
            step = -1 if event.key == "up" else 1
            self.history_pos = max(0, min(len(self.history), self.history_pos + step))
            cmd.value = self.history[self.history_pos] if self.history_pos < len(self.history) else ""
            cmd.cursor_position = len(cmd.value)
            event.stop()

    def _refused_key(self, key: str) -> bool:
        """A steering key on a finished run (or in a read-only viewer) is not offered in the footer,
        but pressing it still says why nothing happens."""
        if self.cmdline.has_focus or self.summary is None or self.screen is not self.screen_stack[0]:
            return False
        finished = self.summary.run.finished
        if not (finished or self.read_only):
            return False
        for _key, binding in self._all_bindings():
            action = binding.action.split("(")[0]
            if action in STEERING and key in [k.strip() for k in binding.key.split(",")]:
                why = (f"r{self.run_id} is {self.summary.run.status}: it takes no more commands" if finished
                       else "read-only viewer: steering is disabled")
                self.notify(why, severity="warning", timeout=3)
                return True
        return False

    def run_command_line(self, text: str) -> None:
        parsed = commandline.parse(text)
        if parsed.error:
            self.notify(parsed.error, severity="error")
            return
        verb, args = parsed.verb, parsed.args
        if verb == "q":
            self.action_quit_viewer()
        elif verb == "help":
            self.action_help()
        elif verb == "sort":
            keys = {c.key: c for c in self.table.columns}
            match = next((k for k in keys if k == args["column"] or keys[k].label == args["column"]
                          or k.endswith("." + args["column"]) or k.endswith(":" + args["column"])), None)
            if match is None:
                self.notify(f"no column {args['column']}", severity="error")
            else:
                self.table.set_sort(match, args["reverse"])
        elif verb == "filter":
            self.set_filter(args["text"])
        elif verb == "tag":
            self.table.tag(int(ref[1:]) for ref in args["variants"])
        elif verb == "amend":
            self.action_amend()
        elif verb == "goto":
            if not self.table.move_to_variant(int(args["variant"][1:])):
                self.notify(f"{args['variant']} is not in the table (filtered?)", severity="warning")
        elif self.read_only:
            self.notify("read-only viewer: steering is disabled", severity="warning")
        elif parsed.command is not None:
            self.send(parsed.command)

    # ------------------------------------------------------------------ steering

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if self.read_only and action in STEERING:
            return False
        if action in STEERING and self.summary is not None and self.summary.run.finished:
            return False  # a finished run takes no more commands: not offered in the footer or palette
        if action == "resume_engine":
            return self._resumable()
        if action == "answer" and self.summary is not None:
            return True if self._waiting() else None
        return True

    def send(self, command: SteerCommand | list[SteerCommand]) -> None:
        """Send one command, or each of a list (e.g. ] on three tagged variants): either way the
        outcome comes back as one notice for the whole action."""
        batch = command if isinstance(command, list) else [command]
        if not batch:
            return
        if self.read_only:
            self.notify("read-only viewer: steering is disabled", severity="warning")
            return
        self._send(batch)

    def make(self, cls: type[SteerCommand], *args, **kwargs) -> SteerCommand | None:
        """The command, or None after a notice saying why its arguments are refused."""
        try:
            return cls(*args, **kwargs)
        except CommandError as exc:
            self.notify(str(exc), severity="warning")
            return None

    @work(thread=True, group="commands", exit_on_error=False)
    def _send(self, batch: list[SteerCommand]) -> None:
        from xxp_tui.kb import commands as kbc
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr

        verb = batch[0].verb
        with open_kb(self.db, create=False) as kb:
            ids = [kbc.submit(kb, self.run_id, command) for command in batch]
            if not kbr.liveness(kb, self.run_id).alive:
                self.post_message(CommandDone(verb, "pending", f"{verb} queued: the engine is not running "
                                                               "(press R to restart it)"))
                return
            cmds = [kbc.wait(kb, cmd_id, timeout=10) for cmd_id in ids]
        outcomes = [c.outcome or f"{verb} sent; the engine has not answered yet" for c in cmds]
        statuses = {c.status for c in cmds}
        status = "refused" if "refused" in statuses else ("done" if statuses == {"done"} else "pending")
        text = "; ".join(outcomes[:3]) + (f"; and {len(outcomes) - 3} more" if len(outcomes) > 3 else "")
        self.post_message(CommandDone(verb, status, text))

    @on(CommandDone)
    def _command_done(self, message: CommandDone) -> None:
        severities: dict[str, SeverityLevel] = {"done": "information", "refused": "error"}
        severity = severities.get(message.status, "warning")
        self.notify(message.outcome, severity=severity, timeout=4)
        self._force_poll = True

    def action_prune(self) -> None:
        targets = self.table.targets()
        if not targets:
            self.notify("no variant under the cursor", severity="warning")
            return
        names = " ".join(f"v{t}" for t in targets[:12]) + (" …" if len(targets) > 12 else "")
        question = f"Prune {len(targets)} variant{'s' if len(targets) > 1 else ''}?"

        def done(ok: bool | None) -> None:
            if ok:
                self.send(Prune(tuple(f"v{t}" for t in targets)))
                self.table.tagged.clear()
                self.table.refresh()

        self.push_screen(ConfirmScreen(question, f"{names}\nQueued ones never run; running ones are stopped."),
                         callback=done)

    def action_hold(self) -> None:
        """Suspend the targeted variants; the suspended ones among them are resumed instead."""
        targets = self.table.targets()
        if not targets:
            self.notify("no variant under the cursor", severity="warning")
            return
        status = {vid: (row.data["status"] if (row := self.table.rows.get(vid)) else None) for vid in targets}
        held = [f"v{vid}" for vid in targets if status[vid] == "suspended"]
        hold = [f"v{vid}" for vid in targets if status[vid] not in (*FINISHED, "suspended", None)]
        if held:
            self.send(ResumeVariants(tuple(held)))
        if hold:
            self.send(Suspend(tuple(hold)))
        if not (held or hold):
            self.notify("nothing to suspend: those variants have finished", severity="warning")

    def _priority(self, delta: int) -> None:
        rows: list[dict] = []
        commands: list[SteerCommand] = []
        now = time.monotonic()
        for vid in self.table.targets():
            row = self.table.rows.get(vid)
            if row is not None and row.data["status"] not in FINISHED:
                # Pressing ] three times means +3 before the engine answers: count from what was
                # last asked (for a few seconds), not from the table, which a poll may have reset
                # to an older value in between.
                asked = self._asked_priority.get(vid)
                base = asked[0] if asked and now - asked[1] < ASKED_PRIORITY_TTL else int(row.data["priority"])
                priority = base + delta
                try:
                    commands.append(Prioritize(f"v{vid}", priority))
                except CommandError as exc:
                    self.notify(f"v{vid}: {exc}", severity="warning")
                    continue
                self._asked_priority[vid] = (priority, now)
                rows.append({**row.data, "priority": priority})
        self.send(commands)
        self.table.upsert(rows)

    def action_priority_up(self) -> None:
        self._priority(1)

    def action_priority_down(self) -> None:
        self._priority(-1)

    def running_spaces(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.kind == "space" and s.status == "running"]

    def space_names(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.kind == "space"]

    def node_names(self) -> list[str]:
        return list(self.nodes)

    def action_inject(self) -> None:
        spaces = self.running_spaces()
        if not spaces:
            self.notify("no space is running; variants are injected into a running space", severity="warning")
            return
        if self.project is None or self.summary is None:
            self.notify("the spec is still loading", severity="warning")
            return
        exp = self.project.experiments.get(self.summary.run.experiment)
        assert exp is not None  # the project is the run's own spec, which defines its experiment
        row = self.table.rows.get(self.table.cursor_variant) if self.table.cursor_variant else None
        name = row.data["space"] if row and row.data["space"] in spaces else spaces[0]
        space = exp.spaces[name]
        workflow = self.project.workflows.get(space.workflow)

        def done(result: dict | None) -> None:
            if result and (command := self.make(Inject, result["space"], result["values"])):
                self.send(command)

        self.push_screen(InjectForm(space, workflow), callback=done)

    def action_pause_resume(self) -> None:
        if self.summary is None:
            return
        self.send(Resume() if self.summary.run.paused else Pause())

    def action_parallel(self, delta: int) -> None:
        if self.summary is None:
            return
        if command := self.make(Parallel, max(1, self.summary.run.workers + delta)):
            self.send(command)

    def _waiting(self) -> list[tuple[str, str | None, dict, str]]:
        """What waits for an answer: (target, prompt, fields, label)."""
        out = []
        exp = self.project.experiments.get(self.summary.run.experiment) if self.project and self.summary else None
        for vid in sorted(self.waiting_ids):
            row = self.table.rows[vid]
            node = row.data["space"]
            if exp is not None and node in exp.tasks and exp.tasks[node].kind == "interaction":
                t = exp.tasks[node]
                out.append((node, t.prompt, dict(t.fields), node))
            else:
                out.append((f"v{vid}", row.data.get("reason"), {}, f"v{vid}"))
        return out

    def action_answer(self) -> None:
        waiting = self._waiting()
        if not waiting:
            self.notify("nothing waits for an answer", severity="warning")
            return
        cursor = self.table.cursor_variant
        chosen = waiting[0]
        if cursor is not None:
            row = self.table.rows[cursor].data
            chosen = next((w for w in waiting if w[0] in (row["space"], f"v{cursor}")), chosen)
        target, prompt, fields, label = chosen

        def done(result: dict | None) -> None:
            if result is not None and (command := self.make(Answer, result["values"], target)):
                self.send(command)

        self.push_screen(AnswerForm(label, prompt, fields), callback=done)

    def action_note(self) -> None:
        """Notes are annotations, not steering: written to the KB directly, live or finished run, with
        or without an engine (not in a read-only viewer)."""
        if self.read_only:
            self.notify("read-only viewer: notes are disabled", severity="warning")
            return
        cursor = self.table.cursor_variant
        target = f"v{cursor}" if cursor is not None else f"r{self.run_id}"

        def done(result: dict | None) -> None:
            if result:
                self._save_note(cursor, result["text"], result["tags"])

        self.push_screen(NoteForm(target), callback=done)

    @work(thread=True, group="notes", exit_on_error=False)
    def _save_note(self, variant_id: int | None, text: str, tags: list[str]) -> None:
        from xxp_tui.kb import notes as kbn
        from xxp_tui.kb import open_kb

        with open_kb(self.db, create=False) as kb:
            note = kbn.add(kb, self.run_id, text, variant_id=variant_id, tags=tags)
        self.post_message(CommandDone("note", "done", f"noted on {note.target} by {note.author}"))

    def action_amend(self) -> None:
        """Edit the run's current spec in $EDITOR, check it, show the amendment, apply on yes."""
        from xxp_tui.tui.amend_flow import AmendFlow

        if self.read_only:
            self.notify("read-only viewer: steering is disabled", severity="warning")
            return
        AmendFlow(self).start()

    def action_stop(self) -> None:
        def done(ok: bool | None) -> None:
            if ok:
                self.send(Stop())

        self.push_screen(ConfirmScreen(f"Stop r{self.run_id} for good?",
                                       "Running tasks are killed and queued variants cancelled."), callback=done)

    def action_resume_engine(self) -> None:
        from xxp_tui.engine.launch import start_detached

        if not self._resumable():
            self.notify("the engine is running, or the run is over", severity="warning")
            return
        assert self.summary is not None  # _resumable() checked it
        start_detached(self.db, self.run_id, Path(self.summary.run.project_dir))
        self.notify(f"restarting the engine of r{self.run_id}; interrupted variants are re-queued", timeout=5)

    def _resumable(self) -> bool:
        """The engine died, or stopped cleanly (SIGTERM, Ctrl-C) leaving the run interrupted."""
        s = self.summary
        return s is not None and (s.engine == "dead" or (s.engine == "exited" and s.run.status == "interrupted"))

    def action_quit_viewer(self) -> None:
        status = self.summary.run.status if self.summary else "unknown"
        self.exit(status)

    async def action_quit(self) -> None:
        """ctrl+q and the palette's Quit leave the viewer the same way as q (the run goes on)."""
        self.action_quit_viewer()

    def get_system_commands(self, screen):
        """The palette (ctrl+p): Textual's commands, and on the main screen every action with a key."""
        yield from super().get_system_commands(screen)
        if screen is not self.screen_stack[0]:
            return
        for _key, binding in self._all_bindings():
            if (binding.id in PALETTE_SKIP or binding.id.startswith("xxp.cmdline.")  # the : line's own keys
                    or self.check_action(binding.action.split("(")[0], ()) is False):
                continue
            namespace = self.table if binding.id.startswith("xxp.table.") else self
            keys = ", ".join(self.get_key_display(binding.with_key(k.strip())) for k in binding.key.split(","))
            yield SystemCommand(PALETTE_TITLES.get(binding.id, binding.description), f"key {keys}  ({binding.id})",
                                partial(self.run_action, binding.action, namespace))
