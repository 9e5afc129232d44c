"""Speed of a warm API Gateway request on the ``local`` target.

A bare handler (``return {"statusCode": 200, "body": "ok"}``) behind a REST API (``ANY
/{proxy+}``, Lambda proxy integration, payload 1.0) and an HTTP API (``$default`` route, payload
2.0), on the embedded emulator in this process. After a warm-up, ``--requests`` GET requests
per API, interleaved, each a new HTTP connection from ``http.client`` (what ``requests.get``
does); reports the median and p99 of the round trip (target: median <= 15 ms), per run and
the median over ``--repeat`` runs (each run a fresh emulator).

Run: ``python benchmarks/api_request.py [--repeat 5] [--requests 300]``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import time
import zipfile
from typing import Any
from urllib.parse import urlsplit

import boto3

from pytest_cloudstack.local.apigateway.urls import local_base
from pytest_cloudstack.local.emulator import LocalEmulator

BARE = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _apis(url: str) -> tuple[str, str]:
    """A function behind a REST API and an HTTP API; their invoke URLs."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client: Any = lambda service: session.client(service, endpoint_url=url)  # noqa: E731
    role = client("iam").create_role(RoleName="bench", AssumeRolePolicyDocument="{}")
    arn = client("lambda").create_function(
        FunctionName="bare",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(BARE)},
    )["FunctionArn"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    rest = client("apigateway")
    api = rest.create_rest_api(name="bench")["id"]
    root = rest.get_resources(restApiId=api)["items"][0]["id"]
    proxy = rest.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
    rest.put_method(restApiId=api, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    rest.put_integration(
        restApiId=api,
        resourceId=proxy,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=uri,
    )
    rest.create_deployment(restApiId=api, stageName="Prod")
    v2 = client("apigatewayv2")
    http_api = v2.create_api(Name="bench", ProtocolType="HTTP")["ApiId"]
    integration = v2.create_integration(
        ApiId=http_api,
        IntegrationType="AWS_PROXY",
        IntegrationUri=arn,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    v2.create_route(ApiId=http_api, RouteKey="$default", Target=f"integrations/{integration}")
    v2.create_stage(ApiId=http_api, StageName="$default")
    return f"{local_base(url, api)}/Prod/hello", f"{local_base(url, http_api)}/hello"


def _get_ms(url: str) -> float:
    parts = urlsplit(url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", parts.path)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status != 200 or body != b"ok":
        raise SystemExit(f"{url} answered {answer.status} {body!r}")
    return elapsed


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    medians: dict[str, list[float]] = {"REST API": [], "HTTP API": []}
    p99s: dict[str, list[float]] = {"REST API": [], "HTTP API": []}
    for run in range(args.repeat):
        with LocalEmulator() as emulator:
            rest_url, http_url = _apis(emulator.url)
            for _ in range(20):  # cold start, then warm
                _get_ms(rest_url)
                _get_ms(http_url)
            samples: dict[str, list[float]] = {"REST API": [], "HTTP API": []}
            for _ in range(args.requests):
                samples["REST API"].append(_get_ms(rest_url))
                samples["HTTP API"].append(_get_ms(http_url))
        for label, values in samples.items():
            medians[label].append(statistics.median(values))
            p99s[label].append(_p99(values))
            print(
                f"run {run + 1}: {label}: median {statistics.median(values):.2f} ms, "
                f"p99 {_p99(values):.2f} ms ({len(values)} requests)"
            )
    for label in medians:
        print(
            f"warm request through the local API Gateway, {label}: median "
            f"{statistics.median(medians[label]):.2f} ms, p99 {statistics.median(p99s[label]):.2f} "
            f"ms (medians of {args.repeat} runs; target: median <= 15 ms)"
        )


if __name__ == "__main__":
    main()
