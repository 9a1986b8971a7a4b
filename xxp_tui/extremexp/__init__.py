"""ExtremeXP compatibility: what an unchanged ExtremeXP task script finds when xxp-tui runs it.

- `results`: results the ExtremeXP way (per node, index from 1, flat and nested per task), shared by
  the engine's conditions and the task-side `get_experiment_results`;
- `datasets`: our implementation of the task-side data API (both generations of signatures);
- `compat/`: the modules a script imports by ExtremeXP's names (`proactive_helper`, `local_helper`,
  `eexp_engine_utils`); the shim puts this folder last on the import path of shim-run scripts
  only, so a project's own module of the same name wins.

Standard library only: these modules load inside task processes.
"""
