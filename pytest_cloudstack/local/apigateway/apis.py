"""Which route of which API a request reaches, read from moto's API Gateway models.

moto holds REST APIs (resources, methods, integrations, stages, authorizers) and HTTP APIs
(routes, integrations, stages) as the control plane made them; this module reads them into a
plain ``Target`` for one request, choosing the route as API Gateway does: the most specific
path wins (a literal segment over a ``{param}``, a ``{param}`` over a greedy ``{proxy+}``), a
method over ``ANY``, and an HTTP API's ``$default`` route last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_cloudstack.local.apigateway.events import Answer, Route, message


@dataclass
class Integration:
    """Where a route goes: ``AWS_PROXY`` (Lambda), ``MOCK``, ``AWS`` (a service), ``HTTP*``."""

    type: str
    uri: str | None
    payload_format: str = "1.0"
    request_templates: dict[str, str] = field(default_factory=dict)
    passthrough: str | None = None
    subtype: str | None = None
    request_parameters: dict[str, str] = field(default_factory=dict)
    #: REST integration responses: dicts with statusCode, selectionPattern, responseParameters,
    #: responseTemplates
    responses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Authorizer:
    """A Lambda authorizer (``TOKEN`` or ``REQUEST``), or another kind local does not check."""

    id: str
    type: str  # TOKEN, REQUEST, COGNITO_USER_POOLS, JWT
    uri: str | None
    identity_source: str | None
    validation: str | None = None
    payload_format: str = "1.0"  # HTTP API REQUEST authorizers: 1.0 or 2.0
    simple_responses: bool = False


@dataclass
class Target:
    """One request's destination: the API, the route, its integration and its authorization."""

    http_api: bool
    api_id: str
    account_id: str
    region: str
    stage: str
    path: str  # after the stage
    route: Route
    integration: Integration | None
    authorizer: Authorizer | None = None
    binary_media_types: list[str] = field(default_factory=list)
    cors: dict[str, Any] | None = None
    method_arn: str = ""


def _backends(module: str, name: str) -> list[Any]:
    import importlib

    backends = getattr(importlib.import_module(module), name)
    return [backend for regions in list(backends.values()) for backend in list(regions.values())]


def find(api_id: str) -> tuple[bool, Any] | None:
    """The API with this ID, REST or HTTP, in any account and region: (is HTTP API, model)."""
    for backend in _backends("moto.apigateway.models", "apigateway_backends"):
        api = backend.apis.get(api_id)
        if api is not None:
            return False, api
    for backend in _backends("moto.apigatewayv2.models", "apigatewayv2_backends"):
        api = backend.apis.get(api_id)
        if api is not None:
            return True, api
    return None


def known(api_id: str) -> bool:
    return find(api_id) is not None


def match(template: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Whether ``path`` fits the resource path ``template``: (specificity, path parameters)."""
    wanted = [part for part in template.split("/") if part]
    given = [part for part in path.split("/") if part]
    ranks: list[int] = []
    parameters: dict[str, str] = {}
    for index, part in enumerate(wanted):
        if part.startswith("{") and part.endswith("+}"):
            if index != len(wanted) - 1 or index >= len(given):
                return None
            parameters[part[1:-2]] = "/".join(given[index:])
            ranks.append(0)
            return tuple(ranks), parameters
        if index >= len(given):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = given[index]
            ranks.append(1)
        elif part == given[index]:
            ranks.append(2)
        else:
            return None
    if len(given) != len(wanted):
        return None
    return tuple(ranks), parameters


def resolve(api_id: str, method: str, path: str) -> Target | Answer:
    """The target of ``method path`` (the path after the API's base URL), or the error answer."""
    found = find(api_id)
    if found is None:
        return message(
            404, f"no API {api_id!r} in the local emulator (pytest-cloudstack's local target)"
        )
    http_api, api = found
    return _resolve_http(api, method, path) if http_api else _resolve_rest(api, method, path)


def _resolve_rest(api: Any, method: str, path: str) -> Target | Answer:
    stage_name, _, rest = path.lstrip("/").partition("/")
    stage = api.stages.get(stage_name) if stage_name else None
    if stage is None:
        return message(403, "Forbidden")
    rest = "/" + rest
    best: tuple[tuple[int, ...], int, Any, Any, dict[str, str]] | None = None
    for resource in list(api.resources.values()):
        fit = match(resource.get_path(), rest)
        if fit is None:
            continue
        ranks, parameters = fit
        methods = resource.resource_methods
        chosen = methods.get(method) or methods.get("ANY")
        if chosen is None:
            continue
        key = (ranks, 1 if method in methods else 0)
        if best is None or key > (best[0], best[1]):
            best = (ranks, key[1], resource, chosen, parameters)
    if best is None:
        return message(403, "Missing Authentication Token")
    _, _, resource, chosen, parameters = best
    integration = None
    raw = chosen.method_integration
    if raw is not None:
        responses = [
            {
                "statusCode": str(response.status_code),
                "selectionPattern": response.selection_pattern,
                "responseParameters": response.response_parameters or {},
                "responseTemplates": response.response_templates or {},
            }
            for response in (raw.integration_responses or {}).values()
        ]
        integration = Integration(
            type=str(raw.integration_type or "").upper(),
            uri=raw.uri,
            request_templates=dict(raw.request_templates or {}),
            passthrough=raw.passthrough_behaviour,
            request_parameters=dict(raw.request_parameters or {}),
            responses=responses,
        )
    authorizer = None
    if chosen.authorizer_id and chosen.authorizer_id in api.authorizers:
        raw_authorizer = api.authorizers[chosen.authorizer_id]
        authorizer = Authorizer(
            id=raw_authorizer.id,
            type=str(raw_authorizer.type or "TOKEN").upper(),
            uri=raw_authorizer.authorizer_uri,
            identity_source=raw_authorizer.identity_source,
            validation=raw_authorizer.identity_validation_expression,
        )
    resource_path = resource.get_path()
    route = Route(
        resource_path=resource_path,
        route_key=f"{chosen.http_method} {resource_path}",
        path_parameters=parameters,
        stage_variables={str(k): str(v) for k, v in (stage.variables or {}).items()},
        resource_id=resource.id,
    )
    return Target(
        http_api=False,
        api_id=api.id,
        account_id=api.account_id,
        region=api.region_name,
        stage=stage_name,
        path=rest,
        route=route,
        integration=integration,
        authorizer=authorizer,
        binary_media_types=list(api.binaryMediaTypes or []),
        method_arn=(
            f"arn:aws:execute-api:{api.region_name}:{api.account_id}:{api.id}/{stage_name}/"
            f"{method}{rest}"
        ),
    )


def _resolve_http(api: Any, method: str, path: str) -> Target | Answer:
    first, _, rest = path.lstrip("/").partition("/")
    if first and first != "$default" and first in api.stages:
        stage_name, request_path = first, "/" + rest
    elif "$default" in api.stages:
        stage_name, request_path = "$default", path or "/"
    else:
        return message(404, "Not Found")
    stage = api.stages[stage_name]
    best: tuple[tuple[int, ...], int, Any, dict[str, str]] | None = None
    default = None
    for route in list(api.routes.values()):
        if route.route_key == "$default":
            default = route
            continue
        verb, _, template = route.route_key.partition(" ")
        if verb not in (method, "ANY"):
            continue
        fit = match(template, request_path)
        if fit is None:
            continue
        key = (fit[0], 1 if verb == method else 0)
        if best is None or key > (best[0], best[1]):
            best = (key[0], key[1], route, fit[1])
    if best is not None:
        chosen, parameters = best[2], best[3]
        resource_path = chosen.route_key.partition(" ")[2]
    elif default is not None:
        chosen, parameters, resource_path = default, {}, request_path
    else:
        return message(404, "Not Found")
    integration = None
    target = chosen.target or ""
    if target.startswith("integrations/"):
        raw = api.integrations.get(target.split("/", 1)[1])
        if raw is not None:
            integration = Integration(
                type=str(raw.integration_type or "").upper(),
                uri=raw.integration_uri,
                payload_format=str(raw.payload_format_version or "2.0"),
                request_templates=dict(raw.request_templates or {}),
                passthrough=raw.passthrough_behavior,
                subtype=raw.integration_subtype,
                request_parameters=dict(raw.request_parameters or {}),
            )
    authorizer = None
    if chosen.authorizer_id and chosen.authorizer_id in api.authorizers:
        raw_authorizer = api.authorizers[chosen.authorizer_id]
        source = raw_authorizer.identity_source
        authorizer = Authorizer(
            id=raw_authorizer.id,
            type=str(raw_authorizer.authorizer_type or "REQUEST").upper(),
            uri=raw_authorizer.authorizer_uri,
            identity_source=",".join(source) if isinstance(source, list) else source,
            payload_format=str(raw_authorizer.auth_payload_format_version or "2.0"),
            simple_responses=bool(raw_authorizer.enable_simple_response),
        )
    route = Route(
        resource_path=resource_path,
        route_key=chosen.route_key,
        path_parameters=parameters,
        stage_variables={str(k): str(v) for k, v in (stage.stage_variables or {}).items()},
    )
    cors = api.cors_configuration if isinstance(api.cors_configuration, dict) else None
    return Target(
        http_api=True,
        api_id=api.api_id,
        account_id=api.backend.account_id,
        region=api.backend.region_name,
        stage=stage_name,
        path=request_path,
        route=route,
        integration=integration,
        authorizer=authorizer,
        cors=cors,
        method_arn=(
            f"arn:aws:execute-api:{api.backend.region_name}:{api.backend.account_id}:"
            f"{api.api_id}/{stage_name}/{method}{request_path}"
        ),
    )


def http_cors(api_id: str) -> dict[str, Any] | None:
    """An HTTP API's CORS configuration, for preflight requests that match no route."""
    found = find(api_id)
    if found is None or not found[0]:
        return None
    cors = found[1].cors_configuration
    return cors if isinstance(cors, dict) and cors else None
