"""From a logical ID (or an Output name) of the stack to a handle, with clients made once."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.fixtures import HANDLE_KINDS, KIND_NOUNS
from pytest_cloudstack.handles.api import Api
from pytest_cloudstack.handles.bucket import Bucket
from pytest_cloudstack.handles.errors import UnknownResourceError, WrongResourceTypeError
from pytest_cloudstack.handles.function import Function
from pytest_cloudstack.handles.queue import Queue
from pytest_cloudstack.handles.state_machine import StateMachine
from pytest_cloudstack.handles.table import Table
from pytest_cloudstack.handles.topic import Topic

if TYPE_CHECKING:
    from pytest_cloudstack.stack import Stack

_CLASSES: dict[str, Callable[[Any, str, str | None], Any]] = {
    "table": Table,
    "queue": Queue,
    "function": Function,
    "bucket": Bucket,
    "topic": Topic,
    "state_machine": StateMachine,
    "api": Api,
}


class HandleCache:
    """One per ``Stack``: one boto3 client and resource per service, one handle per resource.

    boto3 clients are thread-safe and costly to make (tens of milliseconds): handles share them.
    Handles are kept so that per-resource state (a function's first-invoke readiness) holds for
    the session.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._clients: dict[str, Any] = {}
        self._resources: dict[str, Any] = {}
        self._handles: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.stack.client(service)
            return self._clients[service]

    def resource(self, service: str) -> Any:
        with self._lock:
            if service not in self._resources:
                self._resources[service] = self.stack.resource(service)
            return self._resources[service]

    def handle(self, kind: str, logical_id: str) -> Any:
        with self._lock:
            key = (kind, logical_id)
            if key not in self._handles:
                physical = self._physical(kind, resolve(self.stack, kind, logical_id))
                self._handles[key] = _CLASSES[kind](self, physical, logical_id)
            return self._handles[key]

    def _physical(self, kind: str, value: str) -> str:
        """What the handle needs, from what an Output may hold (a name, an ARN, a URL)."""
        if kind == "queue" and "://" not in value:
            # An Output with the queue's ARN or name: SQS addresses queues by URL.
            params = {"QueueName": value.rsplit(":", 1)[-1]}
            if value.startswith("arn:"):
                params["QueueOwnerAWSAccountId"] = value.split(":")[4]
            return str(self.client("sqs").get_queue_url(**params)["QueueUrl"])
        if kind == "api" and "://" in value:
            # An Output with the API's URL: on AWS https://<id>.execute-api..., locally
            # <endpoint>/_aws/execute-api/<id>/...
            from pytest_cloudstack.local.apigateway.urls import api_id_of

            found = api_id_of(value)
            if found:
                return found
        if kind == "table" and value.startswith("arn:") and ":table/" in value:
            return value.split(":table/", 1)[1].split("/", 1)[0]
        return value


def resolve(stack: Stack, kind: str, logical_id: str) -> str:
    """The physical ID (or Output value) that ``logical_id`` names, checked against ``kind``."""
    types = HANDLE_KINDS[kind]
    resources = stack.resources
    resource = resources.get(logical_id)
    if resource is not None:
        if resource.type not in types:
            raise WrongResourceTypeError(
                f"{logical_id!r} in stack {stack.name} is {_article(resource.type)}, not "
                f"{KIND_NOUNS[kind]} ({', '.join(types)}){_method_hint(resource.type, logical_id)}"
                f"\n{_inventory(stack, kind)}"
            )
        return resource.physical_id
    outputs = stack.outputs
    if logical_id in outputs:
        value = outputs[logical_id]
        owner = next((r for r in resources.values() if value and r.physical_id == value), None)
        if owner is not None and owner.type not in types:
            raise WrongResourceTypeError(
                f"output {logical_id!r} of stack {stack.name} is the physical ID of "
                f"{owner.logical_id!r}, {_article(owner.type)}, not {KIND_NOUNS[kind]} "
                f"({', '.join(types)})\n{_inventory(stack, kind)}"
            )
        return value
    known = [*resources, *outputs]
    close = difflib.get_close_matches(logical_id, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownResourceError(
        f"stack {stack.name} has no resource or output {logical_id!r}{hint}\n"
        f"{_inventory(stack, kind)}"
    )


def _inventory(stack: Stack, kind: str) -> str:
    types = HANDLE_KINDS[kind]
    resources = stack.resources
    same = [logical for logical, res in resources.items() if res.type in types]
    plural = KIND_NOUNS[kind].split(" ", 1)[1] + "s"
    lines = [
        f"  {plural} in the stack: {', '.join(sorted(same)) or 'none'}",
        f"  all resources: {', '.join(f'{key} ({res.type})' for key, res in sorted(resources.items())) or 'none'}",
        f"  outputs: {', '.join(sorted(stack.outputs)) or 'none'}",
    ]
    return "\n".join(lines)


def _method_hint(resource_type: str, logical_id: str) -> str:
    for kind, types in HANDLE_KINDS.items():
        if resource_type in types:
            return f"; use cloud_stack.{kind}({logical_id!r})"
    return ""


def _article(resource_type: str) -> str:
    return f"{'an' if resource_type[:1] in 'AEIOU' else 'a'} {resource_type}"
