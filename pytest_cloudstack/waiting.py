"""Wait for a stack operation to end: poll fast at first, back off, never wait past the deadline.

botocore's CloudFormation waiters poll every 30 s and keep waiting through ``ROLLBACK_IN_PROGRESS``;
here the first poll comes after 0.2 s, the interval doubles up to 1 s, and any status that means
failure ends the wait at once. ``Throttling`` slows polling down instead of failing the run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_cloudstack.responses import error_code

FIRST_INTERVAL = 0.2
MAX_INTERVAL = 1.0
MAX_THROTTLED_INTERVAL = 30.0

_SUCCESS = {"create": "CREATE_COMPLETE", "update": "UPDATE_COMPLETE", "delete": "DELETE_COMPLETE"}
# Statuses that mean the operation has failed, even though CloudFormation may still be busy.
_FAILING_IN_PROGRESS = {
    "ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "IMPORT_ROLLBACK_IN_PROGRESS",
}
_FAILED_COMPLETE = {"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}


def is_failure(status: str) -> bool:
    return status.endswith("_FAILED") or status in _FAILING_IN_PROGRESS | _FAILED_COMPLETE


def is_in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS")


def verdict(operation: str, status: str) -> bool | None:
    """True: ``operation`` succeeded; False: it failed; None: keep waiting.

    ``settle`` waits for any status that is not ``*_IN_PROGRESS`` (a rollback included), and
    counts that as success: it is how a delete waits for an earlier operation to end.
    """
    if operation == "settle":
        return None if is_in_progress(status) else True
    if status == _SUCCESS[operation]:
        return True
    if is_failure(status) or not is_in_progress(status):
        return False
    return None


@dataclass(frozen=True)
class WaitResult:
    """How the wait ended: ``status`` is the last status seen (``DELETE_COMPLETE`` when gone)."""

    status: str
    description: dict[str, Any] | None
    succeeded: bool
    timed_out: bool
    polls: int


def is_throttling(error: BaseException) -> bool:
    return error_code(error) in {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }


def wait_for_stack(
    describe: Callable[[], dict[str, Any] | None],
    operation: str,
    timeout: float,
    on_poll: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitResult:
    """Poll ``describe`` (None means the stack is gone) until ``operation`` succeeds or fails."""
    deadline = clock() + timeout
    interval = FIRST_INTERVAL
    polls = 0
    last_status = ""
    description: dict[str, Any] | None = None
    while True:
        polls += 1
        try:
            description = describe()
        except Exception as error:
            if not is_throttling(error):
                raise
            # botocore's standard retry mode has already retried; slow down and keep waiting.
            interval = min(max(interval, MAX_INTERVAL) * 2, MAX_THROTTLED_INTERVAL)
        else:
            status = "DELETE_COMPLETE" if description is None else description["StackStatus"]
            last_status = status
            if on_poll is not None:
                on_poll(status)
            ended = verdict(operation, status)
            if ended is not None:
                return WaitResult(status, description, ended, False, polls)
            if interval > MAX_INTERVAL:  # recover gradually from a throttling slow-down
                interval = max(MAX_INTERVAL, interval / 2)
        remaining = deadline - clock()
        if remaining <= 0:
            return WaitResult(last_status, description, False, True, polls)
        # Jitter keeps several CI jobs that started together from polling in lockstep.
        sleep(min(remaining, interval * random.uniform(0.8, 1.2)))
        if interval < MAX_INTERVAL:
            interval = min(interval * 2, MAX_INTERVAL)
