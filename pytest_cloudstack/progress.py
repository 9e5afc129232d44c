"""Live progress while CloudFormation works: new stack events as lines, and a heartbeat.

Each new event (deduplicated by event ID, oldest first, nested stacks followed) becomes one line:
time, status, resource type, logical ID, and the reason when there is one. When nothing new
happens for a while, a heartbeat line says how long the operation has been running, so a CI log
is never silent for minutes. Events are fetched at most every ``MIN_INTERVAL`` seconds whatever
the status polling does: DescribeStackEvents is the call peers got throttled on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

MIN_INTERVAL = 2.0
HEARTBEAT = 15.0
TAIL = 20

Writer = Callable[[str], None]


class EventFeed:
    """Turns one stack's events (and its nested stacks') into progress lines."""

    def __init__(
        self,
        cloudformation: Any,
        stack_id: str,
        since: datetime,
        write: Writer,
        verbosity: int = 0,
        clock: Callable[[], float] = time.monotonic,
        seen: set[str] | None = None,
    ) -> None:
        self.cloudformation = cloudformation
        self.since = since
        self.write = write
        self.verbosity = verbosity
        self.clock = clock
        self.lines: list[str] = []
        self._stacks = [stack_id]
        self._root = stack_id
        # Shared between the feeds of one session: the delete's feed starts a little in the past
        # (clock slack) and must not repeat the create's last events.
        self._seen: set[str] = set() if seen is None else seen
        self._started = clock()
        self._last_fetch = -MIN_INTERVAL
        self._last_news = self._started
        self._last_beat = self._started

    def poll(self, status: str, force: bool = False) -> None:
        """Called on every status poll; fetches events only when due, beats when quiet."""
        now = self.clock()
        if force or now - self._last_fetch >= MIN_INTERVAL:
            self._last_fetch = now
            if self._fetch():
                self._last_news = now
        quiet_for = now - max(self._last_news, self._last_beat)
        if self.verbosity >= 0 and quiet_for >= HEARTBEAT:
            self._last_beat = now
            elapsed = now - self._started
            self.write(f"  ... still {status} after {int(elapsed // 60)}m{int(elapsed % 60):02d}s")

    def tail(self, count: int = TAIL) -> list[str]:
        """The last event lines, for a failure summary."""
        return self.lines[-count:]

    def _fetch(self) -> bool:
        new: list[dict[str, Any]] = []
        for stack_id in list(self._stacks):
            try:
                new.extend(self._new_events(stack_id))
            except Exception:  # progress must never break a deploy
                continue
        new.sort(key=lambda event: event["Timestamp"])
        for event in new:
            line = self._line(event)
            self.lines.append(line)
            if self.verbosity >= 0:
                self.write(line)
            nested = event.get("PhysicalResourceId", "")
            if (
                event.get("ResourceType") == "AWS::CloudFormation::Stack"
                and nested.startswith("arn:")
                and nested not in self._stacks
            ):
                self._stacks.append(nested)  # follow nested stacks
        return bool(new)

    def _new_events(self, stack_id: str) -> list[dict[str, Any]]:
        # Events come newest first; stop paging at the first one already seen or too old.
        found: list[dict[str, Any]] = []
        paginator = self.cloudformation.get_paginator("describe_stack_events")
        for page in paginator.paginate(StackName=stack_id):
            for event in page["StackEvents"]:
                if event["EventId"] in self._seen or event["Timestamp"] < self.since:
                    return found
                self._seen.add(event["EventId"])
                found.append(event)
        return found

    def _line(self, event: dict[str, Any]) -> str:
        stamp = event["Timestamp"].astimezone().strftime("%H:%M:%S")
        parts = [
            f"  {stamp}",
            f"{event.get('ResourceStatus', '?'):<22}",
            f"{event.get('ResourceType', '?'):<30}",
            event.get("LogicalResourceId", "?"),
        ]
        if self.verbosity > 0 and event.get("PhysicalResourceId"):
            parts.append(f"[{event['PhysicalResourceId']}]")
        reason = event.get("ResourceStatusReason")
        if reason and reason != "User Initiated":
            parts.append(f"- {reason}")
        return " ".join(parts)
