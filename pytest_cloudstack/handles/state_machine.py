"""``StateMachine``: a Step Functions state machine of the stack."""

from __future__ import annotations

import uuid
from typing import Any

from pytest_cloudstack.handles._common import ClientSource, decode_json, handle_repr, to_text
from pytest_cloudstack.handles.errors import StateMachineError

DEFAULT_EXECUTION_TIMEOUT = 300.0
_FAILED = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


class StateMachine:
    """A (standard) Step Functions state machine. ``.client`` is the boto3 client."""

    def __init__(self, clients: ClientSource, arn: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        self.arn = arn
        #: the boto3 Step Functions client
        self.client: Any = clients.client("stepfunctions")

    @property
    def name(self) -> str:
        """The state machine's name (the last part of its ARN)."""
        return self.arn.rsplit(":", 1)[-1]

    def start(self, input: object = None, *, name: str | None = None) -> str:
        """StartExecution with ``input`` (a str as is, anything else as JSON, None as ``{}``);
        return the execution ARN."""
        params: dict[str, Any] = {
            "stateMachineArn": self.arn,
            "input": "{}" if input is None else to_text(input),
            # What AWS does without a name; moto's executing backend names them all "None".
            "name": name or str(uuid.uuid4()),
        }
        return str(self.client.start_execution(**params)["executionArn"])

    def wait(self, execution: str, timeout: float = DEFAULT_EXECUTION_TIMEOUT) -> Any:
        """Wait for the execution to end and return its decoded output; raise
        :class:`StateMachineError` with Step Functions' error and cause when it FAILED, TIMED_OUT
        or was ABORTED, and ``AssertionError`` if it is still running at ``timeout``."""
        __tracebackhide__ = True
        from pytest_cloudstack.eventually import eventually

        def ended() -> Any:
            __tracebackhide__ = True
            described = self.client.describe_execution(executionArn=execution)
            status = described["status"]
            if status == "SUCCEEDED":
                return decode_json(described.get("output", ""))
            if status in _FAILED:
                raise StateMachineError(
                    execution, status, described.get("error"), described.get("cause")
                )
            raise AssertionError(f"execution {execution} is still {status}")

        return eventually(timeout=timeout)(ended)

    def run(self, input: object = None, timeout: float = DEFAULT_EXECUTION_TIMEOUT) -> Any:
        """:meth:`start`, then :meth:`wait`: the execution's decoded output."""
        __tracebackhide__ = True
        return self.wait(self.start(input), timeout)

    def __repr__(self) -> str:
        return handle_repr("StateMachine", self.logical_id, self.arn)
