"""Errors of the handles: a resource that is not in the stack, and what functions and
executions report when they fail."""

from __future__ import annotations

from typing import Any

from pytest_cloudstack.errors import CloudStackError


class UnknownResourceError(CloudStackError, KeyError):
    """No resource or output of the stack has this logical ID; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class WrongResourceTypeError(CloudStackError, TypeError):
    """The logical ID names a resource of another type (``queue("OrdersTable")``)."""


class LambdaError(CloudStackError):
    """A Lambda function returned a function error (``X-Amz-Function-Error``).

    ``error_type``, ``error_message`` and ``stack_trace`` come from the error document the
    runtime returned; ``log_tail`` is the decoded tail of the invocation's log (``LogType=Tail``,
    the last 4 KB); ``payload`` is the decoded payload as returned, ``function_error`` the header
    (``Unhandled`` or ``Handled``).
    """

    def __init__(
        self,
        function: str,
        function_error: str,
        payload: Any,
        log_tail: str = "",
    ) -> None:
        self.function = function
        self.function_error = function_error
        self.payload = payload
        self.log_tail = log_tail
        document = payload if isinstance(payload, dict) else {}
        self.error_type: str | None = document.get("errorType")
        message = document.get("errorMessage")
        if message is None:
            # Not the runtime's error document (an emulator's answer, a raw string): keep it whole.
            message = payload if isinstance(payload, str) else repr(payload)
        self.error_message: str = str(message)
        trace = document.get("stackTrace") or []
        self.stack_trace: list[str] = (
            [str(line) for line in trace] if isinstance(trace, list) else [str(trace)]
        )
        super().__init__(self._text())

    def _text(self) -> str:
        kind = f"{self.error_type}: " if self.error_type else ""
        lines = [
            f"Lambda function {self.function} failed ({self.function_error}): {kind}{self.error_message}"
        ]
        if self.stack_trace:
            lines.append("stack trace:")
            lines += [f"  {line.rstrip()}" for line in "".join(self.stack_trace).splitlines()]
        if self.log_tail.strip():
            lines.append("log tail:")
            lines += [f"  {line}" for line in self.log_tail.rstrip().splitlines()]
        return "\n".join(lines)


class StateMachineError(CloudStackError):
    """A Step Functions execution ended FAILED, TIMED_OUT or ABORTED; ``error`` and ``cause``
    are what Step Functions reported."""

    def __init__(
        self, execution_arn: str, status: str, error: str | None, cause: str | None
    ) -> None:
        self.execution_arn = execution_arn
        self.status = status
        self.error = error
        self.cause = cause
        detail = ": ".join(part for part in (error, cause) if part) or "no error or cause reported"
        super().__init__(f"execution {execution_arn} {status}: {detail}")
