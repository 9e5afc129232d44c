"""API Gateway resources that moto's CloudFormation skips or keeps only in part.

moto (5.2) creates ``AWS::ApiGateway::RestApi``, ``Resource``, ``Method`` and ``Deployment`` from a
template, but drops a method's authorizer, mapping templates and integration responses and the
API's binary media types, and skips ``AWS::ApiGateway::Stage``, ``AWS::ApiGateway::Authorizer``
and every ``AWS::ApiGatewayV2::*`` type (answering CREATE_COMPLETE all the same). The classes
here create them through moto's own API Gateway backends, so that the APIs a template declares
exist in the emulator as the service would hold them; ``seam.py`` hands them to moto's parser
(``moto.cloudformation.parsing.resource_class_from_type``).

They follow the parts of moto's ``CloudFormationModel`` protocol that the parser uses, without
subclassing it: a subclass would join moto's own registry of types.
"""

from __future__ import annotations

import json
from typing import Any


def _abstract(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


_abstract.__isabstractmethod__ = True  # type: ignore[attr-defined]


class CfnModel:
    """What moto's CloudFormation parser needs from a resource class."""

    TYPE = ""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    # The parser skips updates of types whose method is "abstract" (and keeps the resource).
    update_from_cloudformation_json = staticmethod(_abstract)

    @staticmethod
    def delete_from_cloudformation_json(*args: Any, **kwargs: Any) -> None:
        return None

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        """moto's entry point: the resource's properties go to ``create``."""
        return cls.create(resource_name, _properties(cloudformation_json), account_id, region_name)

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        raise NotImplementedError(cls.TYPE)


class Created:
    """A created resource as the parser keeps it: a physical ID and attributes."""

    def __init__(self, physical_id: str, attributes: dict[str, Any] | None = None) -> None:
        self.physical_resource_id = physical_id
        self._attributes = attributes or {}

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, name: str) -> Any:
        if name in self._attributes:
            return self._attributes[name]
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()


def _rest(account_id: str, region: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account_id][region]


def _http(account_id: str, region: str) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region]


def _properties(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    properties = cloudformation_json.get("Properties") or {}
    return properties if isinstance(properties, dict) else {}


# -- REST APIs (v1) ------------------------------------------------------------------------------


class RestApi(CfnModel):
    """moto's RestApi, plus the binary media types (property or OpenAPI extension)."""

    TYPE = "AWS::ApiGateway::RestApi"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("RootResourceId", "RestApiId")

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        from moto.apigateway.models import RestAPI

        properties = _properties(cloudformation_json)
        api = RestAPI.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        body = _mapping(properties.get("Body"))
        media = properties.get("BinaryMediaTypes") or body.get(
            "x-amazon-apigateway-binary-media-types"
        )
        if isinstance(media, list):
            api.binaryMediaTypes = [str(kind) for kind in media]
        return api


class Method(CfnModel):
    """A REST method with all of its integration: templates, responses, authorizer."""

    TYPE = "AWS::ApiGateway::Method"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        backend = _rest(account_id, region_name)
        api_id, resource_id = properties["RestApiId"], properties["ResourceId"]
        http_method = str(properties["HttpMethod"]).upper()
        method = backend.put_method(
            function_id=api_id,
            resource_id=resource_id,
            method_type=http_method,
            authorization_type=properties.get("AuthorizationType", "NONE"),
            api_key_required=properties.get("ApiKeyRequired"),
            request_parameters=properties.get("RequestParameters"),
            authorizer_id=properties.get("AuthorizerId"),
            authorization_scopes=properties.get("AuthorizationScopes"),
        )
        integration = properties.get("Integration")
        if isinstance(integration, dict):
            backend.put_integration(
                function_id=api_id,
                resource_id=resource_id,
                method_type=http_method,
                integration_type=str(integration.get("Type", "AWS_PROXY")).upper(),
                uri=integration.get("Uri"),
                integration_method=integration.get("IntegrationHttpMethod")
                or ("POST" if integration.get("Type") != "MOCK" else None),
                credentials=integration.get("Credentials"),
                request_templates=integration.get("RequestTemplates"),
                passthrough_behavior=integration.get("PassthroughBehavior"),
                request_parameters=integration.get("RequestParameters"),
                content_handling=integration.get("ContentHandling"),
            )
            for response in integration.get("IntegrationResponses") or []:
                backend.put_integration_response(
                    function_id=api_id,
                    resource_id=resource_id,
                    method_type=http_method,
                    status_code=str(response.get("StatusCode", "200")),
                    selection_pattern=response.get("SelectionPattern"),
                    response_templates=dict(response.get("ResponseTemplates") or {}),
                    response_parameters=dict(response.get("ResponseParameters") or {}),
                )
        return method


class Stage(CfnModel):
    """A REST API stage (moto only makes stages from a Deployment's StageName)."""

    TYPE = "AWS::ApiGateway::Stage"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        backend = _rest(account_id, region_name)
        api = backend.get_rest_api(properties["RestApiId"])
        name = str(properties.get("StageName") or resource_name)
        variables = {str(k): str(v) for k, v in (properties.get("Variables") or {}).items()}
        api.stages.pop(name, None)  # a Deployment with the same StageName made it already
        deployment = properties.get("DeploymentId")
        backend.create_stage(
            properties["RestApiId"],
            name,
            # moto's Deployment has no physical ID: a Ref to it is the model itself
            getattr(deployment, "id", deployment),
            variables=variables,
            description=properties.get("Description", ""),
        )
        return Created(name)


class Authorizer(CfnModel):
    """A REST API authorizer (TOKEN, REQUEST or COGNITO_USER_POOLS)."""

    TYPE = "AWS::ApiGateway::Authorizer"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AuthorizerId"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        import uuid

        backend = _rest(account_id, region_name)
        api = backend.get_rest_api(properties["RestApiId"])
        authorizer_id = uuid.uuid4().hex[:6]
        ttl = properties.get("AuthorizerResultTtlInSeconds")
        api.create_authorizer(
            authorizer_id=authorizer_id,
            name=properties.get("Name") or resource_name,
            authorizer_type=properties.get("Type", "TOKEN"),
            provider_arns=properties.get("ProviderARNs"),
            auth_type=properties.get("AuthType"),
            authorizer_uri=properties.get("AuthorizerUri"),
            authorizer_credentials=properties.get("AuthorizerCredentials"),
            identity_source=properties.get("IdentitySource"),
            identiy_validation_expression=properties.get("IdentityValidationExpression"),
            authorizer_result_ttl=int(ttl) if ttl is not None else None,
        )
        return Created(authorizer_id, {"AuthorizerId": authorizer_id})


# -- HTTP APIs (v2) ------------------------------------------------------------------------------


class HttpApi(CfnModel):
    """An HTTP API: from ``Body`` (OpenAPI, as SAM writes it) or quick-create ``Target``."""

    TYPE = "AWS::ApiGatewayV2::Api"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ApiEndpoint", "ApiId")

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        body = properties.get("Body")
        if isinstance(body, str):
            body = json.loads(body) if body.lstrip().startswith("{") else _yaml(body)
        body = _mapping(body)
        info = _mapping(body.get("info"))
        backend = _http(account_id, region_name)
        api = backend.create_api(
            api_key_selection_expression=properties.get("ApiKeySelectionExpression"),
            cors_configuration=properties.get("CorsConfiguration")
            or body.get("x-amazon-apigateway-cors"),
            description=properties.get("Description") or info.get("description"),
            disable_schema_validation=properties.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=properties.get("DisableExecuteApiEndpoint"),
            name=str(properties.get("Name") or info.get("title") or resource_name),
            protocol_type=properties.get("ProtocolType", "HTTP"),
            route_selection_expression=properties.get("RouteSelectionExpression"),
            tags=properties.get("Tags") or {},
            version=properties.get("Version") or info.get("version"),
        )
        _import_openapi(api, body)
        target = properties.get("Target")
        if target:
            # Quick create: a $default route to the target, on an auto-deployed $default stage.
            integration = api.create_integration(
                connection_type="INTERNET",
                description="quick create",
                integration_method="POST",
                integration_type="AWS_PROXY",
                integration_uri=target,
                payload_format_version="2.0",
            )
            api.create_route(
                api_key_required=False,
                authorization_scopes=[],
                route_key=properties.get("RouteKey") or "$default",
                target=f"integrations/{integration.id}",
            )
            api.create_stage({"stageName": "$default", "autoDeploy": True})
        return Created(api.api_id, {"ApiEndpoint": api.api_endpoint, "ApiId": api.api_id})

    @staticmethod
    def delete_from_cloudformation_json(
        resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _http(account_id, region_name).delete_api(resource_name)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _import_openapi(api: Any, body: dict[str, Any]) -> None:
    """Routes, integrations and Lambda authorizers of an OpenAPI body (as SAM writes one)."""
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    authorizers: dict[str, str] = {}
    for name, scheme in schemes.items():
        extension = (scheme or {}).get("x-amazon-apigateway-authorizer")
        if not isinstance(extension, dict):
            continue
        authorizer = api.create_authorizer(
            auth_creds_arn=extension.get("authorizerCredentials"),
            auth_payload_format_version=extension.get("authorizerPayloadFormatVersion"),
            auth_result_ttl=extension.get("authorizerResultTtlInSeconds"),
            authorizer_type=str(extension.get("type", "request")).upper(),
            authorizer_uri=extension.get("authorizerUri"),
            enable_simple_response=extension.get("enableSimpleResponses"),
            identity_source=extension.get("identitySource"),
            identity_validation_expr=None,
            jwt_config=extension.get("jwtConfiguration"),
            name=name,
        )
        authorizers[name] = authorizer.id
    for path, operations in (body.get("paths") or {}).items():
        if not isinstance(operations, dict):
            continue
        for verb, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            if verb == "x-amazon-apigateway-any-method":
                method = "ANY"
            elif verb.startswith("x-") or verb == "parameters":
                continue
            else:
                method = verb.upper()
            route_key = "$default" if path in ("$default", "/$default") else f"{method} {path}"
            extension = operation.get("x-amazon-apigateway-integration")
            target = None
            if isinstance(extension, dict):
                integration = api.create_integration(
                    connection_type="INTERNET",
                    description="imported from the API's OpenAPI body",
                    integration_method=extension.get("httpMethod"),
                    integration_type=str(extension.get("type", "aws_proxy")).upper(),
                    integration_uri=extension.get("uri"),
                    payload_format_version=extension.get("payloadFormatVersion", "2.0"),
                    integration_subtype=extension.get("integrationSubtype"),
                    request_parameters=extension.get("requestParameters"),
                    request_templates=extension.get("requestTemplates"),
                    credentials_arn=extension.get("credentials"),
                )
                target = f"integrations/{integration.id}"
            authorization_type, authorizer_id = "NONE", None
            for requirement in operation.get("security") or body.get("security") or []:
                for name in requirement:
                    if name in authorizers:
                        authorizer_id = authorizers[name]
                        kind = (schemes[name].get("x-amazon-apigateway-authorizer") or {}).get(
                            "type", "request"
                        )
                        authorization_type = "JWT" if kind == "jwt" else "CUSTOM"
                    elif name.lower() in ("aws_iam", "sigv4"):
                        authorization_type = "AWS_IAM"
            api.create_route(
                api_key_required=False,
                authorization_scopes=[],
                route_key=route_key,
                target=target,
                authorization_type=authorization_type,
                authorizer_id=authorizer_id,
            )


class HttpRoute(CfnModel):
    TYPE = "AWS::ApiGatewayV2::Route"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        api = _http(account_id, region_name).get_api(properties["ApiId"])
        route = api.create_route(
            api_key_required=bool(properties.get("ApiKeyRequired", False)),
            authorization_scopes=properties.get("AuthorizationScopes") or [],
            route_key=properties["RouteKey"],
            target=properties.get("Target"),
            authorization_type=properties.get("AuthorizationType", "NONE"),
            authorizer_id=properties.get("AuthorizerId"),
        )
        return Created(route.route_id)


class HttpIntegration(CfnModel):
    TYPE = "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        api = _http(account_id, region_name).get_api(properties["ApiId"])
        integration = api.create_integration(
            connection_type=properties.get("ConnectionType", "INTERNET"),
            description=properties.get("Description"),
            integration_method=properties.get("IntegrationMethod"),
            integration_type=str(properties.get("IntegrationType", "AWS_PROXY")).upper(),
            integration_uri=properties.get("IntegrationUri"),
            credentials_arn=properties.get("CredentialsArn"),
            payload_format_version=properties.get("PayloadFormatVersion"),
            integration_subtype=properties.get("IntegrationSubtype"),
            request_parameters=properties.get("RequestParameters"),
            request_templates=properties.get("RequestTemplates"),
        )
        return Created(integration.id)


class HttpStage(CfnModel):
    TYPE = "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        api = _http(account_id, region_name).get_api(properties["ApiId"])
        name = str(properties.get("StageName") or "$default")
        api.create_stage(
            {
                "stageName": name,
                "autoDeploy": properties.get("AutoDeploy"),
                "description": properties.get("Description"),
                "stageVariables": {
                    str(k): str(v) for k, v in (properties.get("StageVariables") or {}).items()
                },
                "tags": properties.get("Tags") or {},
            }
        )
        return Created(name)


class HttpAuthorizer(CfnModel):
    TYPE = "AWS::ApiGatewayV2::Authorizer"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        api = _http(account_id, region_name).get_api(properties["ApiId"])
        authorizer = api.create_authorizer(
            auth_creds_arn=properties.get("AuthorizerCredentialsArn"),
            auth_payload_format_version=properties.get("AuthorizerPayloadFormatVersion"),
            auth_result_ttl=properties.get("AuthorizerResultTtlInSeconds"),
            authorizer_type=properties.get("AuthorizerType", "REQUEST"),
            authorizer_uri=properties.get("AuthorizerUri"),
            enable_simple_response=properties.get("EnableSimpleResponses"),
            identity_source=properties.get("IdentitySource"),
            identity_validation_expr=properties.get("IdentityValidationExpression"),
            jwt_config=properties.get("JwtConfiguration"),
            name=properties.get("Name") or resource_name,
        )
        return Created(authorizer.id)


#: CloudFormation type -> the class that creates it on the local target
MODELS: dict[str, Any] = {
    model.TYPE: model
    for model in (
        RestApi,
        Method,
        Stage,
        Authorizer,
        HttpApi,
        HttpRoute,
        HttpIntegration,
        HttpStage,
        HttpAuthorizer,
    )
}
