"""How fast ``eventually`` notices, and what its waiting costs, against a real DynamoDB API.

(a) latency: a background thread writes an item after a delay of 0.05 s to 5 s; the caller waits
    with ``eventually(lambda: table.get(key) is not None, timeout=30)``. Latency is the time from
    the write being *sent* (so the write's own round trip counts against us) to ``eventually``
    returning. Target: median <= 50 ms for conditions that become true within 5 s.
(b) cost: the GetItem calls made by ``eventually`` on a condition that never holds, over its
    whole 30 s timeout (bounded, reported).

The table lives on moto's server in a thread of this process (as with ``--cloud-stack=local``);
every call is a real HTTP request. Medians over ``--repeat`` rounds.

Run: ``python benchmarks/eventually_latency.py [--repeat 3] [--wait 30]``.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import threading
import time
import uuid
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from pytest_cloudstack import eventually

# Spread evenly over 0-5 s: a condition "true within 5 s" may become true at any moment of it.
DELAYS = (0.05, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_table(url: str) -> tuple[Any, list[str]]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    calls: list[str] = []
    session.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    dynamodb = session.resource("dynamodb", endpoint_url=url)
    table = dynamodb.create_table(
        TableName=f"bench-{uuid.uuid4().hex[:8]}",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return table, calls


def latency(table: Any, delay: float) -> float:
    key = {"id": str(uuid.uuid4())}
    sent: list[float] = []

    def write() -> None:
        time.sleep(delay)
        sent.append(time.perf_counter())
        table.put_item(Item=key)

    writer = threading.Thread(target=write)
    writer.start()
    eventually(
        lambda: table.get_item(Key=key, ConsistentRead=True).get("Item") is not None, timeout=30
    )
    returned = time.perf_counter()
    writer.join()
    return returned - sent[0]


def calls_while_waiting(table: Any, calls: list[str], seconds: float) -> tuple[int, float]:
    key = {"id": "never-written"}
    calls.clear()
    started = time.perf_counter()
    try:
        eventually(lambda: table.get_item(Key=key).get("Item") is not None, timeout=seconds)
    except AssertionError:
        pass
    return calls.count("GetItem"), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wait", type=float, default=30.0, help="timeout of the cost run (b)")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        table, calls = make_table(f"http://127.0.0.1:{port}")
        for _ in range(3):  # first requests pay moto's lazy imports: not eventually's doing
            latency(table, 0.0)
        by_delay: dict[float, list[float]] = {delay: [] for delay in DELAYS}
        for _ in range(args.repeat):
            for delay in DELAYS:
                by_delay[delay].append(latency(table, delay))
        counts = [calls_while_waiting(table, calls, args.wait) for _ in range(args.repeat)]
    finally:
        server.stop()

    every = [sample for samples in by_delay.values() for sample in samples]
    print(f"rounds: {args.repeat}; delays 0.05-5 s ({len(DELAYS)} per round)")
    print(
        f"(a) latency, condition true -> eventually returns: median {statistics.median(every) * 1000:.0f} ms, "
        f"p90 {statistics.quantiles(every, n=10)[-1] * 1000:.0f} ms, "
        f"max {max(every) * 1000:.0f} ms (target: median <= 50 ms)"
    )
    for delay, samples in by_delay.items():
        print(
            f"    true after {delay:4.2f} s: median {statistics.median(samples) * 1000:4.0f} ms  "
            f"samples {[round(s * 1000) for s in samples]}"
        )
    numbers = [count for count, _ in counts]
    print(
        f"(b) GetItem calls while waiting {args.wait:g} s for a condition that never holds: "
        f"median {statistics.median(numbers):.0f} (runs: {numbers}; "
        f"elapsed {[round(seconds, 2) for _, seconds in counts]} s)"
    )


if __name__ == "__main__":
    main()
