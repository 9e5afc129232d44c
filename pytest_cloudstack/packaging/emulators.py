"""What emulators need spelled out that CloudFormation infers: applied to client-side SAM output.

SAM's ``Api`` events become an ``AWS::ApiGateway::RestApi`` defined by an OpenAPI ``Body``, plus a
``Deployment`` and a ``Stage``. CloudFormation imports the body (paths, methods, integrations) and
names the API after ``info.title``. moto (5.2) does neither: it requires ``Name`` and then
refuses the deployment of an API "without any methods". So, for emulators only, the body's paths
are written out as the ``Resource`` and ``Method`` resources CloudFormation would have made, and
the deployment waits for them, with their integrations' templates and responses and their
authorizers (written out as ``AWS::ApiGateway::Authorizer``). On AWS nothing here runs.
"""

from __future__ import annotations

import re
from typing import Any

_ANY = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"


def adapt(body: dict[str, Any]) -> None:
    """Rewrite, in place, what the emulator cannot read from an OpenAPI-defined REST API."""
    resources = body.get("Resources")
    if not isinstance(resources, dict):
        return
    for logical_id, resource in list(resources.items()):
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::ApiGateway::RestApi":
            continue
        properties = resource.get("Properties")
        definition = properties.get("Body") if isinstance(properties, dict) else None
        if not isinstance(properties, dict) or not isinstance(definition, dict):
            continue
        info = definition.get("info")
        if "Name" not in properties and isinstance(info, dict) and "title" in info:
            properties["Name"] = info["title"]
        authorizers = _write_out_authorizers(logical_id, definition, resources)
        methods = _write_out_paths(logical_id, definition.get("paths"), resources, authorizers)
        for other in resources.values():
            if (
                isinstance(other, dict)
                and other.get("Type") == "AWS::ApiGateway::Deployment"
                and _mapping(other.get("Properties")).get("RestApiId") == {"Ref": logical_id}
            ):
                depends = other.get("DependsOn", [])
                depends = [depends] if isinstance(depends, str) else list(depends)
                other["DependsOn"] = [*depends, *methods]


def _write_out_authorizers(
    api: str, definition: dict[str, Any], resources: dict[str, Any]
) -> dict[str, str]:
    """Lambda and Cognito authorizers of the body, as ``AWS::ApiGateway::Authorizer``."""
    schemes = definition.get("securityDefinitions") or (
        _mapping(definition.get("components")).get("securitySchemes")
    )
    made: dict[str, str] = {}
    if not isinstance(schemes, dict):
        return made
    for name, scheme in schemes.items():
        extension = scheme.get(_AUTHORIZER) if isinstance(scheme, dict) else None
        if not isinstance(extension, dict):
            continue
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": api},
            "Name": name,
            "Type": str(extension.get("type", "token")).upper(),
        }
        for key, prop in (
            ("authorizerUri", "AuthorizerUri"),
            ("identitySource", "IdentitySource"),
            ("identityValidationExpression", "IdentityValidationExpression"),
            ("authorizerResultTtlInSeconds", "AuthorizerResultTtlInSeconds"),
            ("providerARNs", "ProviderARNs"),
        ):
            if key in extension:
                properties[prop] = extension[key]
        if properties["Type"] == "COGNITO_USER_POOLS" and "IdentitySource" not in properties:
            properties["IdentitySource"] = "method.request.header.Authorization"
        logical_id = _unique(f"{api}Authorizer{_alnum(name)}", resources)
        resources[logical_id] = {"Type": "AWS::ApiGateway::Authorizer", "Properties": properties}
        made[name] = logical_id
    return made


def _write_out_paths(
    api: str, paths: object, resources: dict[str, Any], authorizers: dict[str, str]
) -> list[str]:
    if not isinstance(paths, dict):
        return []
    made: dict[str, str] = {}
    methods: list[str] = []
    for path, operations in sorted(paths.items()):
        if not isinstance(operations, dict):
            continue
        parent: dict[str, Any] = {"Fn::GetAtt": [api, "RootResourceId"]}
        so_far = ""
        for segment in [part for part in str(path).split("/") if part]:
            so_far += f"/{segment}"
            if so_far not in made:
                made[so_far] = _unique(f"{api}Resource{_alnum(so_far)}", resources)
                resources[made[so_far]] = {
                    "Type": "AWS::ApiGateway::Resource",
                    "Properties": {
                        "RestApiId": {"Ref": api},
                        "ParentId": parent,
                        "PathPart": segment,
                    },
                }
            parent = {"Ref": made[so_far]}
        for verb, operation in sorted(operations.items()):
            if (verb != _ANY and verb.startswith("x-")) or not isinstance(operation, dict):
                continue
            http_method = "ANY" if verb == _ANY else verb.upper()
            method: dict[str, Any] = {
                "RestApiId": {"Ref": api},
                "ResourceId": parent,
                "HttpMethod": http_method,
                "AuthorizationType": "NONE",
            }
            requirements = operation.get("security")
            for requirement in requirements if isinstance(requirements, list) else []:
                for name in requirement if isinstance(requirement, dict) else ():
                    if name in authorizers:
                        method["AuthorizerId"] = {"Ref": authorizers[name]}
                        kind = resources[authorizers[name]]["Properties"]["Type"]
                        method["AuthorizationType"] = (
                            "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "CUSTOM"
                        )
                    elif name in ("AWS_IAM", "sigv4"):
                        method["AuthorizationType"] = "AWS_IAM"
            integration = operation.get(_INTEGRATION)
            if isinstance(integration, dict):
                method["Integration"] = _integration(integration)
            logical_id = _unique(f"{api}Method{_alnum(so_far) or 'Root'}{http_method}", resources)
            resources[logical_id] = {"Type": "AWS::ApiGateway::Method", "Properties": method}
            methods.append(logical_id)
    return methods


def _integration(integration: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI integration extension as a Method's ``Integration`` property."""
    written: dict[str, Any] = {
        "Type": str(integration.get("type", "aws_proxy")).upper(),
        "IntegrationHttpMethod": str(integration.get("httpMethod", "POST")).upper(),
        "Uri": integration.get("uri"),
    }
    for key, prop in (
        ("requestTemplates", "RequestTemplates"),
        ("requestParameters", "RequestParameters"),
        ("credentials", "Credentials"),
        ("contentHandling", "ContentHandling"),
    ):
        if key in integration:
            written[prop] = integration[key]
    if "passthroughBehavior" in integration:
        written["PassthroughBehavior"] = str(integration["passthroughBehavior"]).upper()
    responses = integration.get("responses")
    if isinstance(responses, dict):
        written["IntegrationResponses"] = [
            {
                "StatusCode": str(response.get("statusCode", "200")),
                **({"SelectionPattern": pattern} if pattern != "default" else {}),
                "ResponseParameters": response.get("responseParameters") or {},
                "ResponseTemplates": response.get("responseTemplates") or {},
            }
            for pattern, response in responses.items()
            if isinstance(response, dict)
        ]
    return written


def _mapping(value: object) -> dict[str, Any]:
    """``value`` if it is a mapping; a template written by hand may hold anything there."""
    return value if isinstance(value, dict) else {}


def _alnum(path: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", path) if part)


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}{number}", number + 1
    return candidate
