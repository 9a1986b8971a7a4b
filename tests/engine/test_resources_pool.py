"""The resource pool (pure) and GPU discovery, without processes.

Discovery is tested with NVML absent (the real state of every machine of ours) and with a
test-only module answering like NVML (tests/engine/fake_nvml/pynvml.py: no machine here has a GPU).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xxp_tui.engine.gpus import GpuError, choose, parse_setting
from xxp_tui.engine.resources import Request, ResourceError, ResourcePool, parse_memory

FAKE_NVML = Path(__file__).parent / "fake_nvml"


def test_memory_accepts_units():
    assert parse_memory("16GB") == 16 * 10**9
    assert parse_memory("512 MiB") == 512 * 2**20
    assert parse_memory(1024) == 1024
    assert parse_memory("1.5g") == 1_500_000_000
    with pytest.raises(ResourceError, match="unknown unit"):
        parse_memory("3 parsecs")


def test_request_keys_and_shapes():
    assert Request.of({"GPU": 1, "cpu": 2, "MEMORY": "1GiB"}) == Request(1.0, 2.0, 2**30)
    with pytest.raises(ResourceError, match="unknown resource TPU"):
        Request.of({"TPU": 1})
    with pytest.raises(ResourceError, match="fraction below 1"):
        Request.of({"GPU": 1.5})


def test_whole_gpus_are_never_shared_and_come_back_on_release():
    pool = ResourcePool(gpus=["0", "1"])
    a = pool.try_acquire("a", Request(gpus=1))
    b = pool.try_acquire("b", Request(gpus=1))
    assert {a.cuda_visible_devices, b.cuda_visible_devices} == {"0", "1"}
    assert pool.try_acquire("c", Request(gpus=1)) is None
    pool.release("a")
    c = pool.try_acquire("c", Request(gpus=1))
    assert c.cuda_visible_devices == a.cuda_visible_devices


def test_ids_are_the_ones_given_not_positions():
    pool = ResourcePool(gpus=["0", "3"])
    assert pool.try_acquire("a", Request(gpus=2)).gpus == ("0", "3")


def test_fractions_pack_onto_one_gpu_and_leave_whole_ones_free():
    pool = ResourcePool(gpus=["0", "1"])
    halves = [pool.try_acquire(k, Request(gpus=0.5)) for k in "ab"]
    assert [h.gpus for h in halves] == [("0",), ("0",)]
    assert pool.try_acquire("whole", Request(gpus=1)).gpus == ("1",)
    assert pool.try_acquire("c", Request(gpus=0.5)) is None
    pool.release("a")
    assert pool.try_acquire("c", Request(gpus=0.5)).gpus == ("0",)


def test_cores_and_memory_count_like_gpus():
    pool = ResourcePool(cpus=4, memory=8 * 2**30)
    assert pool.try_acquire("a", Request(cpus=3)) is not None
    assert pool.try_acquire("b", Request(cpus=2)) is None
    assert pool.try_acquire("c", Request(memory=8 * 2**30)) is not None
    assert pool.try_acquire("d", Request(memory=1)) is None
    pool.release("c")
    assert pool.try_acquire("d", Request(memory=1)) is not None


def test_a_request_that_can_never_fit_says_why():
    pool = ResourcePool(gpus=["0"], cpus=2, memory=2**30)
    assert "asks for 2 GPU(s) but this run has 1 GPU(s) (0)" in pool.never_fits(Request(gpus=2))
    assert "no GPU" in ResourcePool().never_fits(Request(gpus=1))
    assert "cores" in pool.never_fits(Request(cpus=3))
    assert "memory" in pool.never_fits(Request(memory=2**31))
    assert pool.never_fits(Request(gpus=1, cpus=2)) is None


def test_gpu_settings_parse():
    assert parse_setting(None) is None and parse_setting("all") is None
    assert parse_setting("none") == []
    assert parse_setting("0,1,3") == ["0", "1", "3"]
    assert parse_setting([0, 2]) == ["0", "2"]
    with pytest.raises(GpuError, match="'x' is not a GPU index"):
        parse_setting("0,x")
    with pytest.raises(GpuError, match="twice"):
        parse_setting("1,1")


def _choose_in_subprocess(setting: str, fake: str | None) -> str:
    """choose() in a fresh interpreter, with or without the NVML stand-in on sys.path."""
    code = (
        "import sys\n"
        "from xxp_tui.engine.gpus import GpuError, choose, sample\n"
        f"try:\n    c = choose({setting!r})\nexcept GpuError as e:\n    print('error:', e); sys.exit()\n"
        "print(','.join(c.ids)); print(c.note); print(sorted((k, v.utilisation) for k, v in sample(c.ids).items()))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    if fake is not None:
        env["PYTHONPATH"] = str(FAKE_NVML)
        env["FAKE_NVML_GPUS"] = fake
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_without_nvml_there_are_no_gpus_unless_given():
    assert choose(None).ids == () and "no NVML" in choose(None).note  # this machine has no pynvml
    assert choose("0,1").ids == ("0", "1") and "as given" in choose("0,1").note
    assert choose("none").ids == ()


def test_with_nvml_gpus_are_discovered_and_checked():
    found = _choose_in_subprocess("", "3").splitlines()
    assert found[0] == "0,1,2" and "3 found by NVML" in found[1] and "Fake GPU 0" in found[1]
    assert found[2] == "[('0', 10), ('1', 20), ('2', 30)]"
    assert _choose_in_subprocess("1", "2").splitlines()[0] == "1"
    assert "error: --gpus: GPU 5 does not exist; NVML sees 2 GPU(s) (0-1)" in _choose_in_subprocess("0,5", "2")
    failing = _choose_in_subprocess("", "fail").splitlines()
    assert failing[0] == "" and "no NVML" in failing[1]
