"""What bounding every call of the deploy and the teardown costs (``pytest_cloudstack.calls``).

Each call the run makes goes through ``CallGuard``: it runs on a helper thread while the
session's thread waits, so that ``--cloud-stack-timeout`` bounds it. This measures:

(a) one DescribeStacks against a local ``moto_server``, plain client vs guarded client
    (interleaved blocks, median per call);
(b) how many calls of a session go through the guard: ``pytest examples/orders --cloud-stack``
    on ``local``, counted at botocore's ``before-call`` (the run's calls and the tests' own);
(c) the cost for that session: (a)'s difference times the run's share of (b), an upper bound.

Run: ``python benchmarks/call_guard.py [--calls 300] [--blocks 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _moto import moto_server

REPO = Path(__file__).resolve().parent.parent


def per_call(client: object, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        client.describe_stacks()  # type: ignore[attr-defined]
    return (time.perf_counter() - started) / calls


def session_calls() -> int:
    with tempfile.TemporaryDirectory() as folder:
        count = Path(folder) / "count"
        env = {
            **os.environ,
            "BENCH_CALL_COUNT_FILE": str(count),
            "PYTHONPATH": os.pathsep.join(
                [str(REPO / "benchmarks"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "_call_count",
                "examples/orders",
                "--cloud-stack=local",
            ],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        return int(count.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=7)
    args = parser.parse_args()
    from pytest_cloudstack.calls import CallGuard
    from pytest_cloudstack.connection import Connection

    with moto_server() as url:
        connection = Connection("bench", "us-east-1", url)
        plain = connection.client("cloudformation")
        guard = CallGuard(lambda line: None, 3600, "us-east-1", url)
        guarded = guard.wrap(connection.client("cloudformation"), "cloudformation")
        per_call(plain, 20), per_call(guarded, 20)  # warm: moto's first call imports its parser
        plain_times, guarded_times = [], []
        for block in range(args.blocks):  # alternate which goes first: the machine drifts
            pair = [(plain, plain_times), (guarded, guarded_times)]
            for client, times in pair if block % 2 == 0 else pair[::-1]:
                times.append(per_call(client, args.calls))
    plain_ms = statistics.median(plain_times) * 1000
    guarded_ms = statistics.median(guarded_times) * 1000
    calls = session_calls()
    print(f"(a) DescribeStacks: plain {plain_ms:.3f} ms, guarded {guarded_ms:.3f} ms per call")
    print(
        f"    difference {guarded_ms - plain_ms:+.3f} ms per call (median of {args.blocks} blocks of {args.calls})"
    )
    print(f"(b) calls in one orders-example session on local: {calls}")
    print(f"(c) at most {max(guarded_ms - plain_ms, 0) * calls:.1f} ms for the session")


if __name__ == "__main__":
    main()
