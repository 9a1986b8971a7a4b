"""The ExtremeXP language: text in, a frozen model and diagnostics out.

Pure by design: no SQLite, no subprocesses. `load_project` is the one entry point most callers need.
`loader.py` says in which order the steps run and which module holds each; the semantic rules are
in `rules/`, listed with their ids and one-line docs in `rules.RULES`.
"""

from xxp_tui.lang.diagnostics import Diagnostic, Severity
from xxp_tui.lang.loader import LoadResult, load_project

__all__ = ["Diagnostic", "LoadResult", "Severity", "load_project"]
