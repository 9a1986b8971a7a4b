"""The local Dask cluster an engine starts (no --scheduler) lets nobody else in: it speaks only
mutual TLS with a certificate made for the run and kept in memory, and it serves no dashboard.
Real LocalCluster on 127.0.0.1; the intruders are real processes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

from xxp_tui.engine.executors.dask import DaskExecutor

INTRUDER = textwrap.dedent("""
    import sys
    from distributed import Client
    from distributed.security import Security
    for how in ("no-certificate", "own-certificate", "plain-tcp"):
        address = sys.argv[1].replace("tls://", "tcp://") if how == "plain-tcp" else sys.argv[1]
        kwargs = {"security": Security.temporary()} if how == "own-certificate" else {}
        try:
            client = Client(address, timeout=3, set_as_default=False, **kwargs)
            print(how, "IN", client.run(lambda: 6 * 7))
        except Exception as exc:
            print(how, "REFUSED", type(exc).__name__)
""")


def test_an_unauthenticated_client_cannot_use_the_local_cluster(tmp_path):
    executor = DaskExecutor(queue.Queue(), workers=1, run_id=1)
    executor.connect()
    try:
        address = executor.address
        assert address.startswith("tls://127.0.0.1:"), address
        assert executor.client.run(lambda: 6 * 7)  # the engine's own client is in
        out = subprocess.run([sys.executable, "-c", INTRUDER, address], capture_output=True, text=True,
                             timeout=180, env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"})
        tried = [line.split()[:2] for line in out.stdout.splitlines()]
        assert tried == [["no-certificate", "REFUSED"], ["own-certificate", "REFUSED"], ["plain-tcp", "REFUSED"]], (
            out.stdout, out.stderr[-2000:])
        # No dashboard, nor any other page of the HTTP servers Dask always starts.
        ports = [executor.client.scheduler_info()["services"].get("dashboard")]
        ports += [w["services"].get("dashboard") for w in executor.client.scheduler_info()["workers"].values()]
        for port in filter(None, ports):
            for page in ("/status", "/info/main/workers.html", "/json/identity.json", "/health", "/metrics"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=10) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                assert status == 404, (port, page, status)
    finally:
        executor.close()
