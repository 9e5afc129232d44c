"""Eventually-consistent assertions: retry a check until it holds or a deadline passes.

Three forms::

    eventually(lambda: table.get({"id": order_id}) is not None, timeout=30)  # a predicate

    @eventually(timeout=30)  # a block of asserts, run at once (``_`` is its return value)
    def _():
        assert table.get({"id": order_id})["status"] == "PAID"

    @pytest.mark.eventually(timeout=60)  # the test call is retried; its fixtures are not
    def test_pipeline(...): ...

Only ``AssertionError`` and a named set of transient AWS errors (``TRANSIENT_ERROR_CODES``) are
retried; anything else is a bug in the test and propagates at once. On timeout the *last*
failure is raised, with pytest's rewritten message, and a line giving the attempts and elapsed time.

The retry policy is tenacity's (strategies on a ``RetryCallState``), driven by a small loop here
so that the user's exception propagates from the user's own frames: tenacity's own loop re-raises
through its futures, which would put library frames into every failing test's traceback.

This module is imported whenever the plugin is (``from pytest_cloudstack import eventually``
must give the function, not this module): it imports nothing heavy at module level.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pytest

from pytest_cloudstack.responses import error_code

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
#: the first wait: a condition that holds soon is seen soon
DEFAULT_INTERVAL = 0.04
#: the cap the waits grow to once the fast phase is over
DEFAULT_MAX_INTERVAL = 1.0
# For the first FAST_PHASE seconds waits are capped at FAST_CAP: most asynchronous flows in a
# serverless test settle within seconds, and the time between "it happened" and "the test saw it"
# is on average under half a wait. After that the cap doubles every second up to max_interval, so
# that a long wait costs about a call a second (some 110 calls over 30 s, see
# benchmarks/eventually_latency.py).
FAST_CAP = 0.1
FAST_PHASE = 5.0

#: error codes (botocore ``ClientError``) that mean "not yet", not "wrong": throttling, and
#: resources that a fresh stack has created but whose existence has not propagated yet
TRANSIENT_ERROR_CODES = frozenset(
    {
        # throttling, as each service spells it
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        # just created, not visible everywhere yet (also: a log group before the first invoke)
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NoSuchBucket",
        # Lambda: the function is still Pending / being updated
        "ResourceConflictException",
    }
)
#: service messages that mark an otherwise permanent error code as transient
TRANSIENT_MESSAGES = (
    # IAM propagation: Lambda rejects invokes (and creates) with a role created seconds ago
    "The role defined for the function cannot be assumed by Lambda",
)
IAM_PROPAGATION_MESSAGE = TRANSIENT_MESSAGES[0]

_MARKER_KWARGS = ("timeout", "interval", "max_interval")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is one of the named transient AWS errors (see ``TRANSIENT_ERROR_CODES``)."""
    code = error_code(error)
    if not code:
        return False
    if code in TRANSIENT_ERROR_CODES:
        return True
    return any(message in str(error) for message in TRANSIENT_MESSAGES)


def _retryable(error: BaseException, extra: tuple[type[BaseException], ...]) -> bool:
    return isinstance(error, (AssertionError, *extra)) or is_transient(error)


@overload
def eventually(
    condition: Callable[[], T],
    /,
    *,
    timeout: float = ...,
    interval: float = ...,
    max_interval: float = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
def eventually(
    *,
    timeout: float = ...,
    interval: float = ...,
    max_interval: float = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> Callable[[Callable[[], T]], T]: ...


def eventually(
    condition: Callable[[], T] | None = None,
    /,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = DEFAULT_MAX_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T | Callable[[Callable[[], T]], T]:
    """Retry a check until it holds, or fail at the deadline with its last failure.

    ``eventually(predicate, timeout=30)`` calls ``predicate()`` until it returns a truthy value
    (returned) without raising ``AssertionError``. ``@eventually(timeout=30)`` on a function
    runs it at once, retrying while it raises ``AssertionError``; its return value replaces it.

    Also retried: the transient AWS errors in ``TRANSIENT_ERROR_CODES`` (throttling, IAM
    propagation, a resource not found right after creation) and the exception types in
    ``retry_on``. Waits start at ``interval`` seconds and grow exponentially with jitter, capped
    at 100 ms for the first 5 s and at ``max_interval`` after; the last attempt is made at the
    deadline. On timeout the last failure is raised (for an ``AssertionError``, pytest's
    rewritten message) with the number of attempts and the elapsed time.
    """
    __tracebackhide__ = True
    policy = _Policy.checked(timeout, interval, max_interval, retry_on)
    if condition is None:

        def decorate(check: Callable[[], T]) -> T:
            __tracebackhide__ = True
            _require_callable(check, "@eventually(...) must decorate a function")
            return policy.run(check, truthy=False)

        return decorate
    _require_callable(
        condition,
        "eventually() takes a callable (e.g. a lambda) as its first argument; "
        "as a decorator, write @eventually(timeout=...)",
    )
    return policy.run(condition, truthy=True)


def _require_callable(value: object, message: str) -> None:
    if not callable(value):
        raise TypeError(f"{message}, not {type(value).__name__} {value!r}")


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"eventually: {name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"eventually: {name} must be a positive, finite number of seconds, not {value!r}"
        )
    return float(value)


class _NotYet(AssertionError):
    """A predicate returned a falsy value: an attempt that failed without an assertion of its own."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


class _Backoff:
    """tenacity wait strategy: exponential with equal jitter, a time-dependent cap, the deadline."""

    def __init__(self, interval: float, max_interval: float, deadline: float) -> None:
        self.interval = interval
        self.max_interval = max_interval
        self.fast_cap = min(max_interval, max(interval, FAST_CAP))
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        elapsed = retry_state.seconds_since_start or 0.0
        cap = self.fast_cap
        if elapsed > FAST_PHASE:
            cap = min(self.max_interval, self.fast_cap * 2 ** (elapsed - FAST_PHASE))
        step = min(cap, self.interval * 2 ** min(retry_state.attempt_number - 1, 30))
        delay = random.uniform(step / 2, step)
        # The last attempt happens at the deadline, not a whole interval after it.
        return max(0.0, min(delay, self.deadline - elapsed))


class _Policy:
    def __init__(
        self,
        timeout: float,
        interval: float,
        max_interval: float,
        retry_on: tuple[type[BaseException], ...],
    ) -> None:
        self.timeout = timeout
        self.interval = interval
        self.max_interval = max_interval
        self.retry_on = retry_on

    @classmethod
    def checked(
        cls, timeout: object, interval: object, max_interval: object, retry_on: object
    ) -> _Policy:
        """Validate at once: a wrong argument must not surface after a 30 s wait."""
        timeout_s = _seconds("timeout", timeout)
        interval_s = _seconds("interval", interval)
        max_s = _seconds("max_interval", max_interval)
        if max_s < interval_s:
            raise ValueError(
                f"eventually: max_interval ({max_s:g}) must not be smaller than interval ({interval_s:g})"
            )
        if not isinstance(retry_on, tuple) or not all(
            isinstance(kind, type) and issubclass(kind, BaseException) for kind in retry_on
        ):
            raise TypeError(
                f"eventually: retry_on must be a tuple of exception types, not {retry_on!r}"
            )
        return cls(timeout_s, interval_s, max_s, retry_on)

    def run(self, check: Callable[[], T], truthy: bool) -> T:
        __tracebackhide__ = True
        import tenacity

        policy = tenacity.Retrying(
            stop=tenacity.stop_after_delay(self.timeout),
            wait=_Backoff(self.interval, self.max_interval, self.timeout),
            retry=tenacity.retry_if_exception(lambda error: _retryable(error, self.retry_on)),
        )
        state = tenacity.RetryCallState(policy, fn=check, args=(), kwargs={})
        while True:
            try:
                value = check()
                if truthy and not value:
                    raise _NotYet(value)
                return value
            except BaseException as error:
                state.set_exception((type(error), error, error.__traceback__))
                if not policy.retry(state):
                    raise
                last = error
            if policy.stop(state):
                break
            state.upcoming_sleep = policy.wait(state)
            state.idle_for += state.upcoming_sleep
            time.sleep(state.upcoming_sleep)
            state.prepare_for_next_attempt()
        raise _gave_up(last, check, state.attempt_number, time.monotonic() - state.start_time)


def _gave_up(
    last: BaseException, check: Callable[..., Any], attempts: int, elapsed: float
) -> BaseException:
    note = f"eventually: gave up after {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.2f} s"
    if isinstance(last, _NotYet):
        hint = ""
        if last.value is None:
            hint = (
                "; eventually(fn) waits for a truthy return value: for a function that asserts, "
                "use @eventually(...) on it, or return True"
            )
        return AssertionError(f"{_describe(check)} returned {last.value!r}{hint}\n{note}")
    if isinstance(last, AssertionError):
        # The same object keeps its traceback (the user's failing line) and pytest's rewritten
        # message; the note goes on a line of its own after it.
        message = str(last.args[0]) if last.args else ""
        last.args = (f"{message}\n{note}" if message else note, *last.args[1:])
        return last
    if hasattr(last, "add_note"):  # Python 3.11+; pytest shows notes under the error
        last.add_note(note)
    return last


def _describe(check: Callable[..., Any]) -> str:
    """``<lambda> at test_x.py:12 (the line's source)``: enough to find a lambda among several."""
    name = getattr(check, "__name__", None) or repr(check)
    code = getattr(check, "__code__", None)
    if code is None:
        return name
    where = f"{name} at {Path(code.co_filename).name}:{code.co_firstlineno}"
    line = linecache.getline(code.co_filename, code.co_firstlineno).strip()
    return f"{where} ({line})" if line else where


def retry_transient(call: Callable[[], T], timeout: float) -> T:
    """Call ``call``, retrying only the transient AWS errors, for up to ``timeout`` seconds.

    For the handles' own waits (a function's first invoke on a fresh stack): an
    ``AssertionError`` there is not ours to retry.
    """
    __tracebackhide__ = True

    def attempt() -> T:
        __tracebackhide__ = True
        try:
            return call()
        except AssertionError as error:
            raise _Passthrough(error) from None

    try:
        return _Policy.checked(timeout, DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL, ()).run(
            attempt, truthy=False
        )
    except _Passthrough as wrapped:
        raise wrapped.error from None


class _Passthrough(Exception):
    def __init__(self, error: AssertionError) -> None:
        super().__init__(error)
        self.error = error


# -------------------------------------------------------------------------------------------
# the marker: @pytest.mark.eventually(timeout=...) retries the test call


MARKER_LINE = (
    "eventually(timeout=30, interval=0.04, max_interval=1.0): retry the test call (not its "
    "fixtures) while it fails with an AssertionError or a transient AWS error, until the timeout"
)


def marker_policy(marker: pytest.Mark, where: str) -> _Policy:
    """The retry policy of an ``eventually`` marker; ``pytest.UsageError`` on a bad marker."""
    problem = None
    if len(marker.args) > 1:
        problem = f"takes at most one positional argument (the timeout), got {len(marker.args)}"
    unknown = sorted(set(marker.kwargs) - set(_MARKER_KWARGS))
    if unknown:
        problem = f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (valid: {', '.join(_MARKER_KWARGS)})"
    if marker.args and "timeout" in marker.kwargs:
        problem = "timeout given twice (positional and keyword)"
    if problem is None:
        options: dict[str, Any] = {
            "timeout": DEFAULT_TIMEOUT,
            "interval": DEFAULT_INTERVAL,
            "max_interval": DEFAULT_MAX_INTERVAL,
        }
        if marker.args:
            options["timeout"] = marker.args[0]
        options.update(marker.kwargs)
        try:
            return _Policy.checked(retry_on=(), **options)
        except (TypeError, ValueError) as error:
            problem = str(error).removeprefix("eventually: ")
    raise pytest.UsageError(f"{where}: @pytest.mark.eventually {problem}")


class MarkerPlugin:
    """Registered by the plugin: checks ``eventually`` markers at collection, retries test calls."""

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("eventually")
            if marker is None:
                continue
            marker_policy(marker, item.nodeid)
            if not isinstance(item, pytest.Function):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.eventually needs a test function"
                )
            if inspect.iscoroutinefunction(item.obj):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.eventually does not support async tests; "
                    "use eventually() inside the test"
                )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        marker = item.get_closest_marker("eventually")
        if marker is None or not isinstance(item, pytest.Function):
            return (yield)
        with _retried_call(item, marker_policy(marker, item.nodeid)):
            return (yield)


@contextmanager
def _retried_call(item: pytest.Function, policy: _Policy) -> Iterator[None]:
    # pytest calls ``item.obj`` with the fixture values it already set up: swapping in a
    # retrying wrapper for the duration of the call retries the call and never the fixtures.
    original = item.obj

    @functools.wraps(original)
    def retrying(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True

        def call() -> Any:
            __tracebackhide__ = True
            return original(*args, **kwargs)

        return policy.run(call, truthy=False)

    item.obj = retrying
    try:
        yield
    finally:
        item.obj = original
