"""``Queue``: an SQS queue of the stack."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pytest_cloudstack.eventually import DEFAULT_TIMEOUT
from pytest_cloudstack.handles._common import (
    ClientSource,
    decode_message_attributes,
    describe_callable,
    handle_repr,
    message_attributes,
    to_text,
)

# SQS's own limits: ten messages per receive or batch call, long polls of at most 20 s.
_BATCH = 10
_MAX_WAIT = 20
_MAX_VISIBILITY = 43_200


@dataclass(frozen=True)
class Message:
    """A received message: its ``body`` text, decoded ``message_attributes``, the raw dict."""

    body: str
    message_id: str
    receipt_handle: str
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, object] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    @classmethod
    def from_sqs(cls, raw: dict[str, Any]) -> Message:
        return cls(
            body=raw.get("Body", ""),
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            attributes=dict(raw.get("Attributes", {})),
            message_attributes=decode_message_attributes(raw.get("MessageAttributes", {})),
            raw=raw,
        )


class QueueCounts(NamedTuple):
    """SQS's approximate counts: waiting, in flight (received, not deleted), delayed."""

    visible: int
    not_visible: int
    delayed: int


class Queue:
    """An SQS queue. ``.client`` is the boto3 SQS client; ``.url`` what every call takes."""

    def __init__(self, clients: ClientSource, url: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        #: the boto3 SQS client
        self.client: Any = clients.client("sqs")
        self.url = url
        self._arn: str | None = None

    @property
    def name(self) -> str:
        """The queue's name (the last part of its URL)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def arn(self) -> str:
        """The queue's ARN (GetQueueAttributes, once)."""
        if self._arn is None:
            self._arn = self._attributes("QueueArn")["QueueArn"]
        return self._arn

    @property
    def fifo(self) -> bool:
        """Whether this is a FIFO queue (its name ends in ``.fifo``)."""
        return self.name.endswith(".fifo")

    def send(
        self,
        body: object,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int | None = None,
        **attributes: object,
    ) -> str:
        """Send a message and return its MessageId.

        ``body``: a ``str`` as is; dicts, lists and other values as JSON. Keyword arguments
        become message attributes (str, numbers, bytes). FIFO queues take ``group_id`` and,
        without content-based deduplication, ``deduplication_id``; SQS says when one is missing.
        """
        params: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": to_text(body)}
        if attributes:
            params["MessageAttributes"] = message_attributes(attributes)
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if deduplication_id is not None:
            params["MessageDeduplicationId"] = deduplication_id
        if delay_seconds is not None:
            params["DelaySeconds"] = delay_seconds
        return str(self.client.send_message(**params)["MessageId"])

    def receive(
        self,
        max_messages: int = _BATCH,
        wait_seconds: int = 1,
        *,
        visibility_timeout: int | None = None,
    ) -> list[Message]:
        """Receive up to ``max_messages`` with long polling: returns as soon as messages are
        there, or empty after ``wait_seconds`` (at most 20). Received messages stay in the queue,
        invisible for the visibility timeout, until :meth:`delete`."""
        params: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            # AttributeNames, not its newer alias MessageSystemAttributeNames: botocore before
            # mid-2024 (within our boto3>=1.34 floor) does not know the alias.
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = visibility_timeout
        response = self.client.receive_message(**params)
        return [Message.from_sqs(raw) for raw in response.get("Messages", [])]

    def delete(self, messages: Message | Iterable[Message]) -> None:
        """Delete received messages (in batches of ten)."""
        batch = [messages] if isinstance(messages, Message) else list(messages)
        self._batch("delete_message_batch", batch, {})

    def wait_for_message(
        self,
        predicate: Callable[[Message], object] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        delete: bool = True,
    ) -> Message:
        """Long-poll until a message satisfies ``predicate`` (any message if None); return it.

        ``delete=True`` deletes that message; with ``delete=False`` it is made visible again.
        Other messages received while waiting are held invisible (so that each receive sees new
        ones) and made visible again before returning. Fails at ``timeout`` with an
        ``AssertionError`` that lists what was seen instead.
        """
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        held: dict[str, Message] = {}
        found: Message | None = None
        try:
            while found is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(_MAX_WAIT, max(1, math.ceil(remaining)))
                # Hidden until this wait ends (plus a margin), then explicitly released.
                hide = min(_MAX_VISIBILITY, math.ceil(remaining) + 5)
                for message in self.receive(_BATCH, wait, visibility_timeout=hide):
                    if found is None and (predicate is None or predicate(message)):
                        found = message
                    else:
                        held[message.message_id] = message
        finally:
            release = list(held.values())
            if found is not None and not delete:
                release.append(found)
            self._batch("change_message_visibility_batch", release, {"VisibilityTimeout": 0})
        if found is None:
            what = "" if predicate is None else f" satisfying {describe_callable(predicate)}"
            seen = [message.body for message in held.values()]
            raise AssertionError(
                f"no message{what} on queue {self.name} within {timeout:g} s; "
                f"{len(seen)} other message(s) seen: {seen[:5]!r}{' ...' if len(seen) > 5 else ''}"
            )
        if delete:
            self.delete(found)
        return found

    def drain(self, wait_seconds: int = 1) -> list[Message]:
        """Receive and delete every message until a receive of ``wait_seconds`` comes back empty;
        return them. (Long polling: on AWS a zero wait may miss messages that are there.)"""
        drained: list[Message] = []
        while True:
            messages = self.receive(_BATCH, wait_seconds)
            if not messages:
                return drained
            self.delete(messages)
            drained.extend(messages)

    def purge(self) -> None:
        """PurgeQueue: delete every message. AWS allows one purge per queue every 60 s."""
        self.client.purge_queue(QueueUrl=self.url)

    def approximate_counts(self) -> QueueCounts:
        """SQS's approximate message counts (they lag by up to a minute on AWS)."""
        names = (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        values = self._attributes(*names)
        return QueueCounts(*(int(values.get(name, 0)) for name in names))

    @property
    def approximate_count(self) -> int:
        """ApproximateNumberOfMessages: the messages waiting to be received."""
        return self.approximate_counts().visible

    def _attributes(self, *names: str) -> dict[str, str]:
        response = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(names))
        return dict(response.get("Attributes", {}))

    def _batch(self, operation: str, messages: list[Message], extra: dict[str, Any]) -> None:
        call = getattr(self.client, operation)
        for start in range(0, len(messages), _BATCH):
            chunk = messages[start : start + _BATCH]
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, **extra}
                for index, message in enumerate(chunk)
            ]
            failed = call(QueueUrl=self.url, Entries=entries).get("Failed", [])
            if failed:
                reasons = "; ".join(f"{f.get('Code')}: {f.get('Message')}" for f in failed)
                raise RuntimeError(
                    f"SQS {operation} on {self.name} failed for {len(failed)} message(s): {reasons}"
                )

    def __repr__(self) -> str:
        return handle_repr("Queue", self.logical_id, self.url)
