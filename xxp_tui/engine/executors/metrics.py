"""Reading a task's metrics file (JSONL), shared by the executors: one line is one metric; a
chunk read from the file may end in the middle of a line, kept for the next read; malformed lines
are counted, never fatal (the count ends up in the variant's reason)."""

from __future__ import annotations

import json
import math
import time
from typing import Protocol

from xxp_tui.engine.executors import MetricEvent

MAX_LINE = 65536  # a "line" that never ends is not a metric
MAX_STEP = 2**63  # SQLite integers are 64-bit


class MetricsReader(Protocol):
    """What a handle keeps between reads of its task's metrics file."""

    key: str
    metrics_partial: bytes
    malformed: int


def parse_metric_line(line: bytes, key: str) -> MetricEvent | None:
    """One JSONL metric line; None for anything malformed (counted by the caller)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or "value" not in obj:
        return None
    value, text = obj["value"], None
    if isinstance(value, bool):
        value = float(value)
    elif isinstance(value, int | float):
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a float
            return None
        if not math.isfinite(value):
            value, text = None, str(obj["value"])
    elif isinstance(value, str):
        value, text = None, value
    else:
        return None
    step = obj.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float):
            return None
        if not (isinstance(step, int) or math.isfinite(step)) or not -MAX_STEP < step < MAX_STEP:
            return None  # NaN, inf or beyond what SQLite stores
    return MetricEvent(key, obj["name"][:200], value, text, None if step is None else int(step),
                       _when(obj.get("time")))


def _when(raw: object) -> float:
    """The line's own timestamp if it is a usable one, else now."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            when = float(raw)
        except OverflowError:
            return time.time()
        if math.isfinite(when):
            return when
    return time.time()


def parse_chunk(reader: MetricsReader, chunk: bytes) -> list[MetricEvent]:
    """The complete lines of `chunk` (after what the last read left over) as metric events."""
    if not chunk:
        return []
    lines = (reader.metrics_partial + chunk).split(b"\n")
    reader.metrics_partial = lines.pop()
    if len(reader.metrics_partial) > MAX_LINE:
        reader.malformed += 1
        reader.metrics_partial = b""
    events = []
    for line in lines:
        if not line.strip():
            continue
        event = parse_metric_line(line, reader.key)
        if event is None:
            reader.malformed += 1
        else:
            events.append(event)
    return events


def parse_rest(reader: MetricsReader) -> list[MetricEvent]:
    """Once the task has ended: its last line, if it did not end with a newline."""
    rest, reader.metrics_partial = reader.metrics_partial, b""
    if not rest.strip():
        return []
    event = parse_metric_line(rest, reader.key)
    if event is None:
        reader.malformed += 1
        return []
    return [event]
