"""Event flows that run the real handler on the local target.

Asynchronous invokes, SQS and DynamoDB stream event source mappings, S3 notifications, SNS and
EventBridge, on an emulator in this process. The handler prints every event it gets; the tests
read the function's CloudWatch Logs and the queues to see what happened.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from test_local_lambda import Aws, poll

from pytest_cloudstack.local.emulator import LocalEmulator

RECORDER = """
import json, os, time

def handler(event, context):
    print("EVENT " + json.dumps(event))
    failures = []
    for record in event.get("Records", []):
        body = record.get("body", "")
        if body.startswith("slow"):
            print(f"SLOW {os.getpid()}")
            time.sleep(1.5)
        if body.startswith("poison"):
            raise ValueError("poison: " + body)
        if body.startswith("bad"):
            failures.append({"itemIdentifier": record["messageId"]})
    if event.get("fail"):
        raise RuntimeError("failed on purpose")
    return {"batchItemFailures": failures, "pid": os.getpid()}
"""


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with LocalEmulator() as emulator:
        yield Aws(emulator.url)


@pytest.fixture
def recorder(aws: Aws) -> str:
    return aws.function(RECORDER, timeout=5)


def events(aws: Aws, name: str, count: int = 1) -> list[Any]:
    """Wait for ``count`` events seen by the handler, and return all it saw so far."""
    lines = aws.logged(name, "EVENT ", count)
    return [json.loads(line.split("EVENT ", 1)[1]) for line in lines]


def arn(aws: Aws, name: str) -> str:
    return str(aws.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def queue_is_empty(aws: Aws, url: str) -> bool:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return set(attributes.values()) == {"0"}


def dead_letters(aws: Aws, url: str) -> list[str]:
    messages = aws.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in messages.get("Messages", [])]


# -- asynchronous invokes ----------------------------------------------------------------------


def test_an_event_invoke_is_accepted_at_once_and_runs_the_handler(aws: Aws, recorder: str) -> None:
    answer = aws.client("lambda").invoke(
        FunctionName=recorder, InvocationType="Event", Payload=json.dumps({"order": 7})
    )
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    assert events(aws, recorder) == [{"order": 7}]


def test_a_failed_event_invoke_is_retried_twice_with_the_same_request_id(
    aws: Aws, recorder: str
) -> None:
    aws.client("lambda").invoke(
        FunctionName=recorder, InvocationType="Event", Payload=json.dumps({"fail": True})
    )
    aws.logged(recorder, "[ERROR] RuntimeError: failed on purpose", count=3)
    starts = [m for m in aws.log_messages(recorder) if m.startswith("START RequestId:")]
    assert len(starts) == 3
    assert len({start.split()[2] for start in starts}) == 1


# -- SQS event source mapping ------------------------------------------------------------------


def test_a_queue_message_runs_the_handler_and_is_deleted(aws: Aws, recorder: str) -> None:
    url, queue_arn = aws.queue("orders")
    aws.client("lambda").create_event_source_mapping(
        FunctionName=recorder, EventSourceArn=queue_arn, BatchSize=5
    )
    started = time.monotonic()
    aws.client("sqs").send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    assert time.monotonic() - started < 1, "SendMessage does not wait for the handler"

    [event] = events(aws, recorder)
    [record] = event["Records"]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"]["kind"]["stringValue"] == "greeting"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]
    poll(lambda: queue_is_empty(aws, url), what="the processed message deleted")


def test_a_failing_message_follows_the_redrive_policy(aws: Aws, recorder: str) -> None:
    dlq_url, dlq_arn = aws.queue("dlq")
    url, queue_arn = aws.queue(
        "work",
        VisibilityTimeout="30",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    aws.client("lambda").create_event_source_mapping(
        FunctionName=recorder, EventSourceArn=queue_arn, BatchSize=1
    )
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="poison-1")

    assert poll(lambda: dead_letters(aws, dlq_url), what="message in the DLQ") == ["poison-1"]
    # Received twice (maxReceiveCount), failed twice, then moved: never deleted, never lost.
    seen = events(aws, recorder, count=2)
    counts = [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in seen]
    assert counts == ["1", "2"]
    assert len(aws.logged(recorder, "[ERROR] ValueError: poison: poison-1", count=2)) == 2
    assert queue_is_empty(aws, url)


def test_a_partial_batch_response_keeps_only_the_failed_messages(aws: Aws, recorder: str) -> None:
    dlq_url, dlq_arn = aws.queue("dlq")
    url, queue_arn = aws.queue(
        "batch", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    )
    aws.client("lambda").create_event_source_mapping(
        FunctionName=recorder,
        EventSourceArn=queue_arn,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    aws.client("sqs").send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "1", "MessageBody": "good-1"}, {"Id": "2", "MessageBody": "bad-1"}],
    )
    assert poll(lambda: dead_letters(aws, dlq_url), what="message in the DLQ") == ["bad-1"]
    poll(lambda: queue_is_empty(aws, url), what="the good message deleted")
    assert dead_letters(aws, dlq_url) == ["bad-1"]


def test_a_direct_invoke_does_not_wait_for_a_busy_mapping(aws: Aws, recorder: str) -> None:
    url, queue_arn = aws.queue("slow")
    aws.client("lambda").create_event_source_mapping(
        FunctionName=recorder, EventSourceArn=queue_arn, BatchSize=1
    )
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="slow-1")
    [busy] = aws.logged(recorder, "SLOW ")
    started = time.monotonic()
    answer = aws.invoke(recorder, {"direct": True})
    assert time.monotonic() - started < 1.2, "it got its own environment"
    assert answer.payload["pid"] != int(busy.split()[1])
    poll(lambda: queue_is_empty(aws, url), what="the slow message processed")
    assert {"direct": True} in events(aws, recorder, count=2)


# -- DynamoDB streams --------------------------------------------------------------------------


def test_a_dynamodb_stream_feeds_the_handler_in_order(aws: Aws, recorder: str) -> None:
    dynamodb = aws.client("dynamodb")
    table = f"stream-{uuid.uuid4().hex[:8]}"
    stream_arn = dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    aws.client("lambda").create_event_source_mapping(
        FunctionName=recorder, EventSourceArn=stream_arn, StartingPosition="LATEST"
    )
    dynamodb.put_item(TableName=table, Item={"id": {"S": "1"}, "state": {"S": "new"}})
    dynamodb.put_item(TableName=table, Item={"id": {"S": "1"}, "state": {"S": "paid"}})

    def records() -> list[Any]:
        seen = events(aws, recorder)
        found = [record for event in seen for record in event["Records"]]
        return found if len(found) >= 2 else []

    # one batch or two, depending on when the poller looked: in order either way
    records = poll(records, what="two stream records")
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[0]["eventSource"] == "aws:dynamodb"
    assert records[0]["eventSourceARN"] == stream_arn
    assert records[0]["dynamodb"]["Keys"] == {"id": {"S": "1"}}
    assert records[1]["dynamodb"]["OldImage"]["state"] == {"S": "new"}
    assert records[1]["dynamodb"]["NewImage"]["state"] == {"S": "paid"}
    assert isinstance(records[0]["dynamodb"]["ApproximateCreationDateTime"], int)


# -- S3, SNS, EventBridge ----------------------------------------------------------------------


def test_an_s3_notification_runs_the_handler(aws: Aws, recorder: str) -> None:
    s3 = aws.client("s3")
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn(aws, recorder), "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="in/report.csv", Body=b"a,b")
    [event] = events(aws, recorder)
    [record] = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["object"]["key"] == "in/report.csv"


def test_an_sns_message_reaches_the_handler_with_its_topic_and_attributes(
    aws: Aws, recorder: str
) -> None:
    sns = aws.client("sns")
    topic = sns.create_topic(Name=f"orders-{uuid.uuid4().hex[:8]}")["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn(aws, recorder))[
        "SubscriptionArn"
    ]
    message_id = sns.publish(
        TopicArn=topic,
        Message="order shipped",
        Subject="shipping",
        MessageAttributes={"priority": {"DataType": "String", "StringValue": "high"}},
    )["MessageId"]
    [event] = events(aws, recorder)
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription
    notification = record["Sns"]
    assert notification["TopicArn"] == topic
    assert notification["MessageId"] == message_id
    assert notification["Message"] == "order shipped"
    assert notification["Subject"] == "shipping"
    assert notification["MessageAttributes"] == {"priority": {"Type": "String", "Value": "high"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", notification["Timestamp"])


def test_an_eventbridge_rule_runs_the_handler_for_matching_events(aws: Aws, recorder: str) -> None:
    events_client = aws.client("events")
    rule = f"orders-{uuid.uuid4().hex[:8]}"
    events_client.put_rule(Name=rule, EventPattern=json.dumps({"source": ["shop.orders"]}))
    events_client.put_targets(Rule=rule, Targets=[{"Id": "handler", "Arn": arn(aws, recorder)}])
    events_client.put_events(
        Entries=[
            {"Source": "shop.billing", "DetailType": "Ignored", "Detail": "{}"},
            {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": "o-1"}'},
        ]
    )
    [event] = events(aws, recorder)
    assert event["source"] == "shop.orders"
    assert event["detail-type"] == "OrderPlaced"
    assert event["detail"] == {"id": "o-1"}
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert "ingestion-time" not in event
