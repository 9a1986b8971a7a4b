"""The run's failure policy: failed variants do not stop a run (the default), unless
`--max-failures N` says after how many the rest is cancelled and the run fails."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailurePolicy:
    max_failures: int = 0  # 0: never stop for failures

    @classmethod
    def from_settings(cls, settings: dict) -> FailurePolicy:
        return cls(int(settings.get("max_failures") or 0))

    def stop_reason(self, failed: int) -> str | None:
        """Why the run stops now that `failed` variants failed in all; None: it goes on."""
        if not self.max_failures or failed < self.max_failures:
            return None
        return f"stopped after {failed} failed variant(s) (--max-failures {self.max_failures})"
