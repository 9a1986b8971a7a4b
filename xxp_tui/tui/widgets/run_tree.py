"""The experiment tree: control nodes with their state, spaces with progress, workflow task DAGs
(drawn as boxes and arrows, the drawing of `xxp-tui graph` and the designer).

Built once from the spec's model; afterwards only labels change (`set_label` repaints one line),
as research/textual.md §2.7 advises.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from xxp_tui.kb.runs import NodeState
from xxp_tui.lang.drawing import draw, workflow_graph
from xxp_tui.lang.model import END, START, Experiment, Project
from xxp_tui.tui.terminal import glyphs

NODE_STYLES = {"pending": "dim", "running": "yellow", "done": "green", "skipped": "bright_black", "failed": "red",
               "waiting": "cyan", "stopped": "bright_black", "paused": "yellow"}


def control_order(exp: Experiment) -> list[str]:
    """Nodes in the order the control flow reaches them (breadth first), then the unused ones."""
    order: list[str] = []
    frontier = [e.dst for e in exp.edges if e.src == START] or exp.start_nodes()
    while frontier:
        nxt: list[str] = []
        for n in frontier:
            if n in (START, END) or n in order:
                continue
            order.append(n)
            nxt.extend(e.dst for e in exp.edges if e.src == n)
        frontier = nxt
    return order + [n for n in exp.nodes if n not in order]


class RunTree(Tree[str]):
    """Focused (`t`), the tree widens to its longest line (up to most of the screen) and takes the
    table's keys: j/k move, Enter opens or closes a node; Esc goes back to the table."""

    DEFAULT_CSS = """
    RunTree { background: $surface; padding: 0 1 0 0; }
    """
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="xxp.tree.down"),
        Binding("k", "cursor_up", "Up", show=False, id="xxp.tree.up"),
        Binding("enter", "toggle_node", "Open/close", show=False, id="xxp.tree.toggle"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("experiment", id=id)
        self.show_root = True
        self.auto_expand = False
        self.node_items: dict[str, TreeNode[str]] = {}
        self.exp: Experiment | None = None
        self.project: Project | None = None
        self.spec_version = 1  # the run's spec version the tree shows (amendments add versions)
        self._progress: dict[str, str] = {}
        self.glyphs = glyphs()
        if self.glyphs.tree_lines is not None:  # ASCII guides and arrows where box glyphs cannot be drawn
            self.LINES = dict.fromkeys(Tree.LINES, self.glyphs.tree_lines)
            self.ICON_NODE, self.ICON_NODE_EXPANDED = self.glyphs.tree_closed, self.glyphs.tree_open

    def on_focus(self) -> None:
        self.call_after_refresh(self.fit_width)

    def on_blur(self) -> None:
        self.styles.width = None  # back to the stylesheet's width

    def on_tree_node_expanded(self) -> None:
        self.call_after_refresh(self.fit_width)

    def on_tree_node_collapsed(self) -> None:
        self.call_after_refresh(self.fit_width)

    def fit_width(self) -> None:
        """While focused: as wide as the longest shown line (whole labels such as "ForestGrid 4/4"),
        at most three quarters of the screen."""
        if not self.has_focus:
            return
        widest = 0
        stack = [(self.root, 0)]
        while stack:
            node, depth = stack.pop()
            label = node.label.plain if isinstance(node.label, Text) else str(node.label)
            widest = max(widest, depth * 4 + len(label) + 4)
            if node.is_expanded:
                stack.extend((child, depth + 1) for child in node.children)
        limit = max(20, self.screen.size.width * 3 // 4)
        self.styles.width = min(limit, max(widest + 2, self.outer_size.width))

    def build(self, project: Project | None, experiment: str, states: dict[str, NodeState]) -> None:
        self.clear()
        self.node_items.clear()
        self.project = project
        self.exp = project.experiments.get(experiment) if project else None
        label = Text.assemble(("experiment ", "dim"), (experiment, "bold"))
        if self.spec_version > 1:
            label.append(f"  spec s{self.spec_version}", style="cyan")  # amended while it runs
        self.root.set_label(label)
        names = control_order(self.exp) if self.exp else list(states)
        for name in names:
            item = self.root.add(name, data=name, expand=False)
            self.node_items[name] = item
            self._add_details(item, name)
        self.root.expand()
        self.update_states(states, {})

    def _add_details(self, item: TreeNode[str], name: str) -> None:
        exp, project = self.exp, self.project
        if exp is None or project is None:
            return
        if name in exp.spaces:
            space = exp.spaces[name]
            budget = f", runs {space.runs}" if space.runs else ""
            item.add_leaf(Text(f"{space.strategy}{budget}", style="dim"))
            for b in space.bindings:
                target = b.vp or repr(b.value)
                item.add_leaf(Text(f"{b.key} = {target}", style="dim"))
            wf = project.workflows.get(space.workflow)
            if wf is not None:
                flow = item.add(Text.assemble(("workflow ", "dim"), wf.name), data=None, expand=False)
                # The task DAG drawn as `xxp-tui graph` and the designer draw it, then what each task runs.
                nodes, edges = workflow_graph(wf)
                for line in draw(nodes, edges).lines:
                    flow.add_leaf(Text(line, no_wrap=True))
                for task in wf.order:
                    impl = wf.tasks[task].implementation or "(abstract)"
                    flow.add_leaf(Text.assemble(task, (f"  {impl}", "dim")))
        elif name in exp.tasks:
            t = exp.tasks[name]
            item.add_leaf(Text(t.kind + (f": {t.prompt}" if t.prompt else ""), style="dim"))
        outgoing = [e for e in exp.edges if e.src == name]
        for e in outgoing:
            cond = f" if {e.label}" if e.label else ""
            item.add_leaf(Text(f"{'->' if self.glyphs.tree_lines else '→'} {e.dst}{cond}", style="dim italic"))

    def update_states(self, states: dict[str, NodeState], progress: dict[str, str], run_status: str = "",
                      paused: bool = False) -> None:
        """Icons from the nodes' states; once the run is over (X stops it) nothing is shown running,
        and while it is paused a running node shows paused."""
        self._progress.update(progress)
        over = run_status in ("completed", "failed", "stopped")
        for name, item in self.node_items.items():
            state = states.get(name)
            status = state.status if state else "pending"
            if over and status in ("running", "waiting"):
                status = "stopped"
            elif over and status == "pending":
                status = "skipped"
            elif paused and status == "running":
                status = "paused"
            icon, style = self.glyphs.node_icons.get(status, "-"), NODE_STYLES.get(status, "")
            label = Text.assemble((icon + " ", style), (name, "bold" if status == "running" else ""))
            kind = state.kind if state else (self.exp.node_kind(name) if self.exp else "")
            if kind in ("task", "interaction"):
                label.append(" [task]" if kind == "task" else " [you]", style="dim")
            if state and state.iteration > 1:
                label.append(f" round {state.iteration}", style="dim")
            if name in self._progress:
                label.append(f" {self._progress[name]}", style="cyan")
            if item.label != label:
                item.set_label(label)
