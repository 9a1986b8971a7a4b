"""Show `pip install` as progress, not silence and not a wall of text (used by the Makefile).

Reads pip's output on stdin. On a terminal: one line that updates in place (how many packages
found so far, the one being fetched, then "installing N packages"); elsewhere: one line per
package. If pip fails, the last lines it printed are shown in full. Standard library only: it runs
with the system Python before the virtual environment has anything in it.
"""

from __future__ import annotations

import collections
import re
import sys
import time

COLLECTING = re.compile(r"^Collecting (\S+)")
INSTALLING = re.compile(r"^Installing collected packages: (.*)")
DONE = re.compile(r"^Successfully installed (.*)")


def main() -> int:
    label = sys.argv[1] if len(sys.argv) > 1 else "installing"
    tty = sys.stdout.isatty()
    tail: collections.deque[str] = collections.deque(maxlen=40)
    started = time.monotonic()
    found = 0

    def show(text: str) -> None:
        if tty:
            sys.stdout.write("\r\033[K" + text[:150])
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    for raw in sys.stdin:
        line = raw.rstrip("\n")
        tail.append(line)
        if m := COLLECTING.match(line):
            found += 1
            show(f"  {label}: {found} packages found, fetching {m.group(1)}")
        elif m := INSTALLING.match(line):
            show(f"  {label}: unpacking {len(m.group(1).split(', '))} packages into the environment…")
        elif m := DONE.match(line):
            show(f"  {label}: {len(m.group(1).split())} packages installed")
        elif line.startswith("ERROR") or "error:" in line.lower():
            if tty:
                sys.stdout.write("\n")
            sys.stdout.write("\n".join(tail) + "\n")
            tail.clear()
    show(f"  {label}: done in {time.monotonic() - started:.0f} s")
    if tty:
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
