"""Real AWS behaviour moto cannot produce, replayed through injected CloudFormation responses
(tests/faults.py) over real clients and a real moto_server; each test checks the server after."""

from __future__ import annotations

import json

import pytest
from conftest import MotoServer
from faults import FaultPlan, SlowStack, Story, Throttle, conftest_source, read_record

NAME = "proj-x"
USES_STACK = "def test_uses_stack(cloud_stack):\n    assert cloud_stack.outputs['QueueUrl']\n"


def _run(
    project: pytest.Pytester, moto: MotoServer, plan: FaultPlan, *args: str
) -> pytest.RunResult:
    project.makeconftest(conftest_source(plan))
    project.makepyfile(USES_STACK)
    return project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", *args)


def _operations(record: str) -> list[str]:
    return [call["operation"] for call in read_record(record)]


def test_rollback_is_a_failure_at_once_with_the_root_cause_and_the_stack_is_deleted(
    project: pytest.Pytester, moto: MotoServer, tmp_path: object
) -> None:
    record = str(project.path / "calls.jsonl")
    plan = FaultPlan(
        # Each phase lasts two polls: a waiter that stops only at ROLLBACK_COMPLETE would say so.
        stories=[Story(NAME, "create_failure", resource="Bucket", step_calls=2)],
        record=record,
    )
    result = _run(project, moto, plan)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*cloud stack not available: deploying stack '{NAME}' failed: the stack is "
            "ROLLBACK_IN_PROGRESS*",
            "*- Bucket (AWS::S3::Bucket) CREATE_FAILED: Resource handler returned message*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"*stack {NAME} is ROLLBACK_IN_PROGRESS: waiting for it to settle before deleting*",
            f"*stack {NAME} deleted in *",
        ]
    )
    # The live event lines show the cancellations; the failure list keeps only the root cause.
    failure_lines = [line for line in result.outlines if line.startswith("  - ")]
    assert failure_lines and not [line for line in failure_lines if "cancelled" in line]
    result.stdout.fnmatch_lines(["cloudstack: *CREATE_FAILED*Table - Resource creation cancelled"])
    assert moto.live_stacks() == {}
    operations = _operations(record)
    assert operations.count("CreateStack") == 1 and operations.count("DeleteStack") == 1


def test_keep_failed_keeps_a_stack_that_failed_to_deploy(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(stories=[Story(NAME, "create_failure", resource="Bucket", step_seconds=0.1)])
    result = _run(project, moto, plan, "--cloud-stack-keep=failed")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*stack {NAME} kept; delete it with: aws cloudformation*"])
    assert list(moto.live_stacks()) == [NAME]


def test_delete_failed_once_is_retried_after_emptying_the_buckets(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(stories=[Story(NAME, "delete_failure", resource="Bucket", step_seconds=0.1)])
    result = _run(project, moto, plan)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"*stack {NAME} is DELETE_FAILED: emptying its buckets and trying again*",
            f"*stack {NAME} deleted in *",
        ]
    )
    assert moto.live_stacks() == {}


def test_delete_failed_names_the_blocking_resource_and_fails_the_run(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(
        stories=[Story(NAME, "delete_failure", resource="Bucket", step_seconds=0.1, times=-1)]
    )
    result = _run(project, moto, plan)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "a leaked stack must not look green"
    result.stdout.fnmatch_lines(
        [
            f"*deleting stack '{NAME}' failed: the stack is DELETE_FAILED*",
            "*- Bucket (AWS::S3::Bucket) DELETE_FAILED: *The bucket you tried to delete is not empty*",
        ]
    )
    assert list(moto.live_stacks()) == [NAME], "AWS left it in place; so does the replay"
    result.stdout.fnmatch_lines(
        [f"*delete it by hand with: aws cloudformation delete-stack --stack-name {NAME} *"]
    )


def test_force_delete_deletes_and_lists_what_was_left(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeini("[pytest]\ncloud_stack_prefix = proj\ncloud_stack_force_delete = true\n")
    plan = FaultPlan(
        stories=[Story(NAME, "delete_failure", resource="Bucket", step_seconds=0.1, times=-1)]
    )
    result = _run(project, moto, plan)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"*forcing the delete of stack {NAME} (ini cloud_stack_force_delete)*",
            f"*stack {NAME} deleted in *s; forced: left behind Bucket (AWS::S3::Bucket *)*",
        ]
    )
    assert moto.live_stacks() == {}


def test_a_throttling_storm_is_survived(project: pytest.Pytester, moto: MotoServer) -> None:
    record = str(project.path / "calls.jsonl")
    plan = FaultPlan(
        throttles=[
            Throttle(["*"], rate=0.3, seed=7),
            Throttle(["*"], code="InternalFailure", rate=0.15, seed=11, limit=3),
        ],
        record=record,
    )
    result = _run(project, moto, plan)
    result.assert_outcomes(passed=1)
    assert moto.live_stacks() == {}
    injected = read_record(record, kind="inject")
    assert len(injected) >= 3, "the storm really happened"
    assert any("InternalFailure" in json.dumps(entry) for entry in injected), "with 500s in it"


def test_a_stack_left_in_rollback_complete_is_deleted_and_created_again(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--cloud-stack-keep=always"
    ).assert_outcomes(passed=1)
    old_id = moto.live_stacks()[NAME]["StackId"]
    plan = FaultPlan(stories=[Story(NAME, "existing", status="ROLLBACK_COMPLETE")])
    result = _run(project, moto, plan, "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"*stack {NAME} is ROLLBACK_COMPLETE, left by an earlier run: deleting it first*"]
    )
    assert moto.live_stacks()[NAME]["StackId"] != old_id


def test_a_slow_create_is_waited_for(project: pytest.Pytester, moto: MotoServer) -> None:
    record = str(project.path / "calls.jsonl")
    plan = FaultPlan(slow=[SlowStack(NAME, seconds=1.5)], record=record)
    result = _run(project, moto, plan)
    result.assert_outcomes(passed=1)
    assert moto.live_stacks() == {}
    polls = _operations(record).count("DescribeStacks")
    # 1.5 s of CREATE_IN_PROGRESS: sub-second polling first, then a 1 s cap (not 30 s).
    assert 3 <= polls <= 40


def test_the_timeout_bounds_the_deploy(project: pytest.Pytester, moto: MotoServer) -> None:
    plan = FaultPlan(slow=[SlowStack(NAME, seconds=60, operations=["CreateStack"])])
    result = _run(project, moto, plan, "--cloud-stack-timeout=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*timed out after 1s (--cloud-stack-timeout) with the stack in CREATE_IN_PROGRESS*"]
    )
    assert moto.live_stacks() == {}, "a create in progress is cancelled by the delete"


def test_an_update_that_rolls_back_reports_the_failed_resource(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    keep = ("--cloud-stack-keep=always", "--cloud-stack-reuse")
    project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", *keep
    ).assert_outcomes(passed=1)
    plan = FaultPlan(
        stories=[
            Story(
                NAME,
                "update_rollback",
                resource="Table",
                resource_type="AWS::DynamoDB::Table",
                step_seconds=0.1,
            )
        ]
    )
    result = _run(project, moto, plan, *keep, "--cloud-stack-param", "Stage=dev")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*deploying stack '{NAME}' failed: the stack is UPDATE_ROLLBACK_*",
            "*- Table (AWS::DynamoDB::Table) UPDATE_FAILED: *",
        ]
    )
    assert moto.live_stacks()[NAME]["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
