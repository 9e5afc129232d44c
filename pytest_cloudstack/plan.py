"""``--cloud-stack-plan``: what a deploy would change, shown from a change set, then nothing changed.

A change set is created (``CREATE`` for a new stack, ``UPDATE`` for an existing stack of ours),
read, and deleted again; for a new stack the ``REVIEW_IN_PROGRESS`` placeholder CloudFormation
made for it is deleted too. Local artifacts may be uploaded to the artifact bucket on the way,
as ``aws cloudformation deploy --no-execute-changeset`` does: the stack itself is not touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_cloudstack.deploy import DeployRequest, StackOperations
from pytest_cloudstack.errors import DeployError, OwnershipError
from pytest_cloudstack.naming import OWNERSHIP_TAG
from pytest_cloudstack.responses import service_message, tags_of

Writer = Callable[[str], None]
_NO_CHANGES = "didn't contain changes"
_SYMBOL = {"Add": "+", "Modify": "~", "Remove": "-", "Import": ">", "Dynamic": "?"}


@dataclass(frozen=True)
class PlannedChange:
    """One resource a deploy would add, modify (perhaps replace) or remove."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str = ""

    def line(self, type_width: int = 30) -> str:
        """The change as a plan line, the type padded to ``type_width`` (the widest type)."""
        replaced = f" (replacement: {self.replacement})" if self.replacement else ""
        symbol = _SYMBOL.get(self.action, "?")
        return (
            f"  {symbol} {self.action:<7} {self.resource_type:<{type_width}} "
            f"{self.logical_id}{replaced}"
        )


def plan(operations: StackOperations, request: DeployRequest, write: Writer) -> list[PlannedChange]:
    """Preview ``request`` as a change set, print it, and leave the stack as it was."""
    cloudformation = operations.cloudformation
    existing = operations.describe(request.name)
    if existing is not None:
        if tags_of(existing).get(OWNERSHIP_TAG) != "true":
            raise OwnershipError(
                f"stack {request.name!r} exists and was not created by pytest-cloudstack (no tag "
                f"{OWNERSHIP_TAG}=true): a deploy would refuse to touch it"
            )
    change_type = "UPDATE" if existing is not None else "CREATE"
    try:
        created = cloudformation.create_change_set(
            StackName=request.name,
            ChangeSetName=f"cloudstack-plan-{uuid.uuid4().hex[:12]}",
            ChangeSetType=change_type,
            # a retried call (botocore retries, a lost answer) is then the same request
            ClientToken=f"cloudstack-{uuid.uuid4()}",
            **request.stack_arguments(),
        )
    except Exception as error:
        raise DeployError(
            request.name, f"CreateChangeSet was refused: {service_message(error)}"
        ) from None
    try:
        description = _wait_for_change_set(
            cloudformation, created["Id"], request.timeout, request.name
        )
    finally:
        _clean_up(cloudformation, created, change_type, request.name)
    changes = _changes(description)
    write(f"plan for stack {request.name} ({change_type.lower()}):")
    # Columns sized from the content: a long type (AWS::Lambda::EventSourceMapping) stays aligned.
    type_width = max((len(change.resource_type) for change in changes), default=0)
    for change in changes:
        write(change.line(type_width))
    count = {
        action: sum(c.action == action for c in changes) for action in ("Add", "Modify", "Remove")
    }
    replaced = sum(c.replacement == "True" for c in changes)
    write(
        f"{count['Add']} to add, {count['Modify']} to modify ({replaced} replaced), "
        f"{count['Remove']} to remove; nothing was changed"
    )
    return changes


def _wait_for_change_set(
    cloudformation: Any, change_set_id: str, timeout: float, name: str
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    interval = 0.2
    while True:
        try:
            description: dict[str, Any] = cloudformation.describe_change_set(
                ChangeSetName=change_set_id
            )
        except Exception as error:
            raise DeployError(name, f"DescribeChangeSet failed: {service_message(error)}") from None
        status = description["Status"]
        if status == "CREATE_COMPLETE":
            return description
        if status == "FAILED":
            if _NO_CHANGES in description.get("StatusReason", ""):
                return {"Changes": []}
            raise DeployError(
                description.get("StackName", "?"),
                f"the change set failed: {description.get('StatusReason', 'no reason given')}",
            )
        if time.monotonic() > deadline:
            raise DeployError(
                description.get("StackName", "?"), f"the change set is still {status}"
            )
        time.sleep(interval)
        interval = min(interval * 2, 1.0)


def _changes(description: dict[str, Any]) -> list[PlannedChange]:
    changes = []
    for change in description.get("Changes", []):
        resource = change.get("ResourceChange", {})
        changes.append(
            PlannedChange(
                action=resource.get("Action", "?"),
                logical_id=resource.get("LogicalResourceId", "?"),
                resource_type=resource.get("ResourceType", "?"),
                replacement=str(resource.get("Replacement", ""))
                if resource.get("Action") == "Modify"
                else "",
            )
        )
    order = {"Add": 0, "Modify": 1, "Remove": 2}
    return sorted(changes, key=lambda c: (order.get(c.action, 3), c.logical_id))


def _clean_up(cloudformation: Any, created: dict[str, Any], change_type: str, name: str) -> None:
    try:
        cloudformation.delete_change_set(ChangeSetName=created["Id"])
    except Exception:
        pass  # the placeholder stack's delete below removes it as well
    if change_type == "CREATE":
        # CloudFormation made a REVIEW_IN_PROGRESS placeholder for the change set: plans leave
        # nothing behind.
        try:
            cloudformation.delete_stack(
                StackName=created["StackId"], ClientRequestToken=f"cloudstack-{uuid.uuid4()}"
            )
        except Exception as error:
            raise DeployError(
                name,
                f"could not delete the placeholder stack of the plan's change set "
                f"({service_message(error)}); delete stack {name} by hand",
            ) from None
