"""What a project can build from: the library tasks and sub-workflows a spec sees (the same
resolution as `run`: task libraries and workflow libraries from xxp.toml or the ExtremeXP folders),
each with what a designer needs to use it: ports, params with their types, defaults and ranges,
metrics, the doc comment at the top of its file, and where it lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xxp_tui.lang.model import TaskSignature


@dataclass(frozen=True)
class LibraryItem:
    kind: str  # "task" | "workflow"
    ref: str  # what `implementation "…"` / `subworkflow "…"` names
    name: str
    where: str
    doc: str = ""
    signature: TaskSignature | None = None
    ok: bool = True

    @property
    def label(self) -> str:
        return f"{self.ref}" if self.kind == "task" else f"{self.ref} (workflow)"

    def matches(self, query: str) -> bool:
        q = query.strip().lower()
        return not q or q in self.ref.lower() or q in self.name.lower() or q in self.doc.lower()


def doc_comment(text: str) -> str:
    """The `//` lines that open a file: its documentation."""
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("//"):
            break
        lines.append(s[2:].strip())
    return " ".join(lines)


def library_items(spec_path: Path) -> list[LibraryItem]:
    from xxp_tui.lang.library import ConfigError, libraries_for, library_task_folders
    from xxp_tui.lang.loader import load_project

    try:
        libs = libraries_for(spec_path)
    except ConfigError:
        return []
    base = spec_path.resolve().parent
    items: list[LibraryItem] = []
    for root, folder in library_task_folders(libs):
        sig_file = folder / "task.xxp"
        result = load_project(sig_file)
        sig = result.project.signatures[0] if result.project and result.project.signatures else None
        try:
            doc = doc_comment(sig_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            doc = ""
        ref = folder.relative_to(root).as_posix().replace("/", ".")
        items.append(LibraryItem("task", ref, sig.name if sig else ref, _rel(folder, base), doc, sig, result.ok))
    for root in libs.workflow_dirs:
        for path in sorted(root.rglob("*.xxp")):
            ref = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
            try:
                doc = doc_comment(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                doc = ""
            items.append(LibraryItem("workflow", ref, path.stem, _rel(path, base), doc))
    return items


def _rel(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


def describe(item: LibraryItem) -> list[str]:
    """The details shown for a library item, one line each."""
    lines = [f"{item.kind} {item.name}", f"  use as: {item.ref}", f"  in: {item.where}"]
    if item.doc:
        lines.append(f"  {item.doc}")
    sig = item.signature
    if sig is None:
        if item.kind == "task":
            lines.append("  (its task.xxp has errors)" if not item.ok else "")
        return lines
    if sig.inputs:
        lines.append("  inputs: " + ", ".join(sig.inputs))
    if sig.outputs:
        lines.append("  outputs: " + ", ".join(sig.outputs))
    for p in sig.params.values():
        bits = [p.type or "?"]
        if p.default is not None:
            bits.append(f"default {p.default!r}")
        if p.domain is not None:
            bits.append(p.domain.describe())
        lines.append(f"  param {p.name}: " + ", ".join(bits))
    for m in sig.metrics.values():
        lines.append(f"  metric {m.name}: {m.kind}")
    return lines
