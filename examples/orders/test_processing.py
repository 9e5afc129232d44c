"""The orders app end to end: a message on the queue goes through the real handler.

On `--cloud-stack=local` the handler in template.yaml runs in a local worker process, fed by the
queue's event source mapping, exactly as Lambda would run it: the order lands in the table and
its receipt in the bucket, and a message the handler cannot process ends in the dead-letter
queue after the redrive policy's maxReceiveCount. On `--cloud-stack=aws` the same tests run
against Lambda (the dead-letter test then takes minutes: the queue's VisibilityTimeout is 60 s).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def poll(fetch: Callable[[], T], timeout: float, what: str) -> T:
    """Call ``fetch`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        value = fetch()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f}s", pytrace=False)
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


@pytest.fixture(scope="module")
def outputs(cloud_stack):
    if cloud_stack.target not in ("local", "aws"):
        pytest.skip(
            f"the orders flow needs a target that runs Lambda code (local or aws), not {cloud_stack.target}"
        )
    return cloud_stack.outputs


def test_an_order_on_the_queue_is_recorded_with_its_receipt(cloud_stack, outputs):
    order = {"id": f"order-{uuid.uuid4()}", "total": 42}
    cloud_stack.client("sqs").send_message(
        QueueUrl=outputs["OrdersQueueUrl"], MessageBody=json.dumps(order)
    )

    dynamodb = cloud_stack.client("dynamodb")
    item = poll(
        lambda: dynamodb.get_item(
            TableName=outputs["OrdersTableName"], Key={"id": {"S": order["id"]}}
        ).get("Item"),
        timeout=30,
        what=f"item {order['id']} in the orders table",
    )
    assert item["status"] == {"S": "PROCESSED"}
    assert item["total"] == {"S": "42"}
    # The handler writes the receipt after the item: wait for it too.
    s3 = cloud_stack.client("s3")
    key = f"receipts/{order['id']}.json"
    poll(
        lambda: s3.list_objects_v2(Bucket=outputs["ReceiptsBucketName"], Prefix=key).get(
            "KeyCount"
        ),
        timeout=30,
        what=f"receipt {key}",
    )
    receipt = s3.get_object(Bucket=outputs["ReceiptsBucketName"], Key=key)
    assert json.loads(receipt["Body"].read()) == order


def test_an_order_without_id_ends_in_the_dead_letter_queue(cloud_stack, outputs):
    sqs = cloud_stack.client("sqs")
    body = json.dumps({"total": 7, "note": f"poison-{uuid.uuid4()}"})
    sqs.send_message(QueueUrl=outputs["OrdersQueueUrl"], MessageBody=body)

    def dead_letter():
        # VisibilityTimeout=0: look without hiding other tests' messages from them.
        messages = sqs.receive_message(
            QueueUrl=outputs["DeadLetterQueueUrl"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
        ).get("Messages", [])
        return [m for m in messages if m["Body"] == body]

    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs["OrdersQueueUrl"], AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
    )["Attributes"]
    max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
    # Lambda waits out the VisibilityTimeout between attempts; the local target retries at once.
    timeout = (
        30
        if cloud_stack.target == "local"
        else (max_receives + 1) * int(attributes["VisibilityTimeout"]) + 60
    )
    [message] = poll(dead_letter, timeout=timeout, what="message in the dead-letter queue")
    assert message["Body"] == body

    # The handler's failure is in its log, as on AWS: the runtime's [ERROR] line per attempt.
    logs = cloud_stack.client("logs")
    group = f"/aws/lambda/{outputs['ProcessOrderFunctionName']}"
    errors = poll(
        lambda: logs.filter_log_events(logGroupName=group, filterPattern='"order without id"')[
            "events"
        ],
        timeout=60,
        what=f"error in {group}",
    )
    assert any("[ERROR] ValueError: order without id" in event["message"] for event in errors)


def test_the_function_answers_a_direct_invoke(cloud_stack, outputs):
    order = {"id": f"direct-{uuid.uuid4()}", "total": 5}
    event = {"Records": [{"body": json.dumps(order)}]}
    answer = cloud_stack.client("lambda").invoke(
        FunctionName=outputs["ProcessOrderFunctionName"], Payload=json.dumps(event)
    )
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"processed": 1}
    item = cloud_stack.client("dynamodb").get_item(
        TableName=outputs["OrdersTableName"], Key={"id": {"S": order["id"]}}
    )
    assert item["Item"]["status"] == {"S": "PROCESSED"}
