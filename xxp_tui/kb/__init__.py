"""The knowledge base: the only code that speaks SQL.

`open_kb(path)` gives a `KB`; the modules `runs`, `variants` and `commands` hold typed functions
over it. Everything else in xxp-tui calls these, never SQL strings.
"""

from xxp_tui.kb.connection import KB, KBError, default_db_path, open_kb

__all__ = ["KB", "KBError", "default_db_path", "open_kb"]
