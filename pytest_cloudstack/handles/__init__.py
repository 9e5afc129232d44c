"""Typed handles over the stack's resources: thin objects over boto3, one module per type.

Each handle exposes its plain boto3 object (``.table``, ``.client``, ``.bucket``) so that tests
are never locked out of boto3, plus the few helpers tests need. Get them from the stack
(``cloud_stack.table("OrdersTable")``), the factory fixtures or the generated fixtures; or build
one from anything with ``client(service)`` and ``resource(service)`` methods, such as a ``Stack``:
``Table(cloud_stack, "my-table")``.
"""

from __future__ import annotations

from pytest_cloudstack.handles._resolve import HandleCache, resolve
from pytest_cloudstack.handles.api import Api, Response
from pytest_cloudstack.handles.bucket import Bucket
from pytest_cloudstack.handles.errors import (
    LambdaError,
    StateMachineError,
    UnknownResourceError,
    WrongResourceTypeError,
)
from pytest_cloudstack.handles.function import Function, LogEvent
from pytest_cloudstack.handles.queue import Message, Queue, QueueCounts
from pytest_cloudstack.handles.state_machine import StateMachine
from pytest_cloudstack.handles.table import Table
from pytest_cloudstack.handles.topic import Topic

__all__ = [
    "Api",
    "Bucket",
    "Function",
    "HandleCache",
    "LambdaError",
    "LogEvent",
    "Message",
    "Queue",
    "QueueCounts",
    "Response",
    "StateMachine",
    "StateMachineError",
    "Table",
    "Topic",
    "UnknownResourceError",
    "WrongResourceTypeError",
    "resolve",
]
