"""API Gateway on the local target: requests through REST and HTTP APIs run the real handlers.

One stack, deployed from a SAM template (transformed client-side, as ``--cloud-stack=local``
does) on an emulator in this process, with a REST API and an HTTP API each declared three ways
(implicit SAM API, explicit SAM API, raw ``AWS::ApiGateway*`` resources). The tests call the APIs
with a plain HTTP client through the URLs in the stack's outputs and check what the handlers
got (they answer with their event) against API Gateway's documented events in
``tests/data/apigateway/``, and what the client got back.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from templates import python_function, service_role
from test_local_lambda import Aws

from pytest_cloudstack.local.emulator import LocalEmulator
from pytest_cloudstack.packaging import emulators, sam

DATA = Path(__file__).parent / "data" / "apigateway"

ECHO = """
import base64, json

def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    query = event.get("queryStringParameters") or {}
    if path.endswith("/png"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n").decode(), "isBase64Encoded": True}
    if path.endswith("/plain"):
        return {"plain": True}
    if path.endswith("/text"):
        return "Hello from Lambda!"
    if path.endswith("/malformed"):
        return {"body": "no status code"}
    if path.endswith("/raise"):
        raise RuntimeError("handler failed")
    if path.endswith("/cookies"):
        return {"statusCode": 201, "cookies": ["a=1; Path=/", "b=2"], "body": "set"}
    return {
        "statusCode": int(query.get("status", 200)),
        "headers": {"Content-Type": "application/json", "X-Single": "one"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(event),
    }
"""

AUTHORIZER = """
def handler(event, context):
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("X-Key") \
        or (event.get("headers") or {}).get("x-key")
    if token == "boom":
        raise Exception("Unauthorized")
    effect = "Allow" if token in ("allow", "let-me-in") else "Deny"
    if event.get("version") == "2.0":
        return {"isAuthorized": effect == "Allow", "context": {"user": "http-" + token}}
    return {
        "principalId": "user-" + token,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        "context": {"tier": "gold", "count": 3},
    }
"""

#: the integration response of an API -> SQS method for SQS's errors
SQS_ERROR = {
    "StatusCode": "400",
    "SelectionPattern": "4\\d\\d",
    "ResponseTemplates": {"application/json": '{"rejected": "$input.path(\'$.Error.Code\')"}'},
}

TEMPLATE: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Globals": {"Function": {"Runtime": "python3.12", "Handler": "index.handler", "Timeout": 5}},
    "Resources": {
        "Echo": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "InlineCode": ECHO,
                "Events": {
                    "Item": {"Type": "Api", "Properties": {"Path": "/items/{id}", "Method": "get"}},
                    "Literal": {
                        "Type": "Api",
                        "Properties": {"Path": "/items/special", "Method": "get"},
                    },
                    "Proxy": {
                        "Type": "Api",
                        "Properties": {"Path": "/p/{proxy+}", "Method": "any"},
                    },
                    "Post": {"Type": "Api", "Properties": {"Path": "/orders", "Method": "post"}},
                    "Http": {
                        "Type": "HttpApi",
                        "Properties": {"Path": "/h/{proxy+}", "Method": "ANY"},
                    },
                    "HttpItem": {
                        "Type": "HttpApi",
                        "Properties": {"Path": "/items/{id}", "Method": "GET"},
                    },
                    "Custom": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "CustomApi"},
                            "Path": "/{proxy+}",
                            "Method": "any",
                        },
                    },
                    "Token": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "CustomApi"},
                            "Path": "/secure/token",
                            "Method": "get",
                            "Auth": {"Authorizer": "TokenAuth"},
                        },
                    },
                    "Request": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "CustomApi"},
                            "Path": "/secure/request",
                            "Method": "get",
                            "Auth": {"Authorizer": "RequestAuth"},
                        },
                    },
                    "HttpCustom": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "CustomHttpApi"}},
                    },
                    "HttpSecure": {
                        "Type": "HttpApi",
                        "Properties": {
                            "ApiId": {"Ref": "CustomHttpApi"},
                            "Path": "/secure",
                            "Method": "GET",
                            "Auth": {"Authorizer": "KeyAuth"},
                        },
                    },
                },
            },
        },
        "Authorizer": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"InlineCode": AUTHORIZER},
        },
        "CustomApi": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "StageName": "dev",
                "BinaryMediaTypes": ["image~1png", "application/octet-stream"],
                "Variables": {"color": "blue"},
                "Cors": {"AllowOrigin": "'https://example.com'", "AllowMethods": "'GET,POST'"},
                "Auth": {
                    "Authorizers": {
                        "TokenAuth": {"FunctionArn": {"Fn::GetAtt": ["Authorizer", "Arn"]}},
                        "RequestAuth": {
                            "FunctionArn": {"Fn::GetAtt": ["Authorizer", "Arn"]},
                            "FunctionPayloadType": "REQUEST",
                            "Identity": {"Headers": ["X-Key"]},
                        },
                    }
                },
            },
        },
        "CustomHttpApi": {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "CorsConfiguration": {
                    "AllowOrigins": ["https://example.com"],
                    "AllowMethods": ["GET", "POST"],
                    "AllowHeaders": ["x-key"],
                    "MaxAge": 600,
                },
                "Auth": {
                    "Authorizers": {
                        "KeyAuth": {
                            "FunctionArn": {"Fn::GetAtt": ["Authorizer", "Arn"]},
                            "AuthorizerPayloadFormatVersion": "2.0",
                            "EnableSimpleResponses": True,
                            "Identity": {"Headers": ["x-key"]},
                        }
                    }
                },
            },
        },
        # API -> SQS: a REST API with an AWS service integration and a Velocity template, and
        # an HTTP API route with the SQS-SendMessage subtype.
        "Inbox": {"Type": "AWS::SQS::Queue"},
        "QueueApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "queue-api"}},
        "Messages": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ParentId": {"Fn::GetAtt": ["QueueApi", "RootResourceId"]},
                "PathPart": "messages",
            },
        },
        "SendMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ResourceId": {"Ref": "Messages"},
                "HttpMethod": "POST",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {
                        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:sqs:path/${AWS::AccountId}/${Inbox.QueueName}"
                    },
                    "RequestParameters": {
                        "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
                    },
                    "RequestTemplates": {
                        "application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
                    },
                    "IntegrationResponses": [
                        {
                            "StatusCode": "202",
                            "ResponseTemplates": {
                                "application/json": '{"queued": "$input.path(\'$.SendMessageResponse.SendMessageResult.MessageId\')"}'
                            },
                        }
                    ],
                },
                "MethodResponses": [{"StatusCode": "202"}],
            },
        },
        # SQS's own errors (a queue that does not exist, a DelaySeconds that is not a number)
        # go through the integration responses: 4xx selects the 400 one.
        "Lost": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ParentId": {"Fn::GetAtt": ["QueueApi", "RootResourceId"]},
                "PathPart": "lost",
            },
        },
        "LostMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ResourceId": {"Ref": "Lost"},
                "HttpMethod": "POST",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {
                        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:sqs:path/${AWS::AccountId}/no-such-queue"
                    },
                    "RequestTemplates": {"application/json": "Action=SendMessage&MessageBody=x"},
                    "IntegrationResponses": [{"StatusCode": "202"}, SQS_ERROR],
                },
                "MethodResponses": [{"StatusCode": "202"}, {"StatusCode": "400"}],
            },
        },
        "DelayMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ResourceId": {"Ref": "Messages"},
                "HttpMethod": "PUT",
                "AuthorizationType": "NONE",
                "RequestParameters": {"method.request.querystring.delay": False},
                "Integration": {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {
                        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:sqs:path/${AWS::AccountId}/${Inbox.QueueName}"
                    },
                    "RequestParameters": {
                        "integration.request.querystring.DelaySeconds": "method.request.querystring.delay"
                    },
                    "RequestTemplates": {"application/json": "Action=SendMessage&MessageBody=x"},
                    "IntegrationResponses": [{"StatusCode": "202"}, SQS_ERROR],
                },
                "MethodResponses": [{"StatusCode": "202"}, {"StatusCode": "400"}],
            },
        },
        # A MOCK integration whose response template reads a path parameter.
        "Things": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ParentId": {"Fn::GetAtt": ["QueueApi", "RootResourceId"]},
                "PathPart": "things",
            },
        },
        "Thing": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ParentId": {"Ref": "Things"},
                "PathPart": "{id}",
            },
        },
        "ThingMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "QueueApi"},
                "ResourceId": {"Ref": "Thing"},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [
                        {
                            "StatusCode": "200",
                            "ResponseTemplates": {
                                "application/json": '{"id": "$input.params(\'id\')", '
                                '"path": "$input.params().path.id"}'
                            },
                        }
                    ],
                },
                "MethodResponses": [{"StatusCode": "200"}],
            },
        },
        "QueueDeployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["SendMethod", "LostMethod", "DelayMethod", "ThingMethod"],
            "Properties": {"RestApiId": {"Ref": "QueueApi"}, "StageName": "v1"},
        },
        "SqsIntegration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "RawHttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationSubtype": "SQS-SendMessage",
                "PayloadFormatVersion": "1.0",
                "RequestParameters": {"QueueUrl": {"Ref": "Inbox"}, "MessageBody": "$request.body"},
            },
        },
        "SqsRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "RawHttpApi"},
                "RouteKey": "POST /queue",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "SqsIntegration"}]]},
            },
        },
        # An HTTP API written out by hand: payload format 1.0, a named stage with variables.
        "RawHttpApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"Name": "raw", "ProtocolType": "HTTP"},
        },
        "RawIntegration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "RawHttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": ["Echo", "Arn"]},
                "PayloadFormatVersion": "1.0",
            },
        },
        "RawRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "RawHttpApi"},
                "RouteKey": "POST /my/{thing}",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "RawIntegration"}]]},
            },
        },
        "RawStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": {"Ref": "RawHttpApi"},
                "StageName": "live",
                "AutoDeploy": True,
                "StageVariables": {"stageVariable1": "value1"},
            },
        },
    },
    "Outputs": {
        "RestUrl": {
            "Value": {
                "Fn::Sub": "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/"
            }
        },
        "CustomUrl": {
            "Value": {
                "Fn::Sub": "https://${CustomApi}.execute-api.${AWS::Region}.amazonaws.com/dev"
            }
        },
        "HttpUrl": {
            "Value": {
                "Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
            }
        },
        "CustomHttpUrl": {"Value": {"Fn::GetAtt": ["CustomHttpApi", "ApiEndpoint"]}},
        "RawUrl": {
            "Value": {
                "Fn::Sub": "https://${RawHttpApi}.execute-api.${AWS::Region}.amazonaws.com/live"
            }
        },
        "Elsewhere": {"Value": "https://abcdefghij.execute-api.us-east-1.amazonaws.com/Prod/"},
        "QueueUrl": {
            "Value": {"Fn::Sub": "https://${QueueApi}.execute-api.${AWS::Region}.amazonaws.com/v1"}
        },
        "InboxUrl": {"Value": {"Ref": "Inbox"}},
    },
}


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with LocalEmulator() as emulator:
        yield Aws(emulator.url)


@pytest.fixture(scope="module")
def outputs(aws: Aws) -> dict[str, str]:
    body = sam.transform(TEMPLATE, {}, "us-east-1", None)
    emulators.adapt(body)
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        StackName="apis", TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"]
    )
    stack = cloudformation.describe_stacks(StackName="apis")["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def doc(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


#: maps whose keys are the request's own (headers, parameters): only their type is compared
OPEN_MAPS = {
    f"event.{name}"
    for name in (
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    )
}


def assert_shape(
    documented: Any, actual: Any, where: str = "event", skip: tuple[str, ...] = ()
) -> None:
    """Every field of the documented event is in ``actual``, with the same JSON type."""
    if documented is None:
        return
    assert actual is not None, f"{where} is null, documented as {documented!r}"
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where} is {actual!r}, documented as an object"
        if where in OPEN_MAPS:
            return
        for key, value in documented.items():
            path = f"{where}.{key}"
            if path in skip:
                continue
            assert key in actual, f"{path} is missing (documented as {value!r})"
            assert_shape(value, actual[key], path, skip)
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where} is {actual!r}, documented as a list"
    elif isinstance(documented, bool):
        assert isinstance(actual, bool), f"{where} is {actual!r}, documented as a boolean"
    elif isinstance(documented, (int, float)):
        assert isinstance(actual, (int, float)), f"{where} is {actual!r}, documented as a number"
    else:
        assert isinstance(actual, str), f"{where} is {actual!r}, documented as a string"


def raw_request(
    url: str, method: str = "GET", headers: list[tuple[str, str]] | None = None, body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request with repeated headers (requests folds them), through http.client."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
        for name, value in [("User-Agent", "raw-client/1.0"), *(headers or [])]:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


# -- URLs --------------------------------------------------------------------------------------


def test_outputs_with_an_api_url_give_its_local_url(aws: Aws, outputs: dict[str, str]) -> None:
    for name in ("RestUrl", "CustomUrl", "HttpUrl", "CustomHttpUrl", "RawUrl", "QueueUrl"):
        assert outputs[name].startswith(f"{aws.url}/_aws/execute-api/"), name
    assert outputs["RestUrl"].endswith("/Prod/")
    # An execute-api URL of an API that is not in the emulator is left as it is.
    assert outputs["Elsewhere"] == "https://abcdefghij.execute-api.us-east-1.amazonaws.com/Prod/"


def test_the_apis_exist_in_the_control_plane_as_declared(aws: Aws, outputs: dict[str, str]) -> None:
    resources = aws.client("cloudformation").list_stack_resources(StackName="apis")
    physical = {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for summary in resources["StackResourceSummaries"]
    }
    stages = aws.client("apigateway").get_stages(restApiId=physical["CustomApi"])["item"]
    dev = next(stage for stage in stages if stage["stageName"] == "dev")
    assert dev["variables"] == {"color": "blue"}
    assert isinstance(dev["deploymentId"], str)
    authorizers = aws.client("apigateway").get_authorizers(restApiId=physical["CustomApi"])
    assert sorted(a["name"] for a in authorizers["items"]) == ["RequestAuth", "TokenAuth"]
    routes = aws.client("apigatewayv2").get_routes(ApiId=physical["RawHttpApi"])["Items"]
    assert sorted(route["RouteKey"] for route in routes) == ["POST /my/{thing}", "POST /queue"]
    stage = aws.client("apigatewayv2").get_stage(ApiId=physical["RawHttpApi"], StageName="live")
    assert stage["StageVariables"] == {"stageVariable1": "value1"}


# -- REST API: payload format 1.0 --------------------------------------------------------------


def test_a_rest_api_request_runs_the_handler_with_the_documented_event(
    outputs: dict[str, str],
) -> None:
    status, headers, body = raw_request(
        outputs["CustomUrl"] + "/hello/world?name=you&name=me&single=1",
        "POST",
        [("Content-Type", "application/json"), ("headerName", "a"), ("headerName", "b")],
        b'{"a": 1}',
    )
    assert status == 200
    event = json.loads(body)
    assert_shape(doc("rest-proxy-event.json"), event)
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/hello/world"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "hello/world"}
    assert event["queryStringParameters"] == {"name": "me", "single": "1"}
    assert event["multiValueQueryStringParameters"] == {"name": ["you", "me"], "single": ["1"]}
    assert event["headers"]["headerName"] == "b"
    assert event["multiValueHeaders"]["headerName"] == ["a", "b"]
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] == {"color": "blue"}
    context = event["requestContext"]
    assert context["stage"] == "dev"
    assert context["resourcePath"] == "/{proxy+}"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/dev/hello/world"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert dict(headers)["x-amzn-RequestId"] == context["requestId"]


def test_rest_path_parameters_and_the_most_specific_resource(outputs: dict[str, str]) -> None:
    event = requests.get(outputs["RestUrl"] + "items/42", timeout=30).json()
    assert event["resource"] == "/items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] is None
    assert event["stageVariables"] is None
    literal = requests.get(outputs["RestUrl"] + "items/special", timeout=30).json()
    assert literal["resource"] == "/items/special"
    assert literal["pathParameters"] is None
    greedy = requests.delete(outputs["RestUrl"] + "p/a/b/c", timeout=30).json()
    assert greedy["pathParameters"] == {"proxy": "a/b/c"}
    assert greedy["httpMethod"] == "DELETE"  # an ANY method


def test_a_rest_post_with_a_json_body(outputs: dict[str, str]) -> None:
    answer = requests.post(outputs["RestUrl"] + "orders", json={"id": "o-1"}, timeout=30)
    assert answer.status_code == 200
    assert json.loads(answer.json()["body"]) == {"id": "o-1"}


def test_a_rest_answer_keeps_status_and_headers(outputs: dict[str, str]) -> None:
    status, headers, _ = raw_request(outputs["RestUrl"] + "items/1?status=418")
    assert status == 418
    assert ("X-Single", "one") in headers
    assert ("X-Multi", "a") in headers and ("X-Multi", "b") in headers


def test_binary_bodies_follow_the_rest_apis_binary_media_types(outputs: dict[str, str]) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    answer = requests.get(
        outputs["CustomUrl"] + "/x/png", headers={"Accept": "image/png"}, timeout=30
    )
    assert answer.content == png
    # The implicit API has no binary media types: the base64 text comes through as it is.
    text = requests.get(outputs["RestUrl"] + "p/png", timeout=30)
    assert text.content == b"iVBORw0KGgo="
    sent = requests.post(
        outputs["CustomUrl"] + "/upload",
        data=b"\x00\x01binary",
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    ).json()
    assert sent["isBase64Encoded"] is True
    assert sent["body"] == "AAFiaW5hcnk="


def test_rest_api_errors_are_api_gateways(outputs: dict[str, str]) -> None:
    malformed = requests.get(outputs["RestUrl"] + "p/malformed", timeout=30)
    assert (malformed.status_code, malformed.json()) == (502, {"message": "Internal server error"})
    raised = requests.get(outputs["RestUrl"] + "p/raise", timeout=30)
    assert (raised.status_code, raised.json()) == (502, {"message": "Internal server error"})
    missing = requests.get(outputs["RestUrl"] + "nowhere", timeout=30)
    assert (missing.status_code, missing.json()) == (
        403,
        {"message": "Missing Authentication Token"},
    )
    wrong_method = requests.post(outputs["RestUrl"] + "items/1", timeout=30)
    assert wrong_method.status_code == 403
    stage = outputs["RestUrl"].replace("/Prod/", "/Nope/")
    assert requests.get(stage + "items/1", timeout=30).json() == {"message": "Forbidden"}


def test_a_rest_cors_preflight_is_answered_from_the_apis_cors_settings(
    outputs: dict[str, str],
) -> None:
    answer = requests.options(
        outputs["CustomUrl"] + "/anything",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET,POST"


# -- Lambda authorizers (REST) -----------------------------------------------------------------


def test_a_token_authorizer_runs_before_the_route(outputs: dict[str, str]) -> None:
    url = outputs["CustomUrl"] + "/secure/token"
    allowed = requests.get(url, headers={"Authorization": "allow"}, timeout=30)
    assert allowed.status_code == 200
    authorizer = allowed.json()["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-allow"
    assert authorizer["tier"] == "gold"
    denied = requests.get(url, headers={"Authorization": "nope"}, timeout=30)
    assert denied.status_code == 403
    assert "explicit deny" in denied.json()["Message"]
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": "boom"}, timeout=30).status_code == 401


def test_a_request_authorizer_reads_its_identity_sources(outputs: dict[str, str]) -> None:
    url = outputs["CustomUrl"] + "/secure/request"
    allowed = requests.get(url, headers={"X-Key": "let-me-in"}, timeout=30)
    assert allowed.status_code == 200
    assert allowed.json()["requestContext"]["authorizer"]["principalId"] == "user-let-me-in"
    assert requests.get(url, timeout=30).json() == {"message": "Unauthorized"}
    assert requests.get(url, headers={"X-Key": "no"}, timeout=30).status_code == 403


# -- HTTP APIs: payload formats 2.0 and 1.0 ----------------------------------------------------


def test_an_http_api_request_runs_the_handler_with_the_documented_event(
    outputs: dict[str, str],
) -> None:
    status, _, body = raw_request(
        outputs["HttpUrl"] + "/h/my/path?parameter1=value1&parameter1=value2&parameter2=value",
        "POST",
        [("Header2", "value1"), ("Header2", "value2"), ("Cookie", "cookie1; cookie2")],
        b"Hello from Lambda",
    )
    assert status == 200
    event = json.loads(body)
    assert_shape(
        doc("http-api-payload-2.0.json"),
        event,
        skip=(
            "event.requestContext.authentication",  # mutual TLS
            "event.requestContext.authorizer",  # no authorizer on this route
            "event.stageVariables",  # none on this stage
        ),
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /h/{proxy+}"
    assert event["rawPath"] == "/h/my/path"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value"
    assert event["cookies"] == ["cookie1", "cookie2"]
    assert event["headers"]["header2"] == "value1,value2"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"parameter1": "value1,value2", "parameter2": "value"}
    assert event["pathParameters"] == {"proxy": "my/path"}
    assert event["body"] == "Hello from Lambda"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["http"]["method"] == "POST"


def test_an_http_api_with_payload_format_1_0_and_a_named_stage(outputs: dict[str, str]) -> None:
    answer = requests.post(outputs["RawUrl"] + "/my/path?parameter1=value1", data="x", timeout=30)
    assert answer.status_code == 200
    event = answer.json()
    assert_shape(
        doc("http-api-payload-1.0.json"),
        event,
        skip=(
            "event.requestContext.authorizer",
            "event.requestContext.identity.clientCert",  # mutual TLS
        ),
    )
    assert event["version"] == "1.0"
    assert event["resource"] == "/my/{thing}"
    assert event["pathParameters"] == {"thing": "path"}
    assert event["stageVariables"] == {"stageVariable1": "value1"}
    assert event["requestContext"]["stage"] == "live"


def test_http_api_answers(outputs: dict[str, str]) -> None:
    plain = requests.get(outputs["HttpUrl"] + "/h/plain", timeout=30)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.json() == {"plain": True}
    text = requests.get(outputs["HttpUrl"] + "/h/text", timeout=30)
    assert text.text == "Hello from Lambda!"
    png = requests.get(outputs["HttpUrl"] + "/h/png", timeout=30)
    assert png.content == b"\x89PNG\r\n\x1a\n"
    status, headers, body = raw_request(outputs["HttpUrl"] + "/h/cookies")
    assert (status, body) == (201, b"set")
    assert [value for name, value in headers if name == "Set-Cookie"] == ["a=1; Path=/", "b=2"]
    item = requests.get(outputs["HttpUrl"] + "/items/7", timeout=30).json()
    assert (item["routeKey"], item["pathParameters"]) == ("GET /items/{id}", {"id": "7"})


def test_http_api_errors_are_api_gateways(outputs: dict[str, str]) -> None:
    malformed = requests.get(outputs["HttpUrl"] + "/h/malformed", timeout=30)
    # A dict without statusCode is a valid 2.0 answer: the 200 JSON answer
    assert malformed.status_code == 200
    raised = requests.get(outputs["HttpUrl"] + "/h/raise", timeout=30)
    assert (raised.status_code, raised.json()) == (500, {"message": "Internal Server Error"})
    missing = requests.get(outputs["HttpUrl"] + "/elsewhere", timeout=30)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


def test_an_http_api_default_route_takes_what_no_route_matches(outputs: dict[str, str]) -> None:
    event = requests.put(outputs["CustomHttpUrl"] + "/any/thing", timeout=30).json()
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/any/thing"


def test_an_http_api_answers_cors_preflights_and_adds_cors_headers(
    outputs: dict[str, str],
) -> None:
    preflight = requests.options(
        outputs["CustomHttpUrl"] + "/whatever",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert preflight.headers["Access-Control-Max-Age"] == "600"
    answer = requests.get(
        outputs["CustomHttpUrl"] + "/x", headers={"Origin": "https://example.com"}, timeout=30
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "https://example.com"
    other = requests.get(
        outputs["CustomHttpUrl"] + "/x", headers={"Origin": "https://evil.example"}, timeout=30
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_an_http_api_lambda_authorizer_with_simple_responses(outputs: dict[str, str]) -> None:
    url = outputs["CustomHttpUrl"] + "/secure"
    allowed = requests.get(url, headers={"x-key": "allow"}, timeout=30)
    assert allowed.status_code == 200
    assert allowed.json()["requestContext"]["authorizer"] == {"lambda": {"user": "http-allow"}}
    assert requests.get(url, headers={"x-key": "no"}, timeout=30).status_code == 403
    assert requests.get(url, timeout=30).status_code == 401


# -- through the plugin ------------------------------------------------------------------------


def test_the_example_api_app_passes_on_local_unchanged(pytester: pytest.Pytester) -> None:
    """examples/api-app's tests, written as for AWS (URLs from outputs, `requests`), pass."""
    import shutil

    example = Path(__file__).resolve().parent.parent / "examples" / "api-app"
    shutil.copytree(example, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest_subprocess("--cloud-stack", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


# -- AWS service integrations: API -> SQS ------------------------------------------------------


def test_a_rest_api_sends_to_sqs_through_its_velocity_template(
    aws: Aws, outputs: dict[str, str]
) -> None:
    answer = requests.post(
        outputs["QueueUrl"] + "/messages", json={"order": "o-1", "note": "a&b=c"}, timeout=30
    )
    assert answer.status_code == 202
    message_id = answer.json()["queued"]
    sqs = aws.client("sqs")
    [message] = sqs.receive_message(QueueUrl=outputs["InboxUrl"], WaitTimeSeconds=1)["Messages"]
    sqs.delete_message(QueueUrl=outputs["InboxUrl"], ReceiptHandle=message["ReceiptHandle"])
    assert message["MessageId"] == message_id
    assert json.loads(message["Body"]) == {"order": "o-1", "note": "a&b=c"}


def test_an_http_api_route_sends_to_sqs(aws: Aws, outputs: dict[str, str]) -> None:
    answer = requests.post(outputs["RawUrl"] + "/queue", data="hello queue", timeout=30)
    assert answer.status_code == 200
    sent = answer.json()["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    sqs = aws.client("sqs")
    [message] = sqs.receive_message(QueueUrl=outputs["InboxUrl"], WaitTimeSeconds=1)["Messages"]
    sqs.delete_message(QueueUrl=outputs["InboxUrl"], ReceiptHandle=message["ReceiptHandle"])
    assert (message["MessageId"], message["Body"]) == (sent, "hello queue")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/lost", "AWS.SimpleQueueService.NonExistentQueue"),
        ("/messages?delay=soon", "InvalidParameterValue"),
    ],
)
def test_sqs_errors_go_through_the_integration_responses(
    outputs: dict[str, str], path: str, code: str
) -> None:
    method = "POST" if path == "/lost" else "PUT"
    answer = requests.request(method, outputs["QueueUrl"] + path, json={}, timeout=30)
    assert (answer.status_code, answer.json()) == (400, {"rejected": code}), answer.text


def test_a_mapping_template_reads_the_path_parameters(outputs: dict[str, str]) -> None:
    answer = requests.get(outputs["QueueUrl"] + "/things/t-42", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"id": "t-42", "path": "t-42"})


def test_a_request_with_the_apis_own_host_name_reaches_it(
    aws: Aws, outputs: dict[str, str]
) -> None:
    api_id = outputs["RestUrl"].split("/_aws/execute-api/")[1].split("/")[0]
    answer = requests.get(
        aws.url + "/Prod/items/9",
        headers={"Host": f"{api_id}.execute-api.us-east-1.amazonaws.com"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json()["pathParameters"] == {"id": "9"}
    # Everything else still goes to moto: the control plane answers as before.
    assert aws.client("apigateway").get_rest_api(restApiId=api_id)["id"] == api_id


HELLO = python_function(
    "Hello",
    """
    def handler(event, context):
        name = event["pathParameters"]["name"]
        return {"statusCode": 200, "body": "hello " + name}
    """,
)

PLAIN_OPENAPI_TEMPLATE = (
    f"Resources:\n{service_role()}\n{HELLO}\n"
    + """\
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Body:
        openapi: "3.0.1"
        info: {title: plain, version: "1"}
        paths:
          /hello/{name}:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Hello.Arn}/invocations"
  Deployment:
    Type: AWS::ApiGateway::Deployment
    Properties: {RestApiId: !Ref Api, StageName: live}
Outputs:
  Url:
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/live"
"""
)

PLAIN_OPENAPI_TEST = """\
import urllib.request

def test_hello(cloud_stack):
    with urllib.request.urlopen(cloud_stack.outputs["Url"] + "/hello/plain") as answer:
        assert answer.read() == b"hello plain"
"""


def test_a_plain_templates_openapi_rest_api_is_served(pytester: pytest.Pytester) -> None:
    """No SAM: a RestApi defined by its OpenAPI Body (moto ignores Body) still routes."""
    pytester.makefile(".yaml", template=PLAIN_OPENAPI_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = plain\ncloud_stack_target = local\n")
    pytester.makepyfile(PLAIN_OPENAPI_TEST)
    result = pytester.runpytest_subprocess("--cloud-stack", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
