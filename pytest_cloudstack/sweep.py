"""``--cloud-stack-sweep``: delete the stacks a crashed or killed session left behind.

SIGKILL and power loss can't be caught, so every stack carries ``cloudstack:created-at`` and
``cloudstack:expires-at``. A sweep lists the stacks of this project's prefix that carry the
ownership tag and are older than AGE or past their expiry, in the target's account and region,
and deletes them. It deletes by default (the flag is a deliberate request); with
``--cloud-stack-plan`` it only lists. Busy and termination-protected stacks are skipped and said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pytest_cloudstack.connection import SessionHook, remote_connection
from pytest_cloudstack.errors import ConfigurationError
from pytest_cloudstack.naming import CREATED_AT_TAG, EXPIRES_AT_TAG, OWNERSHIP_TAG
from pytest_cloudstack.responses import tags_of
from pytest_cloudstack.settings import Settings, TargetKind
from pytest_cloudstack.waiting import is_in_progress

Writer = Callable[[str], None]


@dataclass(frozen=True)
class StaleStack:
    """A stack of ours that a sweep would delete, or skips with ``skip`` saying why."""

    name: str
    stack_id: str
    status: str
    age_seconds: float
    expired: bool
    skip: str = ""


def owned_stacks(cloudformation: Any, prefix: str) -> Iterator[dict[str, Any]]:
    """Live stacks with the ownership tag whose names start with the project's prefix."""
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if _belongs(stack, prefix):
                yield stack


def stale_stacks(stacks: Any, max_age: float, now: datetime) -> list[StaleStack]:
    """Those of ``stacks`` older than ``max_age`` seconds or past their expiry tag."""
    found: list[StaleStack] = []
    for stack in stacks:
        tags = tags_of(stack)
        created = _parse(tags.get(CREATED_AT_TAG)) or stack.get("CreationTime")
        age = (now - created).total_seconds() if isinstance(created, datetime) else 0.0
        expires = _parse(tags.get(EXPIRES_AT_TAG))
        expired = expires is not None and expires <= now
        if age < max_age and not expired:
            continue
        status = stack["StackStatus"]
        skip = ""
        if stack.get("EnableTerminationProtection"):
            skip = "termination protection is on"
        elif is_in_progress(status):
            skip = f"busy ({status}): a session may be using it"
        found.append(StaleStack(stack["StackName"], stack["StackId"], status, age, expired, skip))
    return found


def expired_names(cloudformation: Any, prefix: str, now: datetime, exclude: str) -> list[str]:
    """Names of this prefix's stacks past their expiry, from one DescribeStacks page (cheap)."""
    page = cloudformation.describe_stacks()
    return [
        stack["StackName"]
        for stack in page["Stacks"]
        if _belongs(stack, prefix)
        and stack["StackName"] != exclude
        and (expires := _parse(tags_of(stack).get(EXPIRES_AT_TAG))) is not None
        and expires <= now
    ]


def skip_leased(stale: list[StaleStack], ssm: Any) -> list[StaleStack]:
    """Mark the stacks whose lease a live session holds (however old the stack) as skipped."""
    import dataclasses
    import json

    from pytest_cloudstack.lease import PREFIX

    checked: list[StaleStack] = []
    for stack in stale:
        holder: dict[str, Any] = {}
        if not stack.skip:
            try:
                value = ssm.get_parameter(Name=f"{PREFIX}{stack.name}")["Parameter"]["Value"]
                holder = json.loads(value)
            except Exception:  # no lease, or no permission to read one: nothing to respect
                holder = {}
        if isinstance(holder, dict) and holder.get("expires_at", 0) > time.time():
            stack = dataclasses.replace(
                stack, skip=f"in use: {holder.get('holder', 'a session')} holds its lease"
            )
        checked.append(stack)
    return checked


def sweep(
    operations: Any, stale: list[StaleStack], timeout: float, dry_run: bool, write: Writer
) -> int:
    """Delete the stale stacks (or list them); the number that could not be deleted."""
    failed = 0
    for stack in stale:
        why = "past its expiry" if stack.expired else f"{_age(stack.age_seconds)} old"
        if stack.skip:
            write(f"skipped {stack.name}: {stack.skip}")
        elif dry_run:
            write(f"would delete {stack.name} ({stack.status}, {why})")
        else:
            write(f"deleting {stack.name} ({stack.status}, {why})")
            try:
                operations.delete(stack.stack_id, timeout)
            except Exception as error:
                failed += 1
                write(f"could not delete {stack.name}: {error}")
            else:
                write(f"deleted {stack.name}")
    return failed


def _belongs(stack: dict[str, Any], prefix: str) -> bool:
    name = stack["StackName"]
    return (
        (name == prefix or name.startswith(f"{prefix}-"))
        and tags_of(stack).get(OWNERSHIP_TAG) == "true"
        and stack["StackStatus"] != "DELETE_COMPLETE"
    )


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def run_sweep(settings: Settings, on_session: SessionHook | None, write: Writer) -> int:
    """The whole ``--cloud-stack-sweep`` command; returns the process exit code."""
    from pytest_cloudstack.accounts import check_account
    from pytest_cloudstack.deploy import StackOperations

    if settings.target.kind is TargetKind.LOCAL or settings.sweep_age is None:
        raise ConfigurationError(
            "--cloud-stack-sweep cleans up aws or an endpoint target: the local emulator keeps "
            "nothing between sessions. Pass --cloud-stack=aws or an endpoint URL"
        )
    connection = remote_connection(settings, on_session)
    session = connection.session()
    if settings.target.kind is TargetKind.AWS:
        check_account(connection, session, settings.allowed_accounts)
    cloudformation = connection.client("cloudformation", session)
    operations = StackOperations(cloudformation, connection.client("s3", session), write)
    now = datetime.now(timezone.utc)
    stale = stale_stacks(owned_stacks(cloudformation, settings.prefix), settings.sweep_age, now)
    stale = skip_leased(stale, connection.client("ssm", session))
    mode = "listing" if settings.plan else "deleting"
    write(
        f"sweep: {mode} stacks of prefix {settings.prefix!r} older than "
        f"{_age(settings.sweep_age)} or past their expiry, on {connection.target} "
        f"({connection.region}): {len(stale)} found"
    )
    failed = sweep(operations, stale, settings.timeout, settings.plan, write)
    return 1 if failed else 0
