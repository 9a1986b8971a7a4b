"""Per-user folders of xxp-tui, where each OS expects them (platformdirs): XDG_CONFIG_HOME and
XDG_CACHE_HOME (default ~/.config, ~/.cache) on Linux, ~/Library on macOS, AppData on Windows.
One place for them, so the keymap, the grammar's parse tables and crash reports agree."""

from __future__ import annotations

from pathlib import Path

APP = "xxp-tui"


def config_dir() -> Path:
    """User settings (keymap.toml). Not created here: only read when present."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def cache_dir() -> Path:
    """Regenerable files (parse tables, crash reports). Callers create it private (0700)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))
