"""The WSGI layer in front of moto's server that answers API Gateway requests.

``<emulator>/_aws/execute-api/<api-id>/<stage>/<path>`` (or any path on a host named
``<api-id>.execute-api.<region>.amazonaws.com``) is an invocation of that API; every other
request goes to moto unchanged. An invocation is answered as API Gateway answers it: the route
is chosen (``apis.py``), Lambda authorizers run, a Lambda proxy integration runs the handler
through the local runner with API Gateway's event (``events.py``) and maps its answer back,
a ``MOCK`` integration answers from its integration response, and HTTP APIs answer CORS
preflights from their CORS configuration.
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler

from pytest_cloudstack.local.apigateway import apis, events
from pytest_cloudstack.local.apigateway.events import Answer, Request
from pytest_cloudstack.local.apigateway.urls import PREFIX

if TYPE_CHECKING:
    from pytest_cloudstack.local.runner import InvokeResult, LambdaRunner

_HOST = re.compile(r"^([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(:\d+)?$")
_LAMBDA_URI = re.compile(r":lambda:path/[0-9-]+/functions/(.+)/invocations$")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
#: the environ key where ``HeaderKeepingHandler`` leaves the request's headers as sent
RAW_HEADERS = "cloudstack.headers"


class HeaderKeepingHandler(WSGIRequestHandler):
    """werkzeug's request handler, keeping the headers as sent: their case and duplicates.

    API Gateway passes both to the handler (``multiValueHeaders``); WSGI folds them away.
    """

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ


class Gateway:
    """WSGI middleware: API invocations are answered here, everything else by ``app``."""

    def __init__(self, app: Any, runner: Callable[[], LambdaRunner | None]) -> None:
        self.app = app
        self.runner = runner

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith(PREFIX):
            api_id, _, rest = path[len(PREFIX) :].partition("/")
            rest = "/" + rest
        else:
            host = _HOST.match(environ.get("HTTP_HOST", ""))
            if host is None:
                return self.app(environ, start_response)  # type: ignore[no-any-return]
            api_id, rest = host.group(1), path
        try:
            answer = self.handle(api_id, rest, environ)
        except Exception as error:  # a bug here must not look like the user's handler failing
            answer = events.message(500, f"pytest-cloudstack's local API Gateway failed: {error!r}")
        status = f"{answer.status} {_phrase(answer.status)}"
        headers = [*answer.headers, ("Content-Length", str(len(answer.body)))]
        start_response(status, headers)
        return [answer.body]

    # -- one invocation -----------------------------------------------------------------------

    def handle(self, api_id: str, path: str, environ: dict[str, Any]) -> Answer:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        headers = environ.get(RAW_HEADERS) or _headers_from(environ)
        body = _read_body(environ)
        origin = events.header(headers, "origin")
        if (
            method == "OPTIONS"
            and origin
            and events.header(headers, "access-control-request-method")
        ):
            cors = apis.http_cors(api_id)
            if cors is not None:
                return _preflight(cors, origin, headers)
        target = apis.resolve(api_id, method, path)
        if isinstance(target, Answer):
            return target
        request = Request(
            method=method,
            path=target.path,
            raw_path=path if not target.http_api else target.path,
            query=environ.get("QUERY_STRING", ""),
            headers=[(str(k), str(v)) for k, v in headers],
            body=body,
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
            api_id=target.api_id,
            account_id=target.account_id,
            region=target.region,
            stage=target.stage,
            path_parameters=dict(target.route.path_parameters),
        )
        answer = self._authorize(target, request)
        if answer is None:
            answer = self._integrate(target, request)
        id_header = "apigw-requestid" if target.http_api else "x-amzn-RequestId"
        answer.headers.append((id_header, request.request_id))
        if target.http_api and target.cors and origin:
            answer.headers.extend(_cors_headers(target.cors, origin))
        return answer

    def _authorize(self, target: apis.Target, request: Request) -> Answer | None:
        """Run the route's Lambda authorizer; None lets the request through."""
        authorizer = target.authorizer
        if authorizer is None or authorizer.type not in ("TOKEN", "REQUEST"):
            return None  # IAM, Cognito and JWT authorization are not checked locally
        from pytest_cloudstack.local.apigateway import authorizers

        outcome = authorizers.authorize(
            target, request, lambda arn, event: self._invoke(target, arn, event)
        )
        if isinstance(outcome, Answer):
            return outcome
        target.route.authorizer = outcome
        return None

    def _integrate(self, target: apis.Target, request: Request) -> Answer:
        integration = target.integration
        if integration is None:
            return events.failure(target.http_api)
        if integration.type == "AWS_PROXY" and integration.subtype is None:
            return self._lambda_proxy(target, request, integration)
        if integration.type == "MOCK":
            return _mock(integration, request)
        if integration.type in ("AWS", "AWS_PROXY"):
            from pytest_cloudstack.local.apigateway import services

            runner = self.runner()
            if runner is None:
                return events.failure(target.http_api)
            return services.integrate(target, request, integration, runner.sources.client)
        return events.message(
            500,
            f"pytest-cloudstack's local target does not run {integration.type} integrations "
            "(only Lambda proxy, MOCK and AWS service integrations)",
        )

    def _lambda_proxy(
        self, target: apis.Target, request: Request, integration: apis.Integration
    ) -> Answer:
        arn = function_arn(integration.uri or "", target.route.stage_variables)
        if arn is None:
            return events.failure(target.http_api)
        version_2 = target.http_api and integration.payload_format == "2.0"
        if version_2:
            event = events.event_v2(request, target.route)
        else:
            event = events.event_v1(
                request,
                target.route,
                binary_media_types=target.binary_media_types,
                http_api=target.http_api,
            )
        result = self._invoke(target, arn, event)
        if result is None:
            return events.failure(target.http_api)
        if version_2:
            return events.answer_v2(result.payload, result.function_error)
        binary = target.http_api or _rest_binary(request, result.payload, target)
        return events.answer_v1(
            result.payload, result.function_error, http_api=target.http_api, binary=binary
        )

    def _invoke(self, target: apis.Target, arn: str, event: Any) -> InvokeResult | None:
        runner = self.runner()
        if runner is None:
            return None
        from moto.awslambda.utils import get_backend

        try:
            function = get_backend(target.account_id, target.region).get_function(arn)
        except Exception:  # no such function: API Gateway answers with its failure
            return None
        return runner.invoke(function, json.dumps(event).encode())


def function_arn(uri: str, stage_variables: dict[str, str]) -> str | None:
    uri = _STAGE_VARIABLE.sub(lambda m: stage_variables.get(m.group(1), ""), uri)
    found = _LAMBDA_URI.search(uri)
    if found is not None:
        return found.group(1)
    if uri.startswith("arn:") and ":lambda:" in uri and ":function:" in uri:
        return uri  # HTTP APIs take the function's ARN itself
    return None


def _rest_binary(request: Request, payload: bytes, target: apis.Target) -> bool:
    types = target.binary_media_types
    if not types:
        return False
    if events.is_binary(request.header("accept"), types):
        return True
    try:
        answer = json.loads(payload or b"null")
        headers = answer.get("headers") or {}
        kind = next((v for k, v in headers.items() if str(k).lower() == "content-type"), None)
    except (ValueError, AttributeError):
        return False
    return events.is_binary(kind if isinstance(kind, str) else None, types)


def _mock(integration: apis.Integration, request: Request) -> Answer:
    """A MOCK integration: the status its request template names, its integration response."""
    from pytest_cloudstack.local.apigateway import templates

    template = templates.choose(integration.request_templates, request.header("content-type"))
    status = 200
    if template:
        rendered = templates.render(template, request, None)
        try:
            status = int(json.loads(rendered).get("statusCode", 200))
        except (ValueError, AttributeError, TypeError):
            status = 200
    chosen = integration_response(integration.responses, str(status))
    if chosen is None:
        return Answer(status, [("Content-Type", "application/json")], b"")
    return shaped(chosen, request, b"", status)


def integration_response(responses: list[dict[str, Any]], selector: str) -> dict[str, Any] | None:
    default = None
    for response in responses:
        pattern = response.get("selectionPattern")
        if not pattern:
            default = default or response
        elif re.fullmatch(pattern, selector, flags=re.DOTALL):
            return response
    return default


def shaped(response: dict[str, Any], request: Request, body: bytes, status: int) -> Answer:
    """An integration response's status, static header values and response template."""
    from pytest_cloudstack.local.apigateway import templates

    headers: list[tuple[str, str]] = []
    for name, value in (response.get("responseParameters") or {}).items():
        prefix = "method.response.header."
        if name.startswith(prefix) and isinstance(value, str):
            if len(value) >= 2 and value[0] == value[-1] == "'":
                headers.append((name[len(prefix) :], value[1:-1]))
    response_templates = response.get("responseTemplates") or {}
    template = templates.choose(response_templates, "application/json")
    if template:
        body = templates.render(template, request, body).encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    code = response.get("statusCode") or status
    return Answer(int(code), headers, body)


def _cors_value(cors: dict[str, Any], *names: str) -> Any:
    for name in names:
        for key, value in cors.items():
            if key.lower() == name.lower():
                return value
    return None


def _origin_allowed(cors: dict[str, Any], origin: str) -> str | None:
    origins = _cors_value(cors, "AllowOrigins") or []
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def _cors_headers(cors: dict[str, Any], origin: str) -> list[tuple[str, str]]:
    allowed = _origin_allowed(cors, origin)
    if allowed is None:
        return []
    headers = [("Access-Control-Allow-Origin", allowed)]
    if _cors_value(cors, "AllowCredentials"):
        headers.append(("Access-Control-Allow-Credentials", "true"))
    exposed = _cors_value(cors, "ExposeHeaders")
    if exposed:
        headers.append(("Access-Control-Expose-Headers", ",".join(exposed)))
    return headers


def _preflight(cors: dict[str, Any], origin: str, headers: list[tuple[str, str]]) -> Answer:
    """An HTTP API's answer to a CORS preflight, from its CORS configuration (no route runs)."""
    allowed = _origin_allowed(cors, origin)
    answer = Answer(204, [], b"")
    if allowed is None:
        return answer
    answer.headers.extend(_cors_headers(cors, origin))
    methods = _cors_value(cors, "AllowMethods") or []
    if methods:
        answer.headers.append(("Access-Control-Allow-Methods", ",".join(methods)))
    allow_headers = _cors_value(cors, "AllowHeaders") or []
    if allow_headers:
        answer.headers.append(("Access-Control-Allow-Headers", ",".join(allow_headers)))
    max_age = _cors_value(cors, "MaxAge")
    if max_age is not None:
        answer.headers.append(("Access-Control-Max-Age", str(max_age)))
    return answer


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _headers_from(environ: dict[str, Any]) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").title(), str(value)))
    return headers


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""
