"""Warm starts on ``local``: an emulator forked from a parent that has moto imported already.

Each test gets a folder of its own for the warm parents (``XDG_RUNTIME_DIR``) and stops every
parent it started, by PID, at the end. Sessions run as real pytest subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLE

from pytest_cloudstack.local.warm import installation_key

NEEDS_STACK = """\
import os
import boto3


def test_stack(cloud_stack):
    assert cloud_stack.resources
    sqs = boto3.client("sqs")
    names = [url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])]
    assert "left-by-the-last-session" not in names, "state leaked from an earlier session"
    sqs.create_queue(QueueName="left-by-the-last-session")
"""


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Warm starts on, in a short private folder; every parent started in it is stopped after."""
    base = Path(tempfile.mkdtemp(prefix="cs-warm-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    monkeypatch.setenv("CLOUD_STACK_WARM_START", "1")
    monkeypatch.setenv("CLOUD_STACK_WARM_IDLE", "120")
    folder = base / f"pytest-cloudstack-{os.getuid()}"
    try:
        yield folder
    finally:
        for pid in _parent_pids(folder):
            _stop(pid)
        shutil.rmtree(base, ignore_errors=True)


def _parent_pids(folder: Path) -> list[int]:
    return [int(path.read_text()) for path in folder.glob("zygote-*.pid") if path.read_text()]


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _start_kind(output: str) -> str:
    match = re.search(r"local emulator: (.*)", output)
    assert match, output
    return match.group(1)


def _start_parent_by_hand(path: Path) -> int:
    """A warm parent serving on ``path``, as a session starts one; its pid once it serves."""
    subprocess.run(
        [sys.executable, "-m", "pytest_cloudstack.local.zygote", "--socket", str(path)],
        check=True,
    )
    deadline = time.monotonic() + 60
    while not path.with_suffix(".pid").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(path.with_suffix(".pid").read_text())


def _session(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--cloud-stack=local")


def test_later_sessions_fork_fresh_emulators_from_one_warm_parent(
    project: pytest.Pytester, warm: Path
) -> None:
    project.makepyfile(test_stack=NEEDS_STACK)
    first = _session(project)
    first.assert_outcomes(passed=1)
    parents = _parent_pids(warm)
    assert len(parents) == 1 and _alive(parents[0])
    assert _start_kind(first.stdout.str()) == f"warm start (forked by pid {parents[0]})"
    # The queue the first session left is not in the second's emulator: fresh state each time.
    second = _session(project)
    second.assert_outcomes(passed=1)
    assert _start_kind(second.stdout.str()) == f"warm start (forked by pid {parents[0]})"


def test_lambda_handlers_run_on_a_warm_emulator(
    orders_example: pytest.Pytester, warm: Path
) -> None:
    tests = sum(path.read_text().count("\ndef test_") for path in EXAMPLE.glob("test_*.py"))
    result = orders_example.runpytest_subprocess("--cloud-stack")
    result.assert_outcomes(passed=tests)
    assert _start_kind(result.stdout.str()).startswith("warm start")


def test_switched_off_or_an_unsafe_folder_means_a_cold_start(
    project: pytest.Pytester, warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_stack=NEEDS_STACK)
    monkeypatch.setenv("CLOUD_STACK_WARM_START", "0")
    off = _session(project)
    off.assert_outcomes(passed=1)
    assert _start_kind(off.stdout.str()) == "cold start"
    assert not warm.exists() or not _parent_pids(warm)
    monkeypatch.setenv("CLOUD_STACK_WARM_START", "1")
    warm.mkdir(mode=0o755)
    warm.chmod(0o755)  # others may enter: never trusted
    unsafe = _session(project)
    unsafe.assert_outcomes(passed=1)
    assert _start_kind(unsafe.stdout.str()) == "cold start"
    assert not list(warm.iterdir())


def test_ci_defaults_to_cold_and_the_ini_can_say_otherwise(
    project: pytest.Pytester, warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_stack=NEEDS_STACK)
    monkeypatch.delenv("CLOUD_STACK_WARM_START")
    monkeypatch.setenv("CI", "true")
    assert _start_kind(_session(project).stdout.str()) == "cold start"
    project.makeini("[pytest]\ncloud_stack_prefix = proj\ncloud_stack_local_warm_start = true\n")
    assert _start_kind(_session(project).stdout.str()).startswith("warm start")


def test_killing_the_warm_parent_mid_session_harms_nothing(
    project: pytest.Pytester, warm: Path
) -> None:
    project.makepyfile(
        test_stack="""
import os, signal, pathlib

def test_kill_the_parent_then_use_the_stack(cloud_stack):
    folder = pathlib.Path(os.environ["XDG_RUNTIME_DIR"]) / f"pytest-cloudstack-{os.getuid()}"
    for pid_file in folder.glob("zygote-*.pid"):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert cloud_stack.client("cloudformation").describe_stacks(StackName=cloud_stack.name)
"""
    )
    result = _session(project)
    result.assert_outcomes(passed=1)
    first_parent = int(re.findall(r"forked by pid (\d+)", result.stdout.str())[0])
    assert not _alive(first_parent)
    # The next session finds a dead parent's socket, starts a new parent and is warm again.
    project.makepyfile(test_stack=NEEDS_STACK)
    again = _session(project)
    again.assert_outcomes(passed=1)
    assert _start_kind(again.stdout.str()) == f"warm start (forked by pid {_parent_pids(warm)[0]})"
    assert _parent_pids(warm)[0] != first_parent


def test_sigkill_of_pytest_stops_the_forked_emulator(project: pytest.Pytester, warm: Path) -> None:
    url_file = project.path / "emulator-url"
    project.makepyfile(
        test_stack=f"""
import os, time

def test_wait(cloud_stack):
    with open({str(url_file)!r}, "w") as handle:
        handle.write(os.environ["AWS_ENDPOINT_URL"])
    time.sleep(60)
"""
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--cloud-stack=local", "-p", "no:cacheprovider"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not url_file.exists() or not url_file.read_text():
            assert time.monotonic() < deadline, "the session never reached its test"
            time.sleep(0.1)
        port = int(url_file.read_text().rsplit(":", 1)[1])
        process.kill()
        process.wait()
        # The emulator reads EOF on its control pipe and stops: its port closes.
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    break
            assert time.monotonic() < deadline, "the forked emulator outlived pytest"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert all(_alive(pid) for pid in _parent_pids(warm)), "the warm parent stays for the next"


def test_a_parent_of_another_version_is_stopped_and_an_idle_one_ends(
    project: pytest.Pytester, warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm.mkdir(mode=0o700)
    old_socket = warm / f"zygote-{installation_key()}-0000000000000000.sock"
    old_pid = _start_parent_by_hand(old_socket)
    monkeypatch.setenv("CLOUD_STACK_WARM_IDLE", "2")
    project.makepyfile(test_stack=NEEDS_STACK)
    result = _session(project)
    result.assert_outcomes(passed=1)
    new_pid = int(re.findall(r"forked by pid (\d+)", result.stdout.str())[0])
    assert new_pid != old_pid
    assert not old_socket.exists()
    deadline = time.monotonic() + 10
    while _alive(old_pid):
        assert time.monotonic() < deadline, "the old version's parent was not stopped"
        time.sleep(0.05)
    # The new parent ends by itself once idle, and removes its socket.
    deadline = time.monotonic() + 30
    while _alive(new_pid) or list(warm.glob("zygote-*.sock")):
        assert time.monotonic() < deadline, "the idle parent did not end"
        time.sleep(0.1)


def test_a_malformed_request_is_ignored(project: pytest.Pytester, warm: Path) -> None:
    project.makepyfile(test_stack=NEEDS_STACK)
    _session(project).assert_outcomes(passed=1)
    (sock_path,) = warm.glob("zygote-*.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(sock_path))
        client.sendall(b'{"not": "a fork request"}\n')
        client.shutdown(socket.SHUT_WR)
        assert client.recv(100) == b"", "nothing is answered to anything but a fork request"
    (parent,) = _parent_pids(warm)
    result = _session(project)
    result.assert_outcomes(passed=1)
    assert _start_kind(result.stdout.str()) == f"warm start (forked by pid {parent})"


def test_a_bad_idle_setting_falls_back_to_the_default(
    project: pytest.Pytester, warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value the parent's command line would refuse must not leave the session waiting for a
    parent that never starts: the default idle time is used."""
    monkeypatch.setenv("CLOUD_STACK_WARM_IDLE", "soon")
    project.makepyfile(test_stack=NEEDS_STACK)
    started = time.monotonic()
    result = _session(project)
    result.assert_outcomes(passed=1)
    assert _start_kind(result.stdout.str()).startswith("warm start")
    assert time.monotonic() - started < 45, "the session waited for a parent that never served"


ASK_FOR_A_FORK = """\
import os, socket, time
from pytest_cloudstack.local.warm import fork_emulator

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
started = time.monotonic()
forked = fork_emulator(listener, (), dict(os.environ))
print(forked is None, round(time.monotonic() - started, 1))
"""


def test_a_parent_that_cannot_start_means_a_cold_start_at_once(warm: Path, tmp_path: Path) -> None:
    """A parent whose pre-import fails (here a broken moto) exits before it detaches: the
    session learns it from the exit code and starts cold, instead of waiting a minute for a
    socket that never comes."""
    broken = tmp_path / "broken"
    (broken / "moto").mkdir(parents=True)
    (broken / "moto" / "__init__.py").write_text("raise ImportError('broken for the test')\n")
    done = subprocess.run(
        [sys.executable, "-c", ASK_FOR_A_FORK],
        env={**os.environ, "PYTHONPATH": str(broken)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    no_fork, seconds = done.stdout.split()
    assert no_fork == "True", done.stdout
    assert float(seconds) < 30, f"waited {seconds} s for a parent that could not start"
    assert not list(warm.glob("zygote-*")), "nothing of the failed parent is left"


def test_a_parent_of_another_installation_is_left_alone(
    project: pytest.Pytester, warm: Path
) -> None:
    """Another virtualenv's parent (another project, another tox env) is not this session's to
    stop: each would otherwise stop the other's on every session."""
    warm.mkdir(mode=0o700)
    theirs = warm / "zygote-ffffffff-0000000000000000.sock"
    their_pid = _start_parent_by_hand(theirs)
    project.makepyfile(test_stack=NEEDS_STACK)
    result = _session(project)
    result.assert_outcomes(passed=1)
    assert _start_kind(result.stdout.str()).startswith("warm start")
    assert _alive(their_pid) and theirs.exists(), "another installation's parent was stopped"
