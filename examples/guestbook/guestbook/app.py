"""The guestbook's two handlers: record signatures from SQS, list a guest's signatures."""

import json
import os
from datetime import timezone

import boto3
from boto3.dynamodb.conditions import Key
from dateutil import parser as dateparser

MAX_NOTE = 280

_table = None


def table():
    """The DynamoDB table, made on first use (so that unit tests need no AWS at all)."""
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    return _table


def parse_signature(body):
    """An SQS message body -> the item to store; ValueError for a message that isn't one."""
    try:
        message = json.loads(body)
        guest = str(message["guest"]).strip()
        signed_at = dateparser.isoparse(message["signed_at"])
    except (TypeError, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"not a signature: {error}") from error
    if not guest:
        raise ValueError("not a signature: the guest is empty")
    if signed_at.tzinfo is None:
        raise ValueError("not a signature: signed_at has no time zone")
    return {
        "guest": guest,
        "signed_at": signed_at.astimezone(timezone.utc).isoformat(),
        "note": str(message.get("note", ""))[:MAX_NOTE],
    }


def sign_handler(event, context):
    """SQS batch: store every signature; a malformed message is logged and dropped."""
    stored = 0
    for record in event["Records"]:
        try:
            item = parse_signature(record["body"])
        except ValueError as error:
            print(f"dropping message {record['messageId']}: {error}")
            continue
        table().put_item(Item=item)
        stored += 1
    print(f"stored {stored} of {len(event['Records'])} signatures")
    return {"stored": stored}


def list_handler(event, context):
    """``{"guest": NAME}`` -> that guest's signatures, oldest first."""
    guest = event["guest"]
    items = table().query(KeyConditionExpression=Key("guest").eq(guest))["Items"]
    signatures = [{"signed_at": item["signed_at"], "note": item.get("note", "")} for item in items]
    return {"guest": guest, "count": len(signatures), "signatures": signatures}
