"""The SAM example: what packaging guarantees, checked on the deployed stack with plain boto3.

Run offline with `pytest examples/sam-app --cloud-stack` (pytest.ini selects the local target).
The functions' code is what `sam build && sam package` would have shipped: each function's zip,
fetched back from the artifact bucket, holds its sources (and, for ProcessOrderFunction, the
dependency from its requirements.txt), and Lambda reports that very zip's hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest


@pytest.fixture(scope="module")
def deployed_template(cloud_stack):
    """The template as CloudFormation received it: SAM already expanded, code in S3."""
    body = cloud_stack.client("cloudformation").get_template(StackName=cloud_stack.name)
    body = body["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def _package(cloud_stack, deployed_template, logical_id):
    code = deployed_template["Resources"][logical_id]["Properties"]["Code"]
    data = cloud_stack.client("s3").get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])
    return data["Body"].read()


@pytest.mark.parametrize(
    ("logical_id", "expected"),
    [
        ("ProcessOrderFunction", {"app.py", "requirements.txt", "inflection.py"}),
        ("GetOrderFunction", {"app.py"}),
    ],
)
def test_functions_run_the_packaged_code(cloud_stack, deployed_template, logical_id, expected):
    package = _package(cloud_stack, deployed_template, logical_id)
    names = set(zipfile.ZipFile(io.BytesIO(package)).namelist())
    assert expected <= names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    function = cloud_stack.client("lambda").get_function(
        FunctionName=cloud_stack.resources[logical_id].physical_id
    )
    sha = base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert function["Configuration"]["CodeSha256"] == sha


def test_dependency_is_installed_with_its_metadata(cloud_stack, deployed_template):
    package = _package(cloud_stack, deployed_template, "ProcessOrderFunction")
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert "inflection-0.5.1.dist-info/METADATA" in names


def test_globals_apply_to_both_functions(cloud_stack):
    client = cloud_stack.client("lambda")
    for name in ("ProcessOrderFunctionName", "GetOrderFunctionName"):
        config = client.get_function_configuration(FunctionName=cloud_stack.outputs[name])
        assert config["Runtime"] == "python3.12"
        assert config["Timeout"] == 10
        assert config["MemorySize"] == 256
        variables = config["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == cloud_stack.outputs["OrdersTableName"]
        assert variables["STAGE"] == "test"


def test_queue_feeds_the_process_function(cloud_stack):
    queue_arn = cloud_stack.client("sqs").get_queue_attributes(
        QueueUrl=cloud_stack.outputs["OrdersQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    mappings = cloud_stack.client("lambda").list_event_source_mappings(
        FunctionName=cloud_stack.outputs["ProcessOrderFunctionName"]
    )["EventSourceMappings"]
    assert [(m["EventSourceArn"], m["BatchSize"]) for m in mappings] == [(queue_arn, 1)]


def test_table_is_keyed_by_id(cloud_stack):
    table = cloud_stack.client("dynamodb").describe_table(
        TableName=cloud_stack.outputs["OrdersTableName"]
    )["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
