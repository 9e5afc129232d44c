"""The teardown always ends the session cleanly: a raising or slow teardown hook, a stack whose
tags a test replaced, an endpoint that answers an HTML error page. Real `pytest --cloud-stack`
runs against moto_server; each test checks what is left on the server."""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import MotoServer, background_pytest
from faults import FaultPlan, Throttle, conftest_source

NAME = "proj-td"
PASS = "def test_a(cloud_stack):\n    pass\n"


def test_a_teardown_hook_that_raises_is_reported_and_the_stack_is_still_deleted(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeconftest(
        """
        def pytest_cloudstack_teardown(stack, keep):
            export_results(stack)

        def export_results(stack):
            raise ValueError(f"no results bucket in {stack.name}")
        """
    )
    project.makepyfile(PASS)
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "a broken hook must not look green"
    result.stdout.fnmatch_lines(
        [
            "*cloudstack: the pytest_cloudstack_teardown hook raised ValueError; the teardown "
            "goes on:",
            "Traceback (most recent call last):",
            "*conftest.py*, line 2, in pytest_cloudstack_teardown",
            "*export_results(stack)",
            "*conftest.py*, line 5, in export_results",
            f"ValueError: no results bucket in {NAME}",
            f"cloudstack: stack {NAME} deleted in *",
            "*= cloud stack =*",
            "*",
            "*",
            f"the pytest_cloudstack_teardown hook raised ValueError: no results bucket in {NAME} "
            "(traceback above)",
            f"stack {NAME} deleted in *",
        ]
    )
    assert "pluggy/" not in result.stdout.str(), "only the user's frames"
    assert moto.live_stacks() == {}


def test_one_sigterm_during_a_slow_teardown_hook_only_warns(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeconftest(
        """
        import pathlib, time
        def pytest_cloudstack_teardown(stack, keep):
            pathlib.Path("hook-started").write_text("")
            time.sleep(3)
        """
    )
    project.makepyfile(PASS)
    process = background_pytest(project, f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    deadline = time.monotonic() + 60
    while not (project.path / "hook-started").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=90)
    assert f"deleting stack {NAME} is in progress: interrupt again within 5s" in output, output
    assert f"stack {NAME} deleted in" in output, output
    assert "Traceback" not in output
    assert process.returncode == pytest.ExitCode.OK, output
    assert moto.live_stacks() == {}


def test_a_stack_this_run_created_is_deleted_even_if_a_test_replaced_its_tags(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(
        """
        def test_retag(cloud_stack):
            cloud_stack.client("cloudformation").update_stack(
                StackName=cloud_stack.stack_id,
                UsePreviousTemplate=True,
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": "retagged"}],
                Tags=[{"Key": "team", "Value": "core"}],
            )
            tags = cloud_stack.client("cloudformation").describe_stacks(
                StackName=cloud_stack.stack_id
            )["Stacks"][0]["Tags"]
            assert tags == [{"Key": "team", "Value": "core"}]
        """
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"cloudstack: stack {NAME} deleted in *"])
    assert moto.live_stacks() == {}


def test_an_html_error_page_at_teardown_is_summarised_and_the_session_ends(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(throttles=[Throttle(["DeleteStack"], code="HtmlInternalServerError")])
    project.makeconftest(conftest_source(plan))
    project.makepyfile(PASS)
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"*deleting stack '{NAME}' failed: CloudFormation DeleteStack: HTTP 500 web page "
            "instead of an AWS answer: '500 Internal Server Error'*",
            "delete it by hand with: aws cloudformation delete-stack --stack-name "
            f"{NAME} --region us-east-1 --endpoint-url {moto.url}",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "<!doctype" not in output.lower() and "Traceback" not in output
    assert list(moto.live_stacks()) == [NAME], "DeleteStack never reached the server"


def test_the_already_exists_refusal_prints_a_complete_delete_command(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(PASS)
    project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "--cloud-stack-keep=always"
    ).assert_outcomes(passed=1)
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the stack already exists (CREATE_COMPLETE, created *). Pass --cloud-stack-reuse to "
            "adopt and update it, or delete it first: aws cloudformation delete-stack "
            f"--stack-name {NAME} --region us-east-1 --endpoint-url {moto.url}*"
        ]
    )
    assert list(moto.live_stacks()) == [NAME], "refused: the existing stack is untouched"


def test_a_stack_that_cannot_be_looked_up_after_a_failed_create_ends_the_session_cleanly(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """The endpoint crashes on CreateStack and on every DescribeStacks after the first: the
    teardown can't tell whether a stack was left. It says so, with the command; no traceback."""
    plan = FaultPlan(
        throttles=[
            Throttle(["CreateStack"], code="HtmlInternalServerError"),
            Throttle(["DescribeStacks"], code="HtmlInternalServerError", skip=1),
        ]
    )
    project.makeconftest(conftest_source(plan))
    project.makepyfile(PASS)
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"*deploying stack '{NAME}' failed: CloudFormation CreateStack: HTTP 500 web page "
            "instead of an AWS answer: '500 Internal Server Error'*",
            f"*could not check whether stack {NAME} was left behind: HTTP 500 web page "
            "instead of an AWS answer: '500 Internal Server Error'*",
            "if it exists, delete it by hand with: aws cloudformation delete-stack --stack-name "
            f"{NAME} --region us-east-1 --endpoint-url {moto.url}",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "<!doctype" not in output.lower() and "Traceback" not in output
    assert "INTERNALERROR" not in output
    assert moto.live_stacks() == {}


def test_a_test_that_deleted_its_queue_does_not_make_the_teardown_fail(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """moto refuses DeleteStack (NonExistentQueue) yet removes the stack: gone is success."""
    project.makepyfile(
        """
        def test_cleanup_by_hand(cloud_stack):
            cloud_stack.client("sqs").delete_queue(QueueUrl=cloud_stack.outputs["QueueUrl"])
        """
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"cloudstack: stack {NAME} deleted in *"])
    assert "refused" not in result.stdout.str()
    assert moto.live_stacks() == {}


def test_a_failed_create_is_deleted_without_a_misleading_bucket_warning(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """moto crashes (HTML 500) on a table whose key is not among its attributes, and on listing
    the half-made stack's resources: the delete works, so nothing is said about buckets."""
    project.makefile(
        ".yaml",
        template="""\
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
""",
    )
    project.makepyfile(PASS)
    # The template gate would stop this template first (tests/test_lint_gate.py): off, so that
    # the service's refusal is what this test sees.
    result = project.runpytest(
        f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", "-o", "cloud_stack_lint=off"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*deploying stack '{NAME}' failed: CloudFormation CreateStack: HTTP 500 web page "
            "instead of an AWS answer: '500 Internal Server Error'*"
        ]
    )
    assert "buckets" not in result.stdout.str()
    assert moto.live_stacks() == {}


def test_a_deploy_that_crashed_is_not_summarised_as_created_in_no_time(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeconftest(
        """
        def pytest_cloudstack_deployed(stack):
            raise RuntimeError("seed data missing")
        """
    )
    project.makepyfile(PASS)
    result = project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*= cloud stack =*",
            f"target {moto.url}, region us-east-1, stack {NAME}",
            "the deploy did not finish: it crashed: RuntimeError: seed data missing",
            f"stack {NAME} deleted in *",
        ]
    )
    assert " in 0.0s; 0 resources" not in result.stdout.str()
    assert moto.live_stacks() == {}


def test_every_printed_command_names_region_endpoint_and_profile() -> None:
    """The one builder of printed commands: pasted as is, it acts on the session's target."""
    from pytest_cloudstack.connection import Connection

    on_aws = Connection("aws", "eu-west-1", None, "ci role")
    assert on_aws.cli_command("cloudformation", "delete-stack", "--stack-name", "s") == (
        "aws cloudformation delete-stack --stack-name s --region eu-west-1 --profile 'ci role'"
    )
    emulator = Connection("http://127.0.0.1:4566", "us-east-1", "http://127.0.0.1:4566")
    assert emulator.cli_command("cloudformation", "delete-stack", "--stack-name", "s") == (
        "aws cloudformation delete-stack --stack-name s --region us-east-1 "
        "--endpoint-url http://127.0.0.1:4566"
    )
