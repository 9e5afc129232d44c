"""Exceptions raised by pytest-cloudstack.

Every error a user can cause carries a message that says what was wrong and what to do;
none of them needs a traceback of our internals to be understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CloudStackError(Exception):
    """Base class of every error pytest-cloudstack raises on purpose."""


class ConfigurationError(CloudStackError):
    """A setting, option or environment value is invalid (raised as ``pytest.UsageError``)."""


class TemplateError(CloudStackError):
    """The template cannot be read, parsed or checked; nothing was sent to the cloud."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class OwnershipError(CloudStackError):
    """A stack exists under our name but was not created by pytest-cloudstack."""


class CredentialsError(CloudStackError):
    """No usable credentials, or an account the settings do not allow."""


class ConcurrentRunError(CloudStackError):
    """Another session on this machine is using the same stack."""


@dataclass(frozen=True)
class ResourceFailure:
    """One resource that CloudFormation reported as failed, with the service's reason."""

    logical_id: str
    resource_type: str
    status: str
    reason: str

    def describe(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.status}: {self.reason}"


class DeployError(CloudStackError):
    """The stack could not be created or updated."""

    def __init__(self, stack_name: str, summary: str, failures: tuple[ResourceFailure, ...] = ()):
        self.stack_name = stack_name
        self.summary = summary
        self.failures = failures
        #: the last stack event lines seen while waiting, for the failure summary
        self.events: tuple[str, ...] = ()
        lines = [f"deploying stack {stack_name!r} failed: {summary}"]
        lines += [f"  - {failure.describe()}" for failure in failures]
        super().__init__("\n".join(lines))


class TeardownError(CloudStackError):
    """The stack could not be deleted; ``failures`` names the blocking resources."""

    def __init__(self, stack_name: str, summary: str, failures: tuple[ResourceFailure, ...] = ()):
        self.stack_name = stack_name
        self.summary = summary
        self.failures = failures
        lines = [f"deleting stack {stack_name!r} failed: {summary}"]
        lines += [f"  - {failure.describe()}" for failure in failures]
        super().__init__("\n".join(lines))


class ServiceError(CloudStackError):
    """A call to AWS (or the endpoint) failed in a way the plugin does not handle itself: no
    answer, an unreachable endpoint, a web page instead of an AWS answer.

    ``str()`` says which call failed, what happened and what to do; ``reason`` is the same
    without the call, for messages that already name it.
    """

    def __init__(self, operation: str, reason: str) -> None:
        self.operation = operation
        self.reason = reason
        super().__init__(f"{operation}: {reason}")


class CallTimeout(ServiceError):
    """A call did not end before the operation's deadline (``--cloud-stack-timeout``)."""
