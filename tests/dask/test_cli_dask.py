"""`xxp-tui run --executor/--scheduler` misuse: one sentence, exit 2, no traceback, nothing recorded.
Real CLI processes; the unreachable scheduler is a real closed port on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from tests.dask.conftest import free_port, make_project, xxp


def check_refused(done, *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_scheduler_needs_the_dask_executor(tmp_path: Path) -> None:
    spec = make_project(tmp_path)
    db = tmp_path / "kb.sqlite"
    check_refused(xxp("run", spec, "--headless", "--db", db, "--scheduler", "tcp://127.0.0.1:8786"),
                  "--scheduler needs --executor dask")
    check_refused(xxp("run", spec, "--headless", "--db", db, "--executor", "local", "--scheduler",
                      "tcp://127.0.0.1:8786"), "--scheduler needs --executor dask")
    check_refused(xxp("run", spec, "--headless", "--db", db, "--executor", "ray"), "local or dask", "'ray'")
    assert not db.exists()


def test_bad_or_unreachable_scheduler_is_one_sentence(tmp_path: Path) -> None:
    spec = make_project(tmp_path)
    db = tmp_path / "kb.sqlite"
    check_refused(xxp("run", spec, "--headless", "--db", db, "--executor", "dask", "--scheduler", "localhost"),
                  "tcp://HOST:8786", "'localhost'")
    check_refused(xxp("run", spec, "--headless", "--db", db, "--executor", "dask", "--scheduler",
                      "http://127.0.0.1:80/x"), "tcp://HOST:8786")
    closed = f"tcp://127.0.0.1:{free_port()}"
    check_refused(xxp("run", spec, "--headless", "--db", db, "--executor", "dask", "--scheduler", closed),
                  f"cannot reach the Dask scheduler at {closed}")
    assert not db.exists()


def test_xxp_toml_chooses_the_executor(tmp_path: Path) -> None:
    spec = make_project(tmp_path)
    db = tmp_path / "kb.sqlite"
    closed = f"tcp://127.0.0.1:{free_port()}"
    (tmp_path / "xxp.toml").write_text(f'[executor]\nkind = "dask"\nscheduler = "{closed}"\n')
    check_refused(xxp("run", spec, "--headless", "--db", db), f"cannot reach the Dask scheduler at {closed}",
                  "xxp.toml")
    (tmp_path / "xxp.toml").write_text('[executor]\nkind = "slurm"\n')
    check_refused(xxp("run", spec, "--headless", "--db", db), "[executor] kind", "'slurm'")
    (tmp_path / "xxp.toml").write_text('[executor]\nkind = "local"\n')
    check_refused(xxp("run", spec, "--headless", "--db", db, "--scheduler", closed),
                  "--scheduler needs --executor dask")
    assert not db.exists()
