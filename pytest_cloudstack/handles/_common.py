"""What several handles share: JSON bodies, message attributes, the source of boto3 clients."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from pytest_cloudstack.responses import error_code


class ClientSource(Protocol):
    """Where a handle gets its boto3 clients: the stack's handle cache, or a ``Stack``."""

    def client(self, service: str) -> Any: ...

    def resource(self, service: str) -> Any: ...


def to_text(body: object) -> str:
    """A message body: ``str`` as is, ``bytes`` decoded as UTF-8, anything else as JSON."""
    if isinstance(body, str):
        return body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8")
    return json.dumps(body, default=_json_default)


def _json_default(value: object) -> object:
    # What items read back from DynamoDB and everyday test data contain.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} {value!r} cannot be sent as JSON")


def decode_json(data: bytes | str) -> Any:
    """JSON text decoded; empty -> None; text that is not JSON is returned as text."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def message_attributes(values: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """SQS/SNS ``MessageAttributes`` from plain values (str, number, bytes, or the AWS shape)."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if isinstance(value, Mapping) and "DataType" in value:
            attributes[name] = dict(value)
        elif isinstance(value, bool):
            attributes[name] = {"DataType": "String", "StringValue": str(value).lower()}
        elif isinstance(value, (int, float, Decimal)):
            attributes[name] = {"DataType": "Number", "StringValue": str(value)}
        elif isinstance(value, (bytes, bytearray)):
            attributes[name] = {"DataType": "Binary", "BinaryValue": bytes(value)}
        elif isinstance(value, str):
            attributes[name] = {"DataType": "String", "StringValue": value}
        else:
            raise TypeError(
                f"message attribute {name}={value!r}: use str, a number, bytes, or "
                '{"DataType": ..., "StringValue"/"BinaryValue": ...}'
            )
    return attributes


def decode_message_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, object]:
    """The inverse of :func:`message_attributes`: numbers come back as int or float."""
    decoded: dict[str, object] = {}
    for name, attribute in raw.items():
        kind = str(attribute.get("DataType", "String")).split(".", 1)[0]
        if kind == "Binary":
            decoded[name] = attribute.get("BinaryValue", b"")
        elif kind == "Number":
            text = str(attribute.get("StringValue", "0"))
            try:
                decoded[name] = int(text)
            except ValueError:
                decoded[name] = float(text)
        else:
            decoded[name] = attribute.get("StringValue", "")
    return decoded


def is_error(error: BaseException, *codes: str) -> bool:
    """Whether ``error`` is a botocore ``ClientError`` with one of these codes."""
    return error_code(error) in codes


def describe_callable(function: object) -> str:
    name = getattr(function, "__name__", None)
    return str(name) if name else repr(function)


def handle_repr(kind: str, logical_id: str | None, ident: str) -> str:
    return f"<{kind} {logical_id}: {ident}>" if logical_id else f"<{kind} {ident}>"
