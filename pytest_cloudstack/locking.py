"""One session per stack name on this machine: a file lock, refused rather than waited for.

Two terminals on the same branch would otherwise update and delete each other's stack mid-run.
The second session stops at once with the holder's PID and start time, rather than wait for a
session that may run for an hour.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from pytest_cloudstack.errors import ConcurrentRunError
from pytest_cloudstack.paths import cache_home


def lock_dir() -> Path:
    return cache_home() / "locks"


class StackLock:
    """Held for the whole session by the process that deploys and deletes the stack."""

    def __init__(self, name: str, scope: str, directory: Path | None = None) -> None:
        from filelock import FileLock

        self.name = name
        folder = directory or lock_dir()
        folder.mkdir(parents=True, exist_ok=True)
        # The scope (endpoint or account target + region) keeps same-named stacks in different
        # places from blocking each other.
        digest = hashlib.sha256(scope.encode()).hexdigest()[:12]
        self._path = folder / f"{name}-{digest}.lock"
        self._holder = self._path.with_suffix(".holder.json")
        self._lock = FileLock(str(self._path), is_singleton=False)

    def __enter__(self) -> StackLock:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise ConcurrentRunError(
                f"stack {self.name!r} is in use by another pytest session on this machine "
                f"({self._describe_holder()}). Two sessions must not share a stack: wait for that "
                "one to finish, or give this one its own stack with --cloud-stack-name"
            ) from None
        self._holder.write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._lock.release()

    def _describe_holder(self) -> str:
        try:
            holder = json.loads(self._holder.read_text())
            since = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
            return f"pid {holder['pid']} on {holder['host']}, since {since}"
        except (OSError, ValueError, KeyError):
            return "holder unknown"
