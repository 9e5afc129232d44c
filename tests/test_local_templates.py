"""Template features moto's CloudFormation drops, working on the local target.

Stacks deployed from templates (SAM ones transformed client-side, as ``--cloud-stack=local``
does) on an emulator in this process; the tests check what the handlers did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_local_lambda import Aws, poll

from pytest_cloudstack.local.emulator import LocalEmulator
from pytest_cloudstack.packaging import emulators, sam

COPY = """
import os, boto3
s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        body = s3.get_object(Bucket=record["s3"]["bucket"]["name"], Key=key)["Body"].read()
        s3.put_object(Bucket=os.environ["OUT"], Key="copied/" + key.split("/", 1)[1], Body=body)
"""

RECORD = """
import os, boto3
table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

def handler(event, context):
    for record in event["Records"]:
        table.put_item(Item={"key": record["s3"]["object"]["key"],
                             "event": record["eventName"]})
"""

CHAIN: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Globals": {"Function": {"Runtime": "python3.12", "Handler": "index.handler", "Timeout": 10}},
    "Resources": {
        "Inbox": {"Type": "AWS::S3::Bucket"},
        "Outbox": {"Type": "AWS::S3::Bucket"},
        "Keys": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
            },
        },
        "Copy": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "InlineCode": COPY,
                "Environment": {"Variables": {"OUT": {"Ref": "Outbox"}}},
                "Events": {
                    "Upload": {
                        "Type": "S3",
                        "Properties": {
                            "Bucket": {"Ref": "Inbox"},
                            "Events": "s3:ObjectCreated:*",
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "in/"}]}},
                        },
                    }
                },
            },
        },
        "Record": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "InlineCode": RECORD,
                "Environment": {"Variables": {"TABLE": {"Ref": "Keys"}}},
                "Events": {
                    "Copied": {
                        "Type": "S3",
                        "Properties": {
                            "Bucket": {"Ref": "Outbox"},
                            "Events": "s3:ObjectCreated:Put",
                        },
                    }
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with LocalEmulator() as emulator:
        yield Aws(emulator.url)


def deploy(aws: Aws, name: str, template: dict[str, Any]) -> dict[str, str]:
    """Deploy; the physical IDs by logical ID."""
    body = sam.transform(template, {}, "us-east-1", None)
    emulators.adapt(body)
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"]
    )
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}


def test_a_templates_s3_notifications_start_the_chain(aws: Aws) -> None:
    ids = deploy(aws, "chain", CHAIN)
    s3 = aws.client("s3")
    s3.put_object(Bucket=ids["Inbox"], Key="in/report.txt", Body=b"numbers")
    s3.put_object(Bucket=ids["Inbox"], Key="elsewhere/skip.txt", Body=b"not copied")
    table = aws.client("dynamodb")

    def recorded() -> list[Any]:
        return list(table.scan(TableName=ids["Keys"])["Items"])

    items = poll(recorded, what="an item written at the end of the chain")
    assert items == [{"key": {"S": "copied/report.txt"}, "event": {"S": "ObjectCreated:Put"}}]
    copied = s3.get_object(Bucket=ids["Outbox"], Key="copied/report.txt")["Body"].read()
    assert copied == b"numbers"
    notification = s3.get_bucket_notification_configuration(Bucket=ids["Inbox"])
    [config] = notification["LambdaFunctionConfigurations"]
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "in/"}]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=ids["Outbox"]).get("Contents", [])]
    assert keys == ["copied/report.txt"], "the prefix filter kept elsewhere/ out"


VERSIONED: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Jobs": {"Type": "AWS::SQS::Queue"},
        "Greeter": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "InlineCode": (
                    "import json, os\n\ndef handler(event, context):\n"
                    "    for record in event.get('Records', []):\n"
                    "        print('QUEUED', record['body'], 'ON VERSION',\n"
                    "              os.environ['AWS_LAMBDA_FUNCTION_VERSION'])\n"
                    "    info = {'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
                    "            'arn': context.invoked_function_arn}\n"
                    "    return {'statusCode': 200, 'body': json.dumps(info), **info}\n"
                ),
                "AutoPublishAlias": "live",
                "Events": {
                    "Hello": {"Type": "Api", "Properties": {"Path": "/hello", "Method": "get"}},
                    "Jobs": {
                        "Type": "SQS",
                        "Properties": {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}},
                    },
                },
            },
        },
    },
    "Outputs": {
        "JobsUrl": {"Value": {"Ref": "Jobs"}},
        "AliasArn": {"Value": {"Ref": "GreeterAliaslive"}},
        "Url": {
            "Value": {
                "Fn::Sub": "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello"
            }
        },
    },
}


def test_auto_published_versions_and_aliases_are_created_and_invocable(aws: Aws) -> None:
    ids = deploy(aws, "versioned", VERSIONED)
    name = ids["Greeter"]
    lambda_ = aws.client("lambda")
    aliases = lambda_.list_aliases(FunctionName=name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"]) for a in aliases] == [("live", "1")]
    by_name = aws.invoke(f"{name}:live")
    assert by_name.function_error is None, by_name.payload
    assert by_name.payload["version"] == "1"
    alias_arn = ids["GreeterAliaslive"]
    by_arn = aws.invoke(alias_arn)
    assert by_arn.payload["version"] == "1"
    assert aws.invoke(f"{name}:1").payload["version"] == "1"
    # SAM points the API at the alias: the request runs version 1 too.
    import requests

    outputs = aws.client("cloudformation").describe_stacks(StackName="versioned")["Stacks"][0]
    url = next(o["OutputValue"] for o in outputs["Outputs"] if o["OutputKey"] == "Url")
    assert requests.get(url, timeout=30).json()["version"] == "1"
    # SAM points the queue's event source mapping at the alias too.
    aws.client("sqs").send_message(QueueUrl=ids["Jobs"], MessageBody="job-1")
    assert aws.logged(name, "QUEUED job-1 ON VERSION 1")


WORKFLOW: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Double": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "InlineCode": (
                    "import os\n\ndef handler(event, context):\n"
                    "    if event.get('fail'):\n"
                    "        raise ValueError('cannot double ' + str(event['value']))\n"
                    "    return {'value': event['value'] * 2, 'pid': os.getpid()}\n"
                ),
            },
        },
        "Flow": {
            "Type": "AWS::Serverless::StateMachine",
            "Properties": {
                "Definition": {
                    "StartAt": "Twice",
                    "States": {
                        "Twice": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "${DoubleArn}", "Payload.$": "$"},
                            "OutputPath": "$.Payload",
                            "Next": "Again",
                        },
                        "Again": {"Type": "Task", "Resource": "${DoubleArn}", "End": True},
                    },
                },
                "DefinitionSubstitutions": {"DoubleArn": {"Fn::GetAtt": ["Double", "Arn"]}},
                "Policies": [{"LambdaInvokePolicy": {"FunctionName": {"Ref": "Double"}}}],
            },
        },
    },
}


def test_a_state_machine_execution_runs_its_lambda_tasks(aws: Aws) -> None:
    ids = deploy(aws, "workflow", WORKFLOW)
    sfn = aws.client("stepfunctions")
    arn = ids["Flow"]
    assert arn.startswith("arn:aws:states:")

    def finished(execution: str) -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution)
        return None if described["status"] == "RUNNING" else described

    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"value": 5}))
    done = poll(lambda: finished(started["executionArn"]), what="a finished execution")
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["value"] == 20  # two real Lambda tasks: 5 * 2 * 2
    assert aws.logged(ids["Double"], "START RequestId", count=2)

    failed = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"value": 1, "fail": 1}))
    done = poll(lambda: finished(failed["executionArn"]), what="a failed execution")
    assert done["status"] == "FAILED"
    assert "cannot double 1" in done.get("cause", "")


def test_a_malformed_openapi_body_is_left_to_the_service_not_a_crash() -> None:
    """Shapes nobody generates but a hand-written template may hold: the adaptation skips what
    it cannot read (the service then says what is wrong) instead of raising a raw traceback."""
    body: dict[str, Any] = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Body": {
                        "info": {"title": "api"},
                        "components": ["not", "a", "mapping"],
                        "paths": {"/items": {"get": {"security": 5}}},
                    }
                },
            },
            "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": ["odd"]},
        }
    }
    emulators.adapt(body)
    methods = [r for r in body["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]
    assert [m["Properties"]["AuthorizationType"] for m in methods] == ["NONE"]
