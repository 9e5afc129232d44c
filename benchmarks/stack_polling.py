"""How fast the plugin notices that a slow stack operation ended, and what that costs in calls.

A moto_server subprocess plays the service; the test suite's fault-injection harness
(tests/faults.py) makes every create take SECONDS (DescribeStacks answers CREATE_IN_PROGRESS
until then). For each run it reports the lag from the moment the stack reached CREATE_COMPLETE to
the moment ``StackOperations.deploy`` returned, and the DescribeStacks calls per minute.

Run: ``python benchmarks/stack_polling.py [--seconds 20] [--repeat 5]``. Peers, for scale:
botocore's waiters and ``aws cloudformation deploy`` poll the stack every 30 s, ``sam deploy``
every 5 s, CDK every 2-5 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import boto3
from _moto import moto_server

from pytest_cloudstack.deploy import DeployRequest, StackOperations
from pytest_cloudstack.naming import OWNERSHIP_TAG

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("faults", REPO / "tests" / "faults.py")
assert _spec and _spec.loader
faults = importlib.util.module_from_spec(_spec)
sys.modules["faults"] = faults
_spec.loader.exec_module(faults)

TEMPLATE = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})


def one_run(url: str, seconds: float, index: int) -> tuple[float, float]:
    name = f"bench-{index}"
    injector = faults.FaultInjector(faults.FaultPlan(slow=[faults.SlowStack(name, seconds)]))
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    injector.install(session)
    cloudformation = session.client("cloudformation", endpoint_url=url)
    operations = StackOperations(cloudformation, session.client("s3", endpoint_url=url), print)
    request = DeployRequest(
        name=name,
        template_body=TEMPLATE,
        parameters={},
        capabilities=(),
        tags={OWNERSHIP_TAG: "true"},
        timeout=seconds * 3,
    )
    started = time.time()
    operations.deploy(request, reuse=False)
    noticed = time.time()
    # The harness starts the slow window when CreateStack returns; the call is logged just before
    # it is sent, so this slightly overstates the lag (by one local round trip).
    create_returned = next(c["time"] for c in injector.calls if c["operation"] == "CreateStack")
    complete_at = create_returned + seconds
    polls = injector.operations.count("DescribeStacks")
    return noticed - complete_at, polls / ((noticed - started) / 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with moto_server() as url:
        results = [one_run(url, args.seconds, index) for index in range(args.repeat)]
    lags = [lag for lag, _ in results]
    rates = [rate for _, rate in results]
    print(f"operation time {args.seconds:.0f} s, runs {args.repeat}")
    print(
        f"lag from terminal state to noticed: median {statistics.median(lags):.2f} s "
        f"(samples {[round(x, 2) for x in lags]}; target <= 1 s)"
    )
    print(f"DescribeStacks calls per minute: median {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
