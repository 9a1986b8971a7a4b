"""What the engine reports as it goes: events for a progress display, and how values read in them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineEvent:
    """What the engine did, for a headless progress display (also logged in the KB's events)."""

    time: float
    kind: str
    text: str
    variant: int | None = None
    status: str | None = None


def short(params: dict, limit: int = 80) -> str:
    """`lr=0.01 depth=3` for a params dict (task prefixes dropped), cut at `limit` characters."""
    text = " ".join(f"{k.split('.')[-1]}={fmt(v)}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
