"""Record each order from the queue in the table, with its status in snake_case."""

import json
import os

import boto3
import inflection

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    for record in event["Records"]:
        order = json.loads(record["body"])
        status = inflection.underscore(order.get("status", "Received"))
        table.put_item(Item={"id": order["id"], "status": status})
    return {"processed": len(event["Records"])}
