"""Three CI shards of one suite: one shared stack (``cloud_stack_share``) vs one stack per shard.

A ``moto_server`` subprocess plays the service; the test suite's fault harness (tests/faults.py)
makes each stack create take ``--create`` seconds, as AWS does (moto creates at once). Three
pytest processes run at the same time, each a third of a 30-test suite (each with its own cache
and lock folder, as separate CI machines), in rotating order per round:

- ``shared``: ``cloud_stack_share = true``: one CreateStack, the last one out deletes;
- ``per-shard``: ``--cloud-stack-name <stack>-<shard>``: three creates, three deletes.

Reported per variant: the wall time until the last shard ends (median over rounds), the
CreateStack calls, and the stack-seconds (how long stacks existed, summed: what AWS bills for the
resources). Every shard must pass its 10 tests with exit 0 in every round, or no figure is printed.

Run: ``python benchmarks/shared_stack.py [--repeat 3] [--create 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _moto import moto_server

REPO = Path(__file__).resolve().parent.parent
SHARDS = 3
TESTS_PER_SHARD = 10
TEMPLATE = (
    "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n  Table:\n    Type: AWS::DynamoDB::Table\n"
    + (
        "    Properties:\n      BillingMode: PAY_PER_REQUEST\n"
        "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n"
        "      KeySchema: [{AttributeName: id, KeyType: HASH}]\n"
    )
)
SHARD_TESTS = """\
import time

import pytest


@pytest.mark.parametrize("n", range({count}))
def test_item(cloud_stack, n):
    table = cloud_stack.table("Table")
    table.put({{"id": "{shard}-" + str(n)}})
    assert table.get({{"id": "{shard}-" + str(n)}}) is not None
    time.sleep(0.1)
"""
CONFTEST = """\
import importlib.util
import sys

_spec = importlib.util.spec_from_file_location("cloudstack_faults", {faults!r})
faults = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = faults
_spec.loader.exec_module(faults)
injector = faults.FaultInjector(faults.FaultPlan.from_json({plan!r}))


def pytest_cloudstack_boto_session(session):
    injector.install(session)
"""


def _project(root: Path, url: str, create_seconds: float, record: Path) -> Path:
    folder = root / "project"
    folder.mkdir()
    (folder / "template.yaml").write_text(TEMPLATE)
    (folder / "pytest.ini").write_text(
        f"[pytest]\ncloud_stack_target = {url}\ncloud_stack_prefix = bench\n"
    )
    names = [f"bench-main-{suffix}" for suffix in ("shared", *[f"s{i}" for i in range(SHARDS)])]
    plan = {
        "slow": [
            {"stack": name, "seconds": create_seconds, "operations": ["CreateStack"]}
            for name in names
        ],
        "record": str(record),
    }
    faults = str(REPO / "tests" / "faults.py")
    (folder / "conftest.py").write_text(CONFTEST.format(faults=faults, plan=json.dumps(plan)))
    for shard in range(SHARDS):
        tests = SHARD_TESTS.format(count=TESTS_PER_SHARD, shard=shard)
        (folder / f"test_shard_{shard}.py").write_text(tests)
    return folder


def _round(folder: Path, variant: str, root: Path) -> tuple[float, list[str]]:
    """Wall time until the last shard ends, and each shard's outcome."""
    processes = []
    started = time.perf_counter()
    for shard in range(SHARDS):
        args = [sys.executable, "-m", "pytest", f"test_shard_{shard}.py", "--cloud-stack", "-q"]
        args += ["-p", "no:cacheprovider"]
        if variant == "shared":
            args += ["--cloud-stack-share", "--cloud-stack-name=bench-main-shared"]
        else:
            args += [f"--cloud-stack-name=bench-main-s{shard}"]
        env = {
            **os.environ,
            "XDG_CACHE_HOME": str(root / f"machine-{shard}"),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        processes.append(
            subprocess.Popen(
                args,
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outcomes = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        counts = re.findall(r"(\d+ passed)", output)
        outcomes.append(f"exit {process.returncode}, {counts[-1] if counts else 'none passed'}")
    return time.perf_counter() - started, outcomes


def _stack_seconds(record: Path, since: int) -> tuple[int, float]:
    """CreateStack calls and summed stack lifetimes (create call to delete call), from the record."""
    lines = record.read_text().splitlines()[since:]
    calls = [entry for entry in map(json.loads, lines) if entry.get("kind") == "call"]
    created: dict[str, float] = {}
    deleted: dict[str, float] = {}
    for call in calls:
        name = str(call["params"].get("StackName", ""))
        if name.startswith("arn:"):  # a stack ID: arn:...:stack/NAME/UUID
            name = name.split("/")[1]
        if call["operation"] == "CreateStack":
            created.setdefault(name, call["time"])
        elif call["operation"] == "DeleteStack":
            deleted.setdefault(name, call["time"])
    total = sum(deleted.get(name, started) - started for name, started in created.items())
    return len(created), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--create", type=float, default=10.0, help="seconds a create takes")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, int, float]]] = {"shared": [], "per-shard": []}
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="share-bench-") as tmp, moto_server() as url:
        root = Path(tmp)
        record = root / "calls.jsonl"
        record.touch()
        folder = _project(root, url, args.create, record)
        variants = list(results)
        for round_number in range(args.repeat):
            for variant in variants[round_number % 2 :] + variants[: round_number % 2]:
                since = len(record.read_text().splitlines())
                wall, outcomes = _round(folder, variant, root)
                seen.update(outcomes)
                creates, stack_seconds = _stack_seconds(record, since)
                results[variant].append((wall, creates, stack_seconds))
    expected = f"exit 0, {TESTS_PER_SHARD} passed"
    if seen != {expected}:
        raise SystemExit(f"the shards did not all do the same work: {sorted(seen)}")
    print(
        f"{SHARDS} shards x {TESTS_PER_SHARD} tests, create takes {args.create:.0f} s, "
        f"{args.repeat} interleaved rounds:"
    )
    for variant, rows in results.items():
        walls = [row[0] for row in rows]
        print(
            f"    {variant:9} wall until the last shard ends: median {statistics.median(walls):5.1f} s"
            f" (min {min(walls):.1f}); CreateStack calls {rows[0][1]}; stack-seconds median "
            f"{statistics.median(row[2] for row in rows):.0f}"
        )


if __name__ == "__main__":
    main()
