"""Several stacks in one session (ini ``cloud_stack_stacks``): an app and a test-harness stack
that imports one of the app's exports. Deployed in order, deleted in reverse, each with the
guarantees of a single stack; checked on the local target and on a moto_server endpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import MotoServer
from templates import ROLE, TABLE, python_function

from pytest_cloudstack import naming

APP = f"""\
Resources:
{TABLE}
  Orders:
    Type: AWS::SQS::Queue
Outputs:
  TableName:
    Value: !Ref Table
    Export:
      Name: !Sub "${{AWS::StackName}}-table"
"""

HARNESS = f"""\
Parameters:
  AppStack:
    Type: String
Resources:
{TABLE}
  Results:
    Type: AWS::SQS::Queue
Outputs:
  AppTable:
    Value:
      Fn::ImportValue:
        Fn::Sub: "${{AppStack}}-table"
"""

INI = """\
[pytest]
cloud_stack_prefix = multi
cloud_stack_stacks =
    app = app.yaml
    harness = harness.yaml
cloud_stack_parameters =
    AppStack = {stack:app}
cloud_stack_env =
    APP_STACK
    HARNESS_STACK = harness
"""

TESTS = """\
import os


def test_every_stack_by_key(cloud_stack, cloud_stacks):
    assert list(cloud_stacks) == ["app", "harness"]
    assert cloud_stacks["app"] is cloud_stack
    harness = cloud_stacks["harness"]
    assert os.environ["APP_STACK"] == cloud_stack.name
    assert os.environ["HARNESS_STACK"] == harness.name
    assert harness.outputs["AppTable"] == cloud_stack.outputs["TableName"], "Fn::ImportValue"


def test_generated_fixtures_from_every_stack(app_table, harness_table, orders, results):
    assert app_table.name != harness_table.name
    app_table.put({"id": "1"})
    assert harness_table.get({"id": "1"}) is None
    results.send("done")
    assert results.receive()[0].body == "done"
"""


def user_name(prefix: str) -> str:
    return naming.stack_name(prefix, "main", naming.current_user())


APP_NAME = user_name("multi")
HARNESS_NAME = user_name("multi-harness")


@pytest.fixture
def two_stacks(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", app=APP, harness=HARNESS)
    pytester.makeini(INI)
    pytester.makepyfile(test_two=TESTS)
    return pytester


def _order(result: pytest.RunResult) -> list[str]:
    # A line may follow the progress dots without a line break: "[100%]cloudstack: ..."
    return [
        line.split("cloudstack: ", 1)[1]
        for line in result.outlines
        if "cloudstack: " in line and ("creating stack" in line or "deleting stack" in line)
    ]


def test_two_stacks_on_local(two_stacks: pytest.Pytester) -> None:
    result = two_stacks.runpytest("--cloud-stack=local")
    result.assert_outcomes(passed=2)
    assert _order(result) == [
        f"creating stack {APP_NAME}",
        f"creating stack {HARNESS_NAME}",
        f"deleting stack {HARNESS_NAME}",
        f"deleting stack {APP_NAME}",
    ]
    result.stdout.fnmatch_lines(
        [
            f"cloudstack: [[]app] target local *, stack {APP_NAME}, template app.yaml, *",
            f"cloudstack: [[]harness] target local *, stack {HARNESS_NAME}, template harness.yaml*",
            "cloudstack: fixtures named with their stack's key, as several stacks have the "
            "logical ID: app_table, harness_table",
        ]
    )


def test_two_stacks_on_an_endpoint(two_stacks: pytest.Pytester, moto: MotoServer) -> None:
    result = two_stacks.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=2)
    stacks = moto.client("cloudformation").list_stacks()["StackSummaries"]
    assert sorted(s["StackName"] for s in stacks) == sorted([APP_NAME, HARNESS_NAME])
    assert moto.live_stacks() == {}


def test_under_xdist(two_stacks: pytest.Pytester, moto: MotoServer) -> None:
    result = two_stacks.runpytest_subprocess(f"--cloud-stack={moto.url}", "-n", "2")
    result.assert_outcomes(passed=2)
    assert moto.live_stacks() == {}
    stacks = moto.client("cloudformation").list_stacks()["StackSummaries"]
    assert sorted(s["StackName"] for s in stacks) == sorted([APP_NAME, HARNESS_NAME]), "once each"


BROKEN_HARNESS = """\
Parameters:
  AppStack:
    Type: String
Resources:
  Broken:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/none
      Code: {S3Bucket: no-such-bucket, S3Key: code.zip}
"""


def test_a_failing_second_stack_errors_the_tests_and_deletes_the_first(
    two_stacks: pytest.Pytester, moto: MotoServer
) -> None:
    two_stacks.makefile(".yaml", harness=BROKEN_HARNESS, extra=APP)
    two_stacks.makeini(INI.replace("harness.yaml\n", "harness.yaml\n    extra = extra.yaml\n"))
    two_stacks.makepyfile(
        test_two="""
        def test_one(cloud_stack):
            pass

        def test_two(cloud_stacks):
            pass
        """
    )
    result = two_stacks.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*cloud stack not available: deploying stack '{HARNESS_NAME}'*"])
    assert moto.live_stacks() == {}, "the app stack is deleted too"
    result.stdout.fnmatch_lines([f"*deleting stack {APP_NAME}*"])
    result.stdout.fnmatch_lines(["[[]extra] *", "not deployed: stack 'harness' failed before it"])
    created = [
        s["StackName"] for s in moto.client("cloudformation").list_stacks()["StackSummaries"]
    ]
    assert sorted(created) == sorted([APP_NAME, HARNESS_NAME]), "the third was never tried"


def test_sigterm_between_the_two_deploys_leaves_nothing(
    two_stacks: pytest.Pytester, moto: MotoServer
) -> None:
    two_stacks.makeconftest(
        f"""
        import os, signal

        def pytest_cloudstack_deployed(stack):
            if stack.name == {APP_NAME!r}:
                os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    process = subprocess.run(
        [sys.executable, "-m", "pytest", f"--cloud-stack={moto.url}", "-p", "no:cacheprovider"],
        cwd=two_stacks.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == pytest.ExitCode.INTERRUPTED, process.stdout
    assert moto.live_stacks() == {}
    created = [
        s["StackName"] for s in moto.client("cloudformation").list_stacks()["StackSummaries"]
    ]
    assert created == [APP_NAME], "the harness was never created"


def test_a_parameter_no_stack_declares_is_a_usage_error(two_stacks: pytest.Pytester) -> None:
    result = two_stacks.runpytest("--cloud-stack=local", "--cloud-stack-param", "Stgae=x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*template parameter Stgae is declared by none of the stacks of cloud_stack_stacks*"]
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["cloud_stack_stacks =", "    app"], "*invalid line 'app' in ini cloud_stack_stacks*"),
        (
            ["cloud_stack_stacks =", "    app = app.yaml", "    APP = harness.yaml"],
            "*names the stack 'APP' twice*",
        ),
        (
            ["cloud_stack_stacks =", "    app = app.yaml", "cloud_stack_template = app.yaml"],
            "*cloud_stack_stacks and cloud_stack_template*both name templates*",
        ),
        (
            ["cloud_stack_stacks =", "    app = app.yaml", "cloud_stack_env =", "    X = nope"],
            "*names the stack 'nope', which is not in cloud_stack_stacks (its keys: app)*",
        ),
        (
            [
                "cloud_stack_stacks =",
                "    app = app.yaml",
                "cloud_stack_parameters =",
                "    AppStack = {stack:other}",
            ],
            "*names the stack 'other', which is not one of this session's (app)*",
        ),
    ],
    ids=["no-path", "twice", "both-forms", "env-key", "reference"],
)
def test_bad_stack_settings_are_usage_errors(
    pytester: pytest.Pytester, lines: list[str], message: str
) -> None:
    pytester.makefile(".yaml", app=APP, harness=HARNESS)
    pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")
    result = pytester.runpytest("--cloud-stack=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_without_the_flag_the_generated_fixtures_skip(two_stacks: pytest.Pytester) -> None:
    result = two_stacks.runpytest()
    result.assert_outcomes(skipped=2)


# -- a CDK assembly with two stacks ---------------------------------------------------------


def _cdk_assembly(pytester: pytest.Pytester) -> None:
    """What `cdk synth` writes for an app whose ApiStack uses DataStack's table (written by
    hand: no node here). The manifest lists the consumer first; its dependency orders it."""
    out = pytester.path / "cdk.out"
    out.mkdir()
    export = "DataStack:ExportsOutputRefTableCD117FA1"
    data = {
        "Resources": {
            "TableCD117FA1": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                },
            }
        },
        "Outputs": {
            "ExportsOutputRefTableCD117FA1": {
                "Value": {"Ref": "TableCD117FA1"},
                "Export": {"Name": export},
            }
        },
    }
    api = {
        "Resources": {"Jobs": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"TableName": {"Value": {"Fn::ImportValue": export}}},
    }
    manifest = {
        "version": "48.0.0",
        "artifacts": {
            "ApiStack": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "ApiStack.template.json"},
                "dependencies": ["DataStack"],
            },
            "DataStack": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "DataStack.template.json"},
            },
        },
    }
    for name, content in [
        ("DataStack.template.json", data),
        ("ApiStack.template.json", api),
        ("manifest.json", manifest),
    ]:
        (out / name).write_text(json.dumps(content))
    pytester.makeini(
        "[pytest]\ncloud_stack_prefix = cdkapp\ncloud_stack_stacks =\n    app = cdk.out\n"
    )
    pytester.makepyfile(
        """
        def test_assembly(cloud_stack, cloud_stacks, jobs):
            assert list(cloud_stacks) == ["DataStack", "ApiStack"]
            assert cloud_stacks["DataStack"] is cloud_stack
            api = cloud_stacks["ApiStack"]
            assert api.outputs["TableName"] == cloud_stack.resources["TableCD117FA1"].physical_id
            assert jobs.name
        """
    )


@pytest.mark.parametrize("target", ["local", "endpoint"])
def test_a_cdk_assembly_contributes_all_its_stacks_in_dependency_order(
    pytester: pytest.Pytester, target: str, request: pytest.FixtureRequest
) -> None:
    _cdk_assembly(pytester)
    url = "local" if target == "local" else request.getfixturevalue("moto").url
    result = pytester.runpytest(f"--cloud-stack={url}")
    result.assert_outcomes(passed=1)
    data, api = user_name("cdkapp"), user_name("cdkapp-ApiStack")
    assert _order(result) == [
        f"creating stack {data}",
        f"creating stack {api}",
        f"deleting stack {api}",
        f"deleting stack {data}",
    ]


CHECKER = python_function(
    "Checker",
    """
    def handler(event, context):
        print(f"checking {event['order']}")
        return "late"
    """,
)

HARNESS_WITH_FUNCTION = f"""\
Parameters:
  AppStack:
    Type: String
Resources:
{ROLE}
{CHECKER}
"""


def test_a_failing_test_gets_the_lambda_logs_of_every_stack(two_stacks: pytest.Pytester) -> None:
    two_stacks.makefile(".yaml", harness=HARNESS_WITH_FUNCTION)
    two_stacks.makepyfile(
        test_two="""
        def test_checked(checker):
            assert checker.invoke({"order": "o-7"}) == "on time"
        """
    )
    result = two_stacks.runpytest("--cloud-stack=local")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Captured Lambda logs*", "[[]multi-harness-main-*Checker*] checking o-7"]
    )


def test_plan_shows_every_stack_and_changes_nothing(
    two_stacks: pytest.Pytester, moto: MotoServer
) -> None:
    result = two_stacks.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-plan")
    assert result.ret == pytest.ExitCode.OK, result.outlines
    result.stdout.fnmatch_lines(
        [f"cloudstack: plan for stack {APP_NAME} (create):*", "*nothing was changed"]
    )
    result.stdout.fnmatch_lines([f"cloudstack: plan for stack {HARNESS_NAME} (create):*"])
    assert moto.live_stacks() == {}
