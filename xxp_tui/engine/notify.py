"""Notifications: one message when a run waits for a human answer, when a task stalls, when the run ends.

Two ways out, both optional and both at once if asked:
- apprise URLs (`--notify URL`, `notify = [...]` in xxp.toml): ntfy, Slack, e-mail, Matrix… from one URL;
  apprise is the optional extra `notify`, refused up front by `run` when it is missing;
- a local command (`--notify-cmd CMD`): split like a shell would (shlex), run as an argv list (never
  through a shell), with the event as one JSON object on its stdin.

Sending happens on a thread of its own: a slow mail server never holds the engine. A failure to notify is
reported back (the engine logs it as a warning event), never raised.
"""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
from dataclasses import dataclass, field

COMMAND_TIMEOUT = 30.0
CLOSE_WAIT = 15.0  # at the run's end: how long the last messages may take before the engine exits


def missing_extra(urls: list[str]) -> str | None:
    """The sentence refusing `--notify` when apprise is not installed, else None."""
    if not urls:
        return None
    import importlib.util

    if importlib.util.find_spec("apprise") is None:
        return "--notify needs the optional extra notify (apprise): pip install 'xxp-tui[notify]'."
    return None


def command_argv(command: str) -> list[str]:
    """`--notify-cmd` as an argv list; ValueError (with a sentence) when it cannot be split."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"--notify-cmd cannot be split like a shell would: {exc}") from None
    if not argv:
        raise ValueError("--notify-cmd is empty")
    return argv


@dataclass
class Notifier:
    urls: list[str] = field(default_factory=list)
    command: list[str] | None = None
    failures: queue.Queue = field(default_factory=queue.Queue)  # sentences, for the engine to log
    _queue: queue.Queue = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.command)

    def send(self, event: dict) -> None:
        if not self.enabled:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="xxp-notify", daemon=True)
            self._thread.start()
        self._queue.put(event)

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """Deliver what is queued (for at most `wait` seconds), then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(wait)
        self._thread = None

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            for problem in self._deliver(event):
                self.failures.put(problem)

    def _deliver(self, event: dict) -> list[str]:
        problems = []
        if self.urls:
            try:
                problems += self._apprise(event)
            except Exception as exc:  # a notifier must never take the engine down
                problems.append(f"notification through apprise failed: {exc}")
        if self.command:
            problems += self._run_command(event)
        return problems

    def _apprise(self, event: dict) -> list[str]:
        import apprise

        problems = []
        for url in self.urls:
            sender = apprise.Apprise()
            if not sender.add(url):
                problems.append(f"notification URL {_redacted(url)} is not one apprise understands")
                continue
            if not sender.notify(title=event.get("title") or "xxp-tui", body=event.get("text") or ""):
                problems.append(f"notification to {_redacted(url)} could not be sent")
        return problems

    def _run_command(self, event: dict) -> list[str]:
        if not self.command:
            return []
        try:
            done = subprocess.run(self.command, input=json.dumps(event).encode(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=COMMAND_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return [f"notify command {self.command[0]} failed: {exc}"]
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return [f"notify command {self.command[0]} exited with code {done.returncode} {tail[0]}".strip()]
        return []


def _redacted(url: str) -> str:
    """A URL as it may be logged: its scheme and host, not the tokens in its path or query."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…" if rest else url
