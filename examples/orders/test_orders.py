"""The orders example: the real resources of the stack, reached with plain boto3.

Run offline with `pytest examples/orders --cloud-stack` (pytest.ini selects the local target).
"""

from __future__ import annotations

import json
import os
import uuid

import boto3
import pytest

# A module-level client, as application code often has: with --cloud-stack=local the plugin has
# already pointed AWS_ENDPOINT_URL at the emulator when this module is imported.
s3 = boto3.client("s3")


@pytest.fixture(scope="module")
def outputs(cloud_stack):
    return cloud_stack.outputs


def test_stack_exposes_outputs_and_resources(cloud_stack):
    assert set(cloud_stack.outputs) >= {"OrdersQueueUrl", "OrdersTableName", "ReceiptsBucketName"}
    assert cloud_stack.resources["OrdersTable"].type == "AWS::DynamoDB::Table"
    assert (
        cloud_stack.resources["OrdersTable"].physical_id == cloud_stack.outputs["OrdersTableName"]
    )


def test_orders_table_is_keyed_by_id(cloud_stack, outputs):
    table = cloud_stack.client("dynamodb").describe_table(TableName=outputs["OrdersTableName"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_orders_queue_redrives_to_the_dead_letter_queue(cloud_stack, outputs):
    sqs = cloud_stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs["OrdersQueueUrl"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == dlq_arn
    assert int(policy["maxReceiveCount"]) == 3


def test_function_is_wired_to_table_bucket_and_queue(cloud_stack, outputs):
    lambda_client = cloud_stack.client("lambda")
    function = outputs["ProcessOrderFunctionName"]
    config = lambda_client.get_function_configuration(FunctionName=function)
    assert config["Handler"] == "index.handler"
    assert config["Environment"]["Variables"]["TABLE_NAME"] == outputs["OrdersTableName"]
    assert config["Environment"]["Variables"]["STAGE"] == "test"
    mappings = lambda_client.list_event_source_mappings(FunctionName=function)
    assert [m["EventSourceArn"].rsplit(":", 1)[-1] for m in mappings["EventSourceMappings"]] == [
        outputs["OrdersQueueUrl"].rsplit("/", 1)[-1]
    ]


def test_receipts_bucket_takes_objects_from_module_level_clients(outputs):
    key = f"receipts/{uuid.uuid4()}.json"
    s3.put_object(Bucket=outputs["ReceiptsBucketName"], Key=key, Body=b"{}")
    listed = s3.list_objects_v2(Bucket=outputs["ReceiptsBucketName"], Prefix="receipts/")
    assert key in [item["Key"] for item in listed["Contents"]]


def test_stack_name_is_exported_for_existing_suites(cloud_stack):
    # pytest.ini exports the name as AWS_SAM_STACK_NAME, as `sam` based suites expect.
    assert os.environ["AWS_SAM_STACK_NAME"] == cloud_stack.name
