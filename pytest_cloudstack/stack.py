"""``Stack``: what tests get from the ``cloud_stack`` fixture.

A ``Stack`` is built from a plain-data ``StackDescription`` (what pytest-xdist workers receive) and
makes boto3 sessions and clients bound to the target on demand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.connection import Connection

if TYPE_CHECKING:
    import boto3

    from pytest_cloudstack.handles import (
        Api,
        Bucket,
        Function,
        HandleCache,
        Queue,
        StateMachine,
        Table,
        Topic,
    )


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack: its logical ID, physical ID and CloudFormation type."""

    logical_id: str
    physical_id: str
    type: str


@dataclass(frozen=True)
class StackDescription:
    """Plain data about a deployed stack; survives the trip to xdist workers."""

    name: str
    stack_id: str
    connection: Connection
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, StackResource] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stack_id": self.stack_id,
            "connection": self.connection.to_dict(),
            "outputs": dict(self.outputs),
            "resources": {key: [res.physical_id, res.type] for key, res in self.resources.items()},
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], connection: Connection | None = None
    ) -> StackDescription:
        return cls(
            name=data["name"],
            stack_id=data["stack_id"],
            connection=connection or Connection.from_dict(data["connection"]),
            outputs=dict(data["outputs"]),
            resources={
                key: StackResource(key, physical, kind)
                for key, (physical, kind) in data["resources"].items()
            },
        )


def describe_stack(
    connection: Connection, cloudformation: Any, stack_id: str, description: dict[str, Any]
) -> StackDescription:
    """Read outputs (from a DescribeStacks answer) and every resource (ListStackResources).

    Resources of nested stacks are included under their path, ``Parent/Child/Id``.
    """
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in description.get("Outputs", [])}
    resources: dict[str, StackResource] = {}
    _list_resources(cloudformation, stack_id, "", resources, depth=0)
    return StackDescription(description["StackName"], stack_id, connection, outputs, resources)


_NESTED_STACK = "AWS::CloudFormation::Stack"
_MAX_NESTING = 10  # CloudFormation's own limit is lower; this only guards against a cycle


def _list_resources(
    cloudformation: Any, stack: str, prefix: str, into: dict[str, StackResource], depth: int
) -> None:
    nested: list[tuple[str, str]] = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        for summary in page["StackResourceSummaries"]:
            logical = prefix + summary["LogicalResourceId"]
            physical = summary.get("PhysicalResourceId", "")
            into[logical] = StackResource(logical, physical, summary["ResourceType"])
            if summary["ResourceType"] == _NESTED_STACK and physical:
                nested.append((logical, physical))
    for logical, physical in nested:
        if depth < _MAX_NESTING:
            # The physical ID of a nested stack is its ARN (its name on moto): both are accepted.
            _list_resources(cloudformation, physical, f"{logical}/", into, depth + 1)


class Stack:
    """The deployed stack: its name, target, region, outputs, resources and boto3 access."""

    def __init__(self, description: StackDescription) -> None:
        self._description = description

    @property
    def description(self) -> StackDescription:
        """The plain data this handle was built from."""
        return self._description

    @property
    def name(self) -> str:
        """The CloudFormation stack name."""
        return self._description.name

    @property
    def stack_id(self) -> str:
        """The stack's ARN."""
        return self._description.stack_id

    @property
    def target(self) -> str:
        """``aws``, ``local`` or the endpoint URL."""
        return self._description.connection.target

    @property
    def region(self) -> str:
        return self._description.connection.region

    @property
    def endpoint_url(self) -> str | None:
        """The emulator's endpoint URL, None on real AWS."""
        return self._description.connection.endpoint_url

    @property
    def outputs(self) -> dict[str, str]:
        """Output name -> value."""
        return dict(self._description.outputs)

    @property
    def resources(self) -> dict[str, StackResource]:
        """Logical ID -> ``StackResource`` (physical ID and type)."""
        return dict(self._description.resources)

    @functools.cached_property
    def session(self) -> boto3.session.Session:
        """A boto3 Session bound to the target and region (one per Stack, made on first use)."""
        return self._description.connection.session()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the target, e.g. ``stack.client("sqs")``."""
        return self._description.connection.client(service, session=self.session)

    def resource(self, service: str) -> Any:
        """A boto3 resource for ``service`` on the target, e.g. ``stack.resource("dynamodb")``."""
        session: Any = self.session  # Any: boto3-stubs overloads need a literal service name
        return session.resource(service, endpoint_url=self.endpoint_url)

    def physical_id(self, logical_id: str) -> str:
        """The physical ID of a resource (or the value of an output) named ``logical_id``."""
        if logical_id in self._description.resources:
            return self._description.resources[logical_id].physical_id
        if logical_id in self._description.outputs:
            return self._description.outputs[logical_id]
        known = (
            ", ".join(sorted([*self._description.resources, *self._description.outputs])) or "none"
        )
        raise KeyError(
            f"stack {self.name} has no resource or output {logical_id!r}; it has: {known}"
        )

    # -- handles: typed access to the stack's resources (pytest_cloudstack.handles) ------------
    # Each takes a logical ID (``Parent/Child/Id`` inside nested stacks) or an Output name and
    # fails with the IDs that exist, or with the resource's actual type.

    @functools.cached_property
    def _handles(self) -> HandleCache:
        from pytest_cloudstack.handles import HandleCache

        return HandleCache(self)

    def table(self, logical_id: str) -> Table:
        """The DynamoDB table ``logical_id`` as a ``Table`` handle."""
        handle: Table = self._handles.handle("table", logical_id)
        return handle

    def queue(self, logical_id: str) -> Queue:
        """The SQS queue ``logical_id`` as a ``Queue`` handle."""
        handle: Queue = self._handles.handle("queue", logical_id)
        return handle

    def function(self, logical_id: str) -> Function:
        """The Lambda function ``logical_id`` as a ``Function`` handle."""
        handle: Function = self._handles.handle("function", logical_id)
        return handle

    def bucket(self, logical_id: str) -> Bucket:
        """The S3 bucket ``logical_id`` as a ``Bucket`` handle."""
        handle: Bucket = self._handles.handle("bucket", logical_id)
        return handle

    def topic(self, logical_id: str) -> Topic:
        """The SNS topic ``logical_id`` as a ``Topic`` handle."""
        handle: Topic = self._handles.handle("topic", logical_id)
        return handle

    def state_machine(self, logical_id: str) -> StateMachine:
        """The Step Functions state machine ``logical_id`` as a ``StateMachine`` handle."""
        handle: StateMachine = self._handles.handle("state_machine", logical_id)
        return handle

    def api(self, logical_id: str) -> Api:
        """The API Gateway REST or HTTP API ``logical_id`` as an ``Api`` handle (``.url``,
        ``.request(method, path)``); the implicit SAM APIs are ``ServerlessRestApi`` and
        ``ServerlessHttpApi``."""
        handle: Api = self._handles.handle("api", logical_id)
        return handle

    def __repr__(self) -> str:
        return f"<Stack {self.name} on {self.target} ({self.region})>"
