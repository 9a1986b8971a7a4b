"""`eexp_engine.executionware.proactive_helper`: the same module as the top-level proactive_helper."""

from proactive_helper import *  # noqa: F403
from proactive_helper import __getattr__  # noqa: F401
