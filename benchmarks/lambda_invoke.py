"""Speed of Python handlers on the ``local`` target.

Reports medians over repeated runs:

(a) warm invoke: the round trip of ``lambda.invoke`` through boto3 to a warm environment
    (target: median <= 10 ms);
(b) cold first invoke: create a function, time its first invoke (a new worker process, the
    package extracted, the handler imported); for a handler that imports nothing (the runner's
    own cost, target <= 300 ms) and for one that imports boto3 and makes a client at module
    level (what a typical handler adds on top);
(c) the orders example end to end on ``local``: wall time of ``pytest examples/orders
    --cloud-stack`` in a fresh process (emulator start, deploy, tests, teardown; target <= 3 s),
    after one untimed run; each run must pass all of the example's tests.

Run: ``python benchmarks/lambda_invoke.py [--repeat 5] [--warm 200]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3

from pytest_cloudstack.local.emulator import LocalEmulator

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders"

BARE = "def handler(event, context):\n    return event\n"
WITH_BOTO3 = (
    "import boto3\n\ns3 = boto3.client('s3')\n\ndef handler(event, context):\n    return event\n"
)


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


class Bench:
    def __init__(self, url: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        self.lam: Any = session.client("lambda", endpoint_url=url)
        iam: Any = session.client("iam", endpoint_url=url)
        self.role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def function(self, source: str) -> str:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        self.lam.create_function(
            FunctionName=name,
            # The host's own version: this measures the runner, not how fast another installed
            # interpreter (which a function declaring its version would run on) imports.
            Runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
            Role=self.role,
            Handler="app.handler",
            Code={"ZipFile": _zip(source)},
        )
        return name

    def invoke_ms(self, name: str) -> float:
        started = time.perf_counter()
        answer = self.lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
        answer["Payload"].read()
        elapsed = (time.perf_counter() - started) * 1000
        assert "FunctionError" not in answer, answer
        return elapsed


def example_wall_seconds() -> float:
    """One ``pytest examples/orders --cloud-stack`` run; refuses a run that did other work."""
    expected = sum(path.read_text().count("\ndef test_") for path in EXAMPLE.glob("test_*.py"))
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE),
            "--cloud-stack",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        # Python's bytecode cache on, as by default (see session_overhead.py)
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or f"{expected} passed" not in done.stdout:
        raise SystemExit(
            f"the example run did not pass its {expected} tests (exit {done.returncode}): "
            "no figure is printed\n" + done.stdout[-2000:]
        )
    return wall


def _line(label: str, samples: list[float], unit: str, target: str = "") -> str:
    median = statistics.median(samples)
    spread = f"min {min(samples):.1f}, max {max(samples):.1f}"
    suffix = f"  (target {target})" if target else ""
    return f"{label:<44} median {median:8.1f} {unit}  [{spread}, n={len(samples)}]{suffix}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="cold starts and example runs")
    parser.add_argument("--warm", type=int, default=200, help="warm invokes")
    args = parser.parse_args()

    with LocalEmulator() as emulator:
        bench = Bench(emulator.url)
        warm_name = bench.function(BARE)
        for _ in range(10):  # cold start, then let the connection pool and caches settle
            bench.invoke_ms(warm_name)
        warm = [bench.invoke_ms(warm_name) for _ in range(args.warm)]
        cold = [bench.invoke_ms(bench.function(BARE)) for _ in range(args.repeat)]
        cold_boto3 = [bench.invoke_ms(bench.function(WITH_BOTO3)) for _ in range(args.repeat)]
    example_wall_seconds()  # untimed: compiled modules, the warm parent, the plugin's caches
    example = [example_wall_seconds() for _ in range(args.repeat)]

    print(_line("(a) warm invoke round trip", warm, "ms", "<= 10 ms"))
    print(_line("(b) cold first invoke, bare handler", cold, "ms", "<= 300 ms"))
    print(_line("    cold first invoke, boto3 client at import", cold_boto3, "ms"))
    print(_line("(c) examples/orders on local, wall time", example, "s ", "<= 3 s"))
    print(json.dumps({"warm_ms": statistics.median(warm), "cold_ms": statistics.median(cold)}))


if __name__ == "__main__":
    main()
