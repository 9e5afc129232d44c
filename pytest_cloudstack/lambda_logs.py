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
from dataclasses import dataclass, field
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
    """The log lines of every function of the stack between ``start`` and ``end`` (epoch s).

    One block per request, in the order the requests started; within a block, the lines in the
    order they were written; each line, traceback lines included, prefixed with the function.
    """
    names = function_names(stack)
    if not names:
        return ""
    logs = stack.client("logs")
    deadline = time.monotonic() + (DELIVERY_LAG if wait_for_delivery else 0)
    while True:
        found = {name: _events(logs, f"/aws/lambda/{name}", start, end) for name in names}
        if any(found.values()) or time.monotonic() >= deadline:
            break
        sleep(0.5)
    blocks = [block for name in names for block in _blocks(name, found[name])]
    # Stable: blocks that started in the same millisecond keep the function and stream order.
    blocks.sort(key=lambda block: block.started)
    text = "\n".join(line for block in blocks for line in block.lines)
    if len(text) > MAX_CHARS:
        # Keep the end: the lines closest to the failure matter most.
        text = f"... ({len(text) - MAX_CHARS} characters cut)\n" + text[-MAX_CHARS:]
    return text


@dataclass
class _Block:
    """The lines one request wrote (a cold start's init lines first), from its ``START``."""

    started: int
    lines: list[str] = field(default_factory=list)


def _blocks(name: str, events: list[dict[str, Any]]) -> list[_Block]:
    # A log stream is one execution environment, which serves one request at a time: within a
    # stream, the lines from a START to its REPORT are that request's.
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        streams.setdefault(event.get("logStreamName", ""), []).append(event)
    blocks: list[_Block] = []
    for stream in streams.values():
        # Stable, on the timestamp only: lines of one millisecond stay in the service's order
        # (the order they were written), never sorted by their text.
        stream.sort(key=lambda event: int(event["timestamp"]))
        pending: list[dict[str, Any]] = []  # lines before a START: a cold start's init
        current: _Block | None = None
        for event in stream:
            message = str(event.get("message", ""))
            if message.startswith("START RequestId:"):
                current = _Block(int((pending or [event])[0]["timestamp"]))
                blocks.append(current)
                for line_event in [*pending, event]:
                    current.lines.extend(_prefixed(name, line_event))
                pending = []
            elif current is None:
                if message.startswith(("END RequestId:", "REPORT RequestId:")):
                    # The end of a request that started before the test did: not the test's.
                    pending = []
                else:
                    pending.append(event)
            else:
                current.lines.extend(_prefixed(name, event))
                if message.startswith("REPORT RequestId:"):
                    current = None
        if pending:  # lines with no request (yet): shown where they were written
            orphan = _Block(int(pending[0]["timestamp"]))
            for event in pending:
                orphan.lines.extend(_prefixed(name, event))
            blocks.append(orphan)
    return blocks


def _prefixed(name: str, event: dict[str, Any]) -> list[str]:
    # One event may hold several lines (a traceback: the runtime joins them with "\r").
    text = str(event.get("message", "")).rstrip("\r\n")
    return [f"[{name}] {line}" for line in text.splitlines() or [""]]


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
