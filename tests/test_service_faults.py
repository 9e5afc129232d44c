"""Network faults and answers that are not AWS answers: bounded, summarised, nothing left.

Real socket servers on 127.0.0.1 (tests/endpoints.py) in front of, or instead of, a real
``moto_server``: an endpoint that accepts and never answers, one that answers late, a
CreateStack whose answer is lost, a plain web server; and the template mistakes that moto
answers with an HTML 500 page. Each run must end with a clear error, no botocore traceback, no
HTML dumped, and nothing left on the server.
"""

from __future__ import annotations

import pytest

from tests.conftest import MotoServer
from tests.endpoints import PlainWebServer, SilentServer, StallingProxy

USES_STACK = "def test_uses_stack(cloud_stack):\n    assert cloud_stack.name\n"


def _warm(moto: MotoServer) -> None:
    """moto imports a service's code on its first request (a second or two): not in the test."""
    moto.client("ssm").describe_parameters()
    moto.client("cloudformation").describe_stacks()
    moto.client("s3").list_buckets()


def _clean(output: str) -> None:
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert "botocore" not in output
    assert "<html" not in output.lower() and "<!doctype" not in output.lower()


def test_an_endpoint_that_never_answers_is_bounded_by_the_timeout(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(USES_STACK)
    with SilentServer() as silent:
        # Without bounds: botocore's 60 s read timeout, 8 attempts per call; the subprocess's
        # timeout makes that a failure instead of a hang.
        result = project.runpytest_subprocess(
            f"--cloud-stack={silent.url}", "--cloud-stack-timeout=3", timeout=60
        )
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    _clean(output)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: * has not answered * for 1 s, still waiting",
            f"*cloud stack not available: deploying stack 'proj-main-*' failed: * at {silent.url} "
            "gave no answer in *, and the deploy is bounded by --cloud-stack-timeout (3 s): "
            "check that the endpoint works, or raise --cloud-stack-timeout",
        ]
    )


def test_a_create_stack_whose_answer_never_comes_times_out_and_is_torn_down(
    moto: MotoServer, project: pytest.Pytester
) -> None:
    project.makepyfile(USES_STACK)
    _warm(moto)
    with StallingProxy(moto.url, swallow=frozenset({"CreateStack"})) as proxy:
        result = project.runpytest_subprocess(
            f"--cloud-stack={proxy.url}", "--cloud-stack-timeout=9", timeout=60
        )
        creates = proxy.requests("CreateStack")
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "cloudstack: creating stack proj-main-*",
            "cloudstack: CloudFormation has not answered CreateStack for 3 s, still waiting",
            "cloudstack: deploying stack 'proj-main-*' failed: CloudFormation CreateStack: "
            f"CloudFormation at {proxy.url} gave no answer in *, and the deploy is bounded by "
            "--cloud-stack-timeout (9 s)*",
        ]
    )
    # The stack was made (only its answer was lost): the teardown found it by its run-id tag.
    result.stdout.fnmatch_lines(["cloudstack: stack proj-main-* deleted in *"])
    assert moto.live_stacks() == {}
    # A retried CreateStack would be the same request: one token, from the plugin.
    tokens = {create.get("ClientRequestToken") for create in creates}
    assert len(tokens) == 1 and next(iter(tokens), "").startswith("cloudstack-")


def test_an_endpoint_gone_silent_after_create_stack_gets_the_delete_command(
    moto: MotoServer, project: pytest.Pytester
) -> None:
    project.makepyfile(USES_STACK)
    _warm(moto)
    with StallingProxy(moto.url, then_silent=frozenset({"CreateStack"})) as proxy:
        result = project.runpytest_subprocess(
            f"--cloud-stack={proxy.url}", "--cloud-stack-timeout=4", timeout=60
        )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    # CreateStack was answered, then nothing: the delete is bounded too, and says what to run.
    result.stdout.fnmatch_lines(
        [
            "*cloudstack: deleting stack proj-main-*",  # may follow the progress line
            "cloudstack: CloudFormation has not answered DescribeStacks for 1 s, still waiting",
            "cloudstack: deleting stack 'proj-main-*' failed: CloudFormation DescribeStacks: "
            f"CloudFormation at {proxy.url} gave no answer in *, and the delete is bounded by "
            "--cloud-stack-timeout (4 s)*",
            "delete it by hand with: aws cloudformation delete-stack --stack-name "
            f"proj-main-* --region us-east-1 --endpoint-url {proxy.url}",
        ]
    )
    left = list(moto.live_stacks())
    assert len(left) == 1  # the endpoint kept it; the run said so and failed
    moto.client("cloudformation").delete_stack(StackName=left[0])


def test_a_slow_call_is_reported_and_waited_for(moto: MotoServer, project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    _warm(moto)
    # A third of the timeout (4 s) before the line; the rest of the deploy has 7 s to spare.
    with StallingProxy(moto.url, delay={"CreateStack": 5}) as proxy:
        result = project.runpytest(f"--cloud-stack={proxy.url}", "--cloud-stack-timeout=12")
        seen = list(proxy.seen)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: CloudFormation has not answered CreateStack for 4 s, still waiting",
            "cloudstack: stack proj-main-* created in *",
        ]
    )
    assert moto.live_stacks() == {}
    # Every call that changes the stack carries a token, so that a retry is the same request.
    for operation in ("CreateStack", "DeleteStack"):
        calls = [s.params for s in seen if s.operation == operation]
        assert calls and all(
            c.get("ClientRequestToken", "").startswith("cloudstack-") for c in calls
        )


def test_a_plan_carries_tokens_and_leaves_nothing(
    moto: MotoServer, project: pytest.Pytester
) -> None:
    with StallingProxy(moto.url) as proxy:
        result = project.runpytest(f"--cloud-stack={proxy.url}", "--cloud-stack-plan")
        seen = list(proxy.seen)
    assert result.ret == 0
    change_sets = [s.params for s in seen if s.operation == "CreateChangeSet"]
    deletes = [s.params for s in seen if s.operation == "DeleteStack"]
    assert change_sets and all(
        c.get("ClientToken", "").startswith("cloudstack-") for c in change_sets
    )
    assert deletes and all(
        d.get("ClientRequestToken", "").startswith("cloudstack-") for d in deletes
    )
    assert moto.live_stacks() == {}


# Template mistakes moto answers with its HTML "500 Internal Server Error" page.
MOTO_500 = {
    "KeySchema attribute missing from AttributeDefinitions": """\
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: other, KeyType: HASH}]
""",
    "circular DependsOn": """\
Resources:
  First:
    Type: AWS::SQS::Queue
    DependsOn: Second
  Second:
    Type: AWS::SQS::Queue
    DependsOn: First
""",
    "unsupported resource type": """\
Resources:
  Thing:
    Type: AWS::Foo::Bar
Outputs:
  ThingArn:
    Value: !GetAtt Thing.Arn
""",
    "Number parameter abc": """\
Parameters:
  Delay:
    Type: Number
    Default: abc
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      DelaySeconds: !Ref Delay
""",
}


@pytest.mark.parametrize("mistake", sorted(MOTO_500))
def test_a_template_mistake_answered_with_a_500_page_is_summarised(
    moto: MotoServer, pytester: pytest.Pytester, mistake: str
) -> None:
    pytester.makefile(".yaml", template=MOTO_500[mistake])
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makepyfile(USES_STACK)
    # The cfn-lint gate stops these templates first (tests/test_lint_gate.py); off, the
    # service's own answer is what the session must put into words.
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "-o", "cloud_stack_lint=off")
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: deploying stack 'proj-main-*' failed: CloudFormation "
            "CreateStack: HTTP 500 web page instead of an AWS answer: '500 Internal Server "
            f"Error'; is {moto.url} an AWS endpoint? moto answers HTTP 500 for template mistakes*",
        ]
    )
    result.stdout.fnmatch_lines(["*= cloud stack =*", "target *"])
    assert moto.live_stacks() == {}


def test_a_bucket_name_over_63_characters_is_the_service_error(
    moto: MotoServer, pytester: pytest.Pytester
) -> None:
    pytester.makefile(
        ".yaml",
        template="Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        f"      BucketName: {'b' * 70}\n",
    )
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makepyfile(USES_STACK)
    # The cfn-lint gate stops these templates first (tests/test_lint_gate.py); off, the
    # service's own answer is what the session must put into words.
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "-o", "cloud_stack_lint=off")
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        ["*failed: CreateStack was refused: InvalidBucketName: The specified bucket is not valid."]
    )
    assert moto.live_stacks() == {}


def test_a_plain_web_server_as_endpoint_is_a_clear_error(project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    with PlainWebServer() as web:
        result = project.runpytest(f"--cloud-stack={web.url}")
        plan = project.runpytest(f"--cloud-stack={web.url}", "--cloud-stack-plan")
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: deploying stack 'proj-main-*' failed: * HTTP 501 web "
            f"page instead of an AWS answer: 'Error response'; is {web.url} an AWS endpoint?*"
        ]
    )
    assert plan.ret == pytest.ExitCode.TESTS_FAILED
    _clean(plan.stdout.str())
    plan.stdout.fnmatch_lines(["cloudstack: * HTTP 501 web page instead of an AWS answer*"])


def test_an_unknown_region_is_named(moto: MotoServer, project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-region=mars-north-9")
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: deploying stack 'proj-main-*' failed: * HTTP 500 web "
            "page instead of an AWS answer: '500 Internal Server Error'; 'mars-north-9' is not an "
            "AWS region (boto3 knows no such region): check --cloud-stack-region, ini "
            "cloud_stack_region or "
            "AWS_REGION"
        ]
    )
    assert moto.live_stacks() == {}


def test_a_malformed_region_is_named_before_any_call(project: pytest.Pytester) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest(
        "--cloud-stack=http://127.0.0.1:9", "--cloud-stack-region=mars north"
    )
    result.assert_outcomes(errors=1)
    _clean(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: cannot make a * client for region 'mars north' at "
            "http://127.0.0.1:9: Provided region_name 'mars north' doesn't match a supported "
            "format. Check --cloud-stack-region / ini cloud_stack_region / AWS_REGION"
        ]
    )
