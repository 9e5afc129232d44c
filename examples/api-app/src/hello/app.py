"""The REST API's handler: a greeting, an order total, a PNG and a private page."""

import base64
import json

# The smallest valid PNG: one transparent pixel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def handler(event, context):
    route = event["resource"]
    if route == "/hello/{name}":
        name = event["pathParameters"]["name"]
        shout = (event.get("queryStringParameters") or {}).get("shout") == "true"
        greeting = f"hello, {name}" + ("!" if shout else "")
        return _json(200, {"greeting": greeting.upper() if shout else greeting})
    if route == "/orders":
        try:
            order = json.loads(event["body"] or "")
            total = sum(line["price"] * line["quantity"] for line in order["lines"])
        except (ValueError, KeyError, TypeError):
            return _json(400, {"error": 'an order is {"lines": [{"price", "quantity"}]}'})
        return _json(201, {"id": order.get("id"), "total": total})
    if route == "/logo.png":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(PIXEL).decode(),
            "isBase64Encoded": True,
        }
    if route == "/private":
        return _json(200, {"user": event["requestContext"]["authorizer"]["principalId"]})
    return _json(404, {"error": f"no route {route}"})


def _json(status, body):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
