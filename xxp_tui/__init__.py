"""xxp-tui: experiment-driven MLOps in a terminal.

Kept free of imports on purpose: task processes import `xxp_tui.sdk`, and `xxp-tui --help` must
stay fast, so nothing heavy may load when the package itself is imported.
"""

__version__ = "0.1.0"
