"""Across machines, one session per stack name: the SSM lease. A second machine is simulated by
a second session with its own lock folder (XDG_CACHE_HOME), so only the lease can stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MotoServer, background_pytest

from pytest_cloudstack.lease import process_scope, process_start

NAME = "proj-lease"
PARAMETER = f"/cloudstack/leases/{NAME}"


def _parameter(moto: MotoServer) -> dict[str, object] | None:
    ssm = moto.client("ssm")
    try:
        return json.loads(ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def test_a_session_on_another_machine_is_refused_while_the_lease_lives(
    project: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    release, started = tmp_path / "release", tmp_path / "started"
    project.makepyfile(
        f"""
        import pathlib, time
        def test_hold(cloud_stack):
            pathlib.Path({str(started)!r}).write_text(cloud_stack.name)
            deadline = time.monotonic() + 60
            while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        """
    )
    first = background_pytest(
        project,
        f"--cloud-stack={moto.url}",
        f"--cloud-stack-name={NAME}",
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "machine-1")},
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        lease = _parameter(moto)
        assert lease is not None and lease["pid"] == first.pid
        os.environ["XDG_CACHE_HOME"] = str(tmp_path / "machine-2")  # restored by conftest
        # With --cloud-stack-reuse the second would adopt the stack and delete it at its end.
        second = project.runpytest_subprocess(
            f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--cloud-stack-reuse"
        )
        second.assert_outcomes(errors=1)
        second.stdout.fnmatch_lines(
            [
                f"*stack '{NAME}' is in use by another pytest session: *@* (pid {first.pid}) holds "
                f"its lease ({PARAMETER}) until *--cloud-stack-name*"
            ]
        )
        assert list(moto.live_stacks()) == [NAME], "the first session's stack is untouched"
    finally:
        release.write_text("go")
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert moto.live_stacks() == {}
    assert _parameter(moto) is None, "the lease is released at the end"


def test_an_expired_lease_is_taken_over(project: pytest.Pytester, moto: MotoServer) -> None:
    moto.client("ssm").put_parameter(
        Name=PARAMETER,
        Type="String",
        Value=json.dumps({"run_id": "crashed", "holder": "ci@runner-7", "pid": 1, "expires_at": 1}),
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert _parameter(moto) is None
    assert moto.live_stacks() == {}


def test_the_lease_is_renewed_while_the_session_runs(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeconftest(
        "import pytest_cloudstack.lease as lease\n"
        "lease.TTL, lease.RENEW_EVERY = 1.0, 0.2  # 10 min and 200 s in real life\n"
    )
    project.makepyfile(
        f"""
        import json, time, boto3
        def test_hold(cloud_stack):
            ssm = cloud_stack.client("ssm")
            read = lambda: json.loads(ssm.get_parameter(Name={PARAMETER!r})["Parameter"]["Value"])
            first = read()["expires_at"]
            time.sleep(1.5)
            assert read()["expires_at"] > time.time() > first, "renewed past its first expiry"
        """
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert _parameter(moto) is None


def test_a_session_ended_by_os_exit_blocks_nothing_on_this_machine(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """pytest-timeout's ``thread`` method ends the process with ``os._exit``: no teardown runs,
    the stack and the lease stay. The next run on this machine sees that the lease's holder is
    gone, takes the lease over at once (not 10 minutes later) and replaces the leftover stack."""
    pytest.importorskip("pytest_timeout")
    project.makepyfile("import time\ndef test_hang(cloud_stack):\n    time.sleep(60)\n")
    killed = project.runpytest_subprocess(
        f"--cloud-stack={moto.url}",
        f"--cloud-stack-name={NAME}",
        "--timeout=3",
        "--timeout-method=thread",
    )
    assert "Timeout" in killed.stdout.str() + killed.stderr.str()
    assert "deleted in" not in killed.stdout.str(), "os._exit: no teardown ran"
    leftover = moto.live_stacks()
    assert list(leftover) == [NAME]
    lease = _parameter(moto)
    assert lease is not None and lease["scope"]

    project.makepyfile("def test_hang(cloud_stack):\n    pass\n")
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: stack {NAME}: the session that held its lease (*, pid {lease['pid']}) "
            "is gone: lease taken over",
            f"cloudstack: stack {NAME} was left by a session that died on this machine: deleting "
            "it first",
            f"cloudstack: stack {NAME} created in *",
            f"cloudstack: stack {NAME} deleted in *",
        ]
    )
    assert moto.live_stacks() == {}
    assert _parameter(moto) is None


@pytest.mark.parametrize("case", ["live", "pid-reused", "other-pid-namespace"])
def test_a_lease_of_this_machine_is_live_only_while_its_process_runs(
    project: pytest.Pytester, moto: MotoServer, case: str
) -> None:
    """A holder on this host whose process still runs (this very process here) keeps the lease;
    its PID now used by another process (another start time) does not. A dead PID of another
    PID namespace (a container with the same host name) says nothing: the expiry decides."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = {
        "live": (process_scope(), os.getpid(), process_start(os.getpid())),
        "pid-reused": (process_scope(), os.getpid(), "1"),
        "other-pid-namespace": (process_scope() + "|pid:[1]", dead.pid, "1"),
    }[case]
    moto.client("ssm").put_parameter(
        Name=PARAMETER,
        Type="String",
        Value=json.dumps(
            {
                "run_id": "other",
                "holder": "ci@here",
                "scope": holder[0],
                "pid": holder[1],
                "started": holder[2],
                "expires_at": time.time() + 600,
            }
        ),
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    if case == "pid-reused":
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*is gone: lease taken over"])
    else:
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([f"*stack '{NAME}' is in use by another pytest session*"])
    assert moto.live_stacks() == {}


def test_renewals_are_not_reported_from_the_background(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's calls go through the call guard, which reports a slow one on the terminal. A
    renewal is a heartbeat on a background thread: a slow one must not write to the terminal
    from there (pytest's capture is toggled around each line) while a test runs."""
    import threading

    from pytest_cloudstack import lease
    from pytest_cloudstack.calls import CallGuard

    lines: list[tuple[str, str]] = []

    def write(line: str) -> None:
        lines.append((threading.current_thread().name, line))

    ssm = moto.client("ssm")

    def slow_put(**kwargs: object) -> None:
        time.sleep(1.3)  # past the guard's report threshold (1 s at the least)

    ssm.meta.events.register("before-call.ssm.PutParameter", slow_put)
    guarded = CallGuard(write, timeout=3).wrap(ssm, "ssm")  # reports calls over 1 s
    monkeypatch.setattr(lease, "RENEW_EVERY", 0.1)
    with lease.StackLease(guarded, "renewals-main", "run-1", write):
        time.sleep(2.0)  # at least one slow renewal
    assert lease.read_lease(ssm, "renewals-main") == {}, "released at the end"
    from_threads = [line for thread, line in lines if thread == "cloudstack-lease"]
    assert from_threads == [], from_threads
