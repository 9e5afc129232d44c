"""Session overhead of ``--cloud-stack=local`` against doing the same lifecycle by hand.

Reports medians over repeated runs, on the orders example:

(a) pytest-cloudstack's session overhead on ``local``: wall time of
    ``pytest examples/orders --cloud-stack`` minus the tests' own call time;
(b) the same lifecycle by hand: start ``moto_server``, ``aws cloudformation deploy``,
    ``describe-stacks``, ``delete-stack``, ``wait stack-delete-complete``, stop the server;
(c) ``pytest --collect-only`` on the example without ``--cloud-stack``, plugin installed vs
    ``-p no:cloudstack``: what installing the plugin costs runs that don't use it.

Run: ``python benchmarks/session_overhead.py [--repeat 5]``. awscli is a benchmark-only tool: the
script uses ``aws`` from PATH, or installs awscli into ``benchmarks/.cache/awscli`` once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _moto import moto_server

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders"
CACHE = REPO / "benchmarks" / ".cache"


def median_of(repeat: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(repeat)]
    return statistics.median(samples), samples


def plugin_session_overhead() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        call_file = Path(tmp) / "call-time"
        env = {
            **os.environ,
            "BENCH_CALL_TIME_FILE": str(call_file),
            "PYTHONPATH": str(REPO / "benchmarks"),
        }
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(EXAMPLE),
                "--cloud-stack",
                "-q",
                "-p",
                "_call_time",
                "-p",
                "no:cacheprovider",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        return wall - float(call_file.read_text())


def find_aws() -> str:
    found = shutil.which("aws")
    if found:
        return found
    venv = CACHE / "awscli"
    aws = venv / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return str(aws)


def by_hand_lifecycle(aws: str) -> float:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    started = time.perf_counter()
    with moto_server() as url:
        common = ["--endpoint-url", url, "--region", "us-east-1"]

        def cloudformation(*args: str) -> None:
            subprocess.run(
                [aws, "cloudformation", *args, *common],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )

        template = str(EXAMPLE / "template.yaml")
        cloudformation(
            "deploy",
            "--template-file",
            template,
            "--stack-name",
            "by-hand",
            "--capabilities",
            "CAPABILITY_IAM",
        )
        cloudformation("describe-stacks", "--stack-name", "by-hand")
        cloudformation("delete-stack", "--stack-name", "by-hand")
        cloudformation("wait", "stack-delete-complete", "--stack-name", "by-hand")
    return time.perf_counter() - started


def collection_time(*extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *extra,
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    aws = find_aws()

    plugin, plugin_samples = median_of(args.repeat, plugin_session_overhead)
    by_hand, hand_samples = median_of(args.repeat, lambda: by_hand_lifecycle(aws))
    # Interleave the two collection variants so that machine noise hits both alike.
    with_plugin: list[float] = []
    without_plugin: list[float] = []
    for _ in range(max(args.repeat, 5) * 2):
        with_plugin.append(collection_time())
        without_plugin.append(collection_time("-p", "no:cloudstack"))

    collect_with = statistics.median(with_plugin)
    collect_without = statistics.median(without_plugin)
    print(f"runs per figure: {args.repeat} (collection: {len(with_plugin)})")
    print(
        f"(a) plugin session overhead, local target:  median {plugin:6.2f} s  "
        f"samples {[round(s, 2) for s in plugin_samples]}"
    )
    print(
        f"(b) same lifecycle by hand (moto_server + aws cli): median {by_hand:6.2f} s  "
        f"samples {[round(s, 2) for s in hand_samples]}"
    )
    print(f"    ratio (a)/(b): {plugin / by_hand:.2f}  (target <= 0.5)")
    print(
        f"(c) collection without --cloud-stack: plugin {collect_with * 1000:.0f} ms, "
        f"-p no:cloudstack {collect_without * 1000:.0f} ms, "
        f"difference {(collect_with - collect_without) * 1000:+.0f} ms (target within 20 ms)"
    )


if __name__ == "__main__":
    main()
