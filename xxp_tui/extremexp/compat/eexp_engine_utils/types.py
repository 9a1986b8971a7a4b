"""`eexp_engine_utils.types`: type names for task scripts, and the runtime context."""

import sys

Variables = dict
ResultMap = dict


def get_runtime_context():
    """`(variables, resultMap)` of the running task (ExtremeXP's own raises here; giving them is kinder)."""
    shim = sys.modules.get("xxp_tui.shim")
    if shim is None or shim.variables is None:
        raise RuntimeError("get_runtime_context() works only inside a task run by xxp-tui")
    return shim.variables, shim.resultMap
