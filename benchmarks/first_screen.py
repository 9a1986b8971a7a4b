"""First-screen time, as a new user meets it: `make run` in a fresh clone, then `xxp-tui attach`.

Each command is typed into a real terminal (tmux, 80×24, TERM=xterm-256color); the clock runs from
the Enter key to the first screen that shows the viewer (its status line `r1 Quickstart`). Then `q`,
and `xxp-tui attach` is timed the same way (the venv is warm by then). Usage:

    python benchmarks/first_screen.py [--ref COMMIT] [--keep]

`--ref` clones that commit of this repository into a temporary folder (default: HEAD), so the
fresh-clone figure of an older commit can be compared with the current one on the same machine.
Prints one JSON object: seconds to the first screen of `make run` (fresh), of a second `make run`
(warm venv) and of `attach`.

Measured on the shared 2-core development machine under a load average of 12-15 (several test
suites at once), so the figures are noisy; each row is one run of this script:

    commit                      make run, fresh   make run, warm   attach
    9ce8fbc (before issue 11)   177 s, 217 s      8.2 s, 15.5 s    3.0 s, 5.8 s
    1756483 (extras split)      119 s             8.7 s            4.8 s
    9d859a7 (viewer preloaded)  149 s             11.2 s           6.5 s

The fresh figure is mostly pip: the test, examples and dask extras (scikit-learn, numpy, scipy,
dask, distributed, pytest…) are no longer installed before the first screen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")
VIEWER = "r1 Quickstart"


class Terminal:
    def __init__(self, cwd: Path) -> None:
        self.socket = f"xxp-bench-{os.getpid()}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "XXP_", "TEXTUAL", "VIRTUAL_ENV"))}
        self.env.update(TERM="xterm-256color", PS1="$ ")
        self.run("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", "-c", str(cwd), "sh")

    def run(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *args], env=self.env, capture_output=True, text=True,
                              check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b")

    def type(self, *keys: str) -> None:
        self.run("send-keys", "-t", "b", *keys)

    def time_until(self, command: str, seen, timeout: float = 1800.0) -> float:
        self.run("send-keys", "-t", "b", "clear", "Enter")
        time.sleep(0.3)
        start = time.monotonic()
        self.type(command, "Enter")
        while time.monotonic() - start < timeout:
            if seen(self.screen()):
                return time.monotonic() - start
            time.sleep(0.05)
        raise TimeoutError(f"{command!r}: no first screen after {timeout:.0f} s:\n{self.screen()}")

    def wait_prompt(self, markers: tuple[str, ...], timeout: float = 60.0) -> None:
        """Until the viewer has closed and printed its parting line (one of `markers`)."""
        deadline = time.monotonic() + timeout
        while not any(m in self.screen() for m in markers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waiting for {markers}:\n{self.screen()}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], env=self.env, capture_output=True)


def viewer_shown(screen: str) -> bool:
    return screen.lstrip().startswith(VIEWER)


def measure(clone: Path) -> dict[str, float]:
    term = Terminal(clone)
    try:
        out = {"make_run_fresh_s": term.time_until("make run", viewer_shown)}
        term.type("q")
        term.wait_prompt(("Come back with", "Results:"))
        out["make_run_warm_s"] = term.time_until("make run", lambda s: s.lstrip().startswith("r2 Quickstart"))
        term.type("q")
        term.wait_prompt(("Come back with", "Results:"))
        # --db named explicitly, so an older commit (whose KB sat beside the spec) is timed the same way
        (kb,) = [p for p in clone.rglob("kb.sqlite") if p.parent.name == ".xxp"]
        out["attach_s"] = term.time_until(f".venv/bin/xxp-tui attach r1 --db {kb}", viewer_shown)
        term.type("q")
        return out
    finally:
        term.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args()
    if TMUX is None:
        print("tmux is needed to time a real terminal", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="xxp-first-screen-"))
    clone = folder / "xxp-tui"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", args.ref], check=True)
    try:
        result = {"ref": subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], text=True,
                                        capture_output=True).stdout.strip(), **measure(clone)}
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
