"""What emulators need spelled out that CloudFormation infers: applied to client-side SAM output.

SAM's ``Api`` events become an ``AWS::ApiGateway::RestApi`` defined by an OpenAPI ``Body``, plus a
``Deployment`` and a ``Stage``. CloudFormation imports the body (paths, methods, integrations) and
names the API after ``info.title``. moto (5.2) does neither: it requires ``Name`` and then
refuses the deployment of an API "without any methods". So, for emulators only, the body's paths
are written out as the ``Resource`` and ``Method`` resources CloudFormation would have made, and
the deployment waits for them. On AWS nothing here runs.
"""

from __future__ import annotations

import re
from typing import Any

_ANY = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"


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
        methods = _write_out_paths(logical_id, definition.get("paths"), resources)
        for other in resources.values():
            if (
                isinstance(other, dict)
                and other.get("Type") == "AWS::ApiGateway::Deployment"
                and (other.get("Properties") or {}).get("RestApiId") == {"Ref": logical_id}
            ):
                depends = other.get("DependsOn", [])
                depends = [depends] if isinstance(depends, str) else list(depends)
                other["DependsOn"] = [*depends, *methods]


def _write_out_paths(api: str, paths: object, resources: dict[str, Any]) -> list[str]:
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
            integration = operation.get(_INTEGRATION)
            if isinstance(integration, dict):
                method["Integration"] = {
                    "Type": str(integration.get("type", "aws_proxy")).upper(),
                    "IntegrationHttpMethod": str(integration.get("httpMethod", "POST")).upper(),
                    "Uri": integration.get("uri"),
                }
            logical_id = _unique(f"{api}Method{_alnum(so_far) or 'Root'}{http_method}", resources)
            resources[logical_id] = {"Type": "AWS::ApiGateway::Method", "Properties": method}
            methods.append(logical_id)
    return methods


def _alnum(path: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", path) if part)


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}{number}", number + 1
    return candidate
