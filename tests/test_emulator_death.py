"""The ``local`` emulator killed mid-session: tests say so (its pid, its last error lines), and
the summary offers no delete command for a stack that died with it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

TESTS = '''
import os
import signal
import time
from pathlib import Path

import boto3


def _emulator_pid():
    """The emulator is a child of the pytest process that owns the stack."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        # a child of this pytest, of the xdist controller that started this worker, or (a warm
        # start) of the warm parent
        parents = (os.getpid(), os.getppid(), *_warm_parents())
        emulator = (b"pytest_cloudstack.local.server", b"pytest_cloudstack.local.zygote")
        if int(fields[1]) in parents and any(name in cmdline for name in emulator):
            return int(stat.parent.name)
    raise AssertionError("no emulator process")


def _warm_parents():
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or "/nonexistent")
    return [int(p.read_text()) for p in folder.glob("pytest-cloudstack-*/zygote-*.pid")]


def test_1_the_emulator_dies(cloud_stack):
    # Something for its error output first: its HTTP server logs a request it cannot parse.
    import socket

    port = int(cloud_stack.endpoint_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"NOT HTTP AT ALL\\r\\n\\r\\n")
        connection.recv(1000)
    time.sleep(0.3)
    os.kill(_emulator_pid(), signal.SIGKILL)
    time.sleep(0.5)
    cloud_stack.queue("Queue").send({"id": "o-1"})


def test_2_after_it_died(cloud_stack):
    pass


def test_3_plain():
    pass

'''


def test_a_killed_emulator_is_named_and_its_stack_is_not_to_be_deleted(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(TESTS)
    result = project.runpytest_subprocess("--cloud-stack=local", timeout=120)
    result.assert_outcomes(failed=1, errors=1, passed=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    assert "EndpointConnectionError: Could not connect" not in output.replace(
        "(the test's call failed: EndpointConnectionError: Could not connect", ""
    )
    died = (
        "the local emulator (pid *, http://127.0.0.1:*) died during the session (killed by "
        "SIGKILL); its last error output:"
    )
    # the test that was running, and the next one
    assert output.count("died during the session (killed by SIGKILL)") >= 3
    result.stdout.fnmatch_lines(
        [died, "*code 400, message Bad request*", "*(the test's call failed: *"]
    )
    result.stdout.fnmatch_lines([f"*cloud stack not available: {died}*"])
    # the summary: the stack went with it, and there is no command to paste
    result.stdout.fnmatch_lines(
        ["*= cloud stack =*", "target local, *", "*", f"stack proj-main-* went with it: {died}"]
    )
    assert "delete-stack" not in output and "deleting stack" not in output


XDIST_TESTS = TESTS.replace(
    """def test_2_after_it_died(cloud_stack):
    pass""",
    """def test_2_after_it_died(cloud_stack):
    import socket

    port = int(cloud_stack.endpoint_url.rsplit(":", 1)[1])
    for _ in range(200):  # on the other worker: wait for test_1 to kill it
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            break
        time.sleep(0.1)
    cloud_stack.queue("Queue").send({"id": "o-2"})""",
)


def test_under_xdist_the_workers_name_the_dead_emulator_too(project: pytest.Pytester) -> None:
    project.makepyfile(XDIST_TESTS)
    result = project.runpytest_subprocess("--cloud-stack=local", "-n", "2", timeout=120)
    result.assert_outcomes(failed=2, passed=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    assert output.count("died during the session: connections to it are refused") >= 2
    result.stdout.fnmatch_lines(
        ["stack proj-main-* went with it: the local emulator (pid *) died during the session*"]
    )
    assert "delete-stack" not in output and "deleting stack" not in output


def test_under_xdist_a_warm_started_emulator_is_named_too(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The workers learn the emulator's pid from the controller: a warm-started one is known
    only once it is ready, after the deploy (it used to reach them as None)."""
    runtime = Path(tempfile.mkdtemp(prefix="cs-warm-", dir="/tmp"))  # short: a socket path
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("CLOUD_STACK_WARM_START", "1")
    try:
        project.makepyfile(XDIST_TESTS)
        result = project.runpytest_subprocess("--cloud-stack=local", "-n", "2", timeout=120)
        result.assert_outcomes(failed=2, passed=1)
        output = result.stdout.str()
        assert "warm start" in output, output
        assert output.count("died during the session: connections to it are refused") >= 2
    finally:
        for pid_file in runtime.glob("*/zygote-*.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        shutil.rmtree(runtime, ignore_errors=True)
