"""``Function``: a Lambda function of the stack."""

from __future__ import annotations

import base64
import datetime
import functools
import json
from dataclasses import dataclass
from typing import Any

from pytest_cloudstack.errors import CloudStackError
from pytest_cloudstack.eventually import eventually, retry_transient
from pytest_cloudstack.handles._common import (
    ClientSource,
    decode_json,
    handle_repr,
    is_error,
    to_text,
)
from pytest_cloudstack.handles.errors import LambdaError

#: how long the first invoke waits for a fresh function (Pending -> Active, IAM propagation)
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch Logs event of the function."""

    timestamp: datetime.datetime
    message: str
    stream: str

    def __str__(self) -> str:
        return self.message


class Function:
    """A Lambda function. ``.client`` is the boto3 Lambda client.

    The first :meth:`invoke` waits for the function to be ``Active`` and retries the error real
    AWS gives while a fresh role propagates ("The role defined for the function cannot be
    assumed by Lambda"), for up to ``ready_timeout`` seconds.
    """

    def __init__(self, clients: ClientSource, name: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        #: the boto3 Lambda client
        self.client: Any = clients.client("lambda")
        self._clients = clients
        # Lambda takes a name or an ARN everywhere; log groups are named after the bare name.
        self.name = (
            name.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in name else name
        )
        self.ready_timeout = READY_TIMEOUT
        self._ready = False
        self._arn: str | None = None

    @property
    def arn(self) -> str:
        """The function's ARN (GetFunctionConfiguration, once)."""
        if self._arn is None:
            self._arn = str(self.configuration()["FunctionArn"])
        return self._arn

    def configuration(self) -> dict[str, Any]:
        """GetFunctionConfiguration: runtime, handler, environment, state ..."""
        response = self.client.get_function_configuration(FunctionName=self.name)
        response.pop("ResponseMetadata", None)
        return dict(response)

    def invoke(self, payload: object = None, *, qualifier: str | None = None) -> Any:
        """Invoke synchronously and return the decoded JSON result.

        ``payload``: ``bytes`` are sent as they are (JSON text); anything else is sent as JSON.
        A function error raises :class:`LambdaError` with the error type, message, stack trace
        and the decoded tail of the log.
        """
        __tracebackhide__ = True
        self._wait_until_ready()
        params: dict[str, Any] = {
            "FunctionName": self.name,
            "Payload": _payload(payload),
            "LogType": "Tail",
        }
        if qualifier is not None:
            params["Qualifier"] = qualifier
        response = retry_transient(
            functools.partial(self.client.invoke, **params), self.ready_timeout
        )
        body = decode_json(response["Payload"].read())
        if response.get("FunctionError"):
            raise LambdaError(self.name, response["FunctionError"], body, _log_tail(response))
        return body

    def invoke_async(self, payload: object = None) -> str:
        """Invoke asynchronously (``InvocationType=Event``); return the request ID."""
        self._wait_until_ready()
        invoke = functools.partial(
            self.client.invoke,
            FunctionName=self.name,
            InvocationType="Event",
            Payload=_payload(payload),
        )
        response = retry_transient(invoke, self.ready_timeout)
        return str(response["ResponseMetadata"]["RequestId"])

    def logs(
        self, since: datetime.datetime | datetime.timedelta | float | None = None
    ) -> list[LogEvent]:
        """The function's CloudWatch log events, oldest first; ``since``: a datetime, a timedelta
        back from now, or epoch seconds. Empty while the log group does not exist yet (before
        the first invoke). Delivery lags a few seconds on AWS: wrap checks in ``eventually``."""
        config = self.configuration()
        group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{self.name}"
        params: dict[str, Any] = {"logGroupName": group}
        if since is not None:
            params["startTime"] = int(_epoch(since) * 1000)
        logs = self._clients.client("logs")
        events: list[LogEvent] = []
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**params):
                events += [
                    LogEvent(
                        datetime.datetime.fromtimestamp(
                            float(event["timestamp"]) / 1000, datetime.timezone.utc
                        ),
                        str(event.get("message", "")),
                        str(event.get("logStreamName", "")),
                    )
                    for event in page.get("events", [])
                ]
        except Exception as error:
            if is_error(error, "ResourceNotFoundException"):
                return []
            raise
        return sorted(events, key=lambda event: event.timestamp)

    def _wait_until_ready(self) -> None:
        __tracebackhide__ = True
        if self._ready:
            return

        def active() -> None:
            __tracebackhide__ = True
            config = self.configuration()
            state = config.get("State", "Active")
            update = config.get("LastUpdateStatus", "Successful")
            if state == "Failed" or update == "Failed":
                reason = config.get("StateReason") or config.get("LastUpdateStatusReason")
                raise CloudStackError(f"Lambda function {self.name} is {state}/{update}: {reason}")
            if state == "Pending" or update == "InProgress":
                raise AssertionError(
                    f"Lambda function {self.name} is not ready: State {state}, "
                    f"LastUpdateStatus {update}"
                )

        eventually(timeout=self.ready_timeout)(active)
        self._ready = True

    def __repr__(self) -> str:
        return handle_repr("Function", self.logical_id, self.name)


def _payload(payload: object) -> bytes:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        # A str is a JSON string value, like every other Python value (to_text sends str raw).
        return json.dumps(payload).encode()
    return to_text(payload).encode()


def _log_tail(response: dict[str, Any]) -> str:
    encoded = response.get("LogResult") or ""
    if not encoded:
        return ""
    try:
        return base64.b64decode(encoded).decode("utf-8", errors="replace")
    except ValueError:
        return str(encoded)


def _epoch(since: datetime.datetime | datetime.timedelta | float) -> float:
    if isinstance(since, datetime.timedelta):
        return (datetime.datetime.now(datetime.timezone.utc) - since).timestamp()
    if isinstance(since, datetime.datetime):
        return since.timestamp()
    return float(since)
