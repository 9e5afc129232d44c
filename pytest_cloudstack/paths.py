"""Where pytest-cloudstack keeps files between sessions: ``$XDG_CACHE_HOME/pytest-cloudstack``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """The plugin's cache folder (locks, zips, dependency builds, template resource lists)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-cloudstack"
