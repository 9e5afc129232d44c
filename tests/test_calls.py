"""The call guard and the words for failed calls, driven directly against real sockets.

The pytester runs in test_service_faults.py show what a user sees; these pin down what the
guard itself promises: an abandoned call sends no more retries, a call's result and AWS's own
error answers pass through untouched, a web page is summarised by its status and first line.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pytest_cloudstack.calls import CallGuard
from pytest_cloudstack.errors import CallTimeout, ServiceError
from pytest_cloudstack.responses import (
    boto_errors,
    explain,
    is_service_error,
    page_summary,
    service_message,
)
from tests.conftest import MotoServer
from tests.endpoints import PlainWebServer, SilentServer


def _client(url: str, **config: object) -> object:
    return boto3.client(
        "cloudformation",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),  # type: ignore[arg-type]
    )


def test_an_abandoned_call_sends_no_more_retries() -> None:
    lines: list[str] = []
    with SilentServer() as silent:
        # botocore alone would try 10 times, 0.3 s each plus its backoff
        client = _client(
            silent.url, read_timeout=0.3, retries={"mode": "standard", "max_attempts": 10}
        )
        guard = CallGuard(lines.append, timeout=1.0, endpoint_url=silent.url)
        guarded = guard.wrap(client, "cloudformation")
        with guard.deadline("the deploy"), pytest.raises(CallTimeout) as raised:
            guarded.describe_stacks()
        at_abandon = len(silent.accepted)
        time.sleep(6)
        assert len(silent.accepted) <= at_abandon + 1  # one attempt may have been on its way
    assert "CloudFormation DescribeStacks" in str(raised.value)
    assert "the deploy is bounded by --cloud-stack-timeout (1 s)" in str(raised.value)
    assert lines == ["CloudFormation has not answered DescribeStacks for 1 s, still waiting"]


def test_results_and_aws_error_answers_pass_through(moto: MotoServer) -> None:
    guard = CallGuard(lambda line: None, timeout=30)
    guarded = guard.wrap(_client(moto.url), "cloudformation")
    assert guarded.describe_stacks()["Stacks"] == []
    pages = list(guarded.get_paginator("describe_stacks").paginate())
    assert [page["Stacks"] for page in pages] == [[]]
    with pytest.raises(ClientError) as raised:  # callers act on AWS's codes
        guarded.describe_stacks(StackName="nope")
    assert service_message(raised.value).startswith("ValidationError: Stack with id nope")


def test_a_web_page_is_a_service_error_in_words() -> None:
    with PlainWebServer() as web:
        guard = CallGuard(lambda line: None, timeout=30, endpoint_url=web.url)
        guarded = guard.wrap(_client(web.url, retries={"max_attempts": 1}), "cloudformation")
        with pytest.raises(ServiceError) as raised:
            guarded.describe_stacks()
    message = str(raised.value)
    assert message.startswith(
        "CloudFormation DescribeStacks: HTTP 501 web page instead of an AWS answer: "
        f"'Error response'; is {web.url} an AWS endpoint?"
    )
    assert "<" not in message


WERKZEUG_500 = """<!doctype html>
<html lang=en>
<title>500 Internal Server Error</title>
<h1>Internal Server Error</h1>
<p>The server encountered an internal error and was unable to complete your request.</p>
"""


def test_pages_are_summarised_by_status_and_first_line() -> None:
    assert page_summary(WERKZEUG_500) == (
        "HTTP 500 web page instead of an AWS answer: '500 Internal Server Error'"
    )
    assert page_summary("<html><body><h1>Bad &amp; gone</h1></body></html>", "502") == (
        "HTTP 502 web page instead of an AWS answer: 'Bad & gone'"
    )
    assert page_summary("<html><body>\n\n</body></html>") == (
        "a web page instead of an AWS answer: ''"
    )


def _subclasses(klass: type[Exception]) -> list[type[Exception]]:
    found = [klass]
    for sub in klass.__subclasses__():
        found += _subclasses(sub)
    return found


def test_a_service_error_is_what_the_except_clauses_catch() -> None:
    # One definition: every botocore failure the teardown's `except boto_errors()` catches is
    # a service error to the deploy, and nothing else is.
    from botocore.exceptions import BotoCoreError
    from botocore.parsers import ResponseParserError

    failures = [*_subclasses(BotoCoreError), *_subclasses(ClientError), ResponseParserError]
    assert len(failures) > 100  # botocore's whole family, not a handful
    for klass in failures:
        error = klass.__new__(klass)  # their __init__ wants each class's own fields
        assert is_service_error(error), klass
        assert isinstance(error, boto_errors()), klass
    for other in (ValueError("x"), KeyError("x"), CallTimeout("the call", "no answer")):
        assert not is_service_error(other)


def test_explain_names_an_unknown_region_and_an_unreachable_endpoint() -> None:
    client = _client("http://127.0.0.1:9", retries={"max_attempts": 1})
    with pytest.raises(Exception) as raised:
        client.describe_stacks()  # type: ignore[attr-defined]
    said = explain(raised.value, "DescribeStacks", "us-east-1", "http://127.0.0.1:9")
    assert said == (
        "DescribeStacks failed: EndpointConnectionError: Could not connect to the endpoint URL: "
        '"http://127.0.0.1:9/"; check that the endpoint http://127.0.0.1:9 is running and the '
        "URL is right"
    )
    assert "'mars-north-9' is not an AWS region" in explain(raised.value, "x", "mars-north-9")
