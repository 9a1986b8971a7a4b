"""A test-only stand-in for NVML's `pynvml` module, answering like a machine with GPUs.

The one stand-in allowed in this suite: no machine of ours has a GPU, so NVML discovery cannot be
tested against the real library. The number of devices comes from FAKE_NVML_GPUS (unset: 2;
"fail": nvmlInit raises as it does when the driver is missing).
"""

import os
from types import SimpleNamespace

_inits = 0


class NVMLError(Exception):
    pass


def nvmlInit():
    global _inits
    if os.environ.get("FAKE_NVML_GPUS") == "fail":
        raise NVMLError("NVML Shared Library Not Found")
    _inits += 1


def nvmlShutdown():
    global _inits
    _inits -= 1


def nvmlDeviceGetCount():
    return int(os.environ.get("FAKE_NVML_GPUS", "2"))


def nvmlDeviceGetHandleByIndex(i):
    if i >= nvmlDeviceGetCount():
        raise NVMLError("Invalid Argument")
    return i


def nvmlDeviceGetName(handle):
    return b"Fake GPU %d" % handle


def nvmlDeviceGetUtilizationRates(handle):
    return SimpleNamespace(gpu=10 * (handle + 1), memory=5)


def nvmlDeviceGetMemoryInfo(handle):
    return SimpleNamespace(used=2**30 * (handle + 1), total=16 * 2**30, free=(15 - handle) * 2**30)
