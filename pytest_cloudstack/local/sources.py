"""Event source mappings on the local target: pollers that feed queues and streams to handlers.

moto's own mappings run the handler inside the request that wrote the message or the item
(SendMessage, PutItem block for the handler's duration), only ever look at a queue when a message
arrives, and make a failed message visible again without anyone polling it. Lambda polls instead.
So, for SQS queues and DynamoDB streams, the mapping is taken off moto's inline path
(``seam.py``) and one poller thread per mapping does what the Lambda service does, through the
emulator's public API: receive a batch, invoke the function with Lambda's event, delete the
messages on success, leave them on failure so that the queue's redrive policy applies.

One difference, on purpose: a failed SQS batch becomes visible again at once (not after the
queue's VisibilityTimeout), so that a poison message reaches the dead-letter queue after
``maxReceiveCount`` attempts in milliseconds rather than minutes. The receive counts and the move
to the dead-letter queue are moto's, as on AWS.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pytest_cloudstack.connection import DUMMY_CREDENTIALS

#: how often an idle DynamoDB stream is polled (Lambda polls shards four times a second)
STREAM_POLL_SECONDS = 0.2
#: SQS long polling: a poller notices a new message at once, and a deleted mapping within this
QUEUE_WAIT_SECONDS = 1
#: without a redrive policy a poison message is retried forever; after this many receives,
#: once a second (or the VisibilityTimeout, if shorter) instead of at once
FAST_RETRIES = 3


class Invoker(Protocol):
    """What the pollers need from the runner: invoke a function by ARN, synchronously."""

    def invoke_arn(self, account_id: str, region: str, arn: str, body: bytes) -> tuple[bool, Any]:
        """Return (function error?, decoded payload or None)."""
        ...


@functools.cache
def client_session() -> Any:
    """The boto3 session the pollers' clients come from, one per process.

    A session parses botocore's endpoint data and each service's model once (~0.15 s for the
    first SQS client); a warm parent (``zygote.py``) loads them before it forks, so that a
    forked emulator's pollers start without that work.
    """
    import boto3.session

    return boto3.session.Session()


class EventSourcePollers:
    """One poller thread per SQS or DynamoDB stream mapping; stopped with the emulator."""

    def __init__(self, endpoint_url: str, invoker: Invoker) -> None:
        self.endpoint_url = endpoint_url
        self.invoker = invoker
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        """A shared boto3 client to the emulator (botocore clients are thread-safe)."""
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                from botocore.config import Config

                self._clients[key] = client_session().client(
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=region,
                    aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
                    config=Config(
                        retries={"mode": "standard"}, read_timeout=QUEUE_WAIT_SECONDS + 30
                    ),
                )
            return self._clients[key]

    def watch(self, mapping: dict[str, Any], account_id: str, region: str) -> None:
        """Start polling for ``mapping`` (its ``get_configuration()``): SQS or DynamoDB."""
        if self._stop.is_set():
            return
        service = mapping["EventSourceArn"].split(":")[2]
        poller: Callable[[], None]
        if service == "sqs":
            poller = _QueuePoller(self, mapping, account_id, region).run
        elif service == "dynamodb":
            stream = _StreamPoller(self, mapping, account_id, region)
            # The iterator is taken now, not when the thread gets to it: with LATEST, a write
            # right after the deploy must not be missed.
            stream.start_position()
            poller = stream.run
        else:
            return
        thread = threading.Thread(
            target=_quietly(poller, self._stop), name=f"cloudstack-{service}-poller", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Stop every poller. One in a long poll ends when the poll does (within a second):
        waiting for that would add a second to every session, and it invokes nothing more."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=0.05)
        self._threads.clear()

    @property
    def stopping(self) -> threading.Event:
        return self._stop


def _quietly(poller: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    from botocore.exceptions import BotoCoreError, ClientError

    def run() -> None:
        while not stop.is_set():
            try:
                poller()
                return
            except (ClientError, BotoCoreError):
                # The queue or table went away under the mapping (a test deleted it, the
                # emulator is stopping): try again later; a deleted mapping ends the poller.
                stop.wait(QUEUE_WAIT_SECONDS)

    return run


class _Mapping:
    """Common state of a poller: the mapping, as the Lambda API reports it."""

    def __init__(
        self, pollers: EventSourcePollers, mapping: dict[str, Any], account_id: str, region: str
    ) -> None:
        self.pollers = pollers
        self.uuid = mapping["UUID"]
        self.source_arn = mapping["EventSourceArn"]
        self.account_id = account_id
        self.region = region
        self.mapping = mapping
        self.stop = pollers.stopping

    def refresh(self) -> bool:
        """Re-read the mapping (it may have been updated, disabled or deleted); False: gone."""
        from botocore.exceptions import ClientError

        try:
            self.mapping = self.pollers.client("lambda", self.region).get_event_source_mapping(
                UUID=self.uuid
            )
        except ClientError:
            return False
        return True

    @property
    def enabled(self) -> bool:
        return bool(self.mapping.get("State", "Enabled") == "Enabled")

    @property
    def batch_size(self) -> int:
        return int(self.mapping.get("BatchSize") or 10)

    def invoke(self, event: dict[str, Any]) -> tuple[bool, Any]:
        body = json.dumps(event, default=_json_default).encode()
        return self.pollers.invoker.invoke_arn(
            self.account_id, self.region, self.mapping["FunctionArn"], body
        )


class _QueuePoller(_Mapping):
    def run(self) -> None:
        sqs = self.pollers.client("sqs", self.region)
        name = self.source_arn.split(":")[5]
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=self.account_id)["QueueUrl"]
        while not self.stop.is_set() and self.refresh():
            if not self.enabled:
                self.stop.wait(QUEUE_WAIT_SECONDS)
                continue
            messages = self._receive(sqs, url)
            if not messages or self.stop.is_set():
                continue
            failed, error = self._deliver(messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            for chunk in _chunks(done, 10):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(chunk)
                    ],
                )
            if error:
                self._retry_soon(sqs, url, [m for m in messages if m["MessageId"] in failed])

    def _receive(self, sqs: Any, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = QUEUE_WAIT_SECONDS
        while len(messages) < self.batch_size:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
            wait = 0  # fill the batch with what is there, without waiting for more
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> tuple[set[str], bool]:
        """Invoke once for the batch; return (IDs of the messages that failed, any failure?)."""
        event = {"Records": [self._record(m) for m in messages]}
        function_error, payload = self.invoke(event)
        ids = {m["MessageId"] for m in messages}
        if function_error:
            return ids, True
        if "ReportBatchItemFailures" not in (self.mapping.get("FunctionResponseTypes") or ()):
            return set(), False
        # Partial batch response: only the reported messages stay; a malformed answer fails all.
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        if not failures:
            return set(), False
        reported = {str(f.get("itemIdentifier") or "") for f in failures if isinstance(f, dict)}
        if not reported <= ids or len(reported) != len(failures):
            return ids, True
        return reported, True

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source_arn,
            "awsRegion": self.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _retry_soon(self, sqs: Any, url: str, failed: list[dict[str, Any]]) -> None:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        )["Attributes"]
        visibility = int(attributes.get("VisibilityTimeout", 30))
        for chunk in _chunks(failed, 10):
            entries = []
            for i, message in enumerate(chunk):
                received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                fast = "RedrivePolicy" in attributes or received < FAST_RETRIES
                entries.append(
                    {
                        "Id": str(i),
                        "ReceiptHandle": message["ReceiptHandle"],
                        "VisibilityTimeout": 0 if fast else min(visibility, 1),
                    }
                )
            with contextlib.suppress(Exception):  # deleted meanwhile: nothing to retry
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


class _StreamPoller(_Mapping):
    """A DynamoDB stream: batches in order; a failed batch is retried and blocks the shard."""

    iterator: str | None = None

    def start_position(self) -> None:
        streams = self.pollers.client("dynamodbstreams", self.region)
        shards = streams.describe_stream(StreamArn=self.source_arn)["StreamDescription"]["Shards"]
        if not shards:
            return
        self.iterator = streams.get_shard_iterator(
            StreamArn=self.source_arn,
            ShardId=shards[0]["ShardId"],
            ShardIteratorType=self.mapping.get("StartingPosition") or "LATEST",
        )["ShardIterator"]

    def run(self) -> None:
        streams = self.pollers.client("dynamodbstreams", self.region)
        while not self.stop.is_set() and self.iterator and self.refresh():
            if not self.enabled:
                self.stop.wait(QUEUE_WAIT_SECONDS)
                continue
            answer = streams.get_records(ShardIterator=self.iterator, Limit=self.batch_size)
            records = answer.get("Records", [])
            if not records:
                self.iterator = answer.get("NextShardIterator") or self.iterator
                self.stop.wait(STREAM_POLL_SECONDS)
                continue
            self._deliver([self._record(r) for r in records])
            self.iterator = answer.get("NextShardIterator")

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        # MaximumRetryAttempts -1 (the default) retries until the records expire: here, until
        # the session ends, with a growing pause so that a poison record costs little.
        configured = self.mapping.get("MaximumRetryAttempts")
        limit = -1 if configured is None else int(configured)
        attempt = 0
        pause = 0.05
        while not self.stop.is_set():
            function_error, _ = self.invoke({"Records": records})
            if not function_error or (limit >= 0 and attempt >= limit):
                return
            attempt += 1
            self.stop.wait(pause)
            pause = min(pause * 2, 2.0)

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        shaped: dict[str, Any] = _plain(record)
        shaped["eventSourceARN"] = self.source_arn
        return shaped


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return shaped


def _plain(value: Any) -> Any:
    """boto3's parsed answer back to the JSON Lambda puts in the event (epochs, base64)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return plain


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
