"""A background thread that keeps SSM records alive while a session runs (lease.py, share.py).

A record written with an expiry must be written again before it expires, or other sessions take
its holder for dead. The renewer calls its owner's ``renew`` at each tick until stopped; what a
record holds, and what is cleaned up at the end, stays with its owner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Renewer:
    """Calls ``renew`` every ``every()`` seconds on a daemon thread, from ``start`` to ``stop``.

    ``every`` is read at each tick, so a period that tests shorten (a module constant, an
    environment variable) takes effect. A renewal that fails is retried at the next tick.
    """

    def __init__(self, name: str, every: Callable[[], float], renew: Callable[[], None]) -> None:
        self.name = name
        self.every = every
        self.renew = renew
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start renewing."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing, waiting a little for a renewal under way; no-op if never started."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every()):
            try:
                self.renew()
            except Exception:  # a missed renewal is retried at the next tick
                continue
