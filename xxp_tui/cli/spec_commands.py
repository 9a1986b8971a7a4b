"""`xxp-tui validate` and `xxp-tui tasks`: the language, without running anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from xxp_tui.cli.output import fail_usage, print_table


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("tasks")(tasks)


def _spec_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.rglob("*.xxp"))
            if not found:
                fail_usage(f"{p} holds no .xxp files.")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            fail_usage(f"No such file or folder: {p}")
    return files


def validate(
    paths: list[Path] = typer.Argument(..., help="Spec files (.xxp) or folders to search for them."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (one spec file only)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print diagnostics only, no summary."),
) -> None:
    """Check specs and print what they hold. Exit 0 when valid, 1 with diagnostics, 2 on misuse."""
    from xxp_tui.lang import load_project
    from xxp_tui.lang.summary import human_summary, result_json

    files = _spec_files(paths)
    if as_json and len(files) != 1:
        fail_usage("--json takes exactly one spec file.")
    failed = False
    noted: set[Path | None] = set()  # eexp_config.py files whose unused settings were listed already
    for path in files:
        result = load_project(path)
        bad = not result.ok or (strict and result.warnings)
        failed |= bool(bad)
        project = result.project
        if as_json:
            payload = result_json(result)
            if project is not None and project.unused_settings:
                payload["unused_settings"] = {"file": str(project.eexp_config), "names": list(project.unused_settings)}
            if strict:
                payload["ok"] = not bad
            print(json.dumps(payload, indent=2))
            continue
        for d in result.diagnostics:
            text = result.sources.get(d.pos.file, "")
            lines = text.splitlines()
            source = lines[d.pos.line - 1] if 0 < d.pos.line <= len(lines) else None
            print(d.render(source), file=sys.stderr)
        if bad:
            print(f"{path}: invalid ({len(result.errors)} error(s), {len(result.warnings)} warning(s))",
                  file=sys.stderr)
            continue
        warn = f" ({len(result.warnings)} warning(s))" if result.warnings else ""
        print(f"{path}: ok{warn}")
        if not quiet:
            for line in human_summary(result):
                print(line)
        if project is not None and project.unused_settings and project.eexp_config not in noted:
            noted.add(project.eexp_config)
            print(f"{project.eexp_config}: settings xxp-tui does not use (ExtremeXP's DAL, ProActive, DDM…): "
                  + ", ".join(project.unused_settings))
    raise typer.Exit(1 if failed else 0)


def tasks(
    path: Path = typer.Argument(Path("."), help="A spec file or a folder; its task libraries are listed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
) -> None:
    """List the reusable tasks of the task libraries a spec sees (name, params, metrics, where)."""
    from xxp_tui.lang.library import ConfigError, libraries_for, library_task_folders
    from xxp_tui.lang.loader import load_project
    from xxp_tui.lang.reading import display_path

    if not path.exists():
        fail_usage(f"No such file or folder: {path}")
    anchor = path if path.is_file() else path / "_.xxp"
    try:
        libs = libraries_for(anchor)
    except ConfigError as exc:
        fail_usage(str(exc))
    if path.is_dir() and not libs.task_dirs and any(path.rglob("task.xxp")):
        # A folder that is itself a task library (task folders directly below it).
        libs = type(libs)(**{**libs.__dict__, "task_dirs": (path.resolve(), *libs.task_dirs)})
    rows: list[dict[str, Any]] = []
    for root, folder in library_task_folders(libs):
        result = load_project(folder / "task.xxp")
        sig = result.project.signatures[0] if result.project and result.project.signatures else None
        ref = folder.relative_to(root).as_posix().replace("/", ".")
        params = []
        if sig:
            for p in sig.params.values():
                default = "" if p.default is None else f"={p.default}"
                params.append(f"{p.name}:{p.type or '?'}{default}")
        rows.append({
            "name": ref,
            "task": sig.name if sig else None,
            "params": params,
            "metrics": list(sig.metrics) if sig else [],
            "inputs": list(sig.inputs) if sig else [],
            "outputs": list(sig.outputs) if sig else [],
            "interactive": bool(sig and sig.interactive),
            "where": display_path(folder),
            "ok": result.ok,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        places = ", ".join(display_path(d) for d in libs.task_dirs) or "none found"
        print(f"No tasks found (task libraries: {places}).")
        return
    print_table(
        ["name", "params", "metrics", "where"],
        [[r["name"] + (" (interactive)" if r["interactive"] else ""), ", ".join(r["params"]) or "-",
          ", ".join(r["metrics"]) or "-", r["where"]] for r in rows],
    )
