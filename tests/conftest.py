"""Shared fixtures: a real ``moto_server`` process on 127.0.0.1, and projects for pytester runs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from templates import TABLE

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """A ``moto_server`` subprocess: the endpoint target's emulator, inspected after each run."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def live_stacks(self) -> dict[str, dict[str, Any]]:
        """Stacks that exist on the server right now (not deleted), by name."""
        stacks = self.client("cloudformation").describe_stacks()["Stacks"]
        return {s["StackName"]: s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"}

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The shared moto_server, emptied before each test."""
    moto_server.reset()
    yield moto_server


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer or CI state leaks into the runs under test."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "CLOUD_STACK_")) or name in _CI_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUD_STACK_BRANCH", "main")
    # Warm emulator parents outlive the session by design: only tests/test_warm_start.py
    # starts them, in folders of their own, and stops them.
    monkeypatch.setenv("CLOUD_STACK_WARM_START", "0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


_CI_VARIABLES = {
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "GITHUB_SHA",
    "GITLAB_CI",
    "CI_COMMIT_REF_NAME",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_COMMIT_SHA",
    "CIRCLECI",
    "CIRCLE_BRANCH",
    "CIRCLE_SHA1",
    "BITBUCKET_BRANCH",
    "BITBUCKET_COMMIT",
    "BITBUCKET_BUILD_NUMBER",
    "BUILDKITE",
    "BUILDKITE_BRANCH",
    "BUILDKITE_COMMIT",
    "JENKINS_URL",
    "CHANGE_BRANCH",
    "BRANCH_NAME",
    "GIT_BRANCH",
    "GIT_COMMIT",
    "TF_BUILD",
    "SYSTEM_PULLREQUEST_SOURCEBRANCH",
    "BUILD_SOURCEBRANCH",
    "BUILD_SOURCEVERSION",
    "CODEBUILD_BUILD_ID",
    "CODEBUILD_WEBHOOK_HEAD_REF",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "TRAVIS",
    "TRAVIS_BRANCH",
    "TRAVIS_PULL_REQUEST_BRANCH",
    "TRAVIS_COMMIT",
}


def background_pytest(
    project: pytest.Pytester, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m pytest *args -p no:cacheprovider`` in ``project``, left running for the test to
    watch, signal or race: its stdout and stderr together, as text, in ``stdout``."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


SMALL_TEMPLATE = f"""\
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Stage:
    Type: String
    Default: test
Resources:
  Queue:
    Type: AWS::SQS::Queue
{TABLE}
  Bucket:
    Type: AWS::S3::Bucket
Outputs:
  QueueUrl:
    Value: !Ref Queue
  TableName:
    Value: !Ref Table
  BucketName:
    Value: !Ref Bucket
  Stage:
    Value: !Ref Stage
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with a small template at its rootdir."""
    pytester.makefile(".yaml", template=SMALL_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    return pytester


@pytest.fixture
def orders_example(pytester: pytest.Pytester) -> pytest.Pytester:
    """A copy of examples/orders as a pytester project."""
    for path in EXAMPLE.iterdir():
        if path.is_file() and path.suffix in {".py", ".yaml", ".ini"}:
            shutil.copy(path, pytester.path / path.name)
    return pytester
