"""Box-and-arrow drawings of a graph in text, top to bottom, for `xxp-tui graph`, the designer's
canvas and the run viewer's tree.

Layered drawing (the Sugiyama recipe, kept small): edges that close a cycle are set aside (listed by
the caller), every node goes to the layer after its deepest predecessor (longest path), an edge
that skips layers passes through the layers in between as a vertical line, and nodes in a layer are
ordered by the mean position of their predecessors so that lines cross less. Between two layers
each source gets its own horizontal track, so lines from different boxes never merge.

Pure: strings in, strings out; no networkx needed for graphs this small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LABEL = 22
GAP = 2

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
SOLID_CHARS = {
    UP | DOWN: "│", LEFT | RIGHT: "─", DOWN | RIGHT: "┌", DOWN | LEFT: "┐", UP | RIGHT: "└",
    UP | LEFT: "┘", UP | DOWN | RIGHT: "├", UP | DOWN | LEFT: "┤", LEFT | RIGHT | DOWN: "┬",
    LEFT | RIGHT | UP: "┴", UP | DOWN | LEFT | RIGHT: "┼", UP: "│", DOWN: "│", LEFT: "─", RIGHT: "─",
}
DASHED_CHARS = {UP | DOWN: "┆", UP: "┆", DOWN: "┆", LEFT | RIGHT: "┄", LEFT: "┄", RIGHT: "┄"}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    dashed: bool = False


@dataclass
class Drawing:
    lines: list[str]
    set_aside: list[Edge] = field(default_factory=list)  # edges that close a cycle, not drawn

    @property
    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)


def acyclic(nodes: list[str], edges: list[Edge]) -> tuple[list[Edge], list[Edge]]:
    """(edges kept, edges that close a cycle), by depth-first search in declaration order."""
    succ: dict[str, list[Edge]] = {n: [] for n in nodes}
    for e in edges:
        succ.setdefault(e.src, []).append(e)
        succ.setdefault(e.dst, [])
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[int] = set()
    for root in succ:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            step = next(it, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step.dst) == 1:
                back.add(id(step))
            elif step.dst not in state:
                state[step.dst] = 1
                stack.append((step.dst, iter(succ[step.dst])))
    return [e for e in edges if id(e) not in back], [e for e in edges if id(e) in back]


def layers(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """Longest-path layers of an acyclic graph, each ordered to reduce crossings."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        preds.setdefault(e.dst, []).append(e.src)
        preds.setdefault(e.src, [])
    depth: dict[str, int] = {}

    def deep(n: str) -> int:
        stack = [n]
        while stack:
            cur = stack[-1]
            pending = [p for p in preds[cur] if p not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[cur] = max((depth[p] + 1 for p in preds[cur]), default=0)
        return depth[n]

    for n in preds:
        deep(n)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in preds:  # declaration order within a layer to start with
        out[depth[n]].append(n)
    return out


def draw(nodes: list[str], edges: list[Edge], labels: dict[str, str] | None = None) -> Drawing:
    """The drawing of a graph; `labels` overrides the text shown in a node's box."""
    labels = labels or {}
    kept, aside = acyclic(nodes, edges)
    kept = [e for e in dict.fromkeys(kept) if e.src != e.dst]
    rows = layers(nodes, kept)
    if not rows:
        return Drawing([], aside)
    level = {n: i for i, row in enumerate(rows) for n in row}
    # Long edges pass through dummy nodes, one per layer skipped.
    chain_edges: list[Edge] = []
    dummies: set[str] = set()
    for e in kept:
        a, b = level[e.src], level[e.dst]
        prev = e.src
        for k in range(a + 1, b):
            d = f"\0{e.src}\0{e.dst}\0{k}"
            dummies.add(d)
            rows[k].append(d)
            chain_edges.append(Edge(prev, d, e.dashed))
            prev = d
        chain_edges.append(Edge(prev, e.dst, e.dashed))
    _order_by_barycentre(rows, chain_edges)

    def text(n: str) -> str:
        t = labels.get(n, n)
        return t if len(t) <= MAX_LABEL else t[: MAX_LABEL - 1] + "…"

    width = {n: 1 if n in dummies else len(text(n)) + 4 for row in rows for n in row}
    x = _place(rows, chain_edges, width)
    total = max(x[n] + width[n] for n in x)
    port = {n: x[n] + width[n] // 2 for n in x}
    out_edges: dict[str, list[Edge]] = {}
    for e in chain_edges:
        out_edges.setdefault(e.src, []).append(e)
    dashed_through = {n for n in dummies if all(e.dashed for e in chain_edges if e.src == n)}

    lines: list[str] = []
    for i, row in enumerate(rows):
        box = [[" "] * total for _ in range(3)]
        for n in row:
            if n in dummies:
                ch = "┆" if n in dashed_through else "│"
                for r in range(3):
                    box[r][port[n]] = ch
                continue
            label = text(n)
            w = width[n]
            top = "┌" + "─" * (w - 2) + "┐"
            mid = "│ " + label + " │"
            bottom = list("└" + "─" * (w - 2) + "┘")
            if out_edges.get(n):
                bottom[port[n] - x[n]] = "┬"
            for r, s in enumerate((top, mid, "".join(bottom))):
                box[r][x[n] : x[n] + w] = list(s)
        lines.extend("".join(r).rstrip() for r in box)
        if i + 1 < len(rows):
            lines.extend(_channel([e for n in row for e in out_edges.get(n, [])], port, dummies, total))
    return Drawing(lines, aside)


def _place(rows: list[list[str]], edges: list[Edge], width: dict[str, int]) -> dict[str, int]:
    """Columns: each node as near as it fits under the mean of its predecessors' ports, so that a
    chain is one straight line; then everything shifted so the leftmost box starts at column 0."""
    preds: dict[str, list[str]] = {}
    for e in edges:
        preds.setdefault(e.dst, []).append(e.src)
    x: dict[str, int] = {}
    for row in rows:
        end = None
        for n in row:
            ports = [x[p] + width[p] // 2 for p in preds.get(n, []) if p in x]
            want = round(sum(ports) / len(ports)) - width[n] // 2 if ports else (end if end is not None else 0)
            x[n] = want if end is None else max(want, end)
            end = x[n] + width[n] + GAP
    low = min(x.values())
    return {n: v - low for n, v in x.items()}


def collapse(nodes: list[str], edges: list[Edge], expanded: set[str]) -> tuple[list[str], list[Edge]]:
    """Tasks of a sub-workflow (`Prep/Split`, as the loader flattens them) drawn as one node `Prep/…`
    unless `Prep` is in `expanded`; edges inside a collapsed group disappear."""

    def group(n: str) -> str:
        head, sep, _ = n.partition("/")
        return f"{head}/…" if sep and head not in expanded else n

    out_nodes = list(dict.fromkeys(group(n) for n in nodes))
    merged: dict[tuple[str, str], bool] = {}
    for e in edges:
        a, b = group(e.src), group(e.dst)
        if a != b:
            merged[(a, b)] = merged.get((a, b), True) and e.dashed
    return out_nodes, [Edge(a, b, dashed) for (a, b), dashed in merged.items()]


def _order_by_barycentre(rows: list[list[str]], edges: list[Edge]) -> None:
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for e in edges:
        preds.setdefault(e.dst, []).append(e.src)
        succs.setdefault(e.src, []).append(e.dst)
    for sweep in range(4):
        down = sweep % 2 == 0
        indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for i in indices:
            ref = rows[i - 1] if down else rows[i + 1]
            pos = {n: k for k, n in enumerate(ref)}
            near = preds if down else succs

            def key(item: tuple[int, str], pos=pos, near=near) -> float:
                k, n = item
                linked = [pos[m] for m in near.get(n, []) if m in pos]
                return sum(linked) / len(linked) if linked else float(k)

            rows[i] = [n for _, n in sorted(enumerate(rows[i]), key=key)]


def _channel(edges: list[Edge], port: dict[str, int], dummies: set[str], total: int) -> list[str]:
    """The rows between two layers: a track per source that needs to go sideways, then arrows."""
    by_source: dict[str, list[Edge]] = {}
    for e in edges:
        by_source.setdefault(e.src, []).append(e)
    sideways = sorted((s for s, es in by_source.items() if any(port[e.dst] != port[s] for e in es)),
                      key=lambda s: port[s])
    track = {s: t for t, s in enumerate(sideways)}
    height = len(sideways) + 1
    mask: dict[tuple[int, int], int] = {}
    solid: set[tuple[int, int]] = set()

    def link(a: tuple[int, int], b: tuple[int, int], dashed: bool) -> None:
        (r1, c1), (r2, c2) = a, b
        if r1 == r2:
            step = 1 if c2 > c1 else -1
            for c in range(c1, c2, step):
                add((r1, c), RIGHT if step > 0 else LEFT, dashed)
                add((r1, c + step), LEFT if step > 0 else RIGHT, dashed)
        else:
            for r in range(r1, r2):
                add((r, c1), DOWN, dashed)
                add((r + 1, c1), UP, dashed)

    def add(cell: tuple[int, int], bit: int, dashed: bool) -> None:
        mask[cell] = mask.get(cell, 0) | bit
        if not dashed:
            solid.add(cell)

    arrows: dict[int, str] = {}
    for s, es in by_source.items():
        sx = port[s]
        t = track.get(s, height - 1)
        add((0, sx), UP, all(e.dashed for e in es))
        link((0, sx), (t, sx), all(e.dashed for e in es))
        for e in es:
            tx = port[e.dst]
            link((t, sx), (t, tx), e.dashed)
            link((t, tx), (height - 1, tx), e.dashed)
            if e.dst in dummies:
                add((height - 1, tx), DOWN, e.dashed)
            else:
                arrows[tx] = "▼"
    grid = [[" "] * total for _ in range(height)]
    for (r, c), m in mask.items():
        chars = SOLID_CHARS if (r, c) in solid else {**SOLID_CHARS, **DASHED_CHARS}
        grid[r][c] = chars.get(m, "┼")
    for c, ch in arrows.items():
        grid[height - 1][c] = ch
    return ["".join(r).rstrip() for r in grid]


# ----------------------------------------------------------------------------- the spec's graphs


def workflow_graph(workflow) -> tuple[list[str], list[Edge]]:
    """Nodes and edges of a workflow's task DAG; an edge along which no data flows is dashed."""
    data_pairs = {(link.src.task, link.dst.task) for link in workflow.links}
    edges = [Edge(a, b, dashed=(a, b) not in data_pairs) for a, b in workflow.edges]
    return list(workflow.tasks), edges


def workflow_lines(workflow, expanded: set[str] | None = None) -> list[str]:
    """A workflow's DAG drawn, with its data links listed underneath; with `expanded`, the
    sub-workflows not named in it are drawn collapsed."""
    nodes, edges = workflow_graph(workflow)
    if expanded is not None:
        nodes, edges = collapse(nodes, edges, expanded)
    drawing = draw(nodes, edges)
    lines = list(drawing.lines) or ["(no tasks)"]
    for e in drawing.set_aside:
        lines.append(f"cycle: {e.src} -> {e.dst} (not drawn)")
    if workflow.links:
        lines.append("data:")
        lines.extend(f"  {link.src} ─▶ {link.dst}" for link in workflow.links)
    if any(e.dashed for e in edges):
        lines.append("┄ order only, no data passed")
    return lines


def control_graph(experiment) -> tuple[list[str], list[Edge], dict[tuple[str, str], str]]:
    """Nodes (START, spaces and tasks, END), edges (conditional ones dashed) and edge labels."""
    from xxp_tui.lang.model import END, START

    used = {e.src for e in experiment.edges} | {e.dst for e in experiment.edges}
    nodes = [n for n in (START, *experiment.nodes, END) if n in used or n in experiment.nodes]
    edges = [Edge(e.src, e.dst, dashed=e.label is not None) for e in experiment.edges]
    labels = {(e.src, e.dst): e.label for e in experiment.edges if e.label}
    return nodes, edges, labels


def experiment_lines(experiment) -> list[str]:
    nodes, edges, labels = control_graph(experiment)
    drawing = draw(nodes, edges)
    lines = list(drawing.lines) or ["(no control flow)"]
    conditional = [e for e in edges if e.dashed and e not in drawing.set_aside]
    if conditional:
        lines.append("conditions (┄):")
        lines.extend(f"  {e.src} ─▶ {e.dst}  {_when(labels[(e.src, e.dst)])}" for e in conditional)
    for e in drawing.set_aside:
        label = labels.get((e.src, e.dst))
        lines.append(f"loop: {e.src} ─▶ {e.dst}" + (f"  {_when(label)}" if label else ""))
    return lines


def _when(label: str) -> str:
    return "otherwise" if label == "else" else f"if {label}"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(title: str, nodes: list[str], edges: list[Edge], labels: dict[tuple[str, str], str] | None = None) -> str:
    labels = labels or {}
    out = [f"digraph {_quote(title)} {{", "  rankdir=TB;", "  node [shape=box];"]
    out.extend(f"  {_quote(n)};" for n in nodes)
    for e in edges:
        attrs = []
        if e.dashed:
            attrs.append("style=dashed")
        if (e.src, e.dst) in labels:
            attrs.append(f"label={_quote(labels[(e.src, e.dst)])}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {_quote(e.src)} -> {_quote(e.dst)}{suffix};")
    out.append("}")
    return "\n".join(out)


def _mermaid_id(name: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in name)
    return f"n_{safe}"


def to_mermaid(nodes: list[str], edges: list[Edge], labels: dict[tuple[str, str], str] | None = None) -> str:
    labels = labels or {}
    out = ["flowchart TD"]
    out.extend(f'  {_mermaid_id(n)}["{n}"]' for n in nodes)
    for e in edges:
        label = labels.get((e.src, e.dst))
        text = f'|"{label.replace(chr(34), "#quot;")}"|' if label else ""
        arrow = "-.->" if e.dashed else "-->"
        out.append(f"  {_mermaid_id(e.src)} {arrow}{text} {_mermaid_id(e.dst)}")
    return "\n".join(out)
