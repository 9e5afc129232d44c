"""Failing tests get what the stack's Lambda functions logged meanwhile; passing tests don't.
On the local target, where the handlers really run and log to the emulator's CloudWatch Logs."""

from __future__ import annotations

import pytest

TEMPLATE = """\
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
  Queue:
    Type: AWS::SQS::Queue
  Greeter:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              print(f"greeting {event.get('name') or event['Records'][0]['body']}")
              return {"ok": True}
  Events:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {EventSourceArn: !GetAtt Queue.Arn, FunctionName: !Ref Greeter, BatchSize: 1}
"""


@pytest.fixture
def lambda_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = logs\ncloud_stack_target = local\n")
    return pytester


def test_a_failing_test_shows_its_invocations_logs(lambda_project: pytest.Pytester) -> None:
    lambda_project.makepyfile(
        """
        def test_direct(greeter):
            greeter.invoke({"name": "direct-caller"})
            assert False, "the result was wrong"

        def test_async(cloud_stack, queue):
            queue.send("async-sender")
            from pytest_cloudstack import eventually
            eventually(lambda: False, timeout=1.5)

        def test_passing(greeter):
            greeter.invoke({"name": "quiet-caller"})
        """
    )
    result = lambda_project.runpytest("--cloud-stack")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("Captured Lambda logs") == 2
    result.stdout.fnmatch_lines(
        [
            "*_ test_direct _*",
            "*Captured Lambda logs*",
            "[[]logs-main-*-Greeter-*] greeting direct-caller",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_async _*",
            "*Captured Lambda logs*",
            "[[]logs-main-*-Greeter-*] greeting async-sender",
        ]
    )
    assert "greeting quiet-caller" not in output, "passing tests get no section"
