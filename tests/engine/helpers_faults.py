"""A task library whose one script misbehaves on request, for the fault and headless tests.

`t.fault` does what its `mode` param says: report a score (`ok`), crash, hang (with a grandchild,
both deaf to SIGTERM), kill itself with a signal, print 100 MB, print bytes that are not UTF-8,
write malformed metric lines, fail only on its first attempt (`flaky`), delete another task's
script (`vanish`), or wait until the test creates the file `release` in the project (`wait`).
`t.missing` names a script that does not exist; `t.victim` is what `vanish` deletes.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import Project

FAULT_TASK = """
task Fault {
    define param mode { type String; default "ok"; }
    define metric score { kind single-value; type Float; }
    implementation "fault.py";
}
"""

FAULT_PY = r'''
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from xxp_tui import sdk

mode = sdk.param("mode")
metrics = os.environ["XXP_METRICS"]
project = Path.cwd().parents[4]  # the working folder is .xxp/runs/r<run>/v<variant>/<Task>

GARBAGE = [
    b"not json at all\n",
    b'{"name": "score"}\n',                              # no value
    b'{"name": 7, "value": 1}\n',                        # name is not a string
    b'{"name": "score", "value": [1, 2]}\n',             # value is not a scalar
    b'{"name": "score", "value": 1, "step": "three"}\n', # step is not a number
    b'\xff\xfe{"name": "sc\x80ore", "value": 1}\n',      # not UTF-8
    b"[1, 2, 3]\n",                                      # not an object
    b'{"name": "score", "value": 1, "step": NaN}\n',     # a step that is no integer
    b'{"name": "score", "value": 1' + b"9" * 400 + b"}\n",  # a value too large for a float
]
ODD_TIMES = [  # usable metrics whose own timestamp is not: the time of reading is taken instead
    b'{"name": "odd_time", "value": 1, "time": 1' + b"0" * 400 + b"}\n",
    b'{"name": "odd_time", "value": 2, "time": NaN}\n',
]
TRUNCATED = b'{"name": "score", "value": 0.9'           # the last line, cut short

if mode == "ok":
    sdk.log_metric("score", 1.0)
elif mode == "crash":
    print("about to crash", flush=True)
    raise RuntimeError("deliberate crash")
elif mode == "hang":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited: only SIGKILL to the group helps
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path("child.pid").write_text(str(child.pid))
    Path("task.pid").write_text(str(os.getpid()))
    time.sleep(600)
elif mode in ("sigkill", "sigsegv"):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), signal.SIGKILL if mode == "sigkill" else signal.SIGSEGV)
    time.sleep(30)
elif mode == "flood":
    chunk = b"x" * 1023 + b"\n"
    out = sys.stdout.buffer
    for _ in range(100 * 1024):  # 100 MB
        out.write(chunk)
    out.flush()
    sdk.log_metric("score", 1.0)
elif mode in ("binary_fail", "binary_ok"):
    sys.stdout.buffer.write(b"bin \xff\xfe\x80 out\n")
    sys.stdout.flush()
    sys.stderr.buffer.write(b"bad bytes \xff\xfe \xc3\x28 end\n")
    sys.stderr.flush()
    if mode == "binary_fail":
        sys.exit(3)
    sdk.log_metric("score", 1.0)
elif mode in ("malformed", "malformed_ok"):
    with open(metrics, "ab") as fh:
        fh.writelines(GARBAGE)
        fh.writelines(ODD_TIMES)
        if mode == "malformed_ok":
            fh.write(b'{"name": "score", "value": 0.5}\n')
        fh.write(TRUNCATED)
elif mode == "flaky":
    marker = Path.cwd().parent / "flaky.marker"  # the variant's folder, shared by the attempts
    if not marker.exists():
        marker.write_text("failed once")
        print("first attempt fails on purpose", file=sys.stderr)
        sys.exit(1)
    sdk.log_metric("score", 2.0)
elif mode == "vanish":
    (project / "tasks" / "t" / "victim" / "victim.py").unlink()
    sdk.log_metric("score", 1.0)
elif mode == "wait":  # until the test creates the file `release` in the project
    deadline = time.monotonic() + 120
    while not (project / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    sdk.log_metric("score", 3.0)
else:
    sys.exit(f"unknown mode {mode!r}")
'''

MISSING_TASK = """
task Missing {
    define metric score { kind single-value; type Float; }
    implementation "gone.py";
}
"""

VICTIM_TASK = """
task Victim {
    define metric score { kind single-value; type Float; }
    implementation "victim.py";
}
"""
VICTIM_PY = """
from xxp_tui import sdk
sdk.log_metric("score", 1.0)
"""

# Every fault the `Faults` space runs, with the reason its variant must end with.
FAULT_MODES = ("ok", "crash", "sigkill", "sigsegv", "flood", "binary_fail", "binary_ok", "malformed",
               "malformed_ok")

FAULTS_SPEC = """
workflow W { task S { implementation "t.fault"; } }
workflow Hanging from W { task S { implementation "t.fault"; timeout 3s; } }
workflow Flaky from W { task S { implementation "t.fault"; retries 1; } }
workflow Gone { task S { implementation "t.missing"; } }
workflow Vanish {
    START -> Remove -> Victim -> END;
    task Remove { implementation "t.fault"; param mode = "vanish"; }
    task Victim { implementation "t.victim"; }
}

experiment Faults {
    control { START -> (Faults || Hang || Retry || Missing || Vanished) -> END; }
    space Faults of W {
        strategy gridsearch;
        param_values mode_vp = enum(MODES);
        task S { param mode = mode_vp; }
        objective maximize score;
    }
    space Hang of Hanging {
        strategy gridsearch;
        task S { param mode = "hang"; }
        objective maximize score;
    }
    space Retry of Flaky {
        strategy gridsearch;
        task S { param mode = "flaky"; }
        objective maximize score;
    }
    space Missing of Gone {
        strategy gridsearch;
        objective maximize score;
    }
    space Vanished of Vanish {
        strategy gridsearch;
        objective maximize Victim.score;
    }
}
"""


def fault_library(project: Project) -> None:
    project.task("t.fault", FAULT_TASK, "fault.py", FAULT_PY)
    project.task("t.missing", MISSING_TASK)
    project.task("t.victim", VICTIM_TASK, "victim.py", VICTIM_PY)


def faults_project(project: Project, modes: tuple[str, ...] = FAULT_MODES) -> Path:
    fault_library(project)
    listed = ", ".join(f'"{m}"' for m in modes)
    return project.spec(FAULTS_SPEC.replace("MODES", listed))


def grid_project(project: Project, modes: tuple[str, ...], name: str = "grid.xxp") -> Path:
    """One space over `t.fault` with the given modes, nothing else."""
    fault_library(project)
    listed = ", ".join(f'"{m}"' for m in modes)
    return project.spec(f"""
        workflow W {{ task S {{ implementation "t.fault"; }} }}
        experiment Grid {{
            control {{ START -> Faults -> END; }}
            space Faults of W {{
                strategy gridsearch;
                param_values mode_vp = enum({listed});
                task S {{ param mode = mode_vp; }}
                objective maximize score;
            }}
        }}
    """, name)
