"""The installed packages an engine records (and its cache key depends on) are scanned again only
when a folder of sys.path changed; otherwise read from a private file (engine/environment.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from xxp_tui.engine import environment


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_packages_are_scanned_once_then_read_until_a_path_folder_changes(cache_home: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    scans = []
    real_scan = environment.scan_packages
    monkeypatch.setattr(environment, "scan_packages", lambda: scans.append(1) or real_scan())
    first = environment.installed_packages()
    assert first == real_scan() and "psutil" in first and len(scans) == 1
    cache = cache_home / "xxp-tui" / "packages.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert environment.installed_packages() == first and len(scans) == 1  # read back, not scanned
    (site / "newpkg-1.0.dist-info").mkdir()  # what installing a package does to its folder
    os.utime(site, ns=(1, site.stat().st_mtime_ns + 10**9))
    assert environment.installed_packages() == first and len(scans) == 2
    cache.chmod(0o666)  # a file others could have written is not trusted
    environment.installed_packages()
    assert len(scans) == 3
