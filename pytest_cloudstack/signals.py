"""Signals: make CI cancellation tear the stack down, and make abandoning a teardown deliberate.

pytest runs its finalizers on Ctrl-C (``KeyboardInterrupt``) but not on SIGTERM, which is what
CI systems send when a job is cancelled, nor on SIGHUP (a closed terminal). While a session owns
a stack, both are turned into ``KeyboardInterrupt`` so the session ends the way Ctrl-C ends it:
teardown runs. During the teardown itself a first interrupt only warns; a second one within a
few seconds abandons the teardown (the caller then prints the command to delete by hand).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

_TERMINATION = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
CONFIRM_WINDOW = 5.0


def _in_main_thread() -> bool:
    # Python only lets the main thread install signal handlers.
    return threading.current_thread() is threading.main_thread()


class _Handlers:
    """Install handlers for some signals; restore the previous ones on exit."""

    def __init__(self, signals: tuple[int, ...]) -> None:
        self._signals = signals
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Handlers:
        if _in_main_thread():
            for number in self._signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        raise NotImplementedError


class TerminationAsInterrupt(_Handlers):
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt``, so pytest ends the session and tears down."""

    def __init__(self) -> None:
        super().__init__(_TERMINATION)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"received {signal.Signals(number).name}")


class TeardownGuard(_Handlers):
    """During a teardown: the first interrupt (SIGINT, SIGTERM, SIGHUP) warns, a second one
    within ``CONFIRM_WINDOW`` seconds raises ``KeyboardInterrupt`` to abandon the teardown."""

    def __init__(self, warn: Callable[[str], None], what: str) -> None:
        super().__init__((signal.SIGINT, *_TERMINATION))
        self._warn = warn
        self._what = what
        self._first: float | None = None

    def _handle(self, number: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self._first is not None and now - self._first <= CONFIRM_WINDOW:
            raise KeyboardInterrupt(f"teardown abandoned ({signal.Signals(number).name})")
        self._first = now
        self._warn(
            f"{self._what} is in progress: interrupt again within {CONFIRM_WINDOW:.0f}s to "
            "abandon it and leave the stack behind"
        )
