"""The designer: compose workflows and experiments from the task library, in the terminal.

Left, the library (search it with `/`; the highlighted item's ports, params, metrics and doc show
below it). Right, the canvas: the current workflow's task DAG (or the experiment's control graph
and spaces), drawn with the same drawing as `xxp-tui graph`. Every edit is one command on the line
at the bottom (`:`); single keys prefill the usual ones, with the selected task filled in. Each edit
goes through lang/edit.py, which rewrites only the block it touches, then the spec is validated
again (the diagnostics are those of `xxp-tui validate`, shown under the canvas). `ctrl+s` saves,
`r` saves and runs in the run viewer.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from xxp_tui.files import atomic_write
from xxp_tui.lang.catalog import LibraryItem, describe, library_items
from xxp_tui.lang.diagnostics import Pos
from xxp_tui.lang.edit import EditError, SpecEditor, check_domain, parse_domain
from xxp_tui.lang.loader import LoadResult

USAGE = {
    "workflow": "workflow NAME [from BASE]: a new workflow (with from: a variant)",
    "variant": "variant NAME: a variant of the current workflow",
    "experiment": "experiment NAME: a new experiment",
    "select": "select NAME: show a workflow, an experiment or a space (Experiment.Space)",
    "add": "add TASK [IMPLEMENTATION]: a task in the current workflow (a: the library item)",
    "remove": "remove TASK: the task, its links and its place in the chain",
    "rename": "rename OLD NEW: a task of the current workflow",
    "up": "up TASK: earlier in the chain (K)",
    "down": "down TASK: later in the chain (J)",
    "link": "link TASK.OUT TASK.IN: pass an output port to an input port",
    "bind": "bind TASK IMPLEMENTATION: run TASK with a library task",
    "set": "set TASK.PARAM VALUE: fix a param in the workflow",
    "space": "space NAME of WORKFLOW: a space in the current experiment",
    "values": "values TASK.PARAM enum(…)|range(a, b[, step])|uniform(a, b): search a param",
    "strategy": "strategy gridsearch|randomsearch|bayesian|…: the current space's strategy",
    "budget": "budget N: how many runs the current space may use",
    "objective": "objective maximize|minimize [TASK.]METRIC",
    "pruner": "pruner median|percentile|hyperband|none [on TASK.METRIC]",
    "control": 'control A -> B [if "condition" | else]: an edge between spaces (START, END too)',
    "interaction": "interaction NAME PROMPT…: a question to a person in the current experiment",
    "newtask": "newtask NAME: create a library task (task.xxp and a script) in the first task library",
    "newproject": "newproject DIR: create a project (xxp.toml, tasks/, workflows/, an experiment) and open it",
    "save": "save: write the file", "run": "run: save and run it in the run viewer",
}


@dataclass(frozen=True)
class Focus:
    kind: str  # "workflow" | "experiment"
    name: str




class DesignSuggester(Suggester):
    """Completes the command line: verbs, then what each verb takes (declared ports for `link`, the
    workflow's tasks, declared params, strategies, pruners, workflows and experiments)."""

    def __init__(self, screen: DesignScreen) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.design = screen

    async def get_suggestion(self, value: str) -> str | None:
        words = value.split(" ")
        options = self.design.completions(words[:-1], words[-1])
        hit = next((o for o in options if o.startswith(words[-1]) and o != words[-1]), None)
        return " ".join([*words[:-1], hit]) if hit else None


class CommandInput(Input):
    """The `:` line; Tab (or →) accepts the suggested completion."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="design.complete")]

    def action_complete(self) -> None:
        self.cursor_position = len(self.value)
        self.action_cursor_right()


class Canvas(VerticalScroll, can_focus=True):
    """The drawing; scrolls both ways for big graphs."""

    DEFAULT_CSS = """
    Canvas { overflow-x: auto; }
    Canvas > Static { width: auto; }
    """


class DesignScreen(Screen[object]):
    DEFAULT_CSS = """
    DesignScreen { layout: vertical; }
    #design-title { height: 1; background: $panel; padding: 0 1; }
    #design-main { height: 1fr; }
    #design-left { width: 32; border-right: vkey $panel-lighten-2; }
    #lib-search { height: 1; border: none; padding: 0 1; }
    #lib-search:focus { border: none; }
    #library { height: 1fr; border: none; }
    #lib-details { height: 9; overflow-y: auto; color: $text-muted; border-top: hkey $panel-lighten-2; }
    #canvas { padding: 0 1; }
    #design-diags { height: 4; overflow-y: auto; border-top: hkey $panel-lighten-2; padding: 0 1; }
    #design-hint { height: 1; padding: 0 1; color: $text-muted; }
    #design-cmd { height: 1; border: none; padding: 0 1; background: $panel; }
    #design-cmd:focus { border: none; }
    """

    BINDINGS = [
        Binding("colon", "command('')", "Cmd", id="design.command"),
        Binding("slash", "search", "Search", id="design.search"),
        Binding("ctrl+s", "save", "Save", id="design.save"),
        Binding("r", "run", "Run", id="design.run"),
        Binding("q", "quit", "Quit", id="design.quit"),
        Binding("left_square_bracket", "cycle(-1)", "Prev", show=False, id="design.prev"),
        Binding("right_square_bracket", "cycle(1)", "Next", id="design.next"),
        Binding("a", "prefill('add')", "Add", id="design.add"),
        Binding("d", "prefill('remove')", "Remove", show=False, id="design.remove"),
        Binding("n", "prefill('rename')", "Rename", show=False, id="design.rename"),
        Binding("b", "prefill('bind')", "Bind", show=False, id="design.bind"),
        Binding("p", "prefill('set')", "Param", show=False, id="design.param"),
        Binding("l", "prefill('link')", "Link", id="design.link"),
        Binding("w", "prefill('workflow')", "Workflow", show=False, id="design.workflow"),
        Binding("v", "prefill('variant')", "Variant", show=False, id="design.variant"),
        Binding("e", "prefill('experiment')", "Experiment", show=False, id="design.experiment"),
        Binding("s", "prefill('space')", "Space", show=False, id="design.space"),
        Binding("equals_sign", "prefill('values')", "Values", show=False, id="design.values"),
        Binding("g", "prefill('strategy')", "Strategy", show=False, id="design.strategy"),
        Binding("u", "prefill('budget')", "Budget", show=False, id="design.budget"),
        Binding("o", "prefill('objective')", "Objective", show=False, id="design.objective"),
        Binding("x", "prefill('pruner')", "Pruner", show=False, id="design.pruner"),
        Binding("c", "prefill('control')", "Control", show=False, id="design.control"),
        Binding("i", "prefill('interaction')", "Interaction", show=False, id="design.interaction"),
        Binding("t", "prefill('newtask')", "New task", show=False, id="design.newtask"),
        Binding("K,shift+up", "move(-1)", "Up", show=False, id="design.up"),
        Binding("J,shift+down", "move(1)", "Down", show=False, id="design.down"),
        Binding("z", "toggle_group", "Open/close sub-workflow", show=False, id="design.group"),
        Binding("escape", "back", "Back", show=False, id="design.back"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.text = path.read_text(encoding="utf-8") if path.is_file() else ""
        self.saved_text = self.text if path.is_file() else None
        self.focus_item: Focus | None = None
        self.space: str | None = None
        self.cursor = 0
        self.expanded: set[str] = set()  # sub-workflows drawn open (the others are one box)
        self.result: LoadResult | None = None
        self.items: list[LibraryItem] = []
        self.shown_items: list[LibraryItem] = []
        self.message = ""
        self._quit_armed = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="design-title")
        with Horizontal(id="design-main"):
            with Vertical(id="design-left"):
                yield Input(placeholder="/ search the library", id="lib-search")
                yield OptionList(id="library")
                yield Static(id="lib-details")
            with Canvas(id="canvas-scroll"):
                yield Static(id="canvas")
        yield Static(id="design-diags")
        yield Static(id="design-hint")
        yield CommandInput(placeholder=": command (a add, l link, s space, = values; : alone lists them all)",
                           id="design-cmd", select_on_focus=False, suggester=DesignSuggester(self))
        yield Footer()

    def on_mount(self) -> None:
        self.items = library_items(self.path)
        self._fill_library("")
        self.revalidate()
        names = self._documents()
        self.focus_item = names[0] if names else None
        self.refresh_all()
        self.query_one("#canvas-scroll").focus()

    # ------------------------------------------------------------------ state

    @property
    def modified(self) -> bool:
        return self.text != self.saved_text

    def _documents(self) -> list[Focus]:
        try:
            ed = SpecEditor(self.text)
        except EditError:
            return []
        return [Focus("workflow", n) for n in ed.names("workflow")] + \
            [Focus("experiment", n) for n in ed.names("experiment")]

    def revalidate(self) -> None:
        from xxp_tui.lang import load_project

        self.result = load_project(self.path, self.text)

    def workflow_model(self, name: str):
        project = self.result.project if self.result else None
        return project.workflows.get(name) if project else None

    def selected_task(self) -> str | None:
        tasks = self._canvas_tasks()
        if not tasks:
            return None
        self.cursor = max(0, min(self.cursor, len(tasks) - 1))
        return tasks[self.cursor]

    def _canvas_tasks(self) -> list[str]:
        if self.focus_item is None or self.focus_item.kind != "workflow":
            return []
        wf = self.workflow_model(self.focus_item.name)
        if wf is not None:
            return list(wf.tasks)
        try:
            return SpecEditor(self.text).task_names(self.focus_item.name)
        except EditError:
            return []

    # ------------------------------------------------------------------ painting

    def refresh_all(self) -> None:
        self._paint_title()
        self._paint_canvas()
        self._paint_diagnostics()
        self.query_one("#design-hint", Static).update(self.message)

    def _paint_title(self) -> None:
        state = "new file" if self.saved_text is None else ("modified" if self.modified else "saved")
        f = self.focus_item
        where = f"{f.kind} {f.name}" if f else "empty: w workflow, e experiment"
        space = f" · space {self.space}" if self.space and f and f.kind == "experiment" else ""
        title = Text.assemble(("design ", "bold"), (self.path.name, "bold cyan"), f"  {where}{space}",
                              (f"  [{state}]", "yellow" if self.modified else "dim"))
        self.query_one("#design-title", Static).update(title)

    def _paint_canvas(self) -> None:
        canvas = self.query_one("#canvas", Static)
        f = self.focus_item
        if f is None:
            broken = bool(self.text.strip()) and not self._documents() and self.result is not None \
                and any(d.is_error for d in self.result.diagnostics)
            canvas.update(Text("This file has a syntax error: fix it in an editor (see below), then design it."
                               if broken else "Nothing yet. Press w to start a workflow (or : and type a command).",
                               style="dim"))
            return
        canvas.update(self._workflow_text(f.name) if f.kind == "workflow" else self._experiment_text(f.name))

    def _workflow_text(self, name: str) -> Text:
        from xxp_tui.lang.drawing import workflow_lines

        wf = self.workflow_model(name)
        out = Text()
        if wf is None:
            out.append(f"workflow {name} cannot be drawn yet: see the diagnostics below.\n", style="red")
            return out
        selected = self.selected_task()
        shown = selected
        if selected and "/" in selected and selected.split("/")[0] not in self.expanded:
            shown = selected.split("/")[0] + "/…"  # its sub-workflow is collapsed (z opens it)
        for line in workflow_lines(wf, self.expanded):
            text = Text(line)
            if shown:
                mark = f"│ {shown} │"
                at = line.find(mark)
                if at >= 0:
                    text.stylize("reverse bold", at + 1, at + len(mark) - 1)
            out.append_text(text)
            out.append("\n")
        out.append("\n")
        near = self._diagnostics_near([(t.name, t.pos) for t in wf.tasks.values()], wf.pos)
        for t in wf.tasks.values():
            style = "reverse" if t.name == selected else ""
            impl = t.implementation or "(abstract: bind it)"
            params = "  " + ", ".join(f"{k}={v!r}" for k, v in t.params.items()) if t.params else ""
            out.append(Text.assemble((t.name, style or "bold"), (f"  {impl}{params}", "dim")))
            self._append_diagnostics(out, near.get(t.name, []))
            out.append("\n")
        return out

    def _diagnostics_near(self, items: list[tuple[str, Pos]], block: Pos) -> dict[str, list]:
        """The diagnostics of each item's lines (from its line to the next item's), so that they are
        shown in place, under the task or space they are about."""
        diags = self.result.diagnostics if self.result else []
        starts = sorted(((pos.line, name) for name, pos in items if pos.file == block.file), key=lambda x: x[0])
        project = self.result.project if self.result else None
        blocks: list[Pos] = [] if project is None else [*(w.pos for w in project.workflows.values()),
                                             *(e.pos for e in project.experiments.values())]
        end = min((p.line for p in blocks if p.file == block.file and p.line > block.line), default=10**9)
        out: dict[str, list] = {}
        for d in diags:
            if d.pos.file != block.file or not (block.line <= d.pos.line < end):
                continue
            owner = [name for line, name in starts if line <= d.pos.line]
            if owner:
                out.setdefault(owner[-1], []).append(d)
        return out

    @staticmethod
    def _append_diagnostics(out: Text, diags: list) -> None:
        for d in diags:
            icon, style = ("✗", "red") if d.is_error else ("!", "yellow")
            out.append(f"\n  {icon} {d.message}", style=style)

    def _experiment_text(self, name: str) -> Text:
        from xxp_tui.lang.drawing import experiment_lines
        from xxp_tui.lang.summary import space_summary

        project = self.result.project if self.result else None
        exp = project.experiments.get(name) if project else None
        out = Text()
        if exp is None:
            out.append(f"experiment {name} cannot be drawn yet: see the diagnostics below.\n", style="red")
            return out
        for line in experiment_lines(exp):
            out.append(line + "\n")
        near = self._diagnostics_near([(sp.name, sp.pos) for sp in exp.spaces.values()], exp.pos)
        for sp in exp.spaces.values():
            summary = space_summary(sp)
            style = "reverse bold" if sp.name == self.space else "bold"
            size = f"{summary['size']} configuration(s)" if summary["size"] is not None else \
                f"budget {sp.runs or '?'}"
            out.append(Text.assemble(("\n" + f"space {sp.name}", style), f" of {sp.workflow}: {sp.strategy}, {size}"))
            for b in sp.bindings:
                if b.vp is None:
                    out.append(f"\n  {b.key} = {b.value!r} (fixed)")
                    continue
                values = sp.values(b.vp)
                shown = ", ".join(map(repr, values)) if values is not None else "; ".join(
                    d.describe() for d in sp.param_values.get(b.vp, ()))
                out.append(f"\n  {b.key} = {b.vp}: {shown}")
            if sp.objectives:
                out.append("\n  objective " + ", ".join(f"{o.direction} {o.label}" for o in sp.objectives))
            if sp.pruner:
                out.append(f"\n  pruner {sp.pruner}")
            self._append_diagnostics(out, near.get(sp.name, []))
        for t in exp.tasks.values():
            out.append(f"\n{t.kind} {t.name}" + (f": {t.prompt}" if t.prompt else ""))
        return out

    def _paint_diagnostics(self) -> None:
        box = self.query_one("#design-diags", Static)
        diags = self.result.diagnostics if self.result else []
        if not diags:
            box.update(Text("✓ valid", style="green"))
            return
        out = Text()
        for d in diags:
            style = "red" if d.is_error else "yellow"
            out.append(f"{d.pos.line}:{d.pos.col} {d.severity.value}: {d.message}\n", style=style)
        box.update(out)

    def _fill_library(self, query: str) -> None:
        q = query.strip().lower()
        found = [i for i in self.items if i.matches(query)]
        # names that match first (exact, then containing), then items whose docs mention it
        self.shown_items = sorted(found, key=lambda i: (i.name.lower() != q, q not in i.name.lower()))
        lib = self.query_one("#library", OptionList)
        lib.clear_options()
        lib.add_options([Option(i.label) for i in self.shown_items])
        if self.shown_items:
            lib.highlighted = 0
        self._show_details(self.shown_items[0] if self.shown_items else None)

    def _show_details(self, item: LibraryItem | None) -> None:
        details = self.query_one("#lib-details", Static)
        if item is None:
            empty = "no library tasks found (t: create one)" if not self.items else "no match"
            details.update(Text(empty, style="dim"))
            return
        details.update("\n".join(line for line in describe(item) if line))

    def highlighted_item(self) -> LibraryItem | None:
        lib = self.query_one("#library", OptionList)
        if lib.highlighted is None or lib.highlighted >= len(self.shown_items):
            return None
        return self.shown_items[lib.highlighted]

    # ------------------------------------------------------------------ events

    @on(Input.Changed, "#lib-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill_library(event.value)

    @on(Input.Submitted, "#lib-search")
    def _search_done(self) -> None:
        self.query_one("#library").focus()

    @on(OptionList.OptionHighlighted, "#library")
    def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        if 0 <= event.option_index < len(self.shown_items):
            self._show_details(self.shown_items[event.option_index])

    @on(OptionList.OptionSelected, "#library")
    def _chosen(self) -> None:
        self.action_prefill("add")

    @on(Input.Changed, "#design-cmd")
    def _typing(self, event: Input.Changed) -> None:
        self.query_one("#design-hint", Static).update(self.hint_for(event.value))

    @on(Input.Submitted, "#design-cmd")
    def _submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line:
            self.action_back()
            return
        ok = self.execute(line)
        if ok:
            event.input.value = ""
            self.query_one("#canvas-scroll").focus()
        self.refresh_all()

    def on_key(self, event) -> None:
        if self.focused is self.query_one("#canvas-scroll") and event.key in ("up", "down"):
            tasks = self._canvas_tasks()
            if tasks:
                self.cursor = (self.cursor + (1 if event.key == "down" else -1)) % len(tasks)
                self._paint_canvas()
            event.stop()

    # ------------------------------------------------------------------ actions

    def action_command(self, prefill: str = "") -> None:
        cmd = self.query_one("#design-cmd", Input)
        cmd.value = prefill
        cmd.cursor_position = len(prefill)
        cmd.focus()
        self.query_one("#design-hint", Static).update(self.hint_for(prefill))

    def action_search(self) -> None:
        self.query_one("#lib-search", Input).focus()

    def action_back(self) -> None:
        self.query_one("#design-cmd", Input).value = ""
        self.query_one("#canvas-scroll").focus()

    def action_prefill(self, verb: str) -> None:
        task = self.selected_task() or ""
        wf = self.focus_item.name if self.focus_item and self.focus_item.kind == "workflow" else ""
        item = self.highlighted_item()
        text = {
            "add": f"add {item.name} {item.ref}" if item and item.kind == "task" else "add ",
            "remove": f"remove {task}", "rename": f"rename {task} ", "bind": f"bind {task} ",
            "set": f"set {task}.", "link": f"link {task}.", "space": f"space  of {self._space_workflow()}",
            "values": "values ", "objective": "objective maximize ", "pruner": "pruner median",
            "control": "control ", "variant": "variant ",
        }.get(verb, f"{verb} ")
        if verb == "add" and item and item.kind == "workflow" and wf:
            text = f"add {item.name}"
        self.action_command(text)
        if verb == "space":
            self.query_one("#design-cmd", Input).cursor_position = len("space ")

    def _space_workflow(self) -> str:
        try:
            names = SpecEditor(self.text).names("workflow")
        except EditError:
            return ""
        return names[-1] if names else ""

    def action_cycle(self, step: int) -> None:
        docs = self._documents()
        if not docs:
            return
        i = docs.index(self.focus_item) if self.focus_item in docs else -1
        self.focus_item = docs[(i + step) % len(docs)]
        self.cursor = 0
        if self.focus_item.kind == "experiment":
            spaces = SpecEditor(self.text).spaces(self.focus_item.name)
            self.space = spaces[0] if spaces else None
        self.refresh_all()

    def action_toggle_group(self) -> None:
        task = self.selected_task()
        if not task or "/" not in task:
            self.message = "the selected task is not part of a sub-workflow"
        else:
            group = task.split("/")[0]
            self.expanded ^= {group}
            self.message = f"sub-workflow {group} " + ("opened" if group in self.expanded else "closed")
        self.refresh_all()

    def action_move(self, delta: int) -> None:
        task = self.selected_task()
        if task is None or self.focus_item is None:
            return
        if self.execute(f"{'up' if delta < 0 else 'down'} {task}"):
            tasks = self._canvas_tasks()
            self.cursor = tasks.index(task) if task in tasks else self.cursor
        self.refresh_all()

    def action_save(self) -> None:
        self.save()
        self.refresh_all()

    def save(self) -> bool:
        try:
            atomic_write(self.path, self.text)
        except OSError as exc:
            self.message = f"cannot save {self.path}: {exc.strerror}"
            return False
        self.saved_text = self.text
        self.message = f"saved {self.path}"
        return True

    def action_run(self) -> None:
        errors = [d for d in (self.result.diagnostics if self.result else []) if d.is_error]
        if errors:
            self.message = f"cannot run: {len(errors)} error(s); the first: {errors[0].message}"
        elif not (self.result and self.result.project and self.result.project.experiments):
            self.message = "nothing to run: add an experiment (e) with a space (s)"
        elif self.save():
            f = self.focus_item
            self.dismiss(("run", self.path, f.name if f and f.kind == "experiment" else None))
            return
        self.refresh_all()

    def action_quit(self) -> None:
        if self.modified and not self._quit_armed:
            self._quit_armed = True
            self.message = "unsaved changes: ctrl+s saves; q again quits without saving"
            self.refresh_all()
            return
        self.dismiss(None)

    # ------------------------------------------------------------------ commands

    def completions(self, before: list[str], word: str) -> list[str]:
        """What may come next on the command line, given the words before the one being typed."""
        from xxp_tui.lang.model import PRUNERS, STRATEGIES

        if not before:
            return list(USAGE)
        verb, n = before[0], len(before)
        wf_name = self.focus_item.name if self.focus_item and self.focus_item.kind == "workflow" else None
        project = self.result.project if self.result is not None else None
        if self.focus_item and self.focus_item.kind == "experiment" and self.space and project:
            exp = project.experiments.get(self.focus_item.name)
            wf_name = exp.spaces[self.space].workflow if exp and self.space in exp.spaces else None
        wf = self.workflow_model(wf_name) if wf_name else None
        tasks = list(wf.tasks) if wf else []
        if verb == "link" and wf is not None and n in (1, 2):
            direction = "outputs" if n == 1 else "inputs"
            return [f"{t.name}.{p}" for t in wf.tasks.values() if t.signature
                    for p in getattr(t.signature, direction)]
        if verb in ("remove", "rename", "bind", "up", "down") and n == 1:
            return tasks
        if verb in ("set", "values") and n == 1 and wf is not None:
            return list(wf.declared_params())
        if verb == "bind" and n == 2:
            return [i.ref for i in self.items if i.kind == "task"]
        if verb == "strategy" and n == 1:
            return list(STRATEGIES)
        if verb == "pruner" and n == 1:
            return list(PRUNERS)
        if verb == "objective":
            return ["maximize", "minimize"] if n == 1 else [
                f"{t}.{m}" for m, ts in (wf.declared_metrics() if wf else {}).items() for t in ts]
        if verb in ("space", "workflow") and n == 2:
            return ["of"] if verb == "space" else ["from"]
        if verb in ("space", "workflow") and n == 3:
            return [d.name for d in self._documents() if d.kind == "workflow"]
        if verb == "select" and n == 1:
            return [d.name for d in self._documents()]
        return []

    def hint_for(self, line: str) -> Text:
        words = line.split()
        if not words:
            return Text("commands: " + ", ".join(USAGE), style="dim")
        verb = words[0]
        if verb not in USAGE:
            close = [v for v in USAGE if v.startswith(verb)]
            return Text(" | ".join(USAGE[v] for v in close[:2]) if close else f"unknown command {verb!r}",
                        style="dim" if close else "red")
        if verb in ("values", "set") and len(words) >= 3:
            return self._check_values(verb, words[1], line.split(None, 2)[2])
        return Text(USAGE[verb], style="dim")

    def _check_values(self, verb: str, target: str, raw: str) -> Text:
        """As you type: the value list parses, and fits the param's declared type and range."""
        from xxp_tui.lang.domains import EnumDomain, domain_values

        try:
            domain = parse_domain(raw) if verb == "values" else EnumDomain((parse_domain(raw).values[0],))
        except (EditError, AttributeError, IndexError) as exc:
            return Text(str(exc) if isinstance(exc, EditError) else "give one value", style="red")
        spec = self._declared(target)
        problems = check_domain(domain, spec)
        if problems:
            return Text("; ".join(problems), style="red")
        values = domain_values([domain])
        count = f"{len(values)} value(s)" if values is not None else "a continuous range"
        declared = f" (declared {spec.type or 'untyped'}{', ' + spec.domain.describe() if spec.domain else ''})" \
            if spec else " (param not declared by the task)"
        return Text(f"ok: {count}{declared}", style="green")

    def _declared(self, target: str):
        if "." not in target:
            return None
        task, param = target.split(".", 1)
        wf_name = None
        if self.focus_item and self.focus_item.kind == "workflow":
            wf_name = self.focus_item.name
        elif self.focus_item and self.space and self.result and self.result.project:
            exp = self.result.project.experiments.get(self.focus_item.name)
            sp = exp.spaces.get(self.space) if exp else None
            wf_name = sp.workflow if sp else None
        wf = self.workflow_model(wf_name) if wf_name else None
        return wf.declared_params().get(f"{task}.{param}") if wf else None

    def execute(self, line: str) -> bool:
        """Run one command; the message line says what happened. True when it was done."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.message = f"cannot read that line: {exc}"
            return False
        verb, args = words[0], words[1:]
        try:
            done = self._apply(verb, args)
        except EditError as exc:
            self.message = str(exc)
            return False
        except (IndexError, ValueError):
            self.message = USAGE.get(verb, f"unknown command {verb!r}")
            return False
        self._quit_armed = False
        if done is not None:
            self.message = done
        return True

    def _need(self, kind: str) -> str:
        if self.focus_item is None or self.focus_item.kind != kind:
            raise EditError(f"select a {kind} first ([ and ] go through them; w or e creates one).")
        return self.focus_item.name

    def _edit(self, new_text: str, focus: Focus | None = None) -> None:
        self.text = new_text
        self.revalidate()
        if focus is not None:
            self.focus_item = focus

    def _apply(self, verb: str, args: list[str]) -> str | None:  # one branch per command
        ed = SpecEditor(self.text)
        if verb == "workflow":
            name = args[0]
            base = args[2] if len(args) >= 3 and args[1] == "from" else None
            self._edit(ed.new_workflow(name, base), Focus("workflow", name))
            return f"workflow {name} created" + (f" as a variant of {base}" if base else "")
        if verb == "variant":
            base = self._need("workflow")
            self._edit(ed.new_workflow(args[0], base), Focus("workflow", args[0]))
            return f"workflow {args[0]} created as a variant of {base}"
        if verb == "experiment":
            self._edit(ed.new_experiment(args[0]), Focus("experiment", args[0]))
            self.space = None
            return f"experiment {args[0]} created"
        if verb == "select":
            return self._select(ed, args[0])
        if verb == "add":
            wf = self._need("workflow")
            self._edit(ed.add_task(wf, args[0], args[1] if len(args) > 1 else None))
            self.cursor = self._canvas_tasks().index(args[0]) if args[0] in self._canvas_tasks() else self.cursor
            return f"task {args[0]} added to {wf}"
        if verb == "remove":
            self._edit(ed.remove_task(self._need("workflow"), args[0]))
            return f"task {args[0]} removed"
        if verb == "rename":
            self._edit(ed.rename_task(self._need("workflow"), args[0], args[1]))
            return f"task {args[0]} is now {args[1]}"
        if verb in ("up", "down"):
            self._edit(ed.move_task(self._need("workflow"), args[0], -1 if verb == "up" else 1))
            return None
        if verb == "link":
            wf = self._need("workflow")
            self._edit(ed.link(wf, args[0], args[1], self.workflow_model(wf)))
            return f"{args[0]} --> {args[1]}"
        if verb == "bind":
            self._edit(ed.bind(self._need("workflow"), args[0], args[1]))
            return f"{args[0]} runs {args[1]}"
        if verb == "set":
            task, param = args[0].split(".", 1)
            self._edit(ed.set_param(self._need("workflow"), task, param, " ".join(args[1:])))
            return f"{args[0]} = {' '.join(args[1:])}"
        if verb == "space":
            exp = self._need("experiment")
            if len(args) != 3 or args[1] != "of":
                raise ValueError
            self._edit(ed.add_space(exp, args[0], args[2]))
            self.space = args[0]
            return f"space {args[0]} of {args[2]} added"
        if verb in ("values", "strategy", "budget", "objective", "pruner"):
            return self._space_command(ed, verb, args)
        if verb == "control":
            return self._control(ed, args)
        if verb == "interaction":
            exp = self._need("experiment")
            self._edit(ed.add_interaction(exp, args[0], " ".join(args[1:]) or "Continue?"))
            return f"interaction {args[0]} added"
        if verb == "newtask":
            return self._new_task(args[0])
        if verb == "newproject":
            return self._new_project(args[0])
        if verb == "save":
            self.save()
            return None
        if verb == "run":
            self.action_run()
            return None
        raise EditError(f"unknown command {verb!r}; the commands: {', '.join(USAGE)}.")

    def _select(self, ed: SpecEditor, name: str) -> str:
        exp_name, _, space = name.partition(".")
        if space:
            if space not in ed.spaces(exp_name):
                raise EditError(f"experiment {exp_name} has no space {space}.")
            self.focus_item, self.space = Focus("experiment", exp_name), space
            return f"space {space} selected"
        if name in ed.names("workflow"):
            self.focus_item, self.cursor = Focus("workflow", name), 0
        elif name in ed.names("experiment"):
            self.focus_item = Focus("experiment", name)
            spaces = ed.spaces(name)
            self.space = spaces[0] if spaces else None
        else:
            raise EditError(f"no workflow or experiment {name} in this file.")
        return f"{self.focus_item.kind} {name} selected"

    def _space_command(self, ed: SpecEditor, verb: str, args: list[str]) -> str:
        exp = self._need("experiment")
        if self.space is None:
            raise EditError("add a space first (s).")
        if verb == "values":
            task, param = args[0].split(".", 1)
            raw = " ".join(args[1:])
            problems = check_domain(parse_domain(raw), self._declared(args[0]))
            if any("is not" in p for p in problems):
                raise EditError("; ".join(problems))
            self._edit(ed.space_values(exp, self.space, task, param, raw))
            return f"{args[0]} searched over {raw}"
        if verb == "strategy":
            stmt, keyword = f"strategy {args[0]};", "strategy"
        elif verb == "budget":
            stmt, keyword = f"runs = {int(args[0])};", "runs"
        elif verb == "objective":
            stmt, keyword = f"objective {args[0]} {args[1]};", "objective"
        else:
            watch = f" on {args[2]}" if len(args) >= 3 and args[1] == "on" else ""
            stmt, keyword = f"pruner {args[0]}{watch};", "pruner"
        self._edit(ed.space_setting(exp, self.space, keyword, stmt))
        return f"space {self.space}: {stmt}"

    def _control(self, ed: SpecEditor, args: list[str]) -> str:
        exp = self._need("experiment")
        if len(args) < 3 or args[1] != "->":
            raise ValueError
        src, dst, rest = args[0], args[2], args[3:]
        condition, otherwise = None, False
        if rest[:1] == ["if"] and len(rest) >= 2:
            condition = " ".join(rest[1:])
        elif rest == ["else"]:
            otherwise = True
        elif rest:
            raise ValueError
        self._edit(ed.add_control(exp, src, dst, condition, otherwise))
        return f"control {src} -> {dst}" + (f" if {condition}" if condition else " else" if otherwise else "")

    def _new_project(self, folder: str) -> str:
        """Create a project and continue designing its experiment (this file must be saved first)."""
        from xxp_tui.scaffold import ScaffoldError, new_project

        if self.modified and self.text.strip():
            raise EditError("save this file first (ctrl+s): newproject opens the new project's experiment.")
        target = Path(folder).expanduser()
        if not target.is_absolute():
            target = self.path.resolve().parent / target
        try:
            spec = new_project(target)
        except (ScaffoldError, OSError) as exc:
            raise EditError(str(exc)) from None
        self.path = spec
        self.text = self.saved_text = spec.read_text(encoding="utf-8")
        self.items = library_items(spec)
        self._fill_library("")
        self.revalidate()
        docs = self._documents()
        self.focus_item, self.cursor, self.space = (docs[0] if docs else None), 0, None
        return f"created the project {target}; designing {spec.name}"

    def _new_task(self, name: str) -> str:
        from xxp_tui.lang.library import ConfigError, libraries_for
        from xxp_tui.scaffold import ScaffoldError, new_task

        try:
            libs = libraries_for(self.path)
        except ConfigError as exc:
            raise EditError(str(exc)) from None
        lib = libs.task_dirs[0] if libs.task_dirs else self.path.resolve().parent / "tasks"
        try:
            folder = new_task(name, lib)
        except (ScaffoldError, OSError) as exc:
            raise EditError(str(exc)) from None
        self.items = library_items(self.path)
        self._fill_library(self.query_one("#lib-search", Input).value)
        return f"created {folder / 'task.xxp'}; a adds it"
