"""`python -m xxp_tui.engine --db PATH --run N`: the background engine process of a run.

Started detached by `xxp-tui run` (on a terminal) and by `xxp-tui resume`; its output goes to the
run's engine.log. If it cannot start, the reason is written to the run so front ends can show it.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from xxp_tui.engine.shell import (
    Engine,
    EngineBusy,
    EngineError,
    install_signal_handlers,
    record_engine_defect,
    record_start_failure,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xxp_tui.engine")
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--run", required=True, type=int)
    parser.add_argument("--allow-changed-spec", action="store_true")
    args = parser.parse_args(argv)

    def log(event) -> None:
        print(event.text, flush=True)

    try:
        engine = Engine(args.db, args.run, on_event=log, allow_changed_spec=args.allow_changed_spec)
    except Exception as exc:
        print(f"cannot open the knowledge base: {exc}", file=sys.stderr)
        return 2
    install_signal_handlers(engine)
    try:
        engine.start()
    except EngineBusy as exc:  # the run belongs to the engine already driving it: leave it alone
        print(f"cannot start: {exc}", file=sys.stderr)
        engine.close()
        return 2
    except EngineError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        engine.close()
        record_start_failure(args.db, args.run, str(exc))
        return 2
    try:
        status = engine.run_loop()
    except Exception as exc:  # a defect: keep the run resumable and say where to look
        traceback.print_exc()
        record_engine_defect(args.db, args.run, exc)
        return 3
    finally:
        engine.close()
    return {"completed": 0, "failed": 1, "interrupted": 130}.get(status, 0)


if __name__ == "__main__":
    sys.exit(main())
