"""ExtremeXP's `eexp_engine_utils` (`from eexp_engine_utils import utils`), as xxp-tui provides it to
shim-run scripts: `utils` always routes to our LOCAL implementation."""

from eexp_engine_utils import types, utils

__all__ = ["types", "utils"]
