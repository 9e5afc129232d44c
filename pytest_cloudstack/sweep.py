"""``--cloud-stack-sweep``: delete the stacks a crashed or killed session left behind.

SIGKILL and power loss can't be caught, so every stack carries ``cloudstack:created-at`` and
``cloudstack:expires-at``. A sweep lists this project's stacks (the ``cloudstack:project`` tag,
compared for equality: a name prefix can't tell project ``app`` from ``app-api``) that are older
than AGE or past their expiry, or whose lease names a session that died on this machine, in the
target's account and region, and deletes them with their leases. It deletes by default (the flag
is a deliberate request); with ``--cloud-stack-plan`` it only lists. Busy, leased and
termination-protected stacks are skipped and said; so are stacks made before the project tag
existed, whose project is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_cloudstack.connection import SessionHook, remote_connection
from pytest_cloudstack.errors import ConfigurationError
from pytest_cloudstack.naming import (
    CREATED_AT_TAG,
    EXPIRES_AT_TAG,
    OWNERSHIP_TAG,
    PROJECT_TAG,
    project_tag_value,
)
from pytest_cloudstack.responses import boto_errors, service_message, tags_of
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
    #: the lease record found for the stack (deleted with it); empty when none
    lease: Mapping[str, Any] = field(default_factory=dict)
    #: why a sweep takes it whatever its age: its session died on this machine
    orphan: str = ""


def project_stacks(
    cloudformation: Any, prefix: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """This project's live stacks (``cloudstack:project`` equal to the project's), and the
    stacks of ours made before that tag existed whose names start with the prefix: their
    project is unknown (``app-api-main`` may be project ``app``'s or ``app-api``'s)."""
    project = project_tag_value(prefix)
    mine: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            tags = tags_of(stack)
            if tags.get(OWNERSHIP_TAG) != "true" or stack["StackStatus"] == "DELETE_COMPLETE":
                continue
            if PROJECT_TAG in tags:
                if tags[PROJECT_TAG] == project:
                    mine.append(stack)
            elif stack["StackName"] == prefix or stack["StackName"].startswith(f"{prefix}-"):
                unknown.append(stack)
    return mine, unknown


def stale_stacks(
    stacks: Any,
    max_age: float,
    now: datetime,
    leases: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StaleStack]:
    """Those of ``stacks`` older than ``max_age`` seconds or past their expiry tag, and those
    whose lease names a session that died on this machine (whatever their age)."""
    from pytest_cloudstack.lease import holder_is_gone, is_live

    found: list[StaleStack] = []
    for stack in stacks:
        tags = tags_of(stack)
        lease = (leases or {}).get(stack["StackName"], {})
        created = _parse(tags.get(CREATED_AT_TAG)) or stack.get("CreationTime")
        age = (now - created).total_seconds() if isinstance(created, datetime) else 0.0
        expires = _parse(tags.get(EXPIRES_AT_TAG))
        expired = expires is not None and expires <= now
        orphan = ""
        if lease and holder_is_gone(lease):
            orphan = f"its session, pid {lease.get('pid', '?')} on this machine, is gone"
        if age < max_age and not expired and not orphan:
            continue
        status = stack["StackStatus"]
        skip = ""
        if stack.get("EnableTerminationProtection"):
            skip = "termination protection is on"
        elif lease and is_live(lease):
            skip = f"in use: {lease.get('holder', 'a session')} holds its lease"
        elif is_in_progress(status) and not orphan:
            skip = f"busy ({status}): a session may be using it"
        found.append(
            StaleStack(
                stack["StackName"],
                stack["StackId"],
                status,
                age,
                expired,
                skip,
                dict(lease),
                orphan,
            )
        )
    return found


def expired_names(cloudformation: Any, prefix: str, now: datetime, exclude: str) -> list[str]:
    """Names of this project's stacks past their expiry, from one DescribeStacks page (cheap)."""
    page = cloudformation.describe_stacks()
    project = project_tag_value(prefix)
    return [
        stack["StackName"]
        for stack in page["Stacks"]
        if tags_of(stack).get(OWNERSHIP_TAG) == "true"
        and tags_of(stack).get(PROJECT_TAG) == project
        and stack["StackStatus"] != "DELETE_COMPLETE"
        and stack["StackName"] != exclude
        and (expires := _parse(tags_of(stack).get(EXPIRES_AT_TAG))) is not None
        and expires <= now
    ]


def read_leases(ssm: Any, stacks: list[dict[str, Any]], write: Writer) -> dict[str, dict[str, Any]]:
    """The lease record of each stack that has one (a read that fails counts as no lease)."""
    from pytest_cloudstack.lease import read_lease
    from pytest_cloudstack.share import live_user_records

    leases: dict[str, dict[str, Any]] = {}
    for stack in stacks:
        name = stack["StackName"]
        try:
            leases[name] = read_lease(ssm, name)
            if not leases[name]:
                # A shared stack has no lease but users: a live one keeps it from the sweep.
                users = live_user_records(ssm, name)
                if users:
                    leases[name] = users[0]
        except boto_errors() as error:
            write(f"could not read the lease of {name} ({service_message(error)}): taken as none")
    return leases


def sweep(
    operations: Any,
    stale: list[StaleStack],
    timeout: float,
    dry_run: bool,
    write: Writer,
    ssm: Any = None,
) -> int:
    """Delete the stale stacks (or list them), and their leases; how many could not be deleted."""
    from pytest_cloudstack.errors import CloudStackError
    from pytest_cloudstack.lease import release_lease

    failed = 0
    for stack in stale:
        why = stack.orphan or (
            "past its expiry" if stack.expired else f"{_age(stack.age_seconds)} old"
        )
        if stack.skip:
            write(f"skipped {stack.name}: {stack.skip}")
        elif dry_run:
            write(f"would delete {stack.name} ({stack.status}, {why})")
        else:
            write(f"deleting {stack.name} ({stack.status}, {why})")
            try:
                operations.delete(stack.stack_id, timeout)
            except CloudStackError as error:
                failed += 1
                write(f"could not delete {stack.name}: {error}")
                continue
            except boto_errors() as error:
                failed += 1
                write(f"could not delete {stack.name}: {service_message(error)}")
                continue
            write(f"deleted {stack.name}")
            if stack.lease and ssm is not None:
                try:
                    release_lease(ssm, stack.name, stack.lease)
                except boto_errors() as error:
                    write(f"could not delete the lease of {stack.name}: {service_message(error)}")
    return failed


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
    operations = StackOperations(
        cloudformation, connection.client("s3", session), write, cli=connection.cli_command
    )
    now = datetime.now(timezone.utc)
    try:
        mine, unknown = project_stacks(cloudformation, settings.prefix)
    except boto_errors() as error:
        write(
            f"sweep: could not list the stacks on {connection.target} ({connection.region}): "
            f"{service_message(error)}"
        )
        return 1
    ssm = connection.client("ssm", session)
    stale = stale_stacks(mine, settings.sweep_age, now, read_leases(ssm, mine, write))
    # Never deleted: whose they are is unknown. Listed, with the command, for a human to decide.
    stale += [
        dataclasses.replace(
            stack,
            skip=f"it has no {PROJECT_TAG} tag (made by an older pytest-cloudstack), so it may "
            f"be another project's whose name also starts with {settings.prefix!r}; if it is "
            "this project's, delete it with: "
            + connection.cli_command("cloudformation", "delete-stack", "--stack-name", stack.name),
        )
        for stack in stale_stacks(unknown, settings.sweep_age, now)
    ]
    mode = "listing" if settings.plan else "deleting"
    write(
        f"sweep: {mode} stacks of project {settings.prefix!r} older than "
        f"{_age(settings.sweep_age)} or past their expiry, on {connection.target} "
        f"({connection.region}): {len(stale)} found"
    )
    failed = sweep(operations, stale, settings.timeout, settings.plan, write, ssm)
    return 1 if failed else 0
