"""What the stack's Lambda functions logged while a failing test ran: a report section.

When an asynchronous flow fails, the answer is usually in a function's log. For a failing test
that needed the stack, the log events of the stack's functions within the test's time window are
read from CloudWatch Logs (``/aws/lambda/<name>``) and attached to the report as "Captured Lambda
logs", like captured stdout, bounded in size. On AWS, log delivery lags a few seconds behind the
function: when the window is still empty, the read is retried briefly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pytest_cloudstack.stack import Stack

SECTION = "Captured Lambda logs"
MAX_CHARS = 16_000
DELIVERY_LAG = 6.0  # seconds to keep looking on AWS when nothing has arrived yet
FUNCTION_TYPES = ("AWS::Lambda::Function",)


def function_names(stack: Stack) -> list[str]:
    """Physical names of the stack's Lambda functions."""
    return sorted(
        resource.physical_id
        for resource in stack.resources.values()
        if resource.type in FUNCTION_TYPES and resource.physical_id
    )


def collect(
    stack: Stack,
    start: float,
    end: float,
    wait_for_delivery: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The log lines of every function of the stack between ``start`` and ``end`` (epoch s)."""
    names = function_names(stack)
    if not names:
        return ""
    logs = stack.client("logs")
    deadline = time.monotonic() + (DELIVERY_LAG if wait_for_delivery else 0)
    while True:
        events = [
            (event["timestamp"], name, event["message"].rstrip("\n"))
            for name in names
            for event in _events(logs, f"/aws/lambda/{name}", start, end)
        ]
        if events or time.monotonic() >= deadline:
            break
        sleep(0.5)
    events.sort()
    lines = [f"[{name}] {message}" for _, name, message in events]
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        # Keep the end: the lines closest to the failure matter most.
        text = f"... ({len(text) - MAX_CHARS} characters cut)\n" + text[-MAX_CHARS:]
    return text


def _events(logs: Any, group: str, start: float, end: float) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    found: list[dict[str, Any]] = []
    try:
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(
            logGroupName=group, startTime=int(start * 1000), endTime=int(end * 1000) + 1
        ):
            found.extend(page.get("events", []))
            if sum(len(e.get("message", "")) for e in found) > MAX_CHARS * 2:
                break
    except ClientError:
        return []  # no log group yet: the function never ran
    return found


def section_for(stack: Stack, start: float, end: float) -> str:
    """The report section text for a failed test that ran between ``start`` and ``end``."""
    try:
        return collect(stack, start, end, wait_for_delivery=stack.target == "aws")
    except Exception as error:  # diagnostics must never hide the failure they explain
        from pytest_cloudstack.responses import reason

        return (
            f"(could not read the Lambda logs: {reason(error, stack.region, stack.endpoint_url)})"
        )
