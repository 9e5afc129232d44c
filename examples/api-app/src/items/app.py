"""The HTTP API's handler (payload format 2.0): items in a DynamoDB table."""

import json
import os

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    if event["routeKey"] == "POST /items":
        item = json.loads(event["body"])
        TABLE.put_item(Item={"id": item["id"], "name": item["name"]})
        return {"statusCode": 201, "body": json.dumps({"id": item["id"]})}
    found = TABLE.get_item(Key={"id": event["pathParameters"]["id"]}).get("Item")
    if found is None:
        return {"statusCode": 404, "body": json.dumps({"error": "no such item"})}
    return found  # a plain dict: API Gateway answers 200 with it as JSON
