"""Flattening: a raw workflow whose tasks may be sub-workflows -> one DAG of plain tasks.

A sub-workflow task `P` is replaced by P's own tasks, named `P/Task`; edges into `P` go to its
start tasks and edges out of it leave from its end tasks; a link to `P`'s input data reaches the
tasks inside that read it. The step is pure: reading files and resolving implementations are the
caller's (`FlattenHost`), so these rules can be read, and tested, on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.lang.graph import format_cycle
from xxp_tui.lang.model import END, START, DataLink, DataSpec, Endpoint, Task, frozen_map
from xxp_tui.lang.variants import RawTask, RawWorkflow


@dataclass
class Flat:
    """A flattened workflow (or sub-workflow, with its tasks' names prefixed)."""

    tasks: dict[str, Task]
    edges: list[tuple[str, str]]
    links: list[DataLink]
    data: dict[str, DataSpec]
    starts: list[str]
    ends: list[str]
    edge_pos: dict[tuple[str, str], Pos] = field(default_factory=dict)  # where each edge was written


class FlattenHost(Protocol):
    """What flattening needs from the loader: the I/O-bound lookups."""

    diags: Diagnostics

    def written_in(self, node: object, raw: RawWorkflow) -> str: ...

    def subworkflow(self, ref: syntax.Text, near: Path) -> RawWorkflow | None: ...

    def task(self, raw_task: RawTask, prefix: str) -> Task: ...


@dataclass
class _Parts:
    """A flattening in progress: what one workflow level has gathered so far."""

    raw: RawWorkflow
    prefix: str
    tasks: dict[str, Task] = field(default_factory=dict)
    subs: dict[str, Flat] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    edge_pos: dict[tuple[str, str], Pos] = field(default_factory=dict)
    links: list[DataLink] = field(default_factory=list)
    data: dict[str, DataSpec] = field(default_factory=dict)
    starts: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)

    def entries(self, name: str) -> list[str]:
        """The tasks an edge into task `name` reaches (a sub-workflow's start tasks)."""
        return self.subs[name].starts if name in self.subs else [self.prefix + name]

    def exits(self, name: str) -> list[str]:
        """The tasks an edge out of task `name` leaves from (a sub-workflow's end tasks)."""
        return self.subs[name].ends if name in self.subs else [self.prefix + name]

    def add_edge(self, edge: tuple[str, str], pos: Pos) -> None:
        self.edges.append(edge)
        self.edge_pos.setdefault(edge, pos)


class Flattener:
    """Flattens raw workflows, reporting sub-workflows that include each other."""

    def __init__(self, host: FlattenHost) -> None:
        self.host = host
        self.diags = host.diags
        self._flattening: list[str] = []

    def flatten(self, raw: RawWorkflow, prefix: str) -> Flat | None:
        if raw.name in self._flattening:
            cycle = self._flattening[self._flattening.index(raw.name) :]
            self.diags.error(raw.pos, f"sub-workflows include each other: {format_cycle(cycle)}")
            return None
        self._flattening.append(raw.name)
        try:
            return self._flatten_level(raw, prefix)
        finally:
            self._flattening.pop()

    def _flatten_level(self, raw: RawWorkflow, prefix: str) -> Flat:
        parts = _Parts(raw, prefix)
        self._tasks(parts)
        for sub in parts.subs.values():
            parts.edges.extend(sub.edges)
            parts.edge_pos.update(sub.edge_pos)
        for a, b in raw.chain_edges:
            self._chain_edge(parts, a, b)
        self._data(parts)
        self._inner_links(parts)
        for link in raw.links:
            self._outer_link(parts, link)
        self._unconnected_sub_data(parts)
        return _finish(parts)

    def _tasks(self, parts: _Parts) -> None:
        """Plain tasks as they are; a sub-workflow task replaced by its flattened tasks."""
        raw, prefix = parts.raw, parts.prefix
        for t in raw.tasks.values():
            if t.subworkflow is not None:
                sub_raw = self.host.subworkflow(t.subworkflow, t.origin_dir or raw.file_dir)
                sub = self.flatten(sub_raw, prefix + t.name + "/") if sub_raw else None
                if sub is not None:
                    parts.subs[t.name] = sub
                    parts.tasks.update(sub.tasks)
                    continue
            parts.tasks[prefix + t.name] = self.host.task(t, prefix)

    def _chain_edge(self, parts: _Parts, a: syntax.Name, b: syntax.Name) -> None:
        """One `a -> b` step of a chain: an edge, or a start/end marker for START and END."""
        if not self._known_chain_nodes(parts.raw, a, b):
            return
        if a.text == END or b.text == START:
            bad = a if a.text == END else b
            self.diags.error(bad.pos, f"{bad.text} cannot be used there: the flow goes START -> … -> END")
            return
        if a.text == START:
            parts.starts.extend(parts.entries(b.text) if b.text != END else [])
            return
        if b.text == END:
            parts.ends.extend(parts.exits(a.text))
            return
        for edge in ((x, y) for x in parts.exits(a.text) for y in parts.entries(b.text)):
            parts.add_edge(edge, b.pos)

    def _known_chain_nodes(self, raw: RawWorkflow, a: syntax.Name, b: syntax.Name) -> bool:
        ok = True
        for n in (a, b):
            if n.text not in raw.tasks and n.text not in (START, END):
                self.diags.error(
                    n.pos,
                    f"unknown task {n.text} in workflow {self.host.written_in(n, raw)}"
                    f"{did_you_mean(n.text, set(raw.tasks))}",
                )
                ok = False
        return ok

    @staticmethod
    def _data(parts: _Parts) -> None:
        raw, prefix = parts.raw, parts.prefix
        for d in raw.data.values():
            parts.data[prefix + d.name.text] = DataSpec(
                prefix + d.name.text, d.direction, frozen_map(raw.data_props.get(d.name.text, {})), d.name.pos
            )

    @staticmethod
    def _inner_links(parts: _Parts) -> None:
        """Links between tasks inside a sub-workflow stay; links to its data are joined below."""
        for sub in parts.subs.values():
            parts.links.extend(link for link in sub.links if link.src.task is not None and link.dst.task is not None)

    def _outer_link(self, parts: _Parts, link: syntax.DataLink) -> None:
        """A link written at this level; a link between two tasks is also an edge."""
        srcs = self._link_ends(parts, link.src, outgoing=True)
        dsts = self._link_ends(parts, link.dst, outgoing=False)
        for s in srcs:
            for d in dsts:
                parts.links.append(DataLink(s, d, link.pos))
                if s.task and d.task and s.task != d.task:
                    parts.add_edge((s.task, d.task), link.pos)

    @staticmethod
    def _unconnected_sub_data(parts: _Parts) -> None:
        """Sub-workflow data left unconnected from outside keeps its own configuration."""
        for name, sub in parts.subs.items():
            for link in sub.links:
                if link.src.task is None and not _outer_feeds(parts, name, link.src.port):
                    parts.links.append(link)
                    if link.src.port in sub.data:
                        parts.data[link.src.port] = sub.data[link.src.port]

    def _link_ends(self, parts: _Parts, ref: syntax.PortRef, outgoing: bool) -> list[Endpoint]:
        """Endpoints a link end stands for after flattening (empty when it names nothing known)."""
        if ref.task is None:
            return self._data_end(parts, ref, outgoing)
        raw, task = parts.raw, ref.task.text
        if task not in raw.tasks:
            self.diags.error(
                ref.task.pos,
                f"unknown task {task} in workflow {self.host.written_in(ref, raw)}{did_you_mean(task, raw.tasks)}",
            )
            return []
        if task not in parts.subs:
            return [Endpoint(parts.prefix + task, ref.port.text)]
        return self._sub_data_end(parts, task, ref, outgoing)

    def _data_end(self, parts: _Parts, ref: syntax.PortRef, outgoing: bool) -> list[Endpoint]:
        """A link end naming the workflow's own data: it must flow the right way."""
        raw, name = parts.raw, ref.port.text
        where = self.host.written_in(ref, raw)
        if name not in raw.data:
            self.diags.error(
                ref.port.pos, f"unknown data {name} in workflow {where}{did_you_mean(name, [*raw.data, *raw.tasks])}"
            )
            return []
        direction = raw.data[name].direction
        if outgoing and direction == "output":
            self.diags.error(ref.port.pos, f"{name} is output data of {where}; it cannot feed a task")
        if not outgoing and direction == "input":
            self.diags.error(ref.port.pos, f"{name} is input data of {where}; a task cannot write to it")
        return [Endpoint(None, parts.prefix + name)]

    def _sub_data_end(self, parts: _Parts, task: str, ref: syntax.PortRef, outgoing: bool) -> list[Endpoint]:
        """A link end naming a sub-workflow task's data: the tasks inside that read or write it."""
        sub = parts.subs[task]
        data_name = f"{parts.prefix}{task}/{ref.port.text}"
        if outgoing:
            found = [link.src for link in sub.links if link.dst.task is None and link.dst.port == data_name]
        else:
            found = [link.dst for link in sub.links if link.src.task is None and link.src.port == data_name]
        if not found:
            direction = "output" if outgoing else "input"
            self.diags.error(
                ref.port.pos,
                f"sub-workflow task {task} has no {direction} data {ref.port.text} linked to its tasks"
                f"{did_you_mean(ref.port.text, [d.rsplit('/', 1)[-1] for d in sub.data])}",
            )
        return found


def _outer_feeds(parts: _Parts, sub_task: str, sub_data: str) -> bool:
    """Whether a link at this level writes the sub-workflow's data `sub_data`."""
    port = sub_data[len(parts.prefix + sub_task + "/") :]
    return any(link.dst.task and link.dst.task.text == sub_task and link.dst.port.text == port
               for link in parts.raw.links)


def _finish(parts: _Parts) -> Flat:
    """Without START/END in the chains, the tasks with no predecessor start and those with no
    successor end."""
    starts, ends = parts.starts, parts.ends
    if not starts:
        has_pred = {b for _, b in parts.edges}
        starts = [n for n in parts.tasks if n not in has_pred]
    if not ends:
        has_succ = {a for a, _ in parts.edges}
        ends = [n for n in parts.tasks if n not in has_succ]
    return Flat(parts.tasks, parts.edges, parts.links, parts.data,
                list(dict.fromkeys(starts)), list(dict.fromkeys(ends)), parts.edge_pos)
