"""Per-user folders come from platformdirs: on Linux they follow XDG_CONFIG_HOME / XDG_CACHE_HOME."""

from __future__ import annotations

import subprocess
import sys


def test_config_and_cache_folders_follow_xdg(tmp_path):
    code = ("from xxp_tui.paths import cache_dir, config_dir; from xxp_tui.tui.app import keymap_path;"
            "print(config_dir()); print(cache_dir()); print(keymap_path())")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_CACHE_HOME": str(tmp_path / "k"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == [str(tmp_path / "c" / "xxp-tui"), str(tmp_path / "k" / "xxp-tui"),
                                  str(tmp_path / "c" / "xxp-tui" / "keymap.toml")], out.stderr
