"""Every handle method against real resources of a deployed stack.

The inner suites run in pytester projects, deployed on an external ``moto_server`` (endpoint
target) and on the embedded emulator (local target). They check each handle's effect with plain
boto3 calls on the same server, never through the handle under test. Lambda behaviour moto can't
produce (a real ``Unhandled`` error document, the IAM-propagation error of a fresh stack, a
``Pending`` function) is injected at the botocore layer with the service's real responses.
"""

from __future__ import annotations

import pytest
from conftest import MotoServer
from templates import python_function, service_role

pytestmark = pytest.mark.filterwarnings("error")

TEMPLATE = (
    """\
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Events:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
  Jobs:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      QueueName: !Sub "${AWS::StackName}-ordered.fifo"
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
  Notifications:
    Type: AWS::SNS::Topic
"""
    + service_role("WorkerRole")
    + "\n"
    + python_function(
        "Worker", 'def handler(event, context):\n    return {"echo": event}\n', role="WorkerRole"
    )
    + "\n"
    + service_role("FlowRole", "states.amazonaws.com")
    + """
  Flow:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt FlowRole.Arn
      DefinitionString: >-
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": true}}}
Outputs:
  JobsQueueArn:
    Value: !GetAtt Jobs.Arn
  OrdersTableArn:
    Value: !GetAtt Orders.Arn
  OrdersTableName:
    Value: !Ref Orders
  UploadsBucketName:
    Value: !Ref Uploads
"""
)

CONFTEST = """\
import base64
import io
import json
import urllib.request
import uuid

import pytest
from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

# Scripted Lambda answers: (operation, response) pairs, consumed in order by the operation they
# name; every Lambda request's operation is recorded in CALLS.
SCRIPT = []
CALLS = []


def lambda_response(status, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(data)),
        "x-amzn-RequestId": str(uuid.uuid4()),
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    raw = HTTPResponse(body=io.BytesIO(data), preload_content=False)
    return AWSResponse("https://lambda.us-east-1.amazonaws.com/", status, headers, raw)


def _scripted(request, event_name, **kwargs):
    operation = event_name.rsplit(".", 1)[-1]
    CALLS.append(operation)
    if SCRIPT and SCRIPT[0][0] == operation:
        return SCRIPT.pop(0)[1]
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_cloudstack_boto_session(session):
    session.events.register("before-send.lambda", _scripted)


def _moto_config(cloud_stack, config):
    request = urllib.request.Request(
        f"{cloud_stack.endpoint_url}/moto-api/config",
        data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def executing(cloud_stack):
    # moto runs Step Functions definitions only when asked to, and then in a backend of its own
    # that does not see the state machines CloudFormation created: tests create theirs.
    _moto_config(cloud_stack, {"stepfunctions": {"execute_state_machine": True}})
    yield cloud_stack.client("stepfunctions")
    _moto_config(cloud_stack, {"stepfunctions": {"execute_state_machine": False}})


@pytest.fixture
def jobs(cloud_stack):
    # The Jobs queue, empty before and after (SQS allows one purge a minute: drain instead).
    queue = cloud_stack.queue("Jobs")
    queue.drain(wait_seconds=0)
    yield queue
    queue.drain(wait_seconds=0)


@pytest.fixture
def script():
    SCRIPT.clear()
    CALLS.clear()
    yield SCRIPT
    assert not SCRIPT, f"scripted answers never requested: {SCRIPT}"
"""

DATA_TESTS = """\
import json
import threading
import time
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pytest_cloudstack import Message, StateMachine, StateMachineError, Table


def later(seconds, action):
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


# -- Table ---------------------------------------------------------------------------------------


def test_table_identity_and_boto3_objects(cloud_stack):
    orders = cloud_stack.table("Orders")
    described = cloud_stack.client("dynamodb").describe_table(TableName=orders.name)["Table"]
    assert orders.name == cloud_stack.resources["Orders"].physical_id
    assert orders.arn == described["TableArn"]
    assert orders.table.name == orders.name and orders.client.meta.service_model.service_name == "dynamodb"
    assert orders.key_names() == ("id",)
    assert cloud_stack.table("Events").key_names() == ("pk", "sk")
    assert cloud_stack.table("Orders") is orders
    assert cloud_stack.table("OrdersTableArn").name == orders.name
    assert cloud_stack.table("OrdersTableName").name == orders.name
    assert repr(orders) == f"<Table Orders: {orders.name}>"


def test_table_put_and_get(cloud_stack):
    orders = cloud_stack.table("Orders")
    sent = orders.put({"id": "o-1", "total": 12.5, "lines": [{"qty": 2, "price": 1.25}]})
    raw = cloud_stack.client("dynamodb").get_item(
        TableName=orders.name, Key={"id": {"S": "o-1"}}, ConsistentRead=True
    )["Item"]
    assert raw["total"] == {"N": "12.5"}
    assert raw["lines"]["L"][0]["M"]["price"] == {"N": "1.25"}
    assert sent["total"] == Decimal("12.5")
    assert orders.get({"id": "o-1"}) == {
        "id": "o-1", "total": Decimal("12.5"), "lines": [{"qty": 2, "price": Decimal("1.25")}],
    }
    assert orders.get({"id": "missing"}) is None


def test_table_query_and_scan_read_every_page(cloud_stack):
    events = cloud_stack.table("Events")
    for sk in range(7):
        events.put({"pk": "a", "sk": sk})
    for sk in range(3):
        events.put({"pk": "b", "sk": sk})
    assert [item["sk"] for item in events.query({"pk": "a"})] == list(range(7))
    assert len(events.query({"pk": "a"}, Limit=2)) == 7  # four pages
    assert [item["sk"] for item in events.query(Key("pk").eq("a") & Key("sk").gte(4))] == [4, 5, 6]
    assert [i["sk"] for i in events.query({"pk": "a", "sk": 3})] == [3]
    assert len(events.scan_all()) == 10
    assert len(events.scan_all(Limit=3)) == 10  # four pages
    assert events.clear() == 10


def test_table_wait_for_item(cloud_stack):
    orders = cloud_stack.table("Orders")
    raw = cloud_stack.client("dynamodb")
    later(0.3, lambda: raw.put_item(TableName=orders.name, Item={"id": {"S": "w-1"}, "status": {"S": "NEW"}}))
    start = time.monotonic()
    assert orders.wait_for_item({"id": "w-1"}, timeout=5)["status"] == "NEW"
    assert time.monotonic() - start < 1.0

    later(0.3, lambda: raw.put_item(TableName=orders.name, Item={"id": {"S": "w-1"}, "status": {"S": "PAID"}}))
    item = orders.wait_for_item({"id": "w-1"}, lambda item: item["status"] == "PAID", timeout=5)
    assert item["status"] == "PAID"

    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"no item with key \\{'id': 'never'\\} in table "):
        orders.wait_for_item({"id": "never"}, timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 0.8
    with pytest.raises(AssertionError, match=r"item \\{'id': 'w-1'\\} in table .* does not satisfy <lambda>: .*PAID"):
        orders.wait_for_item({"id": "w-1"}, lambda item: item["status"] == "SHIPPED", timeout=0.3)


def test_table_clear_uses_the_real_key_schema_in_batches(cloud_stack):
    events = cloud_stack.table("Events")
    for sk in range(30):  # more than one BatchWriteItem (25)
        events.put({"pk": f"p{sk % 4}", "sk": sk, "payload": "x" * 10})
    assert events.clear() == 30
    assert cloud_stack.client("dynamodb").scan(TableName=events.name, ConsistentRead=True)["Count"] == 0
    assert events.clear() == 0


def test_table_wrong_key_shapes_get_the_service_error(cloud_stack):
    orders = cloud_stack.table("Orders")
    with pytest.raises(ClientError, match="ValidationException.*does not match the schema"):
        orders.get({"order": "o-1"})
    with pytest.raises(ClientError, match="ValidationException.*Missing the key id"):
        orders.put({"order": "o-1"})


def test_a_handle_can_be_built_from_the_stack(cloud_stack):
    orders = Table(cloud_stack, cloud_stack.outputs["OrdersTableName"])
    assert orders.get({"id": "nothing"}) is None


# -- Queue ---------------------------------------------------------------------------------------


def raw_receive(cloud_stack, url, wait=1):
    response = cloud_stack.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, MessageAttributeNames=["All"]
    )
    return response.get("Messages", [])


def test_queue_identity(cloud_stack, jobs):
    assert jobs.url == cloud_stack.resources["Jobs"].physical_id
    assert jobs.arn == cloud_stack.outputs["JobsQueueArn"]
    assert jobs.name == jobs.url.rsplit("/", 1)[-1] and not jobs.fifo
    from_arn = cloud_stack.queue("JobsQueueArn")  # resolved with GetQueueUrl
    assert (from_arn.name, from_arn.arn) == (jobs.name, jobs.arn)
    ordered = cloud_stack.queue("Ordered")
    assert ordered.fifo and ordered.name.endswith("-ordered.fifo")


def test_queue_send_json_text_and_attributes(cloud_stack, jobs):
    jobs.send({"order": 1, "total": Decimal("2.5")}, kind="order", priority=3, blob=b"\\x00\\x01")
    jobs.send("plain text")
    received = raw_receive(cloud_stack, jobs.url)
    for message in received:
        cloud_stack.client("sqs").delete_message(QueueUrl=jobs.url, ReceiptHandle=message["ReceiptHandle"])
    messages = {m["Body"]: m for m in received}
    assert set(messages) == {'{"order": 1, "total": 2.5}', "plain text"}
    attributes = messages['{"order": 1, "total": 2.5}']["MessageAttributes"]
    assert attributes["kind"] == {"StringValue": "order", "DataType": "String"}
    assert attributes["priority"] == {"StringValue": "3", "DataType": "Number"}
    assert attributes["blob"]["DataType"] == "Binary"


def test_queue_receive_long_polls(jobs):
    start = time.monotonic()
    assert jobs.receive(wait_seconds=1) == []
    assert time.monotonic() - start >= 0.9  # it waited on the server: a long poll
    later(0.3, lambda: jobs.send({"n": 1}, kind="late"))
    start = time.monotonic()
    messages = jobs.receive(max_messages=1, wait_seconds=5)
    assert time.monotonic() - start < 1.5  # answered when the message arrived
    assert [m.json() for m in messages] == [{"n": 1}]
    assert messages[0].message_attributes == {"kind": "late"}
    assert messages[0].attributes["ApproximateReceiveCount"] == "1"
    jobs.delete(messages)
    assert jobs.approximate_counts() == (0, 0, 0)


def test_queue_wait_for_message_deletes_only_what_it_consumed(cloud_stack, jobs):
    for n in range(3):
        jobs.send({"n": n})
    found = jobs.wait_for_message(lambda m: m.json()["n"] == 1, timeout=5)
    assert isinstance(found, Message) and found.json() == {"n": 1}
    # the others were held while waiting, and are back
    assert jobs.approximate_counts() == (2, 0, 0)
    kept = jobs.wait_for_message(lambda m: m.json()["n"] == 2, timeout=5, delete=False)
    assert kept.json() == {"n": 2}
    left = raw_receive(cloud_stack, jobs.url)
    assert sorted(json.loads(m["Body"])["n"] for m in left) == [0, 2]
    jobs.delete(Message.from_sqs(m) for m in left)


def test_queue_wait_for_message_times_out_with_what_it_saw(jobs):
    jobs.send({"n": 7})
    start = time.monotonic()
    with pytest.raises(AssertionError) as raised:
        jobs.wait_for_message(lambda m: m.json()["n"] == 8, timeout=1)
    assert 1.0 <= time.monotonic() - start < 2.5
    assert str(raised.value).startswith(f"no message satisfying <lambda> on queue {jobs.name} within 1 s; ")
    assert "1 other message(s) seen: ['{\\"n\\": 7}']" in str(raised.value)
    assert jobs.approximate_count == 1  # released, not lost


def test_queue_drain_and_purge(cloud_stack, jobs):
    for n in range(12):
        jobs.send({"n": n})
    drained = jobs.drain()
    assert sorted(m.json()["n"] for m in drained) == list(range(12))
    assert jobs.approximate_counts() == (0, 0, 0)
    for n in range(3):
        jobs.send({"n": n})
    assert jobs.approximate_count == 3
    jobs.purge()
    assert raw_receive(cloud_stack, jobs.url, wait=0) == []


def test_queue_fifo_group_and_deduplication_ids(cloud_stack):
    ordered = cloud_stack.queue("Ordered")
    ordered.send({"step": 1}, group_id="order-1", deduplication_id="d-1")
    ordered.send({"step": 1}, group_id="order-1", deduplication_id="d-1")  # deduplicated
    ordered.send({"step": 2}, group_id="order-1", deduplication_id="d-2")
    messages = ordered.receive(wait_seconds=1)
    assert [m.json()["step"] for m in messages] == [1, 2]
    assert messages[0].attributes["MessageGroupId"] == "order-1"
    assert messages[0].attributes["MessageDeduplicationId"] == "d-1"
    with pytest.raises(ClientError, match="MessageGroupId"):
        ordered.send({"step": 3})
    with pytest.raises(ClientError, match="MaxNumberOfMessages"):
        ordered.receive(max_messages=11)


# -- Bucket --------------------------------------------------------------------------------------


def test_bucket_put_get_keys(cloud_stack):
    uploads = cloud_stack.bucket("Uploads")
    assert uploads.name == cloud_stack.resources["Uploads"].physical_id
    assert cloud_stack.bucket("UploadsBucketName").name == uploads.name
    uploads.put("receipts/b.json", {"order": "b"})
    uploads.put("receipts/a.txt", "text")
    uploads.put("other/c.bin", b"\\x00\\xff")
    raw = cloud_stack.client("s3").get_object(Bucket=uploads.name, Key="receipts/b.json")
    assert raw["ContentType"] == "application/json" and json.loads(raw["Body"].read()) == {"order": "b"}
    assert uploads.get("receipts/a.txt") == b"text"
    assert uploads.get("other/c.bin") == b"\\x00\\xff"
    assert uploads.get_json("receipts/b.json") == {"order": "b"}
    assert uploads.get("receipts/missing") is None and uploads.get_json("receipts/missing") is None
    assert uploads.keys("receipts/") == ["receipts/a.txt", "receipts/b.json"]
    assert uploads.keys() == ["other/c.bin", "receipts/a.txt", "receipts/b.json"]
    assert uploads.bucket.name == uploads.name
    uploads.clear()


def test_bucket_clear_deletes_every_version_and_delete_marker(cloud_stack):
    uploads = cloud_stack.bucket("Uploads")
    s3 = cloud_stack.client("s3")
    # moto's CloudFormation ignores VersioningConfiguration; AWS applies it
    s3.put_bucket_versioning(Bucket=uploads.name, VersioningConfiguration={"Status": "Enabled"})
    uploads.put("k", "v1")
    uploads.put("k", "v2")
    s3.delete_object(Bucket=uploads.name, Key="k")  # a delete marker on top
    uploads.put("other", "x")
    assert uploads.clear() == 4
    listed = s3.list_object_versions(Bucket=uploads.name)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


# -- Topic ---------------------------------------------------------------------------------------


def test_topic_publish_reaches_a_subscriber(cloud_stack, jobs):
    topic = cloud_stack.topic("Notifications")
    assert topic.arn == cloud_stack.resources["Notifications"].physical_id
    assert topic.name == topic.arn.rsplit(":", 1)[-1]
    cloud_stack.client("sns").subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=jobs.arn)
    message_id = topic.publish({"order": 1}, subject="new order", kind="order")
    envelope = jobs.wait_for_message(timeout=5).json()
    assert envelope["MessageId"] == message_id
    assert json.loads(envelope["Message"]) == {"order": 1}
    assert envelope["Subject"] == "new order"
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "order"}


# -- StateMachine --------------------------------------------------------------------------------


PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass",
        "Parameters": {"total.$": "$.total", "status": "PAID"}, "End": True}}}
FAIL = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail",
        "Error": "PaymentDeclined", "Cause": "card expired"}}}
ROLE = "arn:aws:iam::123456789012:role/states"


def test_state_machine_of_the_stack(cloud_stack):
    flow = cloud_stack.state_machine("Flow")
    assert flow.arn == cloud_stack.resources["Flow"].physical_id
    assert flow.name == flow.arn.rsplit(":", 1)[-1]
    execution = flow.start({"total": 1}, name="slow-1")
    assert execution.endswith(":slow-1")
    described = cloud_stack.client("stepfunctions").describe_execution(executionArn=execution)
    assert json.loads(described["input"]) == {"total": 1}
    start = time.monotonic()
    with pytest.raises(AssertionError, match=f"execution {execution} is still RUNNING"):
        flow.wait(execution, timeout=0.3)
    assert time.monotonic() - start < 0.8


def test_state_machine_start_wait_and_run(cloud_stack, executing):
    arn = executing.create_state_machine(name="pay", definition=json.dumps(PASS), roleArn=ROLE)["stateMachineArn"]
    flow = StateMachine(cloud_stack, arn)
    execution = flow.start({"total": 5})
    assert flow.wait(execution, timeout=10) == {"total": 5, "status": "PAID"}
    assert executing.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    assert flow.run({"total": 7}, timeout=10) == {"total": 7, "status": "PAID"}


def test_state_machine_failure_raises_with_the_cause(cloud_stack, executing):
    arn = executing.create_state_machine(name="decline", definition=json.dumps(FAIL), roleArn=ROLE)["stateMachineArn"]
    broken = StateMachine(cloud_stack, arn)
    execution = broken.start()
    with pytest.raises(StateMachineError) as raised:
        broken.wait(execution, timeout=10)
    assert (raised.value.status, raised.value.error, raised.value.cause) == ("FAILED", "PaymentDeclined", "card expired")
    assert str(raised.value) == f"execution {execution} FAILED: PaymentDeclined: card expired"
"""

LAMBDA_TESTS = """\
import base64
import datetime
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import CALLS, lambda_response
from pytest_cloudstack import Function, LambdaError
from pytest_cloudstack.errors import CloudStackError

IAM = "The role defined for the function cannot be assumed by Lambda."
TAIL = (
    "START RequestId: 8f5e Version: $LATEST\\n"
    "[ERROR] ValueError: order without id: {}\\n"
    "Traceback (most recent call last):\\n"
    '  File "/var/task/index.py", line 13, in handler\\n'
    "END RequestId: 8f5e\\n"
    "REPORT RequestId: 8f5e\\tDuration: 1.52 ms\\n"
)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def iam_error():
    return ("Invoke", lambda_response(
        400, {"Type": "User", "message": IAM}, x_amzn_ErrorType="InvalidParameterValueException"
    ))


def invoked(payload, **headers):
    return ("Invoke", lambda_response(
        200, payload, X_Amz_Executed_Version="$LATEST", X_Amz_Log_Result=b64("START\\nEND\\n"), **headers
    ))


def configuration(fn, state, **extra):
    return ("GetFunctionConfiguration", lambda_response(200, {
        "FunctionName": fn.name, "FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{fn.name}",
        "Runtime": "python3.12", "Handler": "index.handler", "State": state, **extra,
    }))


def test_function_identity(cloud_stack):
    worker = cloud_stack.function("Worker")
    raw = cloud_stack.client("lambda").get_function(FunctionName=worker.name)["Configuration"]
    assert worker.name == cloud_stack.resources["Worker"].physical_id
    assert worker.arn == raw["FunctionArn"]
    assert worker.configuration()["Handler"] == "index.handler"
    assert cloud_stack.function("Worker") is worker
    assert Function(cloud_stack, worker.arn).name == worker.name


def test_invoke_on_moto_raises_its_error_and_logs_read_it(cloud_stack):
    worker = cloud_stack.function("Worker")
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    assert worker.logs() == []  # no log group before the first invoke
    # moto without Docker answers every invoke with a Handled function error, as text
    with pytest.raises(LambdaError) as raised:
        worker.invoke({"order": 1})
    error = raised.value
    assert error.function_error == "Handled" and error.error_type is None
    assert error.error_message.startswith("error running docker")
    assert str(error).startswith(f"Lambda function {worker.name} failed (Handled): error running docker")
    events = worker.logs(since=started)
    assert any("error running docker" in event.message for event in events)
    assert worker.logs(since=datetime.timedelta(seconds=30)) == events
    assert worker.logs(since=time.time() + 3600) == []
    assert worker.invoke_async({"order": 2})


def test_unhandled_error_carries_type_message_trace_and_log_tail(cloud_stack, script):
    worker = cloud_stack.function("Worker")
    document = {
        "errorMessage": "order without id: {}",
        "errorType": "ValueError",
        "requestId": "8f5e",
        "stackTrace": ['  File "/var/task/index.py", line 13, in handler\\n    raise ValueError(f"order without id: {body}")\\n'],
    }
    script.append(("Invoke", lambda_response(
        200, document, X_Amz_Function_Error="Unhandled", X_Amz_Log_Result=b64(TAIL),
        X_Amz_Executed_Version="$LATEST",
    )))
    with pytest.raises(LambdaError) as raised:
        worker.invoke({})
    error = raised.value
    assert (error.function_error, error.error_type, error.error_message) == ("Unhandled", "ValueError", "order without id: {}")
    assert error.stack_trace == document["stackTrace"]
    assert error.log_tail == TAIL
    assert error.payload == document
    text = str(error)
    assert "failed (Unhandled): ValueError: order without id: {}" in text
    assert 'File "/var/task/index.py", line 13, in handler' in text
    assert "  [ERROR] ValueError: order without id: {}" in text


def test_invoke_decodes_the_result(cloud_stack, script):
    worker = cloud_stack.function("Worker")
    script += [invoked({"processed": 1}), invoked(b"null"), invoked(b"")]
    assert worker.invoke({"Records": []}) == {"processed": 1}
    assert worker.invoke() is None
    assert worker.invoke("text") is None
    assert CALLS.count("Invoke") == 3


def test_first_invoke_retries_iam_propagation(cloud_stack, script):
    worker = Function(cloud_stack, cloud_stack.resources["Worker"].physical_id)
    script += [iam_error(), iam_error(), invoked({"ok": True})]
    assert worker.invoke({}) == {"ok": True}
    assert CALLS == ["GetFunctionConfiguration", "Invoke", "Invoke", "Invoke"]


def test_iam_error_that_persists_is_the_service_error(cloud_stack, script):
    worker = Function(cloud_stack, cloud_stack.resources["Worker"].physical_id)
    worker.ready_timeout = 0.3
    script += [iam_error() for _ in range(20)]
    start = time.monotonic()
    with pytest.raises(ClientError, match="InvalidParameterValueException.*cannot be assumed by Lambda"):
        worker.invoke({})
    assert 0.3 <= time.monotonic() - start < 1.0
    script.clear()


def test_first_invoke_waits_for_a_pending_function(cloud_stack, script):
    worker = Function(cloud_stack, cloud_stack.resources["Worker"].physical_id)
    script += [
        configuration(worker, "Pending", StateReason="The function is being created.", StateReasonCode="Creating"),
        configuration(worker, "Pending", StateReason="The function is being created.", StateReasonCode="Creating"),
        configuration(worker, "Active"),
        invoked({"n": 1}),
        invoked({"n": 2}),
    ]
    assert worker.invoke({}) == {"n": 1}
    assert worker.invoke({}) == {"n": 2}  # readiness is checked once
    assert CALLS == ["GetFunctionConfiguration"] * 3 + ["Invoke"] * 2


def test_a_failed_function_is_reported_not_waited_for(cloud_stack, script):
    worker = Function(cloud_stack, cloud_stack.resources["Worker"].physical_id)
    script.append(configuration(worker, "Failed", StateReason="The role is invalid."))
    with pytest.raises(CloudStackError, match="is Failed/Successful: The role is invalid."):
        worker.invoke({})
"""


def _project(pytester: pytest.Pytester, **tests: str) -> None:
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = handles\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(**tests)


def test_handles_on_an_endpoint(moto: MotoServer, pytester: pytest.Pytester) -> None:
    _project(pytester, test_data=DATA_TESTS, test_lambda=LAMBDA_TESTS)
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=28)
    assert moto.live_stacks() == {}


def test_handles_on_local(pytester: pytest.Pytester) -> None:
    _project(pytester, test_data=DATA_TESTS)
    result = pytester.runpytest("--cloud-stack=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=20)


# -- Api: REST or HTTP -----------------------------------------------------------------------------

API_TEMPLATE = """\
Resources:
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: http, ProtocolType: HTTP}
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: rest}
Outputs:
  HttpUrl:
    Value: !GetAtt Http.ApiEndpoint
  RestUrl:
    Value: !Sub "https://${Rest}.execute-api.${AWS::Region}.amazonaws.com/prod"
"""

# While DENY is set, apigatewayv2 GetApi answers AccessDeniedException (as with expired
# credentials): an error about the caller, not about the API.
API_CONFTEST = """\
import io
import json

import pytest
from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

CALLS = []
DENY = []


def _denied(request, event_name, **kwargs):
    operation = event_name.rsplit(".", 1)[-1]
    CALLS.append(operation)
    if operation != "GetApi" or not DENY:
        return None
    data = json.dumps({"message": "The security token included in the request is expired"})
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"}
    raw = HTTPResponse(body=io.BytesIO(data.encode()), preload_content=False)
    return AWSResponse(request.url, 403, headers, raw)


@pytest.hookimpl(optionalhook=True)
def pytest_cloudstack_boto_session(session):
    session.events.register("before-send.apigatewayv2", _denied)
"""

API_TESTS = """\
import pytest
from botocore.exceptions import ClientError
from conftest import CALLS, DENY


def test_a_resources_type_says_rest_or_http_without_asking(cloud_stack):
    DENY.append(True)
    assert cloud_stack.api("Http").http_api is True
    assert cloud_stack.api("Rest").http_api is False
    assert "GetApi" not in CALLS


def test_an_error_that_is_not_not_found_is_raised_not_taken_for_a_rest_api(cloud_stack):
    DENY.append(True)
    try:
        with pytest.raises(ClientError, match="AccessDeniedException"):
            cloud_stack.api("RestUrl").http_api
        assert "GetApi" in CALLS
    finally:
        DENY.clear()
    # once API Gateway answers: its NotFoundException is a REST API, an answer an HTTP one
    assert cloud_stack.api("RestUrl").http_api is False
    assert cloud_stack.api("HttpUrl").http_api is True
"""


def test_api_http_or_rest_on_local(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=API_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = handles\n")
    pytester.makeconftest(API_CONFTEST)
    pytester.makepyfile(test_api=API_TESTS)
    result = pytester.runpytest("--cloud-stack=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
