"""The engine's pure core: its scheduling and outcome rules, with no processes, no KB and no clock.

Dask's worker state machine is the model: the rules that decide *what* happens (which variant starts
next, what a task's end means, whether a task is retried, when a failure stops the run, when a node
may finish, which nodes start after it) take plain facts and return decisions, and the shell
(`engine/shell.py`, class `Engine`) does the *doing*: it owns the processes, the executor, the KB writes and the
clock, feeds the core what happened and carries out what the core answers. The rules can then be
tested in milliseconds (tests/engine/core/), and the process-level tests stay as end-to-end proof.

One concern a module:
- `queue`: the queued variants, by priority, within each node's `parallel` limit;
- `outcomes`: what a task's end and a variant's end mean (status and reason), and retries;
- `policy`: the run's failure policy (`--max-failures`);
- `planning`: when a node may finish;
- `events` / `machine`: a task's end as an event, answered with the actions the shell carries out;
- the control graph's position (which nodes finished, wait, are reachable, loop bounds):
  `control_flow` (the control graph as a state machine, rebuilt from the KB on resume).
"""
