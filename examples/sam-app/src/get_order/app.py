"""Return one order by id, or None."""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    return table.get_item(Key={"id": event["id"]}).get("Item")
