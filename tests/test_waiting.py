"""The polling loop, driven by a scripted sequence of statuses and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pytest_cloudstack.waiting import FIRST_INTERVAL, MAX_INTERVAL, wait_for_stack


class Script:
    """Answers describe calls from a list of statuses (an exception instance is raised)."""

    def __init__(self, *steps: str | BaseException | None) -> None:
        self.steps: Iterator[str | BaseException | None] = iter(steps)
        self.now = 0.0
        self.sleeps: list[float] = []

    def describe(self) -> dict[str, Any] | None:
        step = next(self.steps)
        if isinstance(step, BaseException):
            raise step
        return None if step is None else {"StackStatus": step}

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def wait(self, operation: str, timeout: float = 3600) -> Any:
        return wait_for_stack(self.describe, operation, timeout, sleep=self.sleep, clock=self.clock)


def throttling() -> ClientError:
    return ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeStacks"
    )


def test_first_poll_is_fast_and_the_interval_backs_off_to_a_cap() -> None:
    script = Script(*["CREATE_IN_PROGRESS"] * 8, "CREATE_COMPLETE")
    result = script.wait("create")
    assert result.succeeded and result.polls == 9
    assert script.sleeps[0] == pytest.approx(FIRST_INTERVAL, rel=0.25)
    assert script.sleeps[1] > script.sleeps[0]
    assert max(script.sleeps) <= MAX_INTERVAL * 1.2


@pytest.mark.parametrize(
    "failing",
    ["ROLLBACK_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_IN_PROGRESS"],
)
def test_failure_statuses_end_the_wait_at_once(failing: str) -> None:
    script = Script("CREATE_IN_PROGRESS", failing, "unreachable")
    result = script.wait("create" if "UPDATE" not in failing else "update")
    assert not result.succeeded and result.status == failing and result.polls == 2


def test_a_vanished_stack_completes_a_delete() -> None:
    result = Script("DELETE_IN_PROGRESS", None).wait("delete")
    assert result.succeeded and result.status == "DELETE_COMPLETE"


def test_delete_failed_is_a_failure() -> None:
    result = Script("DELETE_IN_PROGRESS", "DELETE_FAILED").wait("delete")
    assert not result.succeeded and result.status == "DELETE_FAILED"


def test_throttling_slows_polling_instead_of_failing() -> None:
    script = Script("CREATE_IN_PROGRESS", throttling(), throttling(), "CREATE_COMPLETE")
    result = script.wait("create")
    assert result.succeeded
    assert script.sleeps[1] > MAX_INTERVAL, "backed off beyond the normal cap after throttling"


def test_other_errors_propagate() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeStacks")
    with pytest.raises(ClientError, match="AccessDenied"):
        Script("CREATE_IN_PROGRESS", error).wait("create")


def test_the_deadline_bounds_the_wait() -> None:
    script = Script(*["CREATE_IN_PROGRESS"] * 1000)
    result = script.wait("create", timeout=10)
    assert result.timed_out and not result.succeeded and result.status == "CREATE_IN_PROGRESS"
    assert script.now == pytest.approx(10, abs=MAX_INTERVAL * 1.2)


def test_settle_waits_for_any_status_that_is_not_in_progress() -> None:
    script = Script("ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE")
    result = script.wait("settle")
    assert result.succeeded and result.status == "ROLLBACK_COMPLETE" and result.polls == 3


def test_on_poll_sees_every_status_read() -> None:
    script = Script("CREATE_IN_PROGRESS", throttling(), "CREATE_IN_PROGRESS", "CREATE_COMPLETE")
    seen: list[str] = []
    wait_for_stack(
        script.describe, "create", 60, on_poll=seen.append, sleep=script.sleep, clock=script.clock
    )
    assert seen == ["CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
