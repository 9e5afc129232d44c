"""pytest-cloudstack: an ephemeral CloudFormation stack per branch, exposed as pytest fixtures."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported at once, and light: this binds the package attribute ``eventually`` to the function
# (a later ``import pytest_cloudstack.eventually`` does not rebind it to the module).
from pytest_cloudstack.eventually import eventually

if TYPE_CHECKING:
    from pytest_cloudstack.handles import (
        Api,
        Bucket,
        Function,
        LambdaError,
        LogEvent,
        Message,
        Queue,
        StateMachine,
        StateMachineError,
        Table,
        Topic,
        UnknownResourceError,
        WrongResourceTypeError,
    )
    from pytest_cloudstack.stack import Stack, StackResource

__all__ = [
    "Api",
    "Bucket",
    "Function",
    "LambdaError",
    "LogEvent",
    "Message",
    "Queue",
    "Stack",
    "StackResource",
    "StateMachine",
    "StateMachineError",
    "Table",
    "Topic",
    "UnknownResourceError",
    "WrongResourceTypeError",
    "eventually",
]

# Everything else is imported on first use: the plugin is imported by every pytest run, also
# without --cloud-stack, and must not pay for boto3 there.
_LAZY = {name: "pytest_cloudstack.handles" for name in __all__} | {
    "Stack": "pytest_cloudstack.stack",
    "StackResource": "pytest_cloudstack.stack",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None or name == "eventually":
        raise AttributeError(f"module 'pytest_cloudstack' has no attribute {name!r}")
    # Not cached here: the module in sys.modules stays the one truth (pytester's in-process runs
    # re-import the package's modules, and a cached class would then be a stale one).
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
