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
from faults import FaultPlan, Throttle, conftest_source

HOLD = """
import pathlib, time
def test_hold(cloud_stack):
    pathlib.Path("started").write_text(cloud_stack.name)
    time.sleep(60)
"""
QUEUE = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})


def _kept_stack(
    project: pytest.Pytester, moto: MotoServer, name: str | None = None, prefix: str = "proj"
) -> str:
    """A stack a session of project ``prefix`` kept (named by branch when ``name`` is None)."""
    project.makepyfile(
        "import pathlib\ndef test_a(cloud_stack):\n    pathlib.Path('name').write_text(cloud_stack.name)\n"
    )
    named = [f"--cloud-stack-name={name}"] if name else []
    project.runpytest(
        f"--cloud-stack={moto.url}",
        *named,
        "--cloud-stack-keep=always",
        "-o",
        f"cloud_stack_prefix={prefix}",
    ).assert_outcomes(passed=1)
    return (project.path / "name").read_text()


def test_sigkill_leaks_and_the_sweep_cleans_up_at_once(
    project: pytest.Pytester, moto: MotoServer
) -> None:
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
    os.kill(process.pid, signal.SIGKILL)  # nothing can be caught: the stack and its lease leak
    process.wait()
    name = (project.path / "started").read_text()
    assert list(moto.live_stacks()) == [name]
    assert _lease(moto, name)["pid"] == process.pid
    # Its holder was on this machine and is gone: no need to wait for the lease's expiry (10
    # minutes), nor for the stack to be AGE old.
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "cloudstack: sweep: deleting stacks of project 'proj' older than 1.0d or past their "
            f"expiry, on {moto.url} (us-east-1): 1 found",
            f"cloudstack: deleting {name} (CREATE_COMPLETE, its session, pid {process.pid} on "
            "this machine, is gone)",
            f"cloudstack: deleted {name}",
        ]
    )
    assert moto.live_stacks() == {}
    assert _lease(moto, name) is None, "the lease parameter goes with the stack"


def _lease(moto: MotoServer, name: str) -> dict[str, object] | None:
    ssm = moto.client("ssm")
    try:
        return json.loads(
            ssm.get_parameter(Name=f"/cloudstack/leases/{name}")["Parameter"]["Value"]
        )
    except ssm.exceptions.ParameterNotFound:
        return None


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
            {"Key": "cloudstack:project", "Value": "proj"},
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
            {"Key": "cloudstack:project", "Value": "proj"},
            {"Key": "cloudstack:expires-at", "Value": "2020-01-01T00:00:00Z"},
        ],
    )
    # Project proj-api's expired stack: its name starts with "proj-", yet it is not proj's.
    moto.client("cloudformation").create_stack(
        StackName="proj-api-expired",
        TemplateBody=QUEUE,
        Tags=[
            {"Key": "cloudstack:managed", "Value": "true"},
            {"Key": "cloudstack:project", "Value": "proj-api"},
            {"Key": "cloudstack:expires-at", "Value": "2020-01-01T00:00:00Z"},
        ],
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: 1 stack of project 'proj' is past its expiry (proj-expired): "
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


def test_sweep_deletes_only_this_projects_stacks_and_lists_untagged_ones(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    ours = _kept_stack(project, moto, prefix="proj")
    theirs = _kept_stack(project, moto, prefix="proj-api")  # proj-api-main-<user>: not proj's
    assert theirs.startswith("proj-api-")
    # Made before the project tag existed: whose it is can't be known.
    moto.client("cloudformation").create_stack(
        StackName="proj-legacy",
        TemplateBody=QUEUE,
        Tags=[{"Key": "cloudstack:managed", "Value": "true"}],
    )
    time.sleep(1.1)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep=1s")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*: 2 found",
            f"cloudstack: deleted {ours}",
            "cloudstack: skipped proj-legacy: it has no cloudstack:project tag (made by an older "
            "pytest-cloudstack), so it may be another project's whose name also starts with "
            "'proj'; if it is this project's, delete it with: aws cloudformation delete-stack "
            f"--stack-name proj-legacy --region us-east-1 --endpoint-url {moto.url}",
        ]
    )
    assert theirs not in result.stdout.str()
    assert sorted(moto.live_stacks()) == sorted([theirs, "proj-legacy"])


def test_a_sweep_whose_listing_fails_says_so_without_a_traceback(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(throttles=[Throttle(["DescribeStacks"], code="HtmlInternalServerError")])
    project.makeconftest(conftest_source(plan))
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-sweep")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: sweep: could not list the stacks on {moto.url} (us-east-1): "
            "*HTTP 500 web page instead of an AWS answer: '500 Internal Server Error'*"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
