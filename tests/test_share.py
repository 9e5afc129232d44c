"""CI shards sharing one stack (``cloud_stack_share``): the first deploys, the others join, the
last one out deletes it.

Sessions run concurrently as real pytest processes against one ``moto_server``, each with its own
cache (and so lock) folder, as separate CI machines would; every CloudFormation call they make
goes to one record file (tests/faults.py), so the creates and deletes are counted from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MotoServer
from faults import FaultPlan, SlowStack, conftest_source, read_record

STACK = "shared-main"

SHARD = """\
import os
import time


def test_shard(cloud_stack):
    assert cloud_stack.name == "{stack}"
    queue = cloud_stack.queue("Queue")
    queue.send({{"shard": os.environ["SHARD"]}})
    time.sleep(float(os.environ.get("SHARD_SECONDS", "0")))
    release = os.environ.get("SHARD_RELEASE")
    deadline = time.monotonic() + 120
    while release and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.1)  # held until the test outside says so
"""


def _project(pytester: pytest.Pytester, moto: MotoServer, plan: FaultPlan) -> None:
    pytester.makefile(".yaml", template="Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    pytester.makeini(
        f"[pytest]\ncloud_stack_target = {moto.url}\ncloud_stack_name = {STACK}\n"
        "cloud_stack_prefix = shared\ncloud_stack_share = true\n"
    )
    pytester.makeconftest(conftest_source(plan))
    pytester.makepyfile(test_shard=SHARD.format(stack=STACK))


def _start(
    pytester: pytest.Pytester, shard: str, seconds: float, tmp: Path, release: Path | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SHARD": shard,
        "SHARD_SECONDS": str(seconds),
        "SHARD_RELEASE": str(release or ""),
        "XDG_CACHE_HOME": str(tmp / f"machine-{shard}"),  # its own lock folder: its own machine
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--cloud-stack", "-p", "no:cacheprovider", "-q"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


def _operations(record: Path) -> list[str]:
    return [call["operation"] for call in read_record(record)]


def _share_parameters(moto: MotoServer) -> list[str]:
    pages = moto.client("ssm").get_parameters_by_path(Path="/cloudstack", Recursive=True)
    return [parameter["Name"] for parameter in pages["Parameters"]]


def test_three_shards_share_one_create_and_one_delete(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    _project(pytester, moto, FaultPlan(record=str(record)))
    # Shard c runs longest: the stack must outlive a and b, and go with c.
    shards = {"a": 1.0, "b": 2.0, "c": 8.0}
    processes = {
        name: _start(pytester, name, seconds, tmp_path) for name, seconds in shards.items()
    }
    outputs = {name: _finish(processes[name]) for name in ("a", "b")}
    assert STACK in moto.live_stacks(), "the stack was deleted while shard c still used it"
    outputs["c"] = _finish(processes["c"])
    for name, output in outputs.items():
        assert processes[name].returncode == 0, output
        assert "1 passed" in output, output
    calls = _operations(record)
    assert calls.count("CreateStack") == 1, calls
    assert calls.count("DeleteStack") == 1, calls
    joined = [name for name, output in outputs.items() if f"stack {STACK} joined" in output]
    assert len(joined) == 2, outputs
    assert "the last one out deletes it" in outputs["a"] + outputs["b"]
    assert moto.live_stacks() == {}
    assert _share_parameters(moto) == []


def test_a_shard_killed_mid_test_does_not_keep_the_stack(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    _project(pytester, moto, FaultPlan(record=str(record)))
    first = _start(pytester, "a", 0.0, tmp_path, tmp_path / "never")
    release = tmp_path / "release"
    second = _start(pytester, "b", 0.0, tmp_path, release)
    deadline = time.monotonic() + 60
    while STACK not in moto.live_stacks() or len(_share_parameters(moto)) < 3:
        assert time.monotonic() < deadline, "the two sessions never registered"
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    release.touch()
    output = _finish(second)
    # The killed session's registration names a process of this machine that is gone: stale at
    # once, so the last live session deletes the stack.
    assert second.returncode == 0, output
    assert f"stack {STACK} deleted" in output, output
    assert moto.live_stacks() == {}
    assert _operations(record).count("DeleteStack") == 1


def test_the_deployer_killed_mid_create_is_taken_over(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    plan = FaultPlan(slow=[SlowStack(STACK, 20.0, ["CreateStack"])], record=str(record))
    _project(pytester, moto, plan)
    deployer = _start(pytester, "a", 0.0, tmp_path)
    deadline = time.monotonic() + 60
    while "CreateStack" not in (_operations(record) if record.exists() else []):
        assert time.monotonic() < deadline, "the first session never created the stack"
        time.sleep(0.1)
    waiter = _start(pytester, "b", 0.0, tmp_path)
    deadline = time.monotonic() + 60
    while sum("/users/" in name for name in _share_parameters(moto)) < 2:
        if time.monotonic() > deadline:
            waiter.kill()
            raise AssertionError(f"the second session never registered: {_finish(waiter)}")
        time.sleep(0.1)
    time.sleep(1)  # the waiter now waits for the deployer
    os.kill(deployer.pid, signal.SIGKILL)
    deployer.communicate()
    output = _finish(waiter)
    assert waiter.returncode == 0, output
    assert "waiting for " in output and f"deploying {STACK}" in output, output
    assert "is gone: this session takes over" in output, output
    assert moto.live_stacks() == {}
    assert _share_parameters(moto) == []


def test_another_commit_is_refused_while_the_stack_is_in_use(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    _project(pytester, moto, FaultPlan())
    release = tmp_path / "release"
    first = _start(pytester, "a", 0.0, tmp_path, release)
    deadline = time.monotonic() + 60
    while STACK not in moto.live_stacks():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # Another commit pushed mid-run: the template differs.
    (pytester.path / "template.yaml").write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n  Other:\n    Type: AWS::SQS::Queue\n"
    )
    second = _start(pytester, "b", 0.0, tmp_path)
    output = _finish(second)
    release.touch()
    assert second.returncode != 0, output
    assert "refusing to join rather than update it under them" in output, output
    first_output = _finish(first)
    assert first.returncode == 0, first_output
    assert moto.live_stacks() == {}


def test_a_session_arriving_after_the_delete_deploys_again(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    _project(pytester, moto, FaultPlan(record=str(record)))
    for shard in ("a", "b"):
        process = _start(pytester, shard, 0.0, tmp_path)
        output = _finish(process)
        assert process.returncode == 0, output
    calls = _operations(record)
    assert calls.count("CreateStack") == 2 and calls.count("DeleteStack") == 2, calls
    assert moto.live_stacks() == {}
    assert _share_parameters(moto) == []


def test_a_sweep_skips_a_shared_stack_with_live_users(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    _project(pytester, moto, FaultPlan())
    release = tmp_path / "release"
    user = _start(pytester, "a", 0.0, tmp_path, release)
    deadline = time.monotonic() + 60
    while STACK not in moto.live_stacks():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)  # older than the sweep's age
    try:
        sweep = pytester.runpytest_subprocess("--cloud-stack", "--cloud-stack-sweep=1s")
        sweep.stdout.fnmatch_lines([f"*skipped {STACK}: in use*"])
        assert STACK in moto.live_stacks()
    finally:
        release.touch()
        output = _finish(user)
    assert user.returncode == 0, output
    assert moto.live_stacks() == {}


def test_shards_ending_at_the_same_moment_still_delete_the_stack_once(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    """Each session leaves before it looks for others: when all end together, the last one to
    leave finds nobody, and exactly one of those that find nobody deletes."""
    record = tmp_path / "calls.jsonl"
    _project(pytester, moto, FaultPlan(record=str(record)))
    release = tmp_path / "release"
    processes = [_start(pytester, shard, 0.0, tmp_path, release) for shard in "abc"]
    deadline = time.monotonic() + 90
    while sum("/users/" in name for name in _share_parameters(moto)) < 3:
        assert time.monotonic() < deadline, "the three sessions never registered"
        time.sleep(0.1)
    release.touch()
    outputs = [_finish(process) for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    calls = _operations(record)
    assert calls.count("CreateStack") == 1, calls
    assert calls.count("DeleteStack") == 1, calls
    assert moto.live_stacks() == {}
    assert _share_parameters(moto) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("inf", "default"),
        ("nan", "default"),
        ("soon", "default"),
        ("", "default"),
        ("1e300", "max"),
    ],
)
def test_an_unusable_share_ttl_is_bounded(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    """The renewer waits a third of it, and the expiry is a timestamp: an infinite or huge value
    would crash the renewer's thread (OverflowError) instead of renewing."""
    from pytest_cloudstack import share

    monkeypatch.setenv(share.TTL_ENV, value)
    assert share.ttl() == {"default": share.DEFAULT_TTL, "max": share.MAX_TTL}[expected]


def test_a_share_ttl_is_kept_within_one_second_and_a_week(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_cloudstack import share

    monkeypatch.setenv(share.TTL_ENV, "0.01")
    assert share.ttl() == 1.0
    monkeypatch.setenv(share.TTL_ENV, "120")
    assert share.ttl() == 120.0


def test_an_unreadable_deployer_record_is_taken_over_not_waited_on(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    """A deployer record that is not the plugin's JSON (written by hand, truncated) names no
    holder: the session takes it over and deploys. It used to loop on it for good."""
    _project(pytester, moto, FaultPlan())
    moto.client("ssm").put_parameter(
        Name=f"/cloudstack/shares/{STACK}/deployer", Value="{not json", Type="String"
    )
    output = _finish(_start(pytester, "a", 0, tmp_path), timeout=60)
    assert "1 passed" in output, output
    assert "this session takes over" in output, output
    assert moto.live_stacks() == {}
    assert _share_parameters(moto) == []
