"""``Topic``: an SNS topic of the stack."""

from __future__ import annotations

from typing import Any

from pytest_cloudstack.handles._common import ClientSource, handle_repr, message_attributes, to_text


class Topic:
    """An SNS topic. ``.client`` is the boto3 SNS client."""

    def __init__(self, clients: ClientSource, arn: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        self.arn = arn
        #: the boto3 SNS client
        self.client: Any = clients.client("sns")

    @property
    def name(self) -> str:
        """The topic's name (the last part of its ARN)."""
        return self.arn.rsplit(":", 1)[-1]

    def publish(
        self,
        message: object,
        *,
        subject: str | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        **attributes: object,
    ) -> str:
        """Publish and return the MessageId. ``message``: a ``str`` as is, anything else as
        JSON; keyword arguments become message attributes; FIFO topics take ``group_id`` and
        ``deduplication_id``."""
        params: dict[str, Any] = {"TopicArn": self.arn, "Message": to_text(message)}
        if subject is not None:
            params["Subject"] = subject
        if attributes:
            params["MessageAttributes"] = message_attributes(attributes)
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if deduplication_id is not None:
            params["MessageDeduplicationId"] = deduplication_id
        return str(self.client.publish(**params)["MessageId"])

    def __repr__(self) -> str:
        return handle_repr("Topic", self.logical_id, self.arn)
