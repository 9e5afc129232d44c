"""Service calls of the deploy and the teardown: bounded, reported when slow, errors in words.

botocore's own limits (a 60 s read timeout, retried up to 8 times) leave a session waiting for
minutes on an endpoint that accepts connections and never answers. Here every call the run
makes runs on a helper thread while the session's thread waits for it, so that:

- ``--cloud-stack-timeout`` bounds the whole deploy and the whole delete, calls included: on the
  deadline the call is abandoned (its retries stop) and ``CallTimeout`` says what hung;
- a call that takes long is reported ("CloudFormation has not answered CreateStack for 30 s,
  still waiting") while the session waits;
- a failure that is not an AWS error answer (no connection, a web page instead of an AWS
  answer, an unknown region) becomes a ``ServiceError`` saying which call, what happened and
  what to do. AWS's own error answers (``ClientError``) pass through: callers act on their codes.

Waiting on a thread costs some 0.1 ms a call, nothing next to the call itself. The session's
thread stays interruptible: Ctrl-C or SIGTERM during a call abandons it as the deadline would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pytest_cloudstack.errors import CallTimeout, ServiceError
from pytest_cloudstack.responses import is_service_error, is_unreadable_answer, reason

Writer = Callable[[str], None]

SLOW_CALL = 30.0  # seconds before a call is reported as slow, then every SLOW_CALL again
GRACE = 2.0  # seconds any call gets, even one started at the deadline (the final status poll)
_SERVICE_NAMES = {
    "cloudformation": "CloudFormation",
    "s3": "S3",
    "ssm": "SSM",
    "sts": "STS",
    "logs": "CloudWatch Logs",
    "lambda": "Lambda",
}
_local = threading.local()


class _Abandoned(Exception):
    """Raised inside an abandoned call's thread to stop botocore from sending retries."""


class _Call:
    """One call on its helper thread: its result or error, and whether it was abandoned."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.done = threading.Event()
        self.abandoned = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        _local.call = self
        try:
            self.result = self.function()
        except BaseException as error:  # handed over to the waiting thread
            self.error = error
        finally:
            self.done.set()


class CallGuard:
    """Runs the calls of one run; ``deadline()`` bounds a whole operation (deploy, delete)."""

    def __init__(
        self,
        write: Writer,
        timeout: float,
        region: str | None = None,
        endpoint_url: str | None = None,
        slow_after: float = SLOW_CALL,
    ) -> None:
        self.write = write
        self.timeout = timeout
        self.region = region
        self.endpoint_url = endpoint_url
        # A short --cloud-stack-timeout wants to hear about a slow call sooner.
        self.slow_after = min(slow_after, max(timeout / 3, 1.0))
        self._deadline: float | None = None
        self._what = ""

    @contextlib.contextmanager
    def deadline(self, what: str) -> Iterator[None]:
        """Bound everything inside by ``timeout`` seconds from now (an outer bound wins)."""
        if self._deadline is not None:
            yield
            return
        self._deadline, self._what = time.monotonic() + self.timeout, what
        try:
            yield
        finally:
            self._deadline, self._what = None, ""

    def remaining(self) -> float:
        """Seconds left before the current deadline (the whole timeout outside of one)."""
        if self._deadline is None:
            return self.timeout
        return max(self._deadline - time.monotonic(), 0.0)

    def wrap(self, client: Any, service: str) -> GuardedClient:
        """``client`` with every API call (and every page of a paginator) going through here."""
        client.meta.events.register("before-send", _stop_if_abandoned)
        return GuardedClient(client, _SERVICE_NAMES.get(service, service), self)

    def call(self, service: str, operation: str, function: Callable[[], Any]) -> Any:
        """Run ``function`` (one API call) on a helper thread, bounded and reported."""
        started = time.monotonic()
        end = max(
            self._deadline if self._deadline is not None else started + self.timeout,
            started + GRACE,
        )
        call = _Call(function)
        threading.Thread(target=call.run, name="cloudstack-call", daemon=True).start()
        report_at = started + self.slow_after
        try:
            while not call.done.wait(max(min(report_at, end) - time.monotonic(), 0.0)):
                now = time.monotonic()
                if now >= end:
                    raise self._timed_out(service, operation, now - started)
                if now >= report_at:
                    self.write(
                        f"{service} has not answered {operation} for {now - started:.0f} s, "
                        "still waiting"
                    )
                    report_at += self.slow_after
        finally:
            if not call.done.is_set():
                call.abandoned.set()  # a deadline or an interrupt: no more retries
        if call.error is not None:
            error = call.error
            if _is_transport_failure(error):
                why = reason(error, self.region, self.endpoint_url)
                raise ServiceError(f"{service} {operation}", why) from error
            raise error
        return call.result

    def _timed_out(self, service: str, operation: str, waited: float) -> CallTimeout:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        bound = f"{self._what} is" if self._what else "each call is"
        return CallTimeout(
            f"{service} {operation}",
            f"{service}{where} gave no answer in {waited:.1f} s, and {bound} bounded by "
            f"--cloud-stack-timeout ({self.timeout:g} s): check that the endpoint works, or "
            "raise --cloud-stack-timeout",
        )


class GuardedClient:
    """A boto3 client whose API calls and paginators go through a ``CallGuard``."""

    def __init__(self, client: Any, service: str, guard: CallGuard) -> None:
        self._client = client
        self._service = service
        self._guard = guard
        self._operations: dict[str, str] = dict(client.meta.method_to_api_mapping)

    @property
    def unguarded(self) -> Any:
        """The boto3 client itself."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        operation = self._operations.get(name)
        if operation is None:
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._guard.call(self._service, operation, lambda: attribute(*args, **kwargs))

        return guarded

    def get_paginator(self, name: str) -> GuardedPaginator:
        operation = self._operations.get(name, name)
        return GuardedPaginator(self._client.get_paginator(name), self._service, operation, self)

    def __repr__(self) -> str:
        return f"<guarded {self._client!r}>"


class GuardedPaginator:
    """A paginator whose every page is fetched through the guard."""

    def __init__(self, paginator: Any, service: str, operation: str, owner: GuardedClient) -> None:
        self._paginator = paginator
        self._service = service
        self._operation = operation
        self._owner = owner

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        pages = iter(self._paginator.paginate(**kwargs))
        end = object()
        guard = self._owner._guard
        while True:
            page = guard.call(self._service, self._operation, lambda: next(pages, end))
            if page is end:
                return
            yield page


def _is_transport_failure(error: BaseException) -> bool:
    """No usable answer: no connection, no answer in time, or a web page instead of an AWS
    answer. Other botocore errors (AWS's error answers, missing credentials) are the callers'."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    return is_service_error(error) and is_unreadable_answer(error)


def _stop_if_abandoned(**_: Any) -> None:
    call = getattr(_local, "call", None)
    if call is not None and call.abandoned.is_set():
        raise _Abandoned("the call was abandoned (deadline or interrupt)")
