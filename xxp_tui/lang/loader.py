"""Spec file -> resolved `Project` plus diagnostics: the order of the steps, and nothing else.

Resolution is lenient by design: an unknown name or a missing library task is a diagnostic, and
the rest of the model is still built, so `xxp-tui validate --json` can summarise everything that
parsed even when, say, a task implementation is missing from the library.

The steps, one module each:
- `reading.py`: read the entry file and its imports (each file once);
- `variants.py`: build each workflow as written; a variant copies its base and overrides tasks;
- `resolution.py`: resolve task implementations to signatures (scripts, library task.xxp files);
- `flatten.py`: flatten sub-workflows into one DAG (pure; the I/O is this module's);
- `experiments.py`: build experiments, their spaces and control graphs;
- `check.py`: the semantic rules, one named function each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostic, Diagnostics, Pos
from xxp_tui.lang.experiments import ExperimentBuilder
from xxp_tui.lang.flatten import Flattener
from xxp_tui.lang.graph import closing_edge, format_cycle, ordered
from xxp_tui.lang.library import ConfigError, Libraries, libraries_for
from xxp_tui.lang.model import Experiment, Project, Task, Workflow, frozen_map
from xxp_tui.lang.reading import SourceReader, display_path
from xxp_tui.lang.resolution import TaskResolver
from xxp_tui.lang.variants import RawTask, RawWorkflow, VariantBuilder, duplicate

__all__ = ["LoadResult", "load_project"]


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


def load_project(path: str | Path, text: str | None = None, *,
                 trace: list[tuple[str, Diagnostic]] | None = None) -> LoadResult:
    """Load, resolve and check the spec at `path` (and everything it refers to). With `text`, that
    is the entry spec's content (the designer's unsaved edits), read as if it were at `path`.
    `trace`, when given, receives (rule id, diagnostic) for what each semantic rule reported."""
    from xxp_tui.lang import load_cache

    if text is None and trace is None and (kept := load_cache.lookup(Path(path))) is not None:
        return kept  # unchanged since a clean load: no parse, no resolution (load_cache.py)
    from xxp_tui.lang.check import check_project

    loader = _Loader(Path(path), text)
    project = loader.load()
    if project is not None:
        check_project(project, loader.diags, loader.libs, loader.reader.raw_asts, trace)
    result = LoadResult(project, loader.diags.sorted(), loader.reader.sources)
    if text is None:
        load_cache.store(Path(path), result, loader.libs)
    return result


def _libraries(entry: Path, diags: Diagnostics) -> Libraries:
    """The project's libraries; a broken xxp.toml is reported and the spec's folder used alone."""
    try:
        return libraries_for(entry)
    except ConfigError as exc:
        diags.error(Pos(display_path(exc.path or entry)), str(exc))
        return Libraries(spec_dir=entry.resolve().parent, project_root=entry.resolve().parent)


class _Loader:
    """One load: owns the diagnostics and the shared state the steps read (the `FlattenHost` and
    `ExperimentHost` of `flatten.py` and `experiments.py`)."""

    def __init__(self, entry: Path, text: str | None = None) -> None:
        self.entry = entry
        self.diags = Diagnostics()
        self.reader = SourceReader(entry, text, self.diags)
        self.libs: Libraries | None = None
        self.resolver: TaskResolver | None = None
        self.variants = VariantBuilder(self.diags)
        self.flattener = Flattener(self)
        self.workflows: dict[str, Workflow] = {}

    def load(self) -> Project | None:
        shown = display_path(self.entry)
        if self.reader.entry_text is None and not self.entry.is_file():
            self.diags.error(Pos(shown), f"no such file: {shown}")
            return None
        self.libs = _libraries(self.entry, self.diags)
        self.resolver = TaskResolver(self.libs, self.reader, self.diags)
        main = self.reader.read(self.entry)
        if main is None:
            return None
        entry_dir = self.entry.resolve().parent
        files = [main]
        self.reader.read_imports(main, entry_dir, self.libs, files)
        for spec in files:
            for wf in spec.workflows:
                self.variants.declare(wf)
        for name in list(self.variants.decls):
            self.variants.raw(name)
        for name in list(self.variants.decls):
            self.workflow(name)
        experiments = self._experiments(files)
        root = next((d.resolve() for d in self.libs.task_dirs if entry_dir.is_relative_to(d.resolve())), None)
        signatures = tuple(self.resolver.signature_from_block(b, entry_dir, main.path, root) for b in main.signatures)
        return Project(
            entry=self.entry.resolve(),
            files=tuple(self.reader.parsed_paths()),
            spec_hash=self.reader.spec_hash(),
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

    def _experiments(self, files: list[syntax.SpecFile]) -> dict[str, Experiment]:
        builder = ExperimentBuilder(self)
        experiments: dict[str, Experiment] = {}
        for spec in files:
            for decl in spec.experiments:
                if decl.name.text in experiments:
                    duplicate(self.diags, decl.name, "experiment", experiments[decl.name.text].pos)
                    continue
                experiments[decl.name.text] = builder.experiment(decl)
        return experiments

    # -- the hosts' lookups

    def written_in(self, node: object, raw: RawWorkflow) -> str:
        return self.variants.written_in(node, raw)

    def task(self, raw_task: RawTask, prefix: str) -> Task:
        assert self.resolver is not None, "tasks are resolved only during load()"
        return self.resolver.task(raw_task, prefix, self.entry.resolve().parent)

    def workflow(self, name: str) -> Workflow | None:
        """The flattened workflow `name`, built once; a cycle among its tasks is reported here."""
        if name in self.workflows:
            return self.workflows[name]
        raw = self.variants.raw(name)
        if raw is None:
            return None
        flat = self.flattener.flatten(raw, prefix="")
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

    def subworkflow(self, ref: syntax.Text, near: Path) -> RawWorkflow | None:
        """The workflow a `subworkflow "X"` names: one already known, or X.xxp from a library."""
        name = ref.value
        if name not in self.variants.decls:
            assert self.libs is not None, "sub-workflows are resolved only during load()"
            path, tried = self.libs.find_workflow_file(name, near)
            if path is None:
                places = ", ".join(display_path(p.parent) for p in tried[:4])
                self.diags.error(ref.pos, f'cannot find sub-workflow "{name}": no {name}.xxp in {places}')
                return None
            spec = self.reader.read(path, ref.pos, "sub-workflow file")
            if spec is None:
                return None
            for wf in spec.workflows:
                self.variants.declare(wf)
            found = self._workflow_in_file(name, spec, path, ref)
            if found is None:
                return None
            name = found
        return self.variants.raw(name)

    def _workflow_in_file(self, name: str, spec: syntax.SpecFile, path: Path, ref: syntax.Text) -> str | None:
        """Which workflow of a sub-workflow file is meant: the one named, or the file's only one."""
        if name in self.variants.decls:
            return name
        wanted = Path(name).stem
        if wanted in self.variants.decls:
            return wanted
        if len(spec.workflows) == 1:
            return spec.workflows[0].name.text
        self.diags.error(ref.pos, f"{display_path(path)} defines no workflow {name}")
        return None
