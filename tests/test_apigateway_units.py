"""The local API Gateway's pure parts, without a server: route matching, answers, URLs, and
the fidelity report's reading of templates."""

from __future__ import annotations

import base64
import json

import pytest

from pytest_cloudstack.local import fidelity
from pytest_cloudstack.local.apigateway import apis, events, urls


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("/items/{id}", "/items/7", ((2, 1), {"id": "7"})),
        ("/items/special", "/items/special", ((2, 2), {})),
        ("/{proxy+}", "/a/b/c", ((0,), {"proxy": "a/b/c"})),
        ("/p/{proxy+}", "/p", None),  # a greedy parameter needs at least one segment
        ("/items/{id}", "/items", None),
        ("/items/{id}", "/items/7/extra", None),
        ("/", "/", ((), {})),
    ],
)
def test_match(template: str, path: str, expected: object) -> None:
    assert apis.match(template, path) == expected


def test_a_literal_segment_outranks_a_parameter_which_outranks_a_greedy_one() -> None:
    literal = apis.match("/items/special", "/items/special")
    parameter = apis.match("/items/{id}", "/items/special")
    greedy = apis.match("/{proxy+}", "/items/special")
    assert literal and parameter and greedy
    assert literal[0] > parameter[0] > greedy[0]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"statusCode": true}',
        b'{"statusCode": "two hundred"}',
        b'{"statusCode": 200, "body": {"not": "a string"}}',
        b'{"statusCode": 200, "headers": ["x"]}',
        b'{"statusCode": 200, "multiValueHeaders": {"X": "not a list"}}',
        b'"just a string"',
        b"not json",
    ],
)
def test_a_malformed_rest_answer_is_502(payload: bytes) -> None:
    answer = events.answer_v1(payload, False)
    assert (answer.status, json.loads(answer.body)) == (502, {"message": "Internal server error"})


def test_headers_and_multi_value_headers_merge_the_multi_value_one_winning() -> None:
    payload = {
        "statusCode": 200,
        "headers": {"X-A": "single", "X-B": "b"},
        "multiValueHeaders": {"X-A": ["one", "two"]},
        "body": "",
    }
    answer = events.answer_v1(json.dumps(payload).encode(), False)
    assert ("X-A", "one") in answer.headers and ("X-A", "two") in answer.headers
    assert ("X-A", "single") not in answer.headers and ("X-B", "b") in answer.headers


def test_a_base64_body_is_decoded_only_when_binary() -> None:
    payload = json.dumps(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    ).encode()
    assert events.answer_v1(payload, False, binary=True).body == b"\x00\x01"
    assert events.answer_v1(payload, False, binary=False).body == b"AAE="
    assert events.answer_v2(payload, False).body == b"\x00\x01"


def test_format_2_infers_the_answer_of_anything_without_a_status_code() -> None:
    assert events.answer_v2(b'{"a": 1}', False).body == b'{"a": 1}'
    assert events.answer_v2(b'"Hello from Lambda!"', False).body == b"Hello from Lambda!"
    assert events.answer_v2(b"[1, 2]", False).status == 200
    failed = events.answer_v2(b'{"errorMessage": "x"}', True)
    assert (failed.status, failed.body) == (500, b'{"message":"Internal Server Error"}')


@pytest.mark.parametrize(
    ("content_type", "types", "binary"),
    [
        ("image/png", ["image~1png"], True),
        ("image/jpeg", ["image/*"], True),
        ("application/json", ["*/*"], True),
        ("application/json; charset=utf-8", ["image/png"], False),
        (None, ["*/*"], False),
        ("image/png", [], False),
    ],
)
def test_binary_media_types(content_type: str | None, types: list[str], binary: bool) -> None:
    assert events.is_binary(content_type, types) is binary


def test_rewrite_replaces_only_known_apis() -> None:
    text = (
        "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/x and "
        "https://zzz999.execute-api.eu-west-1.amazonaws.com and https://example.com"
    )
    rewritten = urls.rewrite(text, "http://127.0.0.1:5000", lambda api: api == "abc123")
    assert rewritten == (
        "http://127.0.0.1:5000/_aws/execute-api/abc123/Prod/x and "
        "https://zzz999.execute-api.eu-west-1.amazonaws.com and https://example.com"
    )
    assert urls.api_id_of("http://127.0.0.1:5000/_aws/execute-api/abc123/Prod/") == "abc123"
    assert urls.api_id_of("https://abc123.execute-api.us-east-1.amazonaws.com/") == "abc123"
    assert urls.api_id_of("https://example.com/") is None


def test_the_fidelity_report_reads_the_deployed_template() -> None:
    body = {
        "Resources": {
            "Created": {"Type": "AWS::SQS::Queue"},
            "Skipped": {"Type": "AWS::AppSync::GraphQLApi"},
            "Conditional": {"Type": "AWS::SQS::Queue", "Condition": "Never"},
            "Image": {"Type": "AWS::Lambda::Function", "Properties": {"PackageType": "Image"}},
            "Node": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "nodejs20.x"}},
            "Url": {"Type": "AWS::Lambda::Url", "Properties": {}},
            "Jwt": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"AuthorizationType": "JWT"}},
            "Sqs": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "AWS", "Uri": "arn:aws:apigateway:r:sqs:path/1/q"},
                },
            },
            "Kinesis": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "Integration": {"Type": "AWS", "Uri": "arn:aws:apigateway:r:kinesis:action/x"}
                },
            },
        }
    }
    listed = ["Created", "Image", "Node", "Url", "Jwt", "Sqs", "Kinesis"]
    found = [str(finding) for finding in fidelity.report(body, listed)]
    assert found == [
        "Skipped (AWS::AppSync::GraphQLApi: not created by the emulator)",
        "Image (a container image: not run)",
        "Node (runtime nodejs20.x: not run)",
        "Url (AWS::Lambda::Url: function URLs are not served)",
        "Jwt (JWT authorization is not checked)",
        "Kinesis (this AWS service integration is not run)",
    ]
    assert fidelity.line([]) is None


def test_an_http_api_body_reports_every_kind_of_gap_not_just_the_first() -> None:
    proxy = {"x-amazon-apigateway-integration": {"type": "HTTP_PROXY", "uri": "https://x"}}
    jwt = {"x-amazon-apigateway-authorizer": {"type": "jwt"}}
    api = {
        "Type": "AWS::ApiGatewayV2::Api",
        "Properties": {
            "Body": {
                "paths": {"/a": {"get": proxy}, "/b": {"get": proxy}},
                "components": {"securitySchemes": {"first": jwt, "second": jwt}},
            }
        },
    }
    found = [str(finding) for finding in fidelity.report({"Resources": {"Api": api}}, ["Api"])]
    assert found == [
        "Api (HTTP_PROXY integrations are not run)",
        "Api (JWT authorization is not checked)",
    ]
