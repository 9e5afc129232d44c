"""Targets: the embedded emulator (local), and the aws code path (pointed at moto_server through
boto3's own AWS_ENDPOINT_URL, so the plugin's aws branch runs unchanged)."""

from __future__ import annotations

import os
import re
import socket

import pytest
from conftest import EXAMPLE, MotoServer

USES_STACK = "def test_uses_stack(cloud_stack):\n    assert cloud_stack.outputs['QueueUrl']\n"
EXAMPLE_TESTS = sum(path.read_text().count("\ndef test_") for path in EXAMPLE.glob("test_*.py"))
PROCESSING_TESTS = (EXAMPLE / "test_processing.py").read_text().count("\ndef test_")


def _emulator_port(output: str) -> int:
    match = re.search(r"embedded emulator at http://127\.0\.0\.1:(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_local_runs_the_example_offline_and_cleans_up(orders_example: pytest.Pytester) -> None:
    result = orders_example.runpytest("--cloud-stack")
    result.assert_outcomes(passed=EXAMPLE_TESTS)
    port = _emulator_port(result.stdout.str())
    # The environment is restored and the emulator is gone once the session ends.
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert "AWS_SAM_STACK_NAME" not in os.environ
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_local_ignores_the_developers_aws_profile(
    orders_example: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "only-on-my-laptop")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    orders_example.runpytest("--cloud-stack").assert_outcomes(passed=EXAMPLE_TESTS)
    assert os.environ["AWS_PROFILE"] == "only-on-my-laptop", "restored after the session"


def test_local_under_xdist_shares_the_controllers_emulator(orders_example: pytest.Pytester) -> None:
    result = orders_example.runpytest_subprocess("--cloud-stack", "-n", "2")
    result.assert_outcomes(passed=EXAMPLE_TESTS)


def test_local_is_the_default_of_the_example_but_cli_wins(
    orders_example: pytest.Pytester, moto: MotoServer
) -> None:
    result = orders_example.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    # moto_server cannot run Lambda code: the end-to-end processing tests say so and skip.
    result.assert_outcomes(passed=EXAMPLE_TESTS - PROCESSING_TESTS, skipped=PROCESSING_TESTS)
    assert [name.startswith("orders-main") for name in moto.live_stacks()] == [True]


@pytest.fixture
def aws_via_moto(monkeypatch: pytest.MonkeyPatch, moto: MotoServer) -> MotoServer:
    """Real AWS code path, with boto3's configured endpoint pointing every service at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return moto


def test_aws_without_credentials_says_how_to_get_them(
    project: pytest.Pytester, aws_via_moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no AWS credentials found for --cloud-stack=aws: log in (aws sso login*"
            "or run offline with --cloud-stack=local*"
        ]
    )
    assert aws_via_moto.live_stacks() == {}


def test_aws_refuses_an_account_that_is_not_allowed(
    project: pytest.Pytester, aws_via_moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    project.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_allowed_accounts =\n    111111111111\n"
    )
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*AWS account 123456789012 is not in ini cloud_stack_allowed_accounts (111111111111): "
            "refusing to deploy*"
        ]
    )
    assert aws_via_moto.live_stacks() == {}


def test_aws_deploys_to_an_allowed_account_and_deletes(
    project: pytest.Pytester, aws_via_moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    project.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_allowed_accounts = 123456789012\n"
    )
    project.makepyfile(
        "def test_region(cloud_stack):\n"
        "    assert cloud_stack.region == 'eu-west-1'\n"
        "    assert cloud_stack.target == 'aws'\n"
        "    assert cloud_stack.endpoint_url is None\n"
    )
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cloudstack: target aws, region eu-west-1, stack proj-main-*"])
    summaries = aws_via_moto.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries] == [], "us-east-1 untouched"
    west = MotoServer.__new__(MotoServer)
    west.url = aws_via_moto.url
    import boto3

    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=aws_via_moto.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    statuses = [s["StackStatus"] for s in cloudformation.list_stacks()["StackSummaries"]]
    assert statuses == ["DELETE_COMPLETE"]


def test_aws_without_a_region_is_a_usage_error(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*no AWS region for --cloud-stack=aws: pass --cloud-stack-region*"]
    )


def test_aws_with_an_unknown_profile_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws", "--cloud-stack-profile=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot use AWS profile 'nope'*--cloud-stack-profile*"])


def test_an_endpoint_that_does_not_answer_is_a_readable_error(project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=http://127.0.0.1:9", "--cloud-stack-timeout=30")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: deploying stack 'proj-main-*' failed: *"
            "Could not connect to the endpoint URL: *127.0.0.1:9*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_aws_checks_the_account_once_for_several_stacks(
    project: pytest.Pytester, aws_via_moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stacks of a session share one connection: one STS GetCallerIdentity, not one each."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    calls = project.path / "sts-calls.txt"
    project.makeconftest(
        f"""
        def pytest_cloudstack_boto_session(session):
            def count(**kwargs):
                with open({str(calls)!r}, "a") as out:
                    out.write("GetCallerIdentity\\n")
            session.events.register("before-call.sts.GetCallerIdentity", count)
        """
    )
    queue = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
    project.makefile(".yaml", first=queue, second=queue)
    project.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_allowed_accounts = 123456789012\n"
        "cloud_stack_stacks =\n    first = first.yaml\n    second = second.yaml\n"
    )
    project.makepyfile("def test_both(cloud_stacks):\n    assert len(cloud_stacks) == 2\n")
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(passed=1)
    assert calls.read_text().split() == ["GetCallerIdentity"]
