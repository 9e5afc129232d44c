"""Lambda authorizers (TOKEN and REQUEST) on the local target: the real authorizer handler runs.

Its answer is read as API Gateway reads it: an IAM policy (``Allow`` for the method's ARN lets
the request through, with ``principalId`` and ``context`` in ``requestContext.authorizer``), or
for HTTP APIs with simple responses ``{"isAuthorized": ..., "context": ...}``. A missing identity
source or an ``Unauthorized`` error is 401, a denial 403, any other failure 500. Results are not
cached (``AuthorizerResultTtlInSeconds`` is ignored): each request runs the authorizer.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.local.apigateway import events
from pytest_cloudstack.local.apigateway.apis import Authorizer, Target
from pytest_cloudstack.local.apigateway.events import Answer, Request

if TYPE_CHECKING:
    from pytest_cloudstack.local.runner import InvokeResult

Invoke = Callable[[str, Any], "InvokeResult | None"]


def authorize(target: Target, request: Request, invoke: Invoke) -> Answer | dict[str, Any]:
    """Run the authorizer: the context for the integration, or the answer that refuses."""
    authorizer = target.authorizer
    assert authorizer is not None
    from pytest_cloudstack.local.apigateway.gateway import function_arn

    arn = function_arn(authorizer.uri or "", target.route.stage_variables)
    if arn is None:
        return _error()
    sources = _identity(authorizer, request, target)
    if sources is None:
        return events.message(401, "Unauthorized")
    if target.http_api:
        event = _http_event(authorizer, request, target, sources)
    elif authorizer.type == "TOKEN":
        token = sources[0]
        if authorizer.validation:
            import re

            if re.fullmatch(authorizer.validation, token) is None:
                return events.message(401, "Unauthorized")
        event = {"type": "TOKEN", "authorizationToken": token, "methodArn": target.method_arn}
    else:
        event = events.event_v1(request, target.route, binary_media_types=[])
        for key in ("body", "isBase64Encoded"):
            event.pop(key, None)
        event = {"type": "REQUEST", "methodArn": target.method_arn, **event}
    result = invoke(arn, event)
    if result is None:
        return _error()
    try:
        answer = json.loads(result.payload or b"null")
    except ValueError:
        return _error()
    if result.function_error:
        if isinstance(answer, dict) and answer.get("errorMessage") == "Unauthorized":
            return events.message(401, "Unauthorized")
        return _error()
    if not isinstance(answer, dict):
        return _error()
    if target.http_api and authorizer.simple_responses:
        if answer.get("isAuthorized") is True:
            return dict(answer.get("context") or {})
        return events.message(403, "Forbidden")
    allowed = _allows(answer.get("policyDocument"), target.method_arn)
    if allowed is None:
        return _error()
    if not allowed:
        if target.http_api:
            return events.message(403, "Forbidden")
        return Answer(
            403,
            [("Content-Type", "application/json")],
            b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
        )
    context = {str(key): value for key, value in (answer.get("context") or {}).items()}
    if target.http_api:
        return context
    return {"principalId": answer.get("principalId"), **context}


def _error() -> Answer:
    return Answer(500, [("Content-Type", "application/json")], b'{"message":null}')


def _identity(authorizer: Authorizer, request: Request, target: Target) -> list[str] | None:
    """The identity sources' values; None when one is missing (API Gateway answers 401)."""
    raw = authorizer.identity_source
    if not raw and authorizer.type == "TOKEN":
        raw = "method.request.header.Authorization"  # API Gateway's default
    if not raw:
        # A REQUEST authorizer without identity sources runs for every request.
        return [] if authorizer.type == "REQUEST" else None
    from urllib.parse import parse_qsl

    query = dict(parse_qsl(request.query, keep_blank_values=True))
    values = []
    for source in [part.strip() for part in raw.split(",") if part.strip()]:
        name = source.rsplit(".", 1)[-1]
        if ".header." in source:
            value = request.header(name)
        elif ".querystring." in source:
            value = query.get(name)
        elif "stageVariables." in source or ".stagevariables." in source.lower():
            value = target.route.stage_variables.get(name)
        else:
            value = None
        if not value:
            return None
        values.append(value)
    return values


def _http_event(
    authorizer: Authorizer, request: Request, target: Target, sources: list[str]
) -> dict[str, Any]:
    if authorizer.payload_format == "1.0":
        event = events.event_v1(request, target.route, http_api=True)
        event.pop("body", None)
        return {"type": "REQUEST", "methodArn": target.method_arn, **event}
    event = events.event_v2(request, target.route)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": target.method_arn,
        "identitySource": sources,
        **{key: value for key, value in event.items() if key != "version"},
    }


def _allows(policy: Any, method_arn: str) -> bool | None:
    """Whether an IAM policy allows invoking ``method_arn``; None when it is not a policy."""
    if not isinstance(policy, dict):
        return None
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            return None
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
