"""Crash points for the crash-safety tests: the engine SIGKILLs itself where `XXP_TEST_CRASH_AT`
says, so a test can kill it exactly at a control-graph boundary instead of hoping a timer lands
there. Unset (always, outside those tests), every call is a dictionary lookup that does nothing.

`XXP_TEST_CRASH_AT=<point>:<before|after>`, where a point is `start` (the first step of a fresh
run) or `<node>#<iteration>` (that node's round finishing); `before` dies after the step was
decided in memory but before it is written, `after` right after its transaction committed.
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("XXP_TEST_CRASH_AT")


def crash_point(point: str, phase: str) -> None:
    if _TARGET is not None and f"{point}:{phase}" == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
