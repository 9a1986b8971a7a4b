"""What the viewer costs an SSH link: bytes per second the ssh client receives, on the wire.

A private sshd on 127.0.0.1 (tests/tui/ssh_server.py), a counting TCP proxy between it and the ssh
client (so the figure is what crosses the network: encrypted frames, keep-alives and all), and
`xxp-tui attach` at 80×24 on the far side of `ssh -tt`, watching a run that a writer thread plays
(the engine's heartbeat every second, and KB changes as the engine would make them). Prints:

- the first screen: bytes until the viewer's output settles after connecting;
- idle: bytes/s while the run changes nothing (the engine only beats);
- busy: bytes/s at ~50 changes/s (variants starting and completing, metrics arriving).

Usage: python benchmarks/ssh_bandwidth.py [--seconds 10] [--rate 50] [--variants 2000] [--json]

Measured on the shared 2-core development machine (loaded), loopback: see the README ("Working over
SSH"). Figures from issue 15's week, at the client over loopback: idle 0.02–0.3 KB/s, busy 1.3–1.8 KB/s,
first screen 37 KB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tui import KINDS, make_spec  # noqa: E402
from tests.tui.ssh_server import SshServer, missing  # noqa: E402


class CountingProxy:
    """127.0.0.1:port -> the sshd; counts the bytes sent back to the client."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.down = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self.lock:
                        self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def received(self) -> int:
        with self.lock:
            return self.down

    def close(self) -> None:
        self.listener.close()


class PlayedRun:
    """Plays the engine of a run: beats every second; `rate` changes per second when asked."""

    def __init__(self, db: Path, run_id: int, n: int) -> None:
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr
        from xxp_tui.kb import variants as kbv

        self.db, self.run_id = db, run_id
        self.rate = 0.0
        self.stop = False
        self.changes = 0
        kb = open_kb(db, create=False)
        self.started = time.time()
        kbr.beat(kb, run_id, 1, self.started)
        kbr.set_status(kb, run_id, "running")
        kbr.upsert_node(kb, run_id, "Sweep", kind="space", status="running", iteration=1, total=n, fired={},
                        started=self.started)
        combos = [(d, w, k) for d in range(1, 101) for w in range(1, 11) for k in KINDS]
        batch = [kbv.NewVariant(space="Sweep", params={"T.depth": d, "T.width": w, "T.kind": k},
                                config={"depth": d, "width": w, "kind": k}, seed=i, iteration=1)
                 for i, (d, w, k) in enumerate(combos[:n])]
        self.ids = kbv.insert(kb, run_id, batch)
        kb.close()
        self.thread = threading.Thread(target=self._play, daemon=True)
        self.thread.start()

    def _play(self) -> None:
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr
        from xxp_tui.kb import variants as kbv

        kb = open_kb(self.db, create=False)
        rng = random.Random(0)
        queued, running = list(self.ids), {}
        last_beat = 0.0
        next_change = time.monotonic()
        while not self.stop:
            now = time.time()
            if now - last_beat >= 1.0:
                kbr.beat(kb, self.run_id, 1, self.started)
                last_beat = now
            if self.rate <= 0:
                time.sleep(0.05)
                next_change = time.monotonic()
                continue
            done = [v for v, steps in running.items() if steps >= 5]
            if done and rng.random() < 0.5:
                vid = done[0]
                kbv.update(kb, vid, status="completed", ended=now, objective=rng.random())
                del running[vid]
            elif len(running) < 8 and queued:
                vid = queued.pop(0)
                kbv.update(kb, vid, status="running", started=now)
                running[vid] = 0
            elif running:
                vid = rng.choice(list(running))
                kbv.insert_metrics(kb, [(vid, "T", "loss", 1.0 / (running[vid] + 1), None, running[vid], now)])
                running[vid] += 1
            self.changes += 1
            next_change += 1.0 / self.rate
            time.sleep(max(0.0, next_change - time.monotonic()))
        kb.close()


def settle(proxy: CountingProxy, seen: threading.Event, timeout: float = 120.0) -> int:
    """Bytes received when the first screen is drawn: the viewer's status line arrived, then a half
    second with less than 512 bytes (its clock ticks on, so the output never stops altogether)."""
    deadline = time.monotonic() + timeout
    if not seen.wait(timeout):
        raise TimeoutError(f"no first screen within {timeout:.0f} s ({proxy.received()} bytes)")
    while time.monotonic() < deadline:
        before = proxy.received()
        time.sleep(0.5)
        if proxy.received() - before < 512:
            return before
    raise TimeoutError(f"the viewer's output did not settle within {timeout:.0f} s ({proxy.received()} bytes)")


def rate_over(proxy: CountingProxy, seconds: float) -> float:
    start_bytes, start = proxy.received(), time.monotonic()
    time.sleep(seconds)
    return (proxy.received() - start_bytes) / (time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the idle and busy windows (10)")
    parser.add_argument("--rate", type=float, default=50.0, help="changes per second of the busy window (50)")
    parser.add_argument("--variants", type=int, default=2000, help="variants in the watched run (2000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    why = missing()
    if why:
        print(f"ssh_bandwidth: {why}", file=sys.stderr)
        return 2
    from xxp_tui.engine.launch import create_run
    from xxp_tui.lang import load_project

    xxp = Path(sys.executable).parent / "xxp-tui"
    with tempfile.TemporaryDirectory(prefix="xxp-ssh-bench-") as tmp:
        root = Path(tmp)
        spec = make_spec(root)
        db = root / ".xxp" / "kb.sqlite"
        run_id = create_run(load_project(spec), "Bench", db, workers=8, seed=0).run_id
        played = PlayedRun(db, run_id, args.variants)
        server = SshServer(root / "sshd").start()
        proxy = CountingProxy(server.port)
        remote = f"stty cols 80 rows 24; cd {root} && env TERM=xterm-256color {xxp} attach r{run_id} --db {db}"
        client = subprocess.Popen(server.ssh_argv(remote, tty="-tt", port=proxy.port), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        seen = threading.Event()

        def terminal() -> None:  # the terminal's side: read, looked at for the status line, dropped
            tail = b""
            while chunk := client.stdout.read1(65536):
                tail = (tail + chunk)[-4096:]
                if b"Bench" in tail:
                    seen.set()

        threading.Thread(target=terminal, daemon=True).start()
        try:
            first = settle(proxy, seen)
            idle = rate_over(proxy, args.seconds)
            played.rate = args.rate
            changes_before, start = played.changes, time.monotonic()
            busy = rate_over(proxy, args.seconds)
            achieved = (played.changes - changes_before) / (time.monotonic() - start)
        finally:
            played.stop = True
            client.kill()
            client.wait(timeout=10)
            proxy.close()
            server.stop()
    report = {"first_screen_bytes": first, "idle_bytes_per_s": round(idle, 1), "busy_bytes_per_s": round(busy, 1),
              "busy_changes_per_s": round(achieved, 1), "variants": args.variants, "seconds": args.seconds}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"ssh client, received on the wire (80x24, {args.variants} variants):")
        print(f"  first screen  {first / 1024:8.1f} KB")
        print(f"  idle          {idle / 1024:8.2f} KB/s")
        print(f"  busy          {busy / 1024:8.2f} KB/s at {achieved:.0f} changes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
