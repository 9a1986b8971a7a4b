"""`fmt`, `graph`, `new task|project` and `design`: writing specs rather than running them."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from xxp_tui.cli.output import fail, fail_usage
from xxp_tui.files import atomic_write

new_app = typer.Typer(help="Create a library task or a project to start from.", no_args_is_help=True,
                      rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.command("fmt")(fmt)
    app.command("graph")(graph)
    app.add_typer(new_app, name="new")
    app.command("design")(design)


def fmt(
    files: list[Path] = typer.Argument(..., help="Spec files (.xxp) to format."),
    check: bool = typer.Option(False, "--check", help="Print nothing; exit 1 if any file would change."),
    write: bool = typer.Option(False, "--write", help="Rewrite the files in place."),
) -> None:
    """Print the canonical text of specs (same statements, comments kept; only the layout changes)."""
    from xxp_tui.lang.fmt import FormatError, format_text

    if check and write:
        fail_usage("--check and --write do not go together.")
    changed, failed = [], False
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is dropped, as the loader does
        except (OSError, UnicodeDecodeError) as exc:
            print(f"xxp-tui: cannot read {path}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            failed = True
            continue
        try:
            out = format_text(text, str(path))
        except FormatError as exc:
            print(f"xxp-tui: {exc}", file=sys.stderr)
            failed = True
            continue
        if out != text:
            changed.append(path)
        if check:
            continue
        if write:
            if out != text:
                atomic_write(path, out)
        else:
            sys.stdout.write(out)
    if check:
        for path in changed:
            print(f"{path}: would be reformatted", file=sys.stderr)
        raise typer.Exit(1 if changed or failed else 0)
    raise typer.Exit(1 if failed else 0)




def graph(
    file: Path = typer.Argument(..., help="A spec file (.xxp)."),
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Draw this workflow's task DAG."),
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Draw this experiment's control graph."),
    form: str = typer.Option("text", "--format", "-f", help="text, dot or mermaid."),
) -> None:
    """Draw a workflow's task DAG or an experiment's control graph (every workflow with no flag)."""
    from xxp_tui.lang import drawing, load_project

    if form not in ("text", "dot", "mermaid"):
        fail_usage(f"--format must be text, dot or mermaid, not {form!r}.")
    if workflow and experiment:
        fail_usage("give --workflow or --experiment, not both.")
    if not file.is_file():
        fail_usage(f"No such file: {file}")
    result = load_project(file)
    project = result.project
    if project is None:
        fail(f"{file} could not be read; run `xxp-tui validate {file}`.")
    if result.errors:
        print(f"xxp-tui: warning: {file} has {len(result.errors)} error(s); "
              f"`xxp-tui validate {file}` lists them.", file=sys.stderr)
    blocks: list[str] = []
    if experiment:
        exp = project.experiments.get(experiment)
        if exp is None:
            fail(f"{file} has no experiment {experiment!r} (it has: {', '.join(project.experiments) or 'none'}).")
        nodes, edges, labels = drawing.control_graph(exp)
        if form == "dot":
            blocks.append(drawing.to_dot(exp.name, nodes, edges, labels))
        elif form == "mermaid":
            blocks.append(drawing.to_mermaid(nodes, edges, labels))
        else:
            blocks.append("\n".join([f"experiment {exp.name}", *drawing.experiment_lines(exp)]))
    else:
        if workflow and workflow not in project.workflows:
            fail(f"{file} has no workflow {workflow!r} (it has: {', '.join(project.workflows) or 'none'}).")
        chosen = [project.workflows[workflow]] if workflow else list(project.workflows.values())
        if not chosen:
            fail(f"{file} has no workflow to draw.")
        for wf in chosen:
            nodes, edges = drawing.workflow_graph(wf)
            if form == "dot":
                blocks.append(drawing.to_dot(wf.name, nodes, edges))
            elif form == "mermaid":
                blocks.append(drawing.to_mermaid(nodes, edges))
            else:
                base = f" (from {wf.base})" if wf.base else ""
                blocks.append("\n".join([f"workflow {wf.name}{base}", *drawing.workflow_lines(wf)]))
    print("\n\n".join(blocks))


@new_app.command("task")
def new_task(
    name: str = typer.Argument(..., help="The task's name (letters, digits, _)."),
    lib: Path = typer.Option(..., "--lib", help="The task library folder to create it in."),
    extremexp: bool = typer.Option(False, "--extremexp", help="A script using ExtremeXP's variables/resultMap."),
) -> None:
    """Create LIB/NAME/task.xxp and a script beside it."""
    from xxp_tui.scaffold import ScaffoldError
    from xxp_tui.scaffold import new_task as create

    try:
        folder = create(name, lib, extremexp=extremexp)
    except ScaffoldError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot create the task in {lib}: {exc.strerror}.")
    print(f"created {folder / 'task.xxp'}")


@new_app.command("project")
def new_project(folder: Path = typer.Argument(..., help="A new or empty folder.")) -> None:
    """Create a project: xxp.toml, tasks/, workflows/ and an experiment that runs."""
    from xxp_tui.scaffold import ScaffoldError
    from xxp_tui.scaffold import new_project as create

    try:
        spec = create(folder)
    except ScaffoldError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot create the project in {folder}: {exc.strerror}.")
    print(f"created {spec}; run it with: xxp-tui run {spec}")


def design(file: Path | None = typer.Argument(None, help="The spec to design (created on save if new).")) -> None:
    """Open the workflow designer: the task library, the DAG, editing, experiments, validation."""
    from xxp_tui.tui.design_launch import open_designer

    if file is not None and file.exists():
        if not file.is_file():
            fail_usage(f"{file} is not a file.")
        try:
            file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}.")
    raise typer.Exit(open_designer(file))
