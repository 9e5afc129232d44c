"""A trivial ``--cloud-stack=local`` session against what users write instead, interleaved.

Every variant deploys ``examples/orders/template.yaml``, runs the same trivial test (the stack is
``CREATE_COMPLETE``) and deletes the stack; each round runs every variant once, in a rotating
order, so that machine noise hits all of them alike:

- ``warm``: ``pytest --cloud-stack=local`` with a warm parent running (the emulator is forked
  from a process that has moto imported already; the default outside CI);
- ``cold``: the same with ``CLOUD_STACK_WARM_START=0`` (a fresh emulator child imports moto);
- ``mock_aws``: a session fixture in a conftest, ``moto.mock_aws()`` around ``create_stack``;
- ``moto_server``: a session fixture that starts ``moto_server`` as a subprocess;
- ``by_hand``: ``moto_server`` and the AWS CLI: ``deploy``, ``describe-stacks``,
  ``delete-stack``, ``wait stack-delete-complete``.

Then collection without ``--cloud-stack`` (cold template cache every run): the example's tests
with the plugin installed vs ``-p no:cloudstack`` (in a copy of the example whose ini has no
``cloud_stack_*`` keys, so that pytest without the plugin does not stop on unknown options).

Each variant first runs once untimed (compiled modules, the warm parent, the plugin's caches:
what a developer's second run finds). Python's bytecode cache is on, as it is by default;
``--no-bytecode-cache`` measures machines that set ``PYTHONDONTWRITEBYTECODE``: modules that
were compiled at install time load as usual, but pytest's rewrite of the plugin's modules is
never kept (removed before each run here) and is done again on every run.

Each run must exit 0 having passed (or collected) the same number of tests as the others of its
figure; otherwise the script refuses to print the figure. Reported: medians, and per-round ratios
(median, min, max).

Run: ``python benchmarks/session_overhead.py [--repeat 5]``. awscli is a benchmark-only tool: the
script uses ``aws`` from PATH, or installs awscli into ``benchmarks/.cache/awscli`` once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
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
REGION = "us-east-1"
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# Python caches compiled modules unless told not to; pytest caches its rewrite of the plugin's
# modules there too. Some machines (containers, CI images) turn that off for every process:
# measured as users run by default, unless --no-bytecode-cache asks for that condition.
BYTECODE_OFF = ENV.pop("PYTHONDONTWRITEBYTECODE", None)

# The warm parent lives in a folder of the benchmark's own, and is stopped at the end.
WARM_HOME = tempfile.mkdtemp(prefix="bench-warm-", dir="/tmp")
WARM = {**ENV, "CLOUD_STACK_WARM_START": "1", "XDG_RUNTIME_DIR": WARM_HOME}
COLD = {**ENV, "CLOUD_STACK_WARM_START": "0"}

PLUGIN_TEST = """\
def test_stack(cloud_stack):
    stack = cloud_stack.client("cloudformation").describe_stacks(StackName=cloud_stack.name)
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
"""

PEER_TEST = """\
def test_stack(stack):
    assert stack["StackStatus"] == "CREATE_COMPLETE"
"""

# What a user writes without the plugin: deploy in a session fixture, delete at the end.
_DEPLOY = """\
    cloudformation = boto3.client("cloudformation", region_name="us-east-1", **where)
    cloudformation.create_stack(
        StackName="peer",
        TemplateBody=open("template.yaml").read(),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": "test"}],
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName="peer", WaiterConfig={"Delay": 1}
    )
    yield cloudformation.describe_stacks(StackName="peer")["Stacks"][0]
    cloudformation.delete_stack(StackName="peer")
"""

MOCK_AWS_CONFTEST = f"""\
import boto3
import pytest
from moto import mock_aws


@pytest.fixture(scope="session")
def stack():
    where = {{}}
    with mock_aws():
        yield from _deploy(where)


def _deploy(where):
{_DEPLOY}"""

MOTO_SERVER_CONFTEST = f"""\
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest


@pytest.fixture(scope="session")
def stack():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{{port}}"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield from _deploy({{"endpoint_url": url}})
    finally:
        server.terminate()
        server.wait()


def _deploy(where):
{_DEPLOY}"""


def _project(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    shutil.copy(EXAMPLE / "template.yaml", folder / "template.yaml")
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    return folder


def _pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and the outcome (exit code, last count) of one pytest run in ``folder``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    if (env or ENV).get("PYTHONDONTWRITEBYTECODE"):
        # As for a plugin pip installed (compiled) on such a machine: pytest's rewrite of the
        # plugin's modules is never kept, and is done again on every run.
        for rewritten in (REPO / "pytest_cloudstack").rglob("__pycache__/*-pytest-*.pyc"):
            rewritten.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, env=env or ENV, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    counts = re.findall(r"(\d+ (?:passed|tests? collected))", done.stdout)
    return wall, f"exit {done.returncode}, {counts[-1] if counts else 'nothing counted'}"


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


def by_hand(aws: str) -> tuple[float, str]:
    started = time.perf_counter()
    with moto_server() as url:
        common = ["--endpoint-url", url, "--region", REGION]

        def cloudformation(*args: str) -> None:
            subprocess.run(
                [aws, "cloudformation", *args, *common],
                check=True,
                env=ENV,
                stdout=subprocess.DEVNULL,
            )

        cloudformation(
            "deploy",
            "--template-file",
            str(EXAMPLE / "template.yaml"),
            "--stack-name",
            "by-hand",
            "--capabilities",
            "CAPABILITY_IAM",
        )
        cloudformation("describe-stacks", "--stack-name", "by-hand")
        cloudformation("delete-stack", "--stack-name", "by-hand")
        cloudformation("wait", "stack-delete-complete", "--stack-name", "by-hand")
    return time.perf_counter() - started, "exit 0, by hand"


def interleaved(
    variants: dict[str, Callable[[], tuple[float, str]]], repeat: int, same_across: bool = False
) -> dict[str, list[float]]:
    """``repeat`` rounds of every variant in rotating order; refuses mismatched outcomes.

    Every variant runs once untimed first (what a developer's second run finds: compiled
    modules, a warm parent for ``warm``, the plugin's caches). Every timed run of a variant must
    have the same outcome (exit 0, same count); with ``same_across``, every variant must have the
    same outcome as the others too.
    """
    walls: dict[str, list[float]] = {name: [] for name in variants}
    outcomes: dict[str, set[str]] = {name: set() for name in variants}
    names = list(variants)
    for name in names:
        variants[name]()
    for round_number in range(repeat):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            wall, outcome = variants[name]()
            walls[name].append(wall)
            outcomes[name].add(outcome)
    for name, seen in outcomes.items():
        if len(seen) != 1 or not next(iter(seen)).startswith("exit 0"):
            raise SystemExit(f"{name}: the runs did not all do the same work: {sorted(seen)}")
    if same_across and len(set().union(*outcomes.values())) != 1:
        raise SystemExit(f"the variants did not do the same work: {outcomes}")
    return walls


def _ratios(walls: dict[str, list[float]], ours: str, peer: str) -> str:
    ratios = [a / b for a, b in zip(walls[ours], walls[peer], strict=True)]
    return (
        f"{ours}/{peer} per round: median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}, max {max(ratios):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run every variant with PYTHONDONTWRITEBYTECODE=1 (modules compiled on every run)",
    )
    args = parser.parse_args()
    if args.no_bytecode_cache:
        for env in (ENV, WARM, COLD):
            env["PYTHONDONTWRITEBYTECODE"] = "1"
    print(
        "bytecode cache: "
        + ("off (PYTHONDONTWRITEBYTECODE=1)" if args.no_bytecode_cache else "on")
        + (" (this machine turns it off by default)" if BYTECODE_OFF else "")
    )
    aws = find_aws()
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp:
        root = Path(tmp)
        ini = "[pytest]\ncloud_stack_parameters = Stage=test\ncloud_stack_prefix = bench\n"
        ours = _project(root, "plugin", {"test_stack.py": PLUGIN_TEST, "pytest.ini": ini})
        mock = _project(
            root, "mock", {"test_stack.py": PEER_TEST, "conftest.py": MOCK_AWS_CONFTEST}
        )
        server = _project(
            root, "server", {"test_stack.py": PEER_TEST, "conftest.py": MOTO_SERVER_CONFTEST}
        )
        for folder in (mock, server):
            (folder / "pytest.ini").write_text("[pytest]\n")
        sessions = interleaved(
            {
                "warm": lambda: _pytest(ours, "--cloud-stack=local", env=WARM),
                "cold": lambda: _pytest(ours, "--cloud-stack=local", env=COLD),
                "mock_aws": lambda: _pytest(mock, "-p", "no:cloudstack"),
                "moto_server": lambda: _pytest(server, "-p", "no:cloudstack"),
                "by_hand": lambda: by_hand(aws),
            },
            args.repeat,
        )
        print(
            f"trivial session on examples/orders/template.yaml, {args.repeat} interleaved rounds:"
        )
        for name, samples in sessions.items():
            print(
                f"    {name:12} median {statistics.median(samples):5.2f} s  "
                f"samples {[round(s, 2) for s in samples]}"
            )
        for peer in ("by_hand", "mock_aws", "moto_server"):
            for ours_kind in ("warm", "cold"):
                print(f"    {_ratios(sessions, ours_kind, peer)}")

        # Collection without --cloud-stack: the example's tests, no cloud_stack_* ini keys.
        plain = root / "collect"
        shutil.copytree(EXAMPLE, plain, ignore=shutil.ignore_patterns("pytest.ini", "__pycache__"))
        (plain / "pytest.ini").write_text("[pytest]\n")

        def collect(*extra: str) -> tuple[float, str]:
            cold = tempfile.mkdtemp(prefix="cold-cache-", dir=root)  # no cached resource list
            return _pytest(plain, "--collect-only", *extra, env={**ENV, "XDG_CACHE_HOME": cold})

        collection = interleaved(
            {"installed": collect, "no_plugin": lambda: collect("-p", "no:cloudstack")},
            max(args.repeat, 5) * 2,
            same_across=True,
        )
        deltas = [
            (a - b) * 1000
            for a, b in zip(collection["installed"], collection["no_plugin"], strict=True)
        ]
        print(
            f"collection without --cloud-stack, cold template cache, {len(deltas)} rounds: "
            f"installed {statistics.median(collection['installed']) * 1000:.0f} ms, "
            f"-p no:cloudstack {statistics.median(collection['no_plugin']) * 1000:.0f} ms; "
            f"difference per round median {statistics.median(deltas):+.0f} ms "
            f"(min {min(deltas):+.0f}, max {max(deltas):+.0f}; target <= +20 ms)"
        )


def stop_warm_parents() -> None:
    """Stop the warm parents this benchmark started (by the PIDs they wrote), remove the folder."""
    for pid_file in Path(WARM_HOME).glob("*/zygote-*.pid"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    shutil.rmtree(WARM_HOME, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_warm_parents()
