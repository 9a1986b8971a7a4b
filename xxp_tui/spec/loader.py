"""Spec file -> resolved `Project` plus diagnostics.

Resolution is lenient by design: an unknown name or a missing library task is a diagnostic, and
the rest of the model is still built, so `xxp-tui validate --json` can summarise everything that
parsed even when, say, a task implementation is missing from the library.

Order of work: read the entry file and its imports; build each workflow (a variant clones its base
and overrides tasks); resolve task implementations to signatures and sub-workflows to workflows;
flatten sub-workflows into one DAG; build experiments; then `check.py` applies the semantic rules.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from xxp_tui.spec import syntax as ast
from xxp_tui.spec.diagnostics import Diagnostic, Diagnostics, Pos, did_you_mean
from xxp_tui.spec.graph import closing_edge, format_cycle, ordered
from xxp_tui.spec.library import SIGNATURE_FILE, ConfigError, Libraries, libraries_for
from xxp_tui.spec.model import (
    END,
    OPTUNA_STRATEGIES,
    START,
    TRANSFER_MODES,
    Binding,
    ControlEdge,
    DataLink,
    DataSpec,
    Endpoint,
    Experiment,
    ExpTask,
    MetricSpec,
    Objective,
    ParamSpec,
    Project,
    Space,
    Task,
    TaskSignature,
    Workflow,
    frozen_map,
    normalise_type,
)
from xxp_tui.spec.parser import parse_text

SCRIPT_SUFFIXES = (".py", ".sh", ".R", ".jl", ".js", ".pl", ".rb")
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass
class LoadResult:
    project: Project | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)  # display path -> text, for carets

    @property
    def ok(self) -> bool:
        return self.project is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def display_path(path: Path) -> str:
    """Relative to the working directory when that is shorter, so diagnostics stay readable."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if len(rel) <= len(str(path)) else str(path)


def load_project(path: str | Path, text: str | None = None) -> LoadResult:
    """Load, resolve and check the spec at `path` (and everything it refers to). With `text`, that
    is the entry spec's content (the designer's unsaved edits), read as if it were at `path`."""
    from xxp_tui.spec.check import check_project

    loader = _Loader(Path(path), text)
    project = loader.load()
    if project is not None:
        check_project(project, loader.diags, loader.libs, loader.raw_asts)
    return LoadResult(project, loader.diags.sorted(), loader.sources)


# ----------------------------------------------------------------------------- raw workflows


@dataclass
class _RawTask:
    """A workflow task before flattening: what the workflow (and its variants) say about it."""

    name: str
    pos: Pos
    implementation: ast.Text | None = None
    subworkflow: ast.Text | None = None
    params: dict = field(default_factory=dict)
    timeout: float | None = None
    stall_after: float | None = None
    on_stall: str | None = None
    retries: int | None = None
    cache: bool | None = None
    resources: dict = field(default_factory=dict)
    inline: list[ast.TaskBlock] = field(default_factory=list)  # blocks carrying signature statements
    origin_dir: Path | None = None  # folder of the file that set the implementation


@dataclass
class _RawWorkflow:
    name: str
    pos: Pos
    base: str | None
    tasks: dict[str, _RawTask]
    chain_edges: list[tuple[ast.Name, ast.Name]]
    data: dict[str, ast.DataDecl]
    data_props: dict[str, dict]
    links: list[ast.DataLink]
    file_dir: Path


@dataclass
class _Flat:
    tasks: dict[str, Task]
    edges: list[tuple[str, str]]
    links: list[DataLink]
    data: dict[str, DataSpec]
    starts: list[str]
    ends: list[str]
    edge_pos: dict[tuple[str, str], Pos] = field(default_factory=dict)  # where each edge was written


def _has_signature_statements(block: ast.TaskBlock) -> bool:
    return bool(block.inputs or block.outputs or block.params or block.metrics or block.task_type
                or block.dependencies or block.venv or block.python_version)


class _Loader:
    def __init__(self, entry: Path, text: str | None = None) -> None:
        self.entry = entry
        self.entry_text = text
        self.diags = Diagnostics()
        self.sources: dict[str, str] = {}
        self.raw_asts: list[ast.SpecFile] = []
        self.hash_parts: list[tuple[str, str]] = []
        self.libs: Libraries | None = None
        self._parsed: dict[Path, ast.SpecFile | None] = {}
        self._signatures: dict[Path, TaskSignature | None] = {}
        self.wf_decls: dict[str, ast.WorkflowDecl] = {}
        self._raw: dict[str, _RawWorkflow | None] = {}
        self._building: list[str] = []
        self._flattening: list[str] = []
        self.workflows: dict[str, Workflow] = {}
        self.written_in: dict[int, str] = {}  # id of a chain node or link end -> its workflow

    # -- files

    def read(self, path: Path, pos: Pos | None = None, what: str = "file") -> ast.SpecFile | None:
        path = path.resolve()
        if path in self._parsed:
            return self._parsed[path]
        self._parsed[path] = None
        shown = display_path(path)
        if self.entry_text is not None and path == self.entry.resolve():
            return self._parse_source(path, shown, self.entry_text)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.diags.error(pos or Pos(shown), f"{shown} is larger than {MAX_FILE_BYTES // 2**20} MB")
                return None
            data = path.read_bytes()
        except OSError as exc:
            self.diags.error(pos or Pos(shown), f"cannot read {what} {shown}: {exc.strerror or exc}")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self.diags.error(Pos(shown, line, col), f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")
            text = data.decode("utf-8", errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        return self._parse_source(path, shown, text)

    def _parse_source(self, path: Path, shown: str, text: str) -> ast.SpecFile:
        self.sources[shown] = text
        # The hash names files relative to the entry spec, so it does not depend on the cwd.
        self.hash_parts.append((os.path.relpath(path, self.entry.resolve().parent), text))
        spec = parse_text(text, shown, self.diags)
        self._parsed[path] = spec
        self.raw_asts.append(spec)
        return spec

    def load(self) -> Project | None:
        shown = display_path(self.entry)
        if self.entry_text is None and not self.entry.is_file():
            self.diags.error(Pos(shown), f"no such file: {shown}")
            return None
        try:
            self.libs = libraries_for(self.entry)
        except ConfigError as exc:
            self.diags.error(Pos(display_path(exc.path)), str(exc))
            self.libs = Libraries(spec_dir=self.entry.resolve().parent, project_root=self.entry.resolve().parent)
        main = self.read(self.entry)
        if main is None:
            return None
        files = [main]
        self._load_imports(main, self.entry.resolve().parent, files)
        for spec in files:
            for wf in spec.workflows:
                self._declare_workflow(wf)
        for name in list(self.wf_decls):
            self._raw_workflow(name)
        for name in list(self.wf_decls):
            self._workflow(name)
        experiments: dict[str, Experiment] = {}
        for spec in files:
            for decl in spec.experiments:
                if decl.name.text in experiments:
                    self._duplicate(decl.name, "experiment", experiments[decl.name.text].pos)
                    continue
                experiments[decl.name.text] = self._experiment(decl)
        entry_dir = self.entry.resolve().parent
        root = next((d.resolve() for d in self.libs.task_dirs if entry_dir.is_relative_to(d.resolve())), None)
        signatures = tuple(self._signature_from_block(b, entry_dir, main.path, root) for b in main.signatures)
        digest = hashlib.sha256()
        for name, text in self.hash_parts:
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return Project(
            entry=self.entry.resolve(),
            files=tuple(self._parsed_paths()),
            spec_hash=digest.hexdigest(),
            workflows=frozen_map(self.workflows),
            experiments=frozen_map(experiments),
            signatures=signatures,
            conditions_module=self.libs.conditions_module(),
            configurations_module=self.libs.configurations_module(),
            package=main.package,
            dataset_dir=self.libs.dataset_dir,
            dependencies_dir=self.libs.dependencies_dir,
            eexp_config=self.libs.eexp_config,
            unused_settings=self.libs.unused_settings,
        )

    def _parsed_paths(self) -> list[Path]:
        return [p for p, spec in self._parsed.items() if spec is not None]

    def _load_imports(self, spec: ast.SpecFile, folder: Path, files: list[ast.SpecFile]) -> None:
        for imp in spec.imports:
            found, tried = self.libs.find_import(imp.value, folder)
            if found is None:
                places = ", ".join(display_path(p.parent) for p in tried[:4])
                self.diags.error(imp.pos, f'cannot find imported file "{imp.value}" (looked in {places})')
                continue
            if found.resolve() in self._parsed:
                continue
            sub = self.read(found, imp.pos, "imported file")
            if sub is not None:
                files.append(sub)
                self._load_imports(sub, found.resolve().parent, files)

    def _duplicate(self, name: ast.Name, what: str, first: Pos | None) -> None:
        where = f" (first defined at {first})" if first else ""
        self.diags.error(name.pos, f"{what} {name.text} is defined twice{where}")

    # -- workflows

    def _declare_workflow(self, decl: ast.WorkflowDecl) -> None:
        name = decl.name.text
        if name in self.wf_decls:
            if self.wf_decls[name] is not decl:
                self._duplicate(decl.name, "workflow", self.wf_decls[name].name.pos)
            return
        self.wf_decls[name] = decl

    def _file_dir(self, shown: str) -> Path:
        return Path(shown).resolve().parent

    def _raw_workflow(self, name: str) -> _RawWorkflow | None:
        if name in self._raw:
            return self._raw[name]
        decl = self.wf_decls.get(name)
        if decl is None:
            return None
        if name in self._building:
            cycle = self._building[self._building.index(name) :]
            self.diags.error(decl.name.pos, f"workflow variants form a cycle: {format_cycle(cycle)}")
            return None
        self._building.append(name)
        try:
            raw = self._build_raw(decl)
        finally:
            self._building.pop()
        self._raw[name] = raw
        return raw

    def _build_raw(self, decl: ast.WorkflowDecl) -> _RawWorkflow:
        file_dir = self._file_dir(decl.file)
        base_raw = None
        if decl.base is not None:
            if decl.base.text not in self.wf_decls:
                self.diags.error(
                    decl.base.pos,
                    f"unknown workflow {decl.base.text}{did_you_mean(decl.base.text, self.wf_decls)}",
                )
            else:
                base_raw = self._raw_workflow(decl.base.text)
        if base_raw is not None:
            raw = _RawWorkflow(
                decl.name.text, decl.name.pos, decl.base.text, copy.deepcopy(base_raw.tasks),
                list(base_raw.chain_edges), dict(base_raw.data), copy.deepcopy(base_raw.data_props),
                list(base_raw.links), base_raw.file_dir,
            )
        else:
            raw = _RawWorkflow(decl.name.text, decl.name.pos, decl.base.text if decl.base else None,
                               {}, [], {}, {}, [], file_dir)
        inherited = set(raw.tasks)
        declared_here: dict[str, Pos] = {}
        defined_here: dict[str, Pos] = {}
        # Declarations first, so `configure task T` may come before or after `define task T`.
        for block in decl.tasks:
            if block.form != "decl":
                continue
            name = block.name.text
            if name in declared_here:
                self._duplicate(block.name, "task", declared_here[name])
                continue
            declared_here[name] = block.name.pos
            if name not in raw.tasks:
                raw.tasks[name] = _RawTask(name, block.name.pos)
        for block in decl.tasks:
            if block.form == "decl":
                continue
            name = block.name.text
            if name in defined_here:
                self._duplicate(block.name, "task", defined_here[name])
                continue
            defined_here[name] = block.name.pos
            if name not in raw.tasks:
                if block.form == "configure" or (base_raw is not None and name not in declared_here):
                    known = raw.tasks
                    where = f"base workflow {raw.base}" if base_raw is not None else f"workflow {raw.name}"
                    self.diags.error(
                        block.name.pos,
                        f"task {name} is not a task of {where}{did_you_mean(name, known)}"
                        + ("" if base_raw is not None else f"; declare it with 'define task {name};'"),
                    )
                    continue
                raw.tasks[name] = _RawTask(name, block.name.pos)
            self._apply_block(raw.tasks[name], block, file_dir, override=name in inherited)
        data_here: dict[str, Pos] = {}
        for data in decl.data:
            if data.name.text in data_here:
                self._duplicate(data.name, "data", data_here[data.name.text])
                continue
            data_here[data.name.text] = data.name.pos
            raw.data[data.name.text] = data
        for cfg in decl.data_configs:
            if cfg.name.text not in raw.data:
                self.diags.error(
                    cfg.name.pos,
                    f"configure data {cfg.name.text}: no data {cfg.name.text} is defined in workflow {raw.name}"
                    f"{did_you_mean(cfg.name.text, raw.data)}",
                )
                continue
            raw.data_props.setdefault(cfg.name.text, {}).update(cfg.props)
        for chain in decl.chains:
            for a, b in itertools.pairwise(chain):
                raw.chain_edges.append((a, b))
                self.written_in[id(a)] = self.written_in[id(b)] = raw.name
        for link in decl.links:
            self.written_in[id(link.src)] = self.written_in[id(link.dst)] = raw.name
        raw.links.extend(decl.links)
        return raw

    def _written_in(self, node: object, raw: _RawWorkflow) -> str:
        """The workflow whose text holds a chain or link statement: a variant inherits its base's
        statements, and a typo there is the base's, reported once rather than once per variant."""
        return self.written_in.get(id(node), raw.name)

    def _apply_block(self, task: _RawTask, block: ast.TaskBlock, file_dir: Path, override: bool) -> None:
        if block.implementation is not None:
            task.implementation, task.subworkflow = block.implementation, None
            task.origin_dir = file_dir
            if override:
                task.inline = []
        if block.subworkflow is not None:
            task.subworkflow, task.implementation = block.subworkflow, None
            task.origin_dir = file_dir
        for ps in block.param_sets:
            if isinstance(ps.value, ast.Ref):
                self.diags.error(
                    ps.pos,
                    f"param {ps.name.text} = {ps.value.name}: value lists are bound in a space; "
                    "a workflow may only fix a literal value",
                )
                continue
            task.params[ps.name.text] = ps.value
        if block.timeout is not None:
            task.timeout = block.timeout[0]
        if block.retries is not None:
            task.retries = block.retries[0]
        if block.stall_after is not None:
            task.stall_after = block.stall_after[0]
        if block.on_stall is not None:
            task.on_stall = block.on_stall[0]
        if block.cache is not None:
            task.cache = block.cache[0]
        task.resources.update(block.resources)
        if _has_signature_statements(block):
            task.inline.append(block)

    def _workflow(self, name: str) -> Workflow | None:
        if name in self.workflows:
            return self.workflows[name]
        raw = self._raw_workflow(name)
        if raw is None:
            return None
        flat = self._flatten(raw, prefix="")
        if flat is None:
            return None
        order, cycle = ordered(flat.tasks, flat.edges)
        if cycle:
            closing = closing_edge(flat.tasks, flat.edges)
            if closing is not None:  # point at the step back, where the cycle is closed
                (a, b), cycle = closing
                self.diags.error(flat.edge_pos.get((a, b), raw.pos),
                                 f"workflow {name} has a cycle: {format_cycle(cycle)} (closed here by {a} -> {b})")
            else:
                self.diags.error(raw.pos, f"workflow {name} has a cycle: {format_cycle(cycle)}")
        tasks = {n: flat.tasks[n] for n in order}
        wf = Workflow(
            name=name, pos=raw.pos, base=raw.base, tasks=frozen_map(tasks),
            edges=tuple(dict.fromkeys(flat.edges)), links=tuple(flat.links), data=frozen_map(flat.data),
        )
        self.workflows[name] = wf
        return wf

    def _sub_raw(self, ref: ast.Text, near: Path) -> _RawWorkflow | None:
        """The workflow a `subworkflow "X"` names: one already known, or X.xxp from a library."""
        name = ref.value
        if name not in self.wf_decls:
            path, tried = self.libs.find_workflow_file(name, near)
            if path is None:
                places = ", ".join(display_path(p.parent) for p in tried[:4])
                self.diags.error(ref.pos, f'cannot find sub-workflow "{name}": no {name}.xxp in {places}')
                return None
            spec = self.read(path, ref.pos, "sub-workflow file")
            if spec is None:
                return None
            for wf in spec.workflows:
                self._declare_workflow(wf)
            if name not in self.wf_decls:
                wanted = Path(name).stem
                if wanted in self.wf_decls:
                    name = wanted
                elif len(spec.workflows) == 1:
                    name = spec.workflows[0].name.text
                else:
                    self.diags.error(ref.pos, f"{display_path(path)} defines no workflow {name}")
                    return None
        return self._raw_workflow(name)

    def _flatten(self, raw: _RawWorkflow, prefix: str) -> _Flat | None:
        if raw.name in self._flattening:
            cycle = self._flattening[self._flattening.index(raw.name) :]
            self.diags.error(raw.pos, f"sub-workflows include each other: {format_cycle(cycle)}")
            return None
        self._flattening.append(raw.name)
        try:
            return self._flatten_inner(raw, prefix)
        finally:
            self._flattening.pop()

    def _flatten_inner(self, raw: _RawWorkflow, prefix: str) -> _Flat:
        tasks: dict[str, Task] = {}
        subs: dict[str, _Flat] = {}
        for t in raw.tasks.values():
            if t.subworkflow is not None:
                sub_raw = self._sub_raw(t.subworkflow, t.origin_dir or raw.file_dir)
                sub = self._flatten(sub_raw, prefix + t.name + "/") if sub_raw else None
                if sub is not None:
                    subs[t.name] = sub
                    tasks.update(sub.tasks)
                    continue
            tasks[prefix + t.name] = self._task(t, prefix)
        edges: list[tuple[str, str]] = []
        edge_pos: dict[tuple[str, str], Pos] = {}
        for sub in subs.values():
            edges.extend(sub.edges)
            edge_pos.update(sub.edge_pos)

        def entries(name: str) -> list[str]:
            return subs[name].starts if name in subs else [prefix + name]

        def exits(name: str) -> list[str]:
            return subs[name].ends if name in subs else [prefix + name]

        known = set(raw.tasks)
        starts: list[str] = []
        ends: list[str] = []
        for a, b in raw.chain_edges:
            ok = True
            for n in (a, b):
                if n.text not in known and n.text not in (START, END):
                    self.diags.error(
                        n.pos,
                        f"unknown task {n.text} in workflow {self._written_in(n, raw)}{did_you_mean(n.text, known)}",
                    )
                    ok = False
            if not ok:
                continue
            if a.text == END or b.text == START:
                bad = a if a.text == END else b
                self.diags.error(bad.pos, f"{bad.text} cannot be used there: the flow goes START -> … -> END")
                continue
            if a.text == START:
                starts.extend(entries(b.text) if b.text != END else [])
                continue
            if b.text == END:
                ends.extend(exits(a.text))
                continue
            for edge in ((x, y) for x in exits(a.text) for y in entries(b.text)):
                edges.append(edge)
                edge_pos.setdefault(edge, b.pos)
        links: list[DataLink] = []
        data: dict[str, DataSpec] = {}
        for d in raw.data.values():
            data[prefix + d.name.text] = DataSpec(
                prefix + d.name.text, d.direction, frozen_map(raw.data_props.get(d.name.text, {})), d.name.pos
            )
        for sub in subs.values():
            for link in sub.links:
                if link.src.task is None or link.dst.task is None:
                    continue  # joined below with the outer links
                links.append(link)
        for link in raw.links:
            srcs = self._link_ends(link.src, raw, subs, prefix, outgoing=True)
            dsts = self._link_ends(link.dst, raw, subs, prefix, outgoing=False)
            for s in srcs:
                for d in dsts:
                    links.append(DataLink(s, d, link.pos))
                    if s.task and d.task and s.task != d.task:
                        edges.append((s.task, d.task))
                        edge_pos.setdefault((s.task, d.task), link.pos)
        # Sub-workflow data left unconnected from outside keeps its own configuration.
        for name, sub in subs.items():
            for link in sub.links:
                if link.src.task is None and not self._outer_feeds(raw, name, link.src.port, prefix):
                    links.append(link)
                    if link.src.port in sub.data:
                        data[link.src.port] = sub.data[link.src.port]
        if not starts:
            has_pred = {b for _, b in edges}
            starts = [n for n in tasks if n not in has_pred]
        if not ends:
            has_succ = {a for a, _ in edges}
            ends = [n for n in tasks if n not in has_succ]
        return _Flat(tasks, edges, links, data, list(dict.fromkeys(starts)), list(dict.fromkeys(ends)), edge_pos)

    def _outer_feeds(self, raw: _RawWorkflow, sub_task: str, sub_data: str, prefix: str) -> bool:
        port = sub_data[len(prefix + sub_task + "/") :]
        return any(link.dst.task and link.dst.task.text == sub_task and link.dst.port.text == port
                   for link in raw.links)

    def _link_ends(
        self, ref: ast.PortRef, raw: _RawWorkflow, subs: dict[str, _Flat], prefix: str, outgoing: bool
    ) -> list[Endpoint]:
        """Endpoints a link end stands for after flattening (empty when it names nothing known)."""
        if ref.task is None:
            name = ref.port.text
            if name not in raw.data:
                self.diags.error(
                    ref.port.pos,
                    f"unknown data {name} in workflow {self._written_in(ref, raw)}"
                    f"{did_you_mean(name, [*raw.data, *raw.tasks])}",
                )
                return []
            direction = raw.data[name].direction
            where = self._written_in(ref, raw)
            if outgoing and direction == "output":
                self.diags.error(ref.port.pos, f"{name} is output data of {where}; it cannot feed a task")
            if not outgoing and direction == "input":
                self.diags.error(ref.port.pos, f"{name} is input data of {where}; a task cannot write to it")
            return [Endpoint(None, prefix + name)]
        task = ref.task.text
        if task not in raw.tasks:
            self.diags.error(
                ref.task.pos,
                f"unknown task {task} in workflow {self._written_in(ref, raw)}{did_you_mean(task, raw.tasks)}",
            )
            return []
        if task not in subs:
            return [Endpoint(prefix + task, ref.port.text)]
        sub = subs[task]
        data_name = f"{prefix}{task}/{ref.port.text}"
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

    def _task(self, t: _RawTask, prefix: str) -> Task:
        signature = None
        origin = t.origin_dir or self.entry.resolve().parent
        if t.implementation is not None:
            signature = self._resolve_implementation(t.implementation, origin, t.name)
        if t.inline:
            signature = self._merge_inline(signature, t, origin)
        sig_timeout = signature.timeout if signature else None
        sig_retries = signature.retries if signature else None
        sig_cache = signature.cache if signature else None
        return Task(
            name=prefix + t.name,
            pos=t.pos,
            implementation=t.implementation.value if t.implementation else None,
            signature=signature,
            params=frozen_map(t.params),
            timeout=t.timeout if t.timeout is not None else sig_timeout,
            retries=t.retries if t.retries is not None else (sig_retries or 0),
            cache=t.cache if t.cache is not None else (sig_cache if sig_cache is not None else True),
            resources=frozen_map(t.resources),
            stall_after=t.stall_after if t.stall_after is not None else (signature.stall_after if signature else None),
            on_stall=t.on_stall or (signature.on_stall if signature else None) or "mark",
        )

    # -- task implementations and signatures

    def _resolve_implementation(self, ref: ast.Text, near: Path, task_name: str) -> TaskSignature | None:
        value = ref.value.strip()
        if not value:
            self.diags.error(ref.pos, "implementation must not be empty")
            return None
        as_path = (near / value)
        if value.endswith(SCRIPT_SUFFIXES) or as_path.is_file():
            if not as_path.is_file():
                self.diags.error(ref.pos, f'implementation file "{value}" not found in {display_path(near)}')
                return TaskSignature(name=task_name, source=ref.pos.file, script_ref=value)
            self._warn_if_outside(ref, as_path)
            return TaskSignature(name=task_name, source=ref.pos.file, script=as_path.resolve(), script_ref=value)
        root, folder, _tried = self.libs.find_task_folder(value)
        if folder is None and "/" not in value and "." not in value:
            by_name = self.libs.find_task_by_folder_name(value)
            if by_name is not None:
                root, folder = by_name
                exact = folder.relative_to(root).as_posix().replace("/", ".")
                self.diags.warning(
                    ref.pos, f'task "{value}" found by folder name at {display_path(folder)}; '
                    f'write "{exact}" to name it exactly'
                )
        if folder is None:
            known = self._library_refs()
            places = ", ".join(display_path(p) for p in self.libs.task_dirs) or "no task library folder found"
            self.diags.error(
                ref.pos,
                f'cannot find task "{value}": no folder with {SIGNATURE_FILE} for it in the task libraries '
                f"({places}){did_you_mean(value, known)}",
            )
            return None
        return self._load_signature(folder.resolve(), root.resolve(), ref.pos)

    def _warn_if_outside(self, ref: ast.Text, path: Path) -> None:
        if not self.libs.contains(path):
            self.diags.warning(ref.pos, f'implementation "{ref.value}" is {path.resolve()}, outside the project '
                                        "and its libraries; is that the file you mean to run?")

    def _library_refs(self) -> list[str]:
        refs = []
        for root in self.libs.task_dirs:
            for sig in root.rglob(SIGNATURE_FILE):
                rel = sig.parent.relative_to(root).as_posix()
                refs.extend([rel, rel.replace("/", ".")])
        return refs

    def _load_signature(self, folder: Path, root: Path, pos: Pos) -> TaskSignature | None:
        if folder in self._signatures:
            return self._signatures[folder]
        self._signatures[folder] = None
        spec = self.read(folder / SIGNATURE_FILE, pos, "task signature")
        if spec is None:
            return None
        if not spec.signatures:
            self.diags.error(Pos(spec.path), f"{spec.path} declares no task (expected 'task Name {{ … }}')")
            return None
        if len(spec.signatures) > 1:
            self.diags.error(spec.signatures[1].name.pos, "a task.xxp file declares exactly one task")
        sig = self._signature_from_block(spec.signatures[0], folder, spec.path, root)
        self._signatures[folder] = sig
        return sig

    def _signature_from_block(
        self, block: ast.TaskBlock, folder: Path, source: str, root: Path | None = None
    ) -> TaskSignature:
        script = None
        if block.implementation is not None:
            script = self._find_script(block.implementation, folder, root)
        venv_file = None
        if block.venv is not None:
            venv_file = self._find_file(block.venv, [folder, *([root] if root else []), folder.parent],
                                        "requirements file", "the task's environment cannot be built")
        return TaskSignature(
            name=block.name.text,
            source=source,
            folder=folder,
            inputs=tuple(n.text for n in block.inputs),
            outputs=tuple(n.text for n in block.outputs),
            params=frozen_map({p.name.text: self._param_spec(p) for p in block.params}),
            metrics=frozen_map({m.name.text: self._metric_spec(m) for m in block.metrics}),
            script=script,
            script_ref=block.implementation.value if block.implementation else None,
            dependencies=tuple(d.value for d in block.dependencies),
            dependency_root=self.libs.dependencies_dir,
            venv=block.venv.value if block.venv else None,
            venv_file=venv_file,
            python_version=block.python_version.value if block.python_version else None,
            task_type=block.task_type.text if block.task_type else None,
            timeout=block.timeout[0] if block.timeout else None,
            stall_after=block.stall_after[0] if block.stall_after else None,
            on_stall=block.on_stall[0] if block.on_stall else None,
            retries=block.retries[0] if block.retries else None,
            cache=block.cache[0] if block.cache else None,
        )

    def _find_script(self, ref: ast.Text, folder: Path, root: Path | None) -> Path | None:
        """A task.xxp names its script relative to the task folder or to the library root."""
        rel = ref.value
        places = [folder, *([root] if root else []), folder.parent]
        for base in places:
            if (base / rel).is_file():
                self._warn_if_outside(ref, base / rel)
                return (base / rel).resolve()
        if (folder / Path(rel).name).is_file():
            return (folder / Path(rel).name).resolve()
        self.diags.warning(
            ref.pos,
            f'implementation file "{rel}" not found (looked in the task folder and the library root); '
            "the task cannot run until it exists",
        )
        return None

    def _find_file(self, ref: ast.Text, places: list[Path], what: str, consequence: str) -> Path | None:
        """A file a task names (`venv "Task/requirements.txt"`), as ExtremeXP writes it: relative to
        the task folder or to the library root; a missing one is a warning saying what follows."""
        for base in places:
            if (base / ref.value).is_file():
                return (base / ref.value).resolve()
        self.diags.warning(ref.pos, f'{what} "{ref.value}" not found (looked in '
                                    f'{", ".join(display_path(p) for p in dict.fromkeys(places))}); {consequence}')
        return None

    def _param_spec(self, p: ast.ParamDef) -> ParamSpec:
        default = p.default
        if isinstance(default, ast.Ref):
            default = default.name
        return ParamSpec(p.name.text, normalise_type(p.type.text) if p.type else None, default, p.domain)

    def _metric_spec(self, m: ast.MetricDef) -> MetricSpec:
        return MetricSpec(
            m.name.text,
            kind=m.kind.text if m.kind else "single-value",
            type=m.type.text if m.type else None,
            semantic_type=m.semantic_type.text if m.semantic_type else None,
        )

    def _merge_inline(self, base: TaskSignature | None, t: _RawTask, origin: Path) -> TaskSignature:
        """Signature statements written in the workflow's task block extend (or make) the signature."""
        sig = base or TaskSignature(name=t.name, source=t.pos.file)
        inputs, outputs = list(sig.inputs), list(sig.outputs)
        params, metrics = dict(sig.params), dict(sig.metrics)
        deps = list(sig.dependencies)
        task_type, venv, venv_file, pyver = sig.task_type, sig.venv, sig.venv_file, sig.python_version
        for block in t.inline:
            inputs += [n.text for n in block.inputs if n.text not in inputs]
            outputs += [n.text for n in block.outputs if n.text not in outputs]
            params.update({p.name.text: self._param_spec(p) for p in block.params})
            metrics.update({m.name.text: self._metric_spec(m) for m in block.metrics})
            deps += [d.value for d in block.dependencies]
            task_type = block.task_type.text if block.task_type else task_type
            if block.venv is not None:
                venv = block.venv.value
                venv_file = self._find_file(block.venv, [*([sig.folder] if sig.folder else []), origin],
                                            "requirements file", "the task's environment cannot be built")
            pyver = block.python_version.value if block.python_version else pyver
        return replace(
            sig, inputs=tuple(inputs), outputs=tuple(outputs), params=frozen_map(params),
            metrics=frozen_map(metrics), dependencies=tuple(deps), task_type=task_type, venv=venv,
            venv_file=venv_file, python_version=pyver,
        )

    # -- experiments

    def _experiment(self, decl: ast.ExperimentDecl) -> Experiment:
        names: dict[str, Pos] = {}
        spaces: dict[str, Space] = {}
        tasks: dict[str, ExpTask] = {}
        for sp in decl.spaces:
            if sp.name.text in names:
                self._duplicate(sp.name, "node", names[sp.name.text])
                continue
            names[sp.name.text] = sp.name.pos
            spaces[sp.name.text] = self._space(sp)
        for block in decl.tasks:
            if block.name.text in names:
                self._duplicate(block.name, "node", names[block.name.text])
                continue
            names[block.name.text] = block.name.pos
            tasks[block.name.text] = self._exp_task(block, decl)
        edges: list[ControlEdge] = []
        for stmt in decl.control:
            if isinstance(stmt, ast.ControlChain):
                for a, b in zip(stmt.nodes, stmt.nodes[1:], strict=False):
                    edges.extend(self._edges(a, b, names, stmt.pos))
                if len(stmt.nodes) == 1:
                    self._edges(stmt.nodes[0], None, names, stmt.pos)
            else:
                edges.extend(self._edges(
                    stmt.src, stmt.dst, names, stmt.pos,
                    condition=stmt.condition.value if stmt.condition else None,
                    is_else=stmt.is_else,
                    max_iterations=stmt.max_iterations[0] if stmt.max_iterations else None,
                ))
        if not decl.control and spaces:
            # No control block (old specs): the spaces run one after another as declared.
            order = [START, *spaces, END]
            edges = [ControlEdge(a, b, decl.name.pos) for a, b in itertools.pairwise(order)]
        return Experiment(
            name=decl.name.text,
            pos=decl.name.pos,
            file=decl.file,
            intent=decl.intent.text if decl.intent else None,
            spaces=frozen_map(spaces),
            tasks=frozen_map(tasks),
            edges=tuple(edges),
            parallel=decl.parallel[0] if decl.parallel else None,
        )

    def _edges(self, a: ast.ControlNode, b: ast.ControlNode | None, names: dict, pos: Pos, **kw) -> list:
        known = {**names, START: None, END: None}
        for node in (a, b):
            if node is None:
                continue
            for n in node.names:
                if n.text not in known:
                    self.diags.error(
                        n.pos, f"unknown control node {n.text}{did_you_mean(n.text, names)}"
                    )
            if node.is_group and any(n.text in (START, END) for n in node.names):
                self.diags.error(node.pos, "START and END cannot be part of a parallel group")
        if b is None:
            return []
        out = []
        for x in a.names:
            for y in b.names:
                if x.text in known and y.text in known:
                    out.append(ControlEdge(x.text, y.text, pos, **kw))
        return out

    def _space(self, sp: ast.SpaceDecl) -> Space:
        values: dict[str, list] = {}
        for name, domain, _pos in sp.param_values:
            values.setdefault(name.text, []).append(domain)
        bindings: list[Binding] = []
        seen: dict[str, Pos] = {}
        for block in sp.bindings:
            for kind, pos in block.statements:
                if kind != "param_set":
                    self.diags.error(pos, f"only 'param' may be set in a space's task block, not '{kind}'")
            for ps in block.param_sets:
                key = f"{block.name.text}.{ps.name.text}"
                if key in seen:
                    self.diags.error(ps.pos, f"param {key} is bound twice in space {sp.name.text}")
                    continue
                seen[key] = ps.pos
                if isinstance(ps.value, ast.Ref):
                    bindings.append(Binding(block.name.text, ps.name.text, vp=ps.value.name, pos=ps.pos))
                else:
                    bindings.append(Binding(block.name.text, ps.name.text, value=ps.value, pos=ps.pos))
        objectives = tuple(
            Objective(o.direction, o.metric.text, o.task.text if o.task else None) for o in sp.objectives
        )
        return Space(
            name=sp.name.text,
            workflow=sp.workflow.text,
            pos=sp.name.pos,
            strategy=sp.strategy.text if sp.strategy else "gridsearch",
            runs=sp.runs[0] if sp.runs else None,
            param_values=frozen_map({k: tuple(v) for k, v in values.items()}),
            bindings=tuple(bindings),
            filter=sp.filter.value if sp.filter else None,
            generator=sp.generator.value if sp.generator else None,
            objectives=objectives,
            parallel=sp.parallel[0] if sp.parallel else None,
            pruner=sp.pruner.text if sp.pruner else None,
            prune_on=self._prune_on(sp, objectives),
            seed=sp.seed[0] if sp.seed else None,
            warmstart=self._warmstart(sp),
            transfer=self._transfer(sp),
        )

    def _warmstart(self, sp: ast.SpaceDecl) -> str | None:
        if sp.warmstart is None:
            return None
        value = (sp.warmstart.text if isinstance(sp.warmstart, ast.Name) else sp.warmstart.value).strip()
        if value.lower() == "none":
            return None
        if value.lower() != "auto" and not re.fullmatch(r"[rR]?\d+", value):
            self.diags.error(sp.warmstart.pos, f"warmstart takes auto, none or a run such as r3, not {value!r}")
            return None
        strategy = sp.strategy.text if sp.strategy else "gridsearch"
        if strategy not in OPTUNA_STRATEGIES:
            self.diags.warning(sp.warmstart.pos, f"warmstart seeds the sampler of an Optuna strategy; a {strategy} "
                                                 "space reuses earlier results through the task cache instead")
        return value.lower()

    def _transfer(self, sp: ast.SpaceDecl) -> str:
        if sp.transfer is None:
            return "propose"
        value = sp.transfer.text.lower()
        if value not in TRANSFER_MODES:
            self.diags.error(sp.transfer.pos, f"transfer takes {', '.join(TRANSFER_MODES)}, not {sp.transfer.text!r}"
                                              f"{did_you_mean(value, list(TRANSFER_MODES))}")
            return "propose"
        return value

    def _prune_on(self, sp: ast.SpaceDecl, objectives: tuple[Objective, ...]) -> Objective | None:
        if sp.pruner is None or sp.pruner.watch is None:
            return None
        task, metric = sp.pruner.watch
        direction = objectives[0].direction if objectives else "maximize"
        return Objective(direction, metric.text, task.text if task else None)

    def _exp_task(self, block: ast.TaskBlock, decl: ast.ExperimentDecl) -> ExpTask:
        kind = "interaction" if block.form == "interaction" else "task"
        raw = _RawTask(block.name.text, block.name.pos)
        file_dir = self._file_dir(decl.file)
        self._apply_block(raw, block, file_dir, override=False)
        workflow = None
        if raw.subworkflow is not None:
            sub = self._sub_raw(raw.subworkflow, file_dir)
            if sub is not None:
                workflow = self._workflow(sub.name)
        task = self._task(raw, "")
        if workflow is not None:
            task = replace(task, implementation=f"subworkflow:{workflow.name}")
        if kind == "task" and raw.implementation is None and raw.subworkflow is None:
            self.diags.error(block.name.pos, f"experiment task {block.name.text} needs an implementation")
        fields = dict(task.signature.params) if task.signature else {}
        return ExpTask(
            name=block.name.text,
            kind=kind,
            pos=block.name.pos,
            task=task,
            input_data=frozen_map({d.name.text: frozen_map(d.props) for d in block.input_data}),
            prompt=block.prompt.value if block.prompt else None,
            fields=frozen_map(fields),
            workflow=workflow.name if workflow else None,
        )
