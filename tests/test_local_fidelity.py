"""The fidelity report: a deploy on local names what the emulator did not create or run.

Real ``--cloud-stack=local`` sessions (pytester subprocesses): the warning line is in the
deploy output and in the terminal summary, names each resource with what is missing, and is
absent when local does everything the template asks.
"""

from __future__ import annotations

import pytest
from templates import python_function, service_role

ECHO = python_function("Function", "def handler(event, context):\n    return event\n")

# What both templates have: a function and a queue.
FUNCTION = f"""\
{service_role()}
{ECHO}
  Queue:
    Type: AWS::SQS::Queue
"""

GAPS = f"""\
Resources:
{FUNCTION}
  Topic:
    Type: AWS::SNS::Topic
  Subscription:
    Type: AWS::SNS::Subscription
    Properties: {{TopicArn: !Ref Topic, Protocol: sqs, Endpoint: !GetAtt Queue.Arn}}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Function
      EventSourceArn: !GetAtt Queue.Arn
      FilterCriteria: {{Filters: [{{Pattern: '{{"body": {{"kind": ["order"]}}}}'}}]}}
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {{Name: api}}
  Method:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: GET
      AuthorizationType: AWS_IAM
      Integration: {{Type: MOCK}}
"""

CLEAN = f"""\
Resources:
{FUNCTION}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {{FunctionName: !Ref Function, EventSourceArn: !GetAtt Queue.Arn}}
"""

TEST = "def test_deployed(cloud_stack):\n    assert cloud_stack.name\n"


def run(pytester: pytest.Pytester, template: str) -> pytest.RunResult:
    pytester.makefile(".yaml", template=template)
    pytester.makeini("[pytest]\ncloud_stack_prefix = fidelity\ncloud_stack_target = local\n")
    pytester.makepyfile(TEST)
    result = pytester.runpytest_subprocess("--cloud-stack", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    return result


def test_what_local_skips_is_named_in_one_line_at_deploy_and_in_the_summary(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, GAPS)
    lines = [line for line in result.outlines if "local fidelity:" in line]
    assert len(lines) == 2, result.outlines  # the deploy output and the terminal summary
    for line in lines:
        assert "Subscription (AWS::SNS::Subscription: not created by the emulator)" in line
        assert "Mapping (FilterCriteria: every record is delivered)" in line
        assert "Method (AWS_IAM authorization is not checked)" in line
        assert "Function (" not in line and "Queue (" not in line  # these local runs fully
    summary = result.outlines.index(next(out for out in result.outlines if "cloud stack" in out))
    assert any("local fidelity:" in line for line in result.outlines[summary:])


def test_a_template_local_runs_fully_gets_no_fidelity_line(pytester: pytest.Pytester) -> None:
    result = run(pytester, CLEAN)
    assert not [line for line in result.outlines if "local fidelity" in line]
