"""AWS service integrations on the local target: the API -> SQS ``SendMessage`` pattern.

REST APIs (integration type ``AWS``): the request mapping template (Velocity, evaluated by
``templates.py``) turns the request into the service call, typically
``Action=SendMessage&MessageBody=$input.body`` for a ``arn:aws:apigateway:<region>:sqs:path/
<account>/<queue>`` URI; the call goes to the emulator's SQS, and its answer goes through the
method's integration responses (status, header values, response template). HTTP APIs
(``AWS_PROXY`` with ``IntegrationSubtype: SQS-SendMessage``) map ``QueueUrl``,
``MessageBody`` (and the other parameters) from ``$request.body``, ``$request.header.<name>``,
``$request.querystring.<name>``, ``$context.<name>``. Other services and actions answer 500
saying they are not run locally (the fidelity report names them at deploy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from pytest_cloudstack.local.apigateway import apis, events, templates
from pytest_cloudstack.local.apigateway.events import Answer, Request

Clients = Callable[[str, str], Any]

_SQS_PATH = re.compile(r":sqs:path/(\d+)/([^/?]+)")
_SQS_ACTION = re.compile(r":sqs:action/(\w+)")


def integrate(
    target: apis.Target, request: Request, integration: apis.Integration, clients: Clients
) -> Answer:
    """Run an AWS service integration and answer as the method's integration response says."""
    if integration.subtype:
        return _http_api_sqs(target, request, integration, clients)
    uri = integration.uri or ""
    path, action = _SQS_PATH.search(uri), _SQS_ACTION.search(uri)
    if path is None and action is None:
        return _not_run(uri)
    template = templates.choose(integration.request_templates, request.header("content-type"))
    if template is None:
        if (integration.passthrough or "WHEN_NO_MATCH").upper() == "NEVER":
            return events.message(415, "Unsupported Media Type")
        rendered = request.body.decode(errors="replace")
    else:
        rendered = templates.render(template, request, None)
    parameters = dict(parse_qsl(rendered, keep_blank_values=True))
    for name, source in integration.request_parameters.items():
        if name.startswith("integration.request.querystring."):
            parameters[name.rsplit(".", 1)[1]] = _source_value(source, request)
    name = parameters.get("Action") or (action.group(1) if action else "")
    if name != "SendMessage":
        return _not_run(f"{uri} ({name or 'no Action'})")
    queue = (path.group(1), path.group(2)) if path is not None else None
    status, body = _send(clients, target.region, parameters, queue)
    return _respond(integration, request, status, body)


def _send(
    clients: Clients,
    region: str,
    parameters: dict[str, str],
    queue: tuple[str, str] | None = None,
) -> tuple[int, bytes]:
    """SendMessage on the emulator's SQS to ``queue`` (account, name) or to the ``QueueUrl``
    parameter: (status, SQS's JSON answer or error).

    Every error of the call (an unknown queue, a bad parameter) is SQS's answer, which the
    integration responses map as API Gateway does, not a failure of the gateway."""
    from botocore.exceptions import ClientError

    sqs = clients("sqs", region)
    try:
        if queue is None:
            queue_url = parameters.get("QueueUrl", "")
        else:
            account, name = queue
            found = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            queue_url = str(found["QueueUrl"])
        call: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": parameters.get("MessageBody", ""),
        }
        for field in ("DelaySeconds", "MessageGroupId", "MessageDeduplicationId"):
            if field in parameters:
                value = parameters[field]
                call[field] = int(value) if field == "DelaySeconds" else value
        sent = sqs.send_message(**call)
    except ClientError as error:
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        return status, json.dumps({"Error": error.response.get("Error", {})}).encode()
    except ValueError:  # what SQS answers a DelaySeconds that is not a number
        error_body = {
            "Code": "InvalidParameterValue",
            "Message": f"Value {parameters['DelaySeconds']} for parameter DelaySeconds is invalid.",
        }
        return 400, json.dumps({"Error": error_body}).encode()
    answer = {
        "SendMessageResponse": {
            "SendMessageResult": {
                "MD5OfMessageBody": sent.get("MD5OfMessageBody"),
                "MessageId": sent.get("MessageId"),
                "SequenceNumber": sent.get("SequenceNumber"),
            },
            "ResponseMetadata": {"RequestId": sent["ResponseMetadata"].get("RequestId")},
        }
    }
    return 200, json.dumps(answer).encode()


def _respond(integration: apis.Integration, request: Request, status: int, body: bytes) -> Answer:
    from pytest_cloudstack.local.apigateway.gateway import integration_response, shaped

    chosen = integration_response(integration.responses, str(status))
    if chosen is None:
        return Answer(status, [("Content-Type", "application/json")], body)
    return shaped(chosen, request, body, status)


def _source_value(source: str, request: Request) -> str:
    """A REST request parameter mapping's value: 'static' or method.request.<where>.<name>."""
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    name = source.rsplit(".", 1)[-1]
    if source.startswith("method.request.header."):
        return request.header(name) or ""
    if source.startswith("method.request.querystring."):
        return dict(parse_qsl(request.query)).get(name, "")
    return ""


def _http_api_sqs(
    target: apis.Target, request: Request, integration: apis.Integration, clients: Clients
) -> Answer:
    if integration.subtype != "SQS-SendMessage":
        return _not_run(str(integration.subtype))
    parameters = {
        name: _http_value(str(value), request, target)
        for name, value in integration.request_parameters.items()
    }
    status, body = _send(clients, target.region, parameters)
    if status != 200:
        return events.failure(http_api=True)
    return Answer(200, [("Content-Type", "application/json")], body)


def _http_value(value: str, request: Request, target: apis.Target) -> str:
    """An HTTP API parameter mapping: ``$request.body``, ``$request.header.x``, ``$context.x``
    (also inside a larger string), else the value as it is."""

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1) or match.group(2)
        if expression == "request.body":
            return request.body.decode(errors="replace")
        if expression.startswith("request.header."):
            return request.header(expression.split(".", 2)[2]) or ""
        if expression.startswith("request.querystring."):
            return dict(parse_qsl(request.query)).get(expression.split(".", 2)[2], "")
        if expression.startswith("request.path."):
            return target.route.path_parameters.get(expression.split(".", 2)[2], "")
        if expression.startswith("context."):
            context = {"requestId": request.request_id, "stage": request.stage}
            return str(context.get(expression.split(".", 1)[1], ""))
        if expression.startswith("stageVariables."):
            return target.route.stage_variables.get(expression.split(".", 1)[1], "")
        return match.group(0)

    return re.sub(r"\$\{([\w.-]+)\}|\$([\w.-]+)", replace, value)


def _not_run(what: str) -> Answer:
    return events.message(
        500,
        f"pytest-cloudstack's local target runs API -> SQS SendMessage service integrations "
        f"only, not {what}",
    )
