"""TaskPool: the engine's side of the GPU pool (which task may start, what it sees, what an adopted
task keeps). Pure bookkeeping; the end-to-end behaviour is in
test_gpu_pool.py."""

from __future__ import annotations

from types import SimpleNamespace

from xxp_tui.engine.gpu_pool import TaskPool
from xxp_tui.engine.gpus import choose


def task(**resources) -> SimpleNamespace:
    """What TaskPool reads of a task: its `resources` mapping (a plain value object, no behaviour)."""
    return SimpleNamespace(resources=resources)


def test_a_task_that_could_never_fit_is_named_in_one_sentence() -> None:
    pool = TaskPool(choose("0,1"))
    assert pool.refusal([("Grid", "Small", task(GPU=1)), ("Grid", "Big", task(GPU=3))]) == (
        "task Big of Grid asks for 3 GPU(s) but this run has 2 GPU(s) (0, 1); choose them with --gpus")
    assert pool.refusal([("Grid", "T", task(TPU=1))]) == (
        "task T of Grid: unknown resource TPU (known: GPU, CPU, MEMORY)")
    assert TaskPool(choose("none")).refusal([("S", "T", task(GPU=0.5))]).startswith("task T of S asks for 0.5 GPU(s)")
    assert pool.refusal([("Grid", "Small", task(GPU=2)), ("Grid", "Cpu", task())]) is None


def test_waiting_and_admitting_report_each_change_once() -> None:
    pool = TaskPool(choose("0"))
    assert pool.admit((1, "T"), task(GPU=1)) == (True, False)
    assert pool.devices((1, "T")) == "0"
    assert pool.admit((2, "T"), task(GPU=1)) == (False, True)  # starts to wait
    assert pool.admit((2, "T"), task(GPU=1)) == (False, False)  # still waits: nothing new to say
    assert pool.admit((3, "C"), task()) == (True, False) and pool.devices((3, "C")) == ""
    pool.release((1, "T"))
    assert pool.admit((2, "T"), task(GPU=1)) == (True, True)  # stops waiting
    assert pool.devices((2, "T")) == "0"


def test_an_adopted_task_keeps_its_gpus_until_it_ends() -> None:
    pool = TaskPool(choose("0,1"))
    pool.readopt((7, "T"), task(GPU=1), "1")
    assert pool.admit((8, "T"), task(GPU=1)) == (True, False) and pool.devices((8, "T")) == "0"
    assert pool.admit((9, "T"), task(GPU=1))[0] is False  # 1 is the adopted task's
    pool.release((7, "T"))
    assert pool.admit((9, "T"), task(GPU=1))[0] is True and pool.devices((9, "T")) == "1"
    pool.readopt((10, "H"), task(GPU=0.5), "3")  # a GPU this pool does not have: nothing to keep
    assert pool.devices((10, "H")) == ""
