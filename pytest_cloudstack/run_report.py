"""What one stack's run says in words: its summary lines, the teardown's outcome, a hook's error.

``CloudStackRun`` (``run.py``) holds the state and decides; the sentences made of that state live
here, as functions of explicit values, so that the lifecycle reads as steps and its wording is in
one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_cloudstack.errors import TemplateError

if TYPE_CHECKING:
    import pytest

    from pytest_cloudstack.connection import Connection
    from pytest_cloudstack.errors import CloudStackError
    from pytest_cloudstack.stack import Stack


@dataclass
class TeardownReport:
    """What happened to the stack at the end: ``deleted``, ``kept`` or ``failed``."""

    outcome: str
    detail: str


class RunState(Protocol):
    """What the summary reads of one stack's run (``CloudStackRun`` has all of it)."""

    connection: Connection | None
    name: str
    stack: Stack | None
    deploy_error: CloudStackError | None
    deploy_action: str
    deploy_seconds: float
    deploy_unfinished: str
    failure_path: Path | None
    fidelity: str | None
    artifacts: tuple[int, int]
    hook_error: str
    teardown_report: TeardownReport | None


def summary_lines(run: RunState, deployed: bool, emulator_start: str) -> list[str]:
    """The terminal summary: where, what was deployed, what happened at the end.

    ``deployed``: whether a deploy was tried at all; ``emulator_start``: how the ``local``
    emulator started (empty on other targets).
    """
    assert run.connection is not None
    lines = [f"target {run.connection.target}, region {run.connection.region}, stack {run.name}"]
    if not deployed:
        lines.append("not deployed: no selected test needed the stack")
    elif run.deploy_error is not None:
        lines.append(str(run.deploy_error))
        events = getattr(run.deploy_error, "events", ())
        if events:
            lines.append("last stack events:")
            lines.extend(events)
        if run.failure_path is not None:
            lines.append(f"failure summary: {run.failure_path}")
    elif run.stack is None:
        lines.append(f"the deploy did not finish: {run.deploy_unfinished or 'unknown'}")
    elif run.deploy_action == "unchanged":
        lines.append(
            f"reused, unchanged ({run.deploy_seconds:.1f}s); {len(run.stack.resources)} resources"
        )
    else:
        lines.append(
            f"{run.deploy_action} in {run.deploy_seconds:.1f}s; "
            f"{len(run.stack.resources)} resources"
        )
    if emulator_start:
        lines.append(f"local emulator: {emulator_start}")
    if run.fidelity and run.deploy_error is None:
        lines.append(run.fidelity)
    total, uploaded = run.artifacts
    if total:
        lines.append(f"artifacts: {uploaded} uploaded, {total - uploaded} reused")
    if run.hook_error:
        lines.append(
            f"the pytest_cloudstack_teardown hook raised {run.hook_error} (traceback above)"
        )
    if run.teardown_report is not None:
        lines.append(run.teardown_report.detail)
    return lines


def delete_command(connection: Connection, name: str) -> str:
    """``delete it by hand with: aws cloudformation delete-stack ...`` for the target."""
    command = connection.cli_command("cloudformation", "delete-stack", "--stack-name", name)
    return f"delete it by hand with: {command}"


def kept_detail(connection: Connection, name: str, local: bool) -> str:
    """The teardown line of a kept stack: how to delete it later, or why ``local`` can't keep it."""
    if local:
        return (
            f"stack {name} kept, but the embedded emulator stops with this session, "
            "so it goes with it; keep is meant for aws and endpoint targets"
        )
    return f"stack {name} kept; {delete_command(connection, name).replace(' by hand', '')}"


def retained_detail(retained: tuple[str, ...], stack: Stack | None) -> str:
    """The deleted stack's resources left behind on purpose, named with their physical IDs."""
    if not retained:
        return ""
    resources = stack.resources if stack is not None else {}
    described = [
        f"{logical} ({resources[logical].type} {resources[logical].physical_id})"
        if logical in resources
        else logical
        for logical in retained
    ]
    return "\nleft behind on purpose (DeletionPolicy Retain): " + ", ".join(described)


def retained_resources(body: dict[str, Any]) -> tuple[str, ...]:
    """Logical IDs that a stack delete leaves behind on purpose."""
    resources = body.get("Resources", {})
    return tuple(
        logical
        for logical, resource in resources.items()
        if isinstance(resource, dict)
        and resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    )


def hook_template(config: pytest.Config, value: object) -> Path | dict[str, Any]:
    """What a ``pytest_cloudstack_template`` hook returned, if it is a path or a mapping."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str | os.PathLike):
        return Path(value)
    hook = config.pluginmanager.hook.pytest_cloudstack_template
    where = ", ".join(sorted({impl.plugin_name for impl in hook.get_hookimpls()}))
    raise TemplateError(
        f"the pytest_cloudstack_template hook ({where}) returned {value!r} "
        f"({type(value).__name__}): it must return a template path (str or pathlib.Path), a "
        "template as a dict, or None to use the configured template"
    )


def user_traceback(error: BaseException) -> str:
    """The traceback of an error raised in a user's hook, without pluggy's and our frames."""
    import traceback

    import pluggy

    ours = (str(Path(pluggy.__file__).parent), str(Path(__file__).parent))
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(ours)
    ]
    return "Traceback (most recent call last):\n" + "".join(
        [*traceback.format_list(frames), *traceback.format_exception_only(type(error), error)]
    ).rstrip("\n")
