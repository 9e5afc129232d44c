"""Where pytest-cloudstack keeps files between sessions: ``$XDG_CACHE_HOME/pytest-cloudstack``.

A cache folder that cannot be used (``XDG_CACHE_HOME`` is a file, a read-only home) must not
stop a session: a private folder under the system's temporary directory is used instead, and
``cache_problem()`` says why, for the report header.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any


def preferred_cache_home() -> Path:
    """``$XDG_CACHE_HOME/pytest-cloudstack`` (``~/.cache`` by default), usable or not."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-cloudstack"


def cache_problem() -> str | None:
    """Why the preferred cache folder cannot be used, or None when it can (creating it)."""
    folder = preferred_cache_home()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"{folder}: {error.strerror or error}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder}: not writable"
    return None


def cache_home() -> Path:
    """The plugin's cache folder (locks, zips, dependency builds, template resource lists).

    The preferred folder when it is usable; otherwise a folder of this user's under the system's
    temporary directory (what was cached there is lost at the next reboot).
    """
    if cache_problem() is None:
        return preferred_cache_home()
    fallback = Path(tempfile.gettempdir()) / f"pytest-cloudstack-{_user_id()}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        from pytest_cloudstack.errors import ConfigurationError

        raise ConfigurationError(
            f"no usable cache folder: {cache_problem()}, and {fallback}: "
            f"{error.strerror or error}. Set XDG_CACHE_HOME to a writable folder"
        ) from None
    return fallback


def cache_warning() -> str | None:
    """The report header's line when the preferred cache folder is unusable."""
    problem = cache_problem()
    if problem is None:
        return None
    from pytest_cloudstack.errors import ConfigurationError

    try:
        fallback = cache_home()
    except ConfigurationError as error:  # no folder at all: the session says so where it needs one
        return f"cloudstack: {error}"
    return (
        f"cloudstack: cache folder unusable ({problem}); using {fallback} instead: set "
        "XDG_CACHE_HOME to a writable folder"
    )


def _user_id() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else os.environ.get("USERNAME", "user")


def read_cached_json(path: Path) -> Any:
    """What ``write_cached_json`` left at ``path``; None when there is nothing usable."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def write_cached_json(path: Path, value: Any) -> bool:
    """Write a cache entry whole or not at all (other sessions may read it at the same time).

    A cache that cannot be written (a read-only home, a full disk) only costs the next session
    the work again: False, never an error.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unique per thread too: the emulator's request threads may write the same entry.
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(value), "utf-8")
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        return False
    return True
