"""Library resolution: what a task's `implementation` names -> its `TaskSignature`.

An implementation is a script next to the spec (`"train.py"`) or a task of a library, named by
its folder (`"ml.Train"`, `"ml/Train"`), whose `task.xxp` declares ports, params and metrics.
Signature statements written in a workflow's task block extend the library's signature.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.lang.library import SIGNATURE_FILE, Libraries
from xxp_tui.lang.model import MetricSpec, ParamSpec, Task, TaskSignature, frozen_map, normalise_type
from xxp_tui.lang.reading import SourceReader, display_path
from xxp_tui.lang.variants import RawTask

SCRIPT_SUFFIXES = (".py", ".sh", ".R", ".jl", ".js", ".pl", ".rb")
_REQUIREMENTS = ("requirements file", "the task's environment cannot be built")


def param_spec(p: syntax.ParamDef) -> ParamSpec:
    default = p.default
    if isinstance(default, syntax.Ref):
        default = default.name
    return ParamSpec(p.name.text, normalise_type(p.type.text) if p.type else None, default, p.domain)


def metric_spec(m: syntax.MetricDef) -> MetricSpec:
    return MetricSpec(
        m.name.text,
        kind=m.kind.text if m.kind else "single-value",
        type=m.type.text if m.type else None,
        semantic_type=m.semantic_type.text if m.semantic_type else None,
    )


T = TypeVar("T")
D = TypeVar("D")


def _value(text: syntax.Text | None) -> str | None:
    return text.value if text is not None else None


def _first(setting: tuple[T, Pos] | None) -> T | None:
    """The value of a `(value, pos)` setting, or None when it is not written."""
    return setting[0] if setting else None


def _first_set(own: T | None, inherited: T | None, default: D) -> T | D:
    """What the workflow sets, else what the task's signature sets, else the default."""
    if own is not None:
        return own
    return inherited if inherited is not None else default


class TaskResolver:
    """Resolves implementations against the libraries, reading each task.xxp once."""

    def __init__(self, libs: Libraries, reader: SourceReader, diags: Diagnostics) -> None:
        self.libs = libs
        self.reader = reader
        self.diags = diags
        self._signatures: dict[Path, TaskSignature | None] = {}

    def task(self, t: RawTask, prefix: str, default_dir: Path) -> Task:
        """The model task for a raw one: its signature resolved, the signature's defaults applied."""
        signature = None
        origin = t.origin_dir or default_dir
        if t.implementation is not None:
            signature = self.resolve_implementation(t.implementation, origin, t.name)
        if t.inline:
            signature = self._merge_inline(signature, t, origin)
        return Task(
            name=prefix + t.name,
            pos=t.pos,
            implementation=_value(t.implementation),
            signature=signature,
            params=frozen_map(t.params),
            timeout=_first_set(t.timeout, signature.timeout if signature else None, None),
            retries=_first_set(t.retries, signature.retries if signature else None, 0),
            cache=_first_set(t.cache, signature.cache if signature else None, True),
            resources=frozen_map(t.resources),
            stall_after=_first_set(t.stall_after, signature.stall_after if signature else None, None),
            on_stall=_first_set(t.on_stall, signature.on_stall if signature else None, "mark"),
        )

    def resolve_implementation(self, ref: syntax.Text, near: Path, task_name: str) -> TaskSignature | None:
        value = ref.value.strip()
        if not value:
            self.diags.error(ref.pos, "implementation must not be empty")
            return None
        as_path = (near / value)
        if value.endswith(SCRIPT_SUFFIXES) or as_path.is_file():
            return self._script(ref, value, as_path, near, task_name)
        root, folder = self._library_folder(ref, value)
        if folder is None or root is None:
            places = ", ".join(display_path(p) for p in self.libs.task_dirs) or "no task library folder found"
            self.diags.error(
                ref.pos,
                f'cannot find task "{value}": no folder with {SIGNATURE_FILE} for it in the task libraries '
                f"({places}){did_you_mean(value, self._library_refs())}",
            )
            return None
        return self.load_signature(folder.resolve(), root.resolve(), ref.pos)

    def _script(self, ref: syntax.Text, value: str, as_path: Path, near: Path, task_name: str) -> TaskSignature:
        """An implementation naming a script beside the spec: a signature with no declarations."""
        if not as_path.is_file():
            self.diags.error(ref.pos, f'implementation file "{value}" not found in {display_path(near)}')
            return TaskSignature(name=task_name, source=ref.pos.file, script_ref=value)
        self._warn_if_outside(ref, as_path)
        return TaskSignature(name=task_name, source=ref.pos.file, script=as_path.resolve(), script_ref=value)

    def _library_folder(self, ref: syntax.Text, value: str) -> tuple[Path | None, Path | None]:
        """The library root and task folder `value` names; a bare name may match a folder name."""
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
        return root, folder

    def _warn_if_outside(self, ref: syntax.Text, path: Path) -> None:
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

    def load_signature(self, folder: Path, root: Path, pos: Pos) -> TaskSignature | None:
        if folder in self._signatures:
            return self._signatures[folder]
        self._signatures[folder] = None
        spec = self.reader.read(folder / SIGNATURE_FILE, pos, "task signature")
        if spec is None:
            return None
        if not spec.signatures:
            self.diags.error(Pos(spec.path), f"{spec.path} declares no task (expected 'task Name {{ … }}')")
            return None
        if len(spec.signatures) > 1:
            self.diags.error(spec.signatures[1].name.pos, "a task.xxp file declares exactly one task")
        sig = self.signature_from_block(spec.signatures[0], folder, spec.path, root)
        self._signatures[folder] = sig
        return sig

    def signature_from_block(
        self, block: syntax.TaskBlock, folder: Path, source: str, root: Path | None = None
    ) -> TaskSignature:
        script = self._find_script(block.implementation, folder, root) if block.implementation else None
        venv_file = None
        if block.venv is not None:
            venv_file = self._find_file(block.venv, [folder, *([root] if root else []), folder.parent], *_REQUIREMENTS)
        return TaskSignature(
            name=block.name.text,
            source=source,
            folder=folder,
            inputs=tuple(n.text for n in block.inputs),
            outputs=tuple(n.text for n in block.outputs),
            params=frozen_map({p.name.text: param_spec(p) for p in block.params}),
            metrics=frozen_map({m.name.text: metric_spec(m) for m in block.metrics}),
            script=script,
            script_ref=_value(block.implementation),
            dependencies=tuple(d.value for d in block.dependencies),
            dependency_root=self.libs.dependencies_dir,
            venv=_value(block.venv),
            venv_file=venv_file,
            python_version=_value(block.python_version),
            task_type=block.task_type.text if block.task_type else None,
            timeout=_first(block.timeout),
            stall_after=_first(block.stall_after),
            on_stall=_first(block.on_stall),
            retries=_first(block.retries),
            cache=_first(block.cache),
        )

    def _find_script(self, ref: syntax.Text, folder: Path, root: Path | None) -> Path | None:
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

    def _find_file(self, ref: syntax.Text, places: list[Path], what: str, consequence: str) -> Path | None:
        """A file a task names (`venv "Task/requirements.txt"`), as ExtremeXP writes it: relative to
        the task folder or to the library root; a missing one is a warning saying what follows."""
        for base in places:
            if (base / ref.value).is_file():
                return (base / ref.value).resolve()
        self.diags.warning(ref.pos, f'{what} "{ref.value}" not found (looked in '
                                    f'{", ".join(display_path(p) for p in dict.fromkeys(places))}); {consequence}')
        return None

    def _merge_inline(self, base: TaskSignature | None, t: RawTask, origin: Path) -> TaskSignature:
        """Signature statements written in the workflow's task block extend (or make) the signature."""
        sig = base or TaskSignature(name=t.name, source=t.pos.file)
        for block in t.inline:
            sig = self._extend(sig, block, origin)
        return sig

    def _extend(self, sig: TaskSignature, block: syntax.TaskBlock, origin: Path) -> TaskSignature:
        """One block's statements added to a signature: new ports and dependencies appended, params
        and metrics added or replaced, type, venv and Python version replaced when written."""
        venv, venv_file = sig.venv, sig.venv_file
        if block.venv is not None:
            venv = block.venv.value
            venv_file = self._find_file(block.venv, [*([sig.folder] if sig.folder else []), origin], *_REQUIREMENTS)
        return replace(
            sig,
            inputs=(*sig.inputs, *(n.text for n in block.inputs if n.text not in sig.inputs)),
            outputs=(*sig.outputs, *(n.text for n in block.outputs if n.text not in sig.outputs)),
            params=frozen_map({**sig.params, **{p.name.text: param_spec(p) for p in block.params}}),
            metrics=frozen_map({**sig.metrics, **{m.name.text: metric_spec(m) for m in block.metrics}}),
            dependencies=(*sig.dependencies, *(d.value for d in block.dependencies)),
            task_type=block.task_type.text if block.task_type else sig.task_type,
            venv=venv,
            venv_file=venv_file,
            python_version=block.python_version.value if block.python_version else sig.python_version,
        )
