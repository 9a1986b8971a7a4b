"""Which GPUs a run may use, and how busy they are: NVML when it is there, the user's word otherwise.

`choose(setting)` turns `--gpus 0,1,3` / `XXP_GPUS` / xxp.toml's `gpus` into the pool's GPU ids:
- "none": no GPU at all (every task gets an empty CUDA_VISIBLE_DEVICES);
- a list of ids: exactly those, checked against NVML when it can be asked, trusted when it cannot
  (a machine whose driver has no NVML library still has its GPUs);
- nothing: every GPU NVML finds; none when NVML is absent or finds none (one info line says so).

NVML comes from `nvidia-ml-py` (the official bindings, module `pynvml`; extra `gpu`). It is imported
only here and only when asked, so nothing else pays for it and its absence breaks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


class GpuError(ValueError):
    """A GPU setting that cannot be honoured; the message is one sentence."""


@dataclass(frozen=True)
class GpuChoice:
    ids: tuple[str, ...]
    note: str  # one line for the run's log: where the ids came from
    names: dict[str, str] = field(default_factory=dict)  # id -> device name, when NVML told


@dataclass(frozen=True)
class GpuSample:
    utilisation: int | None  # percent
    memory_used: int | None  # bytes
    memory_total: int | None


@contextmanager
def _nvml() -> Iterator:
    """The initialised `pynvml` module (shut down again after use: NVML counts its inits), or None
    when it is not installed or finds no driver."""
    try:
        import pynvml
    except ImportError:
        yield None
        return
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded…: no GPU here as far as we can tell
        yield None
        return
    try:
        yield pynvml
    finally:
        with suppress(Exception):
            pynvml.nvmlShutdown()


def _device_count(nvml) -> int:
    try:
        return int(nvml.nvmlDeviceGetCount())
    except Exception:
        return 0


def _name(nvml, index: int) -> str:
    try:
        name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(index))
    except Exception:
        return "GPU"
    return name.decode() if isinstance(name, bytes) else str(name)


def parse_setting(setting: str | list | tuple | None) -> list[str] | None:
    """None (discover), [] (none) or the listed ids: from "0,1,3", "none", "all" or a TOML list."""
    if setting is None:
        return None
    if isinstance(setting, list | tuple):
        items = [str(x).strip() for x in setting]
    else:
        text = str(setting).strip()
        if text.lower() in ("", "all", "auto"):
            return None
        if text.lower() == "none":
            return []
        items = [x.strip() for x in text.split(",")]
    if any(not x.isdigit() for x in items):
        bad = next(x for x in items if not x.isdigit())
        raise GpuError(f"--gpus: {bad!r} is not a GPU index; give indexes like 0,1,3, or none")
    if len(set(items)) != len(items):
        raise GpuError(f"--gpus: {','.join(items)} names a GPU twice")
    return items


def choose(setting: str | list | tuple | None) -> GpuChoice:
    wanted = parse_setting(setting)
    if wanted == []:
        return GpuChoice((), "GPUs: none (--gpus none)")
    with _nvml() as nvml:
        return _choose_with(nvml, wanted)


def _choose_with(nvml, wanted: list[str] | None) -> GpuChoice:
    if nvml is None:
        if wanted is None:
            return GpuChoice((), "GPUs: none found (no NVML: install xxp-tui[gpu] or give --gpus)")
        return GpuChoice(tuple(wanted), f"GPUs: {','.join(wanted)} as given (NVML not available to check them)")
    count = _device_count(nvml)
    names = {str(i): _name(nvml, i) for i in range(count)}
    if wanted is None:
        ids = tuple(str(i) for i in range(count))
        if not ids:
            return GpuChoice((), "GPUs: none found by NVML")
        return GpuChoice(ids, f"GPUs: {len(ids)} found by NVML ({', '.join(f'{i} {names[i]}' for i in ids)})",
                         names)
    missing = [i for i in wanted if int(i) >= count]
    if missing:
        raise GpuError(f"--gpus: GPU {missing[0]} does not exist; NVML sees {count} GPU(s)"
                       + (f" (0-{count - 1})" if count else ""))
    return GpuChoice(tuple(wanted), f"GPUs: {','.join(wanted)} (of {count} found by NVML)",
                     {i: names[i] for i in wanted})


def sample(ids: tuple[str, ...] | list[str]) -> dict[str, GpuSample]:
    """Utilisation and memory of each GPU by NVML; empty without NVML (the viewer then shows busy/free)."""
    with _nvml() as nvml:
        return {} if nvml is None else _sample_with(nvml, ids)


def _sample_with(nvml, ids: tuple[str, ...] | list[str]) -> dict[str, GpuSample]:
    out: dict[str, GpuSample] = {}
    for i in ids:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(int(i))
        except Exception:
            continue
        util = mem_used = mem_total = None
        with suppress(Exception):
            util = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        try:
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            mem_used, mem_total = int(mem.used), int(mem.total)
        except Exception:
            pass
        out[str(i)] = GpuSample(util, mem_used, mem_total)
    return out
