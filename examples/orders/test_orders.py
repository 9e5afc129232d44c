"""The orders example: the stack's real resources, as fixtures named after the template.

Run offline with `pytest examples/orders --cloud-stack` (pytest.ini selects the local target).
Each resource of template.yaml is a fixture: `OrdersTable` is `orders_table`, a `Table` handle.
"""

from __future__ import annotations

import json
import os
import threading
import uuid

import boto3
import pytest

from pytest_cloudstack import eventually

# A module-level client, as application code often has: with --cloud-stack=local the plugin has
# already pointed AWS_ENDPOINT_URL at the emulator when this module is imported.
s3 = boto3.client("s3")


def later(seconds, action):
    """Do ``action`` in the background after ``seconds``: a stand-in for an asynchronous flow."""
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_stack_exposes_outputs_and_resources(cloud_stack, orders_table):
    assert set(cloud_stack.outputs) >= {"OrdersQueueUrl", "OrdersTableName", "ReceiptsBucketName"}
    assert cloud_stack.resources["OrdersTable"].type == "AWS::DynamoDB::Table"
    assert orders_table.name == cloud_stack.outputs["OrdersTableName"]


def test_orders_table_is_keyed_by_id(orders_table):
    assert orders_table.key_names() == ("id",)


def test_orders_table_round_trip(orders_table):
    order_id = str(uuid.uuid4())
    orders_table.put({"id": order_id, "status": "NEW", "total": 12.5})
    assert orders_table.get({"id": order_id})["status"] == "NEW"
    assert orders_table.get({"id": "no-such-order"}) is None


def test_a_write_that_lands_later_is_waited_for(orders_table):
    order_id = str(uuid.uuid4())
    later(0.2, lambda: orders_table.put({"id": order_id, "status": "PAID"}))

    @eventually(timeout=5)
    def _():
        # A whole-item comparison: a missing item (None) is an assertion failure too, retried,
        # where ``get(...)["status"]`` would raise TypeError, which is not.
        assert orders_table.get({"id": order_id}) == {"id": order_id, "status": "PAID"}


@pytest.fixture
def shipped_later(orders_table):
    order_id = str(uuid.uuid4())
    later(0.2, lambda: orders_table.put({"id": order_id, "status": "SHIPPED"}))
    return order_id


@pytest.mark.eventually(timeout=5)  # retries the test call; the fixture runs once
def test_the_marker_retries_the_whole_test(orders_table, shipped_later):
    assert orders_table.get({"id": shipped_later}) == {"id": shipped_later, "status": "SHIPPED"}


def test_orders_queue_redrives_to_the_dead_letter_queue(orders_queue, orders_dead_letter_queue):
    attributes = orders_queue.client.get_queue_attributes(
        QueueUrl=orders_queue.url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == orders_dead_letter_queue.arn
    assert int(policy["maxReceiveCount"]) == 3


def test_dead_letter_queue_round_trip(orders_dead_letter_queue):
    order_id = str(uuid.uuid4())
    orders_dead_letter_queue.send({"id": order_id}, reason="replayed")
    message = orders_dead_letter_queue.wait_for_message(
        lambda message: message.json()["id"] == order_id, timeout=5
    )
    assert message.message_attributes == {"reason": "replayed"}


def test_function_is_wired_to_table_bucket_and_queue(
    process_order_function, orders_table, receipts_bucket, orders_queue
):
    config = process_order_function.configuration()
    assert config["Handler"] == "index.handler"
    assert config["Environment"]["Variables"] == {
        "STAGE": "test",
        "TABLE_NAME": orders_table.name,
        "RECEIPTS_BUCKET": receipts_bucket.name,
    }
    mappings = process_order_function.client.list_event_source_mappings(
        FunctionName=process_order_function.name
    )["EventSourceMappings"]
    assert [mapping["EventSourceArn"] for mapping in mappings] == [orders_queue.arn]


def test_receipts_bucket_takes_objects_from_module_level_clients(receipts_bucket):
    key = f"receipts/{uuid.uuid4()}.json"
    s3.put_object(Bucket=receipts_bucket.name, Key=key, Body=b"{}")
    assert key in receipts_bucket.keys("receipts/")
    assert receipts_bucket.get_json(key) == {}


def test_stack_name_is_exported_for_existing_suites(cloud_stack):
    # pytest.ini exports the name as AWS_SAM_STACK_NAME, as `sam` based suites expect.
    assert os.environ["AWS_SAM_STACK_NAME"] == cloud_stack.name
