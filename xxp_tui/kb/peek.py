"""Quick read-only looks at the knowledge base for shell completion: run and variant ids, space and
task names. Plain sqlite3 (not sqlite-utils, no migrations), a short timeout and no writes, so a
Tab press answers in milliseconds and never waits on, or changes, a running engine's KB."""

from __future__ import annotations

import sqlite3
from pathlib import Path

LIMIT = 200  # a shell shows a screenful; more would only slow the answer


def _query(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    try:
        conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.Error:  # an older or foreign file, a lock held too long: nothing to offer
        return []
    finally:
        conn.close()


def run_labels(db: Path) -> list[tuple[str, str]]:
    """(r3, "Quickstart completed"), newest first."""
    rows = _query(db, "SELECT id, experiment, status FROM runs ORDER BY id DESC LIMIT ?", (LIMIT,))
    return [(f"r{i}", f"{exp} {status}") for i, exp, status in rows]


def variant_labels(db: Path, prefix_digits: str = "") -> list[tuple[str, str]]:
    """(v12, "r3 Grid completed"), newest first; only ids starting with `prefix_digits`."""
    rows = _query(db, "SELECT id, run_id, space, status FROM variants WHERE CAST(id AS TEXT) LIKE ? "
                      "ORDER BY id DESC LIMIT ?", (f"{prefix_digits}%", LIMIT))
    return [(f"v{i}", f"r{run} {space} {status}") for i, run, space, status in rows]


def space_names(db: Path) -> list[str]:
    """Spaces of the latest run first, then those of earlier runs."""
    rows = _query(db, "SELECT space, MAX(run_id) AS latest FROM variants GROUP BY space ORDER BY latest DESC, space "
                      "LIMIT ?", (LIMIT,))
    return [r[0] for r in rows]


def waiting_nodes(db: Path) -> list[tuple[str, str]]:
    """What waits for an answer, newest first: an interaction by its node name (its variant is the
    node's), a variant held in an interactive task by its id."""
    rows = _query(db, "SELECT v.id, v.run_id, v.space, n.kind FROM variants v LEFT JOIN nodes n"
                      " ON n.run_id = v.run_id AND n.name = v.space WHERE v.status = 'waiting_input'"
                      " ORDER BY v.id DESC LIMIT ?", (LIMIT,))
    out: dict[str, str] = {}
    for vid, run, space, kind in rows:
        if kind == "interaction":
            out.setdefault(space, f"r{run} waits for an answer")
        else:
            out[f"v{vid}"] = f"r{run} {space}: an interactive task waits"
    return list(out.items())


def task_names(db: Path) -> list[str]:
    rows = _query(db, "SELECT DISTINCT task FROM task_runs ORDER BY task LIMIT ?", (LIMIT,))
    return [r[0] for r in rows]


def param_keys(db: Path) -> list[str]:
    """`Task.param` keys of the newest variants (what `inject --set` takes)."""
    import json

    keys: dict[str, None] = {}
    for (params,) in _query(db, "SELECT params FROM variants ORDER BY id DESC LIMIT 50"):
        try:
            keys.update(dict.fromkeys(json.loads(params or "{}")))
        except (ValueError, TypeError):
            continue
    return sorted(keys)


def workflow_names(db: Path) -> list[str]:
    """Workflows spaces ran, from each run's recorded model (for `kb best`)."""
    import json

    names: dict[str, None] = {}
    for (model,) in _query(db, "SELECT model FROM runs ORDER BY id DESC LIMIT 50"):
        try:
            for exp in json.loads(model or "{}").get("experiments", {}).values():
                for sp in exp.get("spaces", {}).values():
                    if sp.get("workflow"):
                        names[sp["workflow"]] = None
        except (ValueError, AttributeError):
            continue
    return list(names)
