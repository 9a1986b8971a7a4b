"""Settings from the environment (shown in --help; flags > environment > xxp.toml > defaults),
colour in headless output (--color, NO_COLOR), the exit-code table, --json on cache gc, and no
Optuna ExperimentalWarning in a QMC run's progress lines."""

from __future__ import annotations

import json

from tests.engine.conftest import Project, clean_env, xxp
from tests.frontends.conftest import SCRIPT, SIGNATURE, SPEC

QMC_SPEC = SPEC.replace("strategy gridsearch;", "strategy qmc;\n        runs = 3;").replace(
    "enum(0.0, 0.25, 0.5, 1.0)", "range(0.0, 1.0)").replace("objective maximize y, minimize cost;",
                                                           "objective maximize y;")
ANSI = "\x1b["


def project(root) -> Project:
    p = Project(root)
    p.task("m.fit", SIGNATURE, "fit.py", SCRIPT)
    p.spec(SPEC)
    p.spec(QMC_SPEC, "qmc.xxp")
    (root / "xxp.toml").write_text('[executor]\nkind = "dask"\n')  # the environment must win over this
    return p


def run_json(p: Project, db) -> dict:
    return json.loads(xxp("show", "latest", "--json", "--db", db, cwd=p.root).stdout)


def test_environment_settings_sit_between_flags_and_xxp_toml(tmp_path):
    help_text = " ".join(xxp("run", "--help").stdout.split())  # unwrapped
    for var in ("XXP_WORKERS", "XXP_EXECUTOR", "XXP_SCHEDULER", "XXP_NO_CACHE", "XXP_WARM_START",
                "XXP_MAX_FAILURES", "XXP_MAX_LOG_MB", "XXP_HEADLESS", "XXP_DB"):
        assert f"env var: {var}" in help_text, var
    p = project(tmp_path)
    env = clean_env(XXP_WORKERS="1", XXP_NO_CACHE="1", XXP_EXECUTOR="local", XXP_HEADLESS="1", XXP_COLOR="always")
    done = xxp("run", p.root / "e.xxp", "--db", p.db, cwd=p.root, env=env)  # headless from the environment
    assert done.returncode == 0, done.stdout + done.stderr
    record = run_json(p, p.db)
    assert record["run"]["workers"] == 1 and record["run"]["executor"] == "local"  # env beat xxp.toml's dask
    assert record["settings"]["no_cache"] is True
    assert f"{ANSI}32mcompleted{ANSI}0m" in done.stdout  # XXP_COLOR=always: coloured even into a pipe

    db2 = tmp_path / "kb2.sqlite"
    done = xxp("run", p.root / "e.xxp", "--db", db2, "-w", "2", "--executor", "local", cwd=p.root,
               env=clean_env(XXP_WORKERS="1", XXP_HEADLESS="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert run_json(p, db2)["run"]["workers"] == 2  # the flag beat the environment
    assert ANSI not in done.stdout  # auto: a pipe gets no colour

    bad = xxp("run", p.root / "e.xxp", "--db", db2, cwd=p.root, env=clean_env(XXP_EXECUTOR="slurm"))
    assert bad.returncode == 2 and "XXP_EXECUTOR" in bad.stderr and "Traceback" not in bad.stderr
    bad = xxp("run", p.root / "e.xxp", "--db", db2, cwd=p.root, env=clean_env(XXP_WORKERS="many"))
    assert bad.returncode == 2 and "'--workers'" in bad.stderr and "XXP_WORKERS" in bad.stderr


def test_no_color_and_the_color_flag(tmp_path):
    missing = tmp_path / "none.xxp"
    for args, env, coloured in (([], {}, False), (["--color", "always"], {"NO_COLOR": "1"}, True),
                                (["--color", "never"], {}, False), ([], {"XXP_COLOR": "always"}, True)):
        done = xxp(*args, "validate", missing, env=clean_env(**env))
        assert done.returncode == 2 and (ANSI in done.stderr) == coloured, (args, env, done.stderr)
    bad = xxp("--color", "sometimes", "runs")
    assert bad.returncode == 2 and "--color takes auto, always or never" in bad.stderr


def test_help_has_the_exit_code_table():
    text = xxp("--help").stdout
    for line in ("0    success", "1    a variant failed", "2    misuse", "3    an internal error", "130  interrupted"):
        assert line in text, line
    flat = " ".join(text.split())
    assert "a flag wins over the environment, which wins over xxp.toml" in flat and "NO_COLOR" in flat


def test_a_qmc_run_prints_no_experimental_warning(tmp_path):
    p = project(tmp_path)
    done = xxp("run", p.root / "qmc.xxp", "--headless", "--executor", "local", "--db", p.db, cwd=p.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed" in done.stdout
    assert "ExperimentalWarning" not in done.stdout + done.stderr and "warnings.warn" not in done.stderr


def test_cache_gc_answers_json(finished):
    done = xxp("cache", "gc", "--dry-run", "--all", "--json", "--db", finished.db, cwd=finished.root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is True and report["entries"] == 4 and len(report["evicted"]) == 4
    assert {e["variant"] for e in report["evicted"]} == {"v1", "v2", "v3", "v4"}
