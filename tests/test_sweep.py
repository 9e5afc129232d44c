"""`--cloud-stack-sweep`: stacks left by killed sessions are found by their tags and deleted;
everything else is left alone. Checked on a real moto_server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import MotoServer

HOLD = """
import pathlib, time
def test_hold(cloud_stack):
    pathlib.Path("started").write_text(cloud_stack.name)
    time.sleep(60)
"""
QUEUE = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})


def _kept_stack(project: pytest.Pytester, moto: MotoServer, name: str) -> None:
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={name}", "--cloud-stack-keep=always"
    ).assert_outcomes(passed=1)


def test_sigkill_leaks_and_the_sweep_cleans_up(project: pytest.Pytester, moto: MotoServer) -> None:
    # The killed session's lease must expire before a sweep may take its stack: 1 s here.
    project.makeconftest(
        "import pytest_cloudstack.lease as lease\nlease.TTL, lease.RENEW_EVERY = 1.0, 0.3\n"
    )
    project.makepyfile(HOLD)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--cloud-stack={moto.url}", "-p", "no:cacheprovider"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (project.path / "started").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # nothing can be caught: the stack leaks
    process.wait()
    name = (project.path / "started").read_text()
    assert list(moto.live_stacks()) == [name]
    time.sleep(1.1)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1s")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "cloudstack: sweep: deleting stacks of prefix 'proj' older than 1s or past their "
            f"expiry, on {moto.url} (us-east-1): 1 found",
            f"cloudstack: deleting {name} (CREATE_COMPLETE, *s old)",
            f"cloudstack: deleted {name}",
        ]
    )
    assert moto.live_stacks() == {}


def test_sweep_leaves_young_foreign_and_other_prefix_stacks(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    _kept_stack(project, moto, "proj-young")
    _kept_stack(project, moto, "other-old")
    moto.client("cloudformation").create_stack(StackName="proj-foreign", TemplateBody=QUEUE)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1h")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*: 0 found"])
    assert sorted(moto.live_stacks()) == ["other-old", "proj-foreign", "proj-young"]


def test_sweep_with_plan_only_lists(project: pytest.Pytester, moto: MotoServer) -> None:
    _kept_stack(project, moto, "proj-old")
    time.sleep(1.1)
    result = project.runpytest(
        f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1s", "--cloud-stack-plan"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*sweep: listing stacks*1 found", "cloudstack: would delete proj-old (CREATE_COMPLETE, *)"]
    )
    assert list(moto.live_stacks()) == ["proj-old"]


def test_sweep_skips_termination_protected_stacks(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    moto.client("cloudformation").create_stack(
        StackName="proj-protected",
        TemplateBody=QUEUE,
        EnableTerminationProtection=True,
        Tags=[
            {"Key": "cloudstack:managed", "Value": "true"},
            {"Key": "cloudstack:created-at", "Value": "2020-01-01T00:00:00Z"},
        ],
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1h")
    result.stdout.fnmatch_lines(
        ["cloudstack: skipped proj-protected: termination protection is on"]
    )
    assert list(moto.live_stacks()) == ["proj-protected"]


def test_sweep_on_local_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--cloud-stack=local", "--cloud-stack-sweep")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cloud-stack-sweep cleans up aws or an endpoint target*"])


def test_a_session_warns_about_expired_stacks_of_its_prefix(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    moto.client("cloudformation").create_stack(
        StackName="proj-expired",
        TemplateBody=QUEUE,
        Tags=[
            {"Key": "cloudstack:managed", "Value": "true"},
            {"Key": "cloudstack:expires-at", "Value": "2020-01-01T00:00:00Z"},
        ],
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: 1 stack of prefix 'proj' is past its expiry (proj-expired): "
            "delete with pytest --cloud-stack-sweep"
        ]
    )
    assert "proj-expired" in moto.live_stacks(), "warned about, never deleted by a session"


def test_sweep_skips_a_stack_whose_lease_a_live_session_holds(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    _kept_stack(project, moto, "proj-busy")
    moto.client("ssm").put_parameter(
        Name="/cloudstack/leases/proj-busy",
        Type="String",
        Value=json.dumps({"run_id": "r", "holder": "ci@runner-3", "expires_at": time.time() + 600}),
    )
    time.sleep(1.1)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1s")
    result.stdout.fnmatch_lines(
        ["cloudstack: skipped proj-busy: in use: ci@runner-3 holds its lease"]
    )
    assert list(moto.live_stacks()) == ["proj-busy"]
