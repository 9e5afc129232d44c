"""The API tested as on AWS: URLs from the stack's outputs, a plain HTTP client.

The outputs are read the way `sam init`'s integration tests read them (CloudFormation's
DescribeStacks on the stack named by AWS_SAM_STACK_NAME), and through `cloud_stack.outputs`.
"""

import os

import boto3
import pytest
import requests


@pytest.fixture(scope="session")
def api_url(cloud_stack):
    stack = boto3.client("cloudformation").describe_stacks(
        StackName=os.environ["AWS_SAM_STACK_NAME"]
    )["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    return outputs["ApiUrl"]


@pytest.fixture(scope="session")
def http_api_url(cloud_stack):
    return cloud_stack.outputs["HttpApiUrl"]


def test_path_and_query_parameters(api_url):
    answer = requests.get(api_url + "hello/ada", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"greeting": "hello, ada"}
    assert requests.get(api_url + "hello/ada?shout=true", timeout=10).json() == {
        "greeting": "HELLO, ADA!"
    }


def test_a_post_with_a_json_body(api_url):
    order = {"id": "o-1", "lines": [{"price": 3, "quantity": 2}, {"price": 10, "quantity": 1}]}
    answer = requests.post(api_url + "orders", json=order, timeout=10)
    assert answer.status_code == 201
    assert answer.json() == {"id": "o-1", "total": 16}
    assert requests.post(api_url + "orders", data="not json", timeout=10).status_code == 400


def test_a_binary_response(api_url):
    answer = requests.get(api_url + "logo.png", headers={"Accept": "image/png"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_route_behind_a_lambda_authorizer(api_url):
    url = api_url + "private"
    allowed = requests.get(url, headers={"Authorization": "Bearer ada"}, timeout=10)
    assert (allowed.status_code, allowed.json()) == (200, {"user": "ada"})
    assert (
        requests.get(url, headers={"Authorization": "Bearer mallory"}, timeout=10).status_code
        == 403
    )
    assert requests.get(url, headers={"Authorization": "Basic x"}, timeout=10).status_code == 401
    assert requests.get(url, timeout=10).status_code == 401


def test_an_unknown_route_is_refused_as_api_gateway_does(api_url):
    answer = requests.get(api_url + "nowhere", timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}


def test_an_http_api_stores_and_reads_items(http_api_url):
    created = requests.post(http_api_url + "items", json={"id": "i-1", "name": "lamp"}, timeout=10)
    assert created.status_code == 201
    answer = requests.get(http_api_url + "items/i-1", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"id": "i-1", "name": "lamp"}
    missing = requests.get(http_api_url + "items/nope", timeout=10)
    assert missing.status_code == 404


def test_the_api_handle(cloud_stack):
    api = cloud_stack.api("ServerlessRestApi")
    assert api.stage == "Prod"
    answer = api.request("GET", "/hello/grace")
    assert (answer.status, answer.json()) == (200, {"greeting": "hello, grace"})
    http_api = cloud_stack.api("HttpApiUrl")  # from an output with the URL
    assert http_api.request("GET", "items/none").status == 404


def test_an_http_api_route_sends_straight_to_sqs(http_api_url, messages_queue):
    answer = requests.post(http_api_url + "messages", json={"event": "signup"}, timeout=10)
    assert answer.status_code == 200
    message = messages_queue.wait_for_message(timeout=10)
    assert message.json() == {"event": "signup"}
