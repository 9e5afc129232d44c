"""API Gateway's Lambda proxy events, and how it reads the handler's answer.

Payload format 1.0 (REST APIs, and HTTP APIs that ask for it) and 2.0 (HTTP APIs), as the
API Gateway developer guide documents them (``tests/data/apigateway/`` keeps its examples, and the
tests compare shapes against them). Pure functions over plain data: no moto, no sockets.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

#: REST APIs answer an integration failure (an error, a malformed answer) with this, 502
REST_FAILURE = b'{"message": "Internal server error"}'
#: HTTP APIs answer an integration failure with this, 500
HTTP_FAILURE = b'{"message":"Internal Server Error"}'

_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml", "/x-www-form-urlencoded", "/ecmascript")


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The last value of header ``name`` (case-insensitive) in ``headers``, else None."""
    found = None
    for key, value in headers:
        if key.lower() == name.lower():
            found = value
    return found


@dataclass
class Request:
    """One client request to an API, as the gateway received it."""

    method: str
    path: str  # after the stage, percent-decoded, starting with "/"
    raw_path: str  # as sent, stage included for REST
    query: str  # the raw query string
    headers: list[tuple[str, str]]  # as sent: names in their case, duplicates kept
    body: bytes
    source_ip: str
    api_id: str
    account_id: str
    region: str
    stage: str
    #: the matched route's path parameters (``$input.params()`` of mapping templates)
    path_parameters: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def header(self, name: str) -> str | None:
        """The last value of a header, by case-insensitive name."""
        return header(self.headers, name)

    @property
    def domain(self) -> str:
        return f"{self.api_id}.execute-api.{self.region}.amazonaws.com"

    @property
    def time_text(self) -> str:
        return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.epoch_ms / 1000))


@dataclass
class Route:
    """What the request matched: its resource path or route key, parameters and stage."""

    resource_path: str  # "/items/{id}"; for a $default route, the request's path
    route_key: str  # "GET /items/{id}" or "$default" (HTTP APIs)
    path_parameters: dict[str, str]
    stage_variables: dict[str, str]
    resource_id: str | None = None
    authorizer: dict[str, Any] | None = None  # what a Lambda authorizer returned as context


@dataclass
class Answer:
    """The HTTP answer to the client."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    """Whether a REST API treats a payload of ``content_type`` as binary (its binaryMediaTypes)."""
    if not content_type or not binary_media_types:
        return False
    kinds = [part.split(";")[0].strip().lower() for part in content_type.split(",")]
    # API Gateway stores "image/png" as "image~1png" in its OpenAPI form; both are accepted.
    patterns = [pattern.replace("~1", "/").lower() for pattern in binary_media_types]
    return any(fnmatch.fnmatchcase(kind, pattern) for kind in kinds for pattern in patterns)


def is_text(content_type: str | None) -> bool:
    """Whether an HTTP API passes a body of ``content_type`` as text (else base64)."""
    if not content_type:
        return True
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(_TEXT_SUFFIXES)


def _body(request: Request, binary: bool) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if binary:
        return base64.b64encode(request.body).decode(), True
    try:
        return request.body.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(request.body).decode(), True


def _query(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.query, keep_blank_values=True)


def event_v1(
    request: Request,
    route: Route,
    *,
    binary_media_types: list[str] | None = None,
    http_api: bool = False,
) -> dict[str, Any]:
    """The payload format 1.0 event (REST APIs; HTTP APIs with ``payloadFormatVersion`` 1.0)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in _query(request):
        query[name] = value  # the last one, as API Gateway does
        multi_query.setdefault(name, []).append(value)
    if http_api:
        body, encoded = _body(request, not is_text(request.header("content-type")))
    else:
        body, encoded = _body(
            request, is_binary(request.header("content-type"), binary_media_types or [])
        )
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.api_id,
        "domainName": request.domain,
        "domainPrefix": request.api_id,
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "apiKey": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": request.header("user-agent"),
            "userArn": None,
        },
        "path": request.raw_path if not http_api else request.path,
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": request.time_text,
        "requestTimeEpoch": request.epoch_ms,
        "resourceId": route.resource_id,
        "resourcePath": route.resource_path,
        "stage": request.stage,
    }
    if route.authorizer is not None:
        context["authorizer"] = route.authorizer
    event: dict[str, Any] = {}
    if http_api:
        event["version"] = "1.0"
    event.update(
        {
            "resource": route.resource_path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": route.path_parameters or None,
            "stageVariables": route.stage_variables or None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": encoded,
        }
    )
    return event


def event_v2(request: Request, route: Route) -> dict[str, Any]:
    """The payload format 2.0 event (HTTP APIs)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in _query(request):
        query[name] = f"{query[name]},{value}" if name in query else value
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.api_id,
        "domainName": request.domain,
        "domainPrefix": request.api_id,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request.request_id,
        "routeKey": route.route_key,
        "stage": request.stage,
        "time": request.time_text,
        "timeEpoch": request.epoch_ms,
    }
    if route.authorizer is not None:
        context["authorizer"] = {"lambda": route.authorizer}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path
        if request.stage == "$default"
        else f"/{request.stage}{request.path}",
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    body, encoded = _body(request, not is_text(request.header("content-type")))
    if body is not None:
        event["body"] = body
    if route.path_parameters:
        event["pathParameters"] = route.path_parameters
    event["isBase64Encoded"] = encoded
    if route.stage_variables:
        event["stageVariables"] = route.stage_variables
    return event


class Malformed(ValueError):
    """The handler's answer is not one API Gateway can map."""


def _status(value: Any) -> int:
    if isinstance(value, bool):
        raise Malformed("statusCode is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise Malformed(f"statusCode {value!r} is not a number")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Malformed(f"header value {value!r} is not a string")


def _structured(answer: dict[str, Any], decode: bool) -> Answer:
    status = _status(answer["statusCode"])
    merged: dict[str, list[str]] = {}
    single = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise Malformed("headers must be objects")
    for name, value in single.items():
        merged[str(name)] = [_scalar(value)]
    for name, values in multi.items():
        if not isinstance(values, list):
            raise Malformed(f"multiValueHeaders[{name!r}] is not a list")
        merged[str(name)] = [_scalar(value) for value in values]
    headers = [(name, value) for name, values in merged.items() for value in values]
    body = answer.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
        if answer.get("isBase64Encoded") and decode:
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError as error:
                raise Malformed("isBase64Encoded, but the body is not base64") from error
    else:
        raise Malformed("body is not a string")
    return Answer(status, headers, data)


def answer_v1(
    payload: bytes,
    function_error: bool,
    *,
    http_api: bool = False,
    binary: bool = False,
) -> Answer:
    """Map a handler's answer (format 1.0) to the client's answer, as API Gateway does.

    ``binary``: a REST API returns a base64 body as bytes only when the response is binary to
    it (its binaryMediaTypes match the request's Accept or the answer's Content-Type).
    """
    failed = failure(http_api)
    if function_error:
        return failed
    try:
        answer = json.loads(payload or b"null")
        if not isinstance(answer, dict) or "statusCode" not in answer:
            raise Malformed("the answer has no statusCode")
        result = _structured(answer, decode=True if http_api else binary)
    except (Malformed, ValueError):
        return failed
    if header(result.headers, "content-type") is None:
        result.headers.append(("Content-Type", "application/json"))
    return result


def answer_v2(payload: bytes, function_error: bool) -> Answer:
    """Map a handler's answer (format 2.0) to the client's answer, as HTTP APIs do."""
    failed = failure(True)
    if function_error:
        return failed
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        return failed
    if not isinstance(answer, dict) or "statusCode" not in answer:
        # Anything else that is JSON: 200, application/json, the answer as the body (a string
        # as its text).
        body = answer.encode() if isinstance(answer, str) else payload
        return Answer(200, [("Content-Type", "application/json")], body)
    try:
        result = _structured(answer, decode=True)
        cookies = answer.get("cookies") or []
        if not isinstance(cookies, list):
            raise Malformed("cookies is not a list")
        result.headers.extend(("Set-Cookie", _scalar(cookie)) for cookie in cookies)
    except Malformed:
        return failed
    if header(result.headers, "content-type") is None:
        result.headers.append(("Content-Type", "application/json"))
    return result


def failure(http_api: bool) -> Answer:
    """API Gateway's answer to an integration that failed: 500 for HTTP APIs, 502 for REST."""
    if http_api:
        return Answer(500, [("Content-Type", "application/json")], HTTP_FAILURE)
    return Answer(502, [("Content-Type", "application/json")], REST_FAILURE)


def message(status: int, text: str) -> Answer:
    """An answer of API Gateway's own, ``{"message": text}``."""
    return Answer(
        status,
        [("Content-Type", "application/json")],
        json.dumps({"message": text}, separators=(",", ":")).encode(),
    )
