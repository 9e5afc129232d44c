"""`--cloud-stack-plan`: the changes a deploy would make, from a real change set; nothing changed."""

from __future__ import annotations

import json

import pytest
from conftest import SMALL_TEMPLATE, MotoServer

NAME = "proj-plan"


def _plan(project: pytest.Pytester, moto: MotoServer) -> pytest.RunResult:
    return project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--cloud-stack-plan"
    )


def test_plan_for_a_new_stack_lists_additions_and_leaves_nothing(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile("def test_a(cloud_stack):\n    raise AssertionError('tests must not run')\n")
    result = _plan(project, moto)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: plan for stack {NAME} (create):",
            "cloudstack:   + Add     AWS::S3::Bucket*Bucket",
            "cloudstack:   + Add     AWS::SQS::Queue*Queue",
            "cloudstack:   + Add     AWS::DynamoDB::Table*Table",
            "cloudstack: 3 to add, 0 to modify (0 replaced), 0 to remove; nothing was changed",
        ]
    )
    assert "tests must not run" not in result.stdout.str()
    assert moto.live_stacks() == {}, "the change set's placeholder stack is gone too"


def test_plan_for_an_existing_stack_shows_the_update_without_making_it(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--cloud-stack-keep=always"
    ).assert_outcomes(passed=1)
    before = moto.live_stacks()[NAME]
    changed = SMALL_TEMPLATE.replace(
        "  Bucket:\n    Type: AWS::S3::Bucket\n",
        "  Bucket:\n    Type: AWS::S3::Bucket\n  Archive:\n    Type: AWS::S3::Bucket\n",
    ).replace(
        "  Queue:\n    Type: AWS::SQS::Queue\n",
        "  Queue:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: 99}\n",
    )
    project.makefile(".yaml", template=changed)
    result = _plan(project, moto)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: plan for stack {NAME} (update):",
            "cloudstack:   + Add     AWS::S3::Bucket*Archive",
            # moto lists every resource that stays as "Modify"; AWS lists only the changed ones.
            "cloudstack:   ~ Modify  AWS::SQS::Queue*Queue*",
            "cloudstack: 1 to add, * to modify (* replaced), 0 to remove; nothing was changed",
        ]
    )
    after = moto.live_stacks()[NAME]
    assert after["StackStatus"] == before["StackStatus"] and "LastUpdatedTime" not in after


def test_plan_refuses_a_stack_that_is_not_ours(project: pytest.Pytester, moto: MotoServer) -> None:
    moto.client("cloudformation").create_stack(
        StackName=NAME, TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    )
    result = _plan(project, moto)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"*stack {NAME!r} exists and was not created by pytest-cloudstack*"]
    )
    assert list(moto.live_stacks()) == [NAME]


def test_plan_needs_the_flag(project: pytest.Pytester) -> None:
    result = project.runpytest("--cloud-stack-plan")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cloud-stack-plan needs --cloud-stack[[]=TARGET]*"])


def test_plan_columns_are_sized_from_the_longest_type(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makefile(
        ".yaml",
        template=SMALL_TEMPLATE.replace(
            "Resources:\n",
            "Resources:\n  Mapping:\n    Type: AWS::Lambda::EventSourceMapping\n"
            "    Properties: {EventSourceArn: !GetAtt Queue.Arn, FunctionName: some-function}\n",
        ),
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = _plan(project, moto)
    assert result.ret == pytest.ExitCode.OK
    lines = [line for line in result.stdout.lines if line.startswith("cloudstack:   + Add ")]
    assert len(lines) == 4, result.stdout.str()
    # Every logical ID starts in the same column, one space after the longest type.
    columns = {line.rindex(" ") for line in lines}
    assert len(columns) == 1, lines
    assert "AWS::Lambda::EventSourceMapping Mapping" in "\n".join(lines)
