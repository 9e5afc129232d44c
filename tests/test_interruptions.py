"""Teardown survives interruption: signals sent to a real `pytest --cloud-stack` subprocess, a
crashed xdist worker, -x, internal errors. Each test checks what is left on the moto server."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MotoServer, background_pytest
from faults import FaultPlan, SlowStack, conftest_source, read_record

NAME = "proj-sig"
HOLD = """
import pathlib, time
def test_hold(cloud_stack):
    pathlib.Path("started").write_text(cloud_stack.name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
"""


class Session:
    """A pytest subprocess in a pytester project, signalled from the test."""

    def __init__(self, project: pytest.Pytester, moto: MotoServer, *args: str) -> None:
        self.project = project
        self.process = background_pytest(
            project, f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", *args
        )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"pytest ended before {what}:\n{self.finish()}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"timed out waiting for {what}:\n{self.finish()}")
            time.sleep(0.05)

    def send(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def finish(self, timeout: float = 90) -> str:
        output, _ = self.process.communicate(timeout=timeout)
        return output


def _operations(record: Path) -> list[str]:
    return [c["operation"] for c in read_record(record)] if record.exists() else []


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_mid_test_still_deletes_the_stack(
    project: pytest.Pytester, moto: MotoServer, number: int
) -> None:
    project.makepyfile(HOLD)
    session = Session(project, moto)
    session.wait_for(lambda: (project.path / "started").exists(), "the test started")
    assert list(moto.live_stacks()) == [NAME]
    session.send(number)
    output = session.finish()
    assert session.process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert f"stack {NAME} deleted in" in output
    assert moto.live_stacks() == {}


def test_sigterm_mid_deploy_cancels_the_create(project: pytest.Pytester, moto: MotoServer) -> None:
    record = project.path / "calls.jsonl"
    plan = FaultPlan(
        slow=[SlowStack(NAME, seconds=60, operations=["CreateStack"])], record=str(record)
    )
    project.makeconftest(conftest_source(plan))
    project.makepyfile(HOLD)
    session = Session(project, moto)
    session.wait_for(lambda: "CreateStack" in _operations(record), "CreateStack")
    time.sleep(0.3)  # let the poll loop start: the signal lands mid-wait, not mid-request
    session.send(signal.SIGTERM)
    output = session.finish()
    assert session.process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert not (project.path / "started").exists()
    assert f"stack {NAME} deleted in" in output
    assert "the deploy did not finish: it was interrupted" in output
    assert " in 0.0s; 0 resources" not in output
    assert _operations(record).count("DeleteStack") == 1
    assert moto.live_stacks() == {}


def test_a_second_interrupt_during_teardown_abandons_it_with_the_command(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    record = project.path / "calls.jsonl"
    plan = FaultPlan(
        slow=[SlowStack(NAME, seconds=60, operations=["DeleteStack"])], record=str(record)
    )
    project.makeconftest(conftest_source(plan))
    project.makepyfile("def test_quick(cloud_stack):\n    pass\n")
    session = Session(project, moto)
    session.wait_for(lambda: "DeleteStack" in _operations(record), "the teardown")
    time.sleep(0.3)
    session.send(signal.SIGINT)
    time.sleep(0.5)
    session.send(signal.SIGINT)
    output = session.finish()
    assert (
        f"deleting stack {NAME} is in progress: interrupt again within 5s to abandon it" in output
    )
    assert (
        f"deleting stack {NAME} abandoned; delete it by hand with: aws cloudformation "
        f"delete-stack --stack-name {NAME} --region us-east-1 --endpoint-url {moto.url}" in output
    )
    assert session.process.returncode != 0


def test_a_single_interrupt_during_teardown_only_warns(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    record = project.path / "calls.jsonl"
    plan = FaultPlan(
        slow=[SlowStack(NAME, seconds=2, operations=["DeleteStack"])], record=str(record)
    )
    project.makeconftest(conftest_source(plan))
    project.makepyfile("def test_quick(cloud_stack):\n    pass\n")
    session = Session(project, moto)
    session.wait_for(lambda: "DeleteStack" in _operations(record), "the teardown")
    session.send(signal.SIGTERM)
    output = session.finish()
    assert "interrupt again within 5s to abandon it" in output
    assert f"stack {NAME} deleted in" in output
    assert moto.live_stacks() == {}


def test_a_crashed_xdist_worker_does_not_stop_the_teardown(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(
        test_crash="import os\ndef test_crash(cloud_stack):\n    os._exit(3)\n",
        test_fine="def test_fine(cloud_stack):\n    pass\n",
    )
    result = project.runpytest_subprocess(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "-n", "2"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*stack {NAME} deleted in*"])
    assert moto.live_stacks() == {}


@pytest.mark.parametrize("args", [("-x",), ("--maxfail=1",)])
def test_stopping_early_still_deletes(
    project: pytest.Pytester, moto: MotoServer, args: tuple[str, ...]
) -> None:
    project.makepyfile(
        "def test_a(cloud_stack):\n    assert False\ndef test_b(cloud_stack):\n    pass\n"
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", *args)
    result.assert_outcomes(failed=1)
    assert moto.live_stacks() == {}


def test_an_internal_error_still_deletes(project: pytest.Pytester, moto: MotoServer) -> None:
    project.makeconftest(
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call':\n"
        "        raise RuntimeError('a plugin blew up')\n"
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest_subprocess(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert moto.live_stacks() == {}


def test_a_session_timeout_still_deletes(project: pytest.Pytester, moto: MotoServer) -> None:
    pytest.importorskip("pytest_timeout")
    project.makepyfile(
        "import time\n"
        "def test_a(cloud_stack):\n    time.sleep(1.5)\n"
        "def test_b(cloud_stack):\n    time.sleep(1.5)\n"
    )
    result = project.runpytest_subprocess(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--session-timeout=1"
    )
    result.stdout.fnmatch_lines([f"*stack {NAME} deleted in*"])
    assert moto.live_stacks() == {}
