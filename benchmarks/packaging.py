"""Packaging speed: a project of 5 functions, cold and unchanged, against `sam build && sam package`.

    python benchmarks/packaging.py [--repeat 5] [--no-sam]

Everything runs against a moto_server on 127.0.0.1 (started here, stopped at the end): no AWS.

- cold: an empty cache and an empty emulator: zips built, 2 requirements.txt installed with pip
  (from pip's own download cache after the first time), the artifact bucket created, 5 uploads;
- unchanged re-run: the same sources again (a new process would see the same): no upload may
  happen (PutObject is counted with a botocore event handler) and it must take <= 0.2 s;
- sam: `sam build` then `sam package` on the same sources (aws-sam-cli installed in its own
  virtualenv under benchmarks/.cache/sam-venv, created on first use), cold then unchanged.

Medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from _moto import moto_server

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
SAM_VENV = CACHE / "sam-venv"
RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # sam build needs it on PATH
FUNCTIONS = 5
WITH_REQUIREMENTS = 2
UNCHANGED_BUDGET = 0.2

TEMPLATE_HEAD = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: {RUNTIME}
    Handler: app.handler
Resources:
"""


def make_project(root: Path) -> Path:
    """5 functions of a few modules each; the first two with a requirements.txt."""
    template = TEMPLATE_HEAD
    for index in range(FUNCTIONS):
        folder = root / "src" / f"fn{index}"
        (folder / "lib").mkdir(parents=True, exist_ok=True)
        (folder / "app.py").write_text(
            f"from lib import helpers\n\ndef handler(event, context):\n    return {index}\n"
        )
        for module in range(20):
            body = "".join(f"def f{n}(x):\n    return x + {n}\n\n" for n in range(40))
            (folder / "lib" / f"m{module}.py").write_text(body)
        (folder / "lib" / "helpers.py").write_text("VALUE = 1\n")
        (folder / "lib" / "__init__.py").write_text("")
        if index < WITH_REQUIREMENTS:
            (folder / "requirements.txt").write_text("inflection==0.5.1\n")
        template += f"  Fn{index}:\n    Type: AWS::Serverless::Function\n"
        template += f"    Properties:\n      CodeUri: src/fn{index}/\n"
    (root / "template.yaml").write_text(template)
    return root / "template.yaml"


class Moto:
    """The benchmark's moto_server (``_moto.moto_server``), emptied between runs."""

    def __init__(self) -> None:
        self._running = contextlib.ExitStack()
        self.url = self._running.enter_context(moto_server())

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self._running.close()


def package_once(template_path: Path, moto: Moto, cache: Path) -> tuple[float, int, int]:
    """One packaging pass as the plugin does it; (seconds, artifacts, PutObject calls)."""
    from pytest_cloudstack.packaging import PackagingOptions, package_template
    from pytest_cloudstack.template import load_template

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    puts = [0]

    def count(**kwargs: object) -> None:
        puts[0] += 1

    session.events.register("before-call.s3.PutObject", count)
    options = PackagingOptions(
        region="us-east-1",
        on_aws=False,
        project_root=template_path.parent,
        parameters={},
        cache=cache,
    )
    started = time.perf_counter()
    template = load_template(template_path)
    packaged = package_template(
        template, options, lambda service: session.client(service, endpoint_url=moto.url)
    )
    return time.perf_counter() - started, packaged.artifacts, puts[0]


def ensure_sam() -> Path | None:
    sam = SAM_VENV / "bin" / "sam"
    if sam.exists():
        return sam
    print("installing aws-sam-cli into benchmarks/.cache/sam-venv (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(SAM_VENV)], check=True)
    pip = [str(SAM_VENV / "bin" / "pip"), "install", "--quiet", "aws-sam-cli"]
    if subprocess.run(pip, check=False).returncode != 0:
        return None
    return sam if sam.exists() else None


def sam_once(sam: Path, project: Path, moto: Moto, bucket: str) -> float:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    started = time.perf_counter()
    for command in (
        [str(sam), "build", "--cached"],
        [str(sam), "package", "--s3-bucket", bucket, "--output-template-file", "packaged.yaml"],
    ):
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-sam", action="store_true", help="skip the aws-sam-cli comparison")
    arguments = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="packaging-", dir=CACHE))
    moto = Moto()
    cold: list[float] = []
    warm: list[float] = []
    sam_cold: list[float] = []
    sam_warm: list[float] = []
    failures: list[str] = []
    try:
        template = make_project(work / "project")
        sam = None if arguments.no_sam else ensure_sam()
        for run in range(arguments.repeat):
            moto.reset()
            cache = work / f"cache-{run}"  # cold: nothing built, nothing uploaded
            seconds, artifacts, puts = package_once(template, moto, cache)
            cold.append(seconds)
            if puts != artifacts:
                failures.append(f"cold run {run}: {puts} uploads for {artifacts} artifacts")
            seconds, _, puts = package_once(template, moto, cache)
            warm.append(seconds)
            if puts:
                failures.append(f"unchanged run {run}: {puts} uploads (expected none)")
            if sam is not None:
                shutil.rmtree(template.parent / ".aws-sam", ignore_errors=True)
                moto.reset()
                s3 = boto3.client(
                    "s3",
                    endpoint_url=moto.url,
                    region_name="us-east-1",
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
                s3.create_bucket(Bucket="sam-artifacts")
                sam_cold.append(sam_once(sam, template.parent, moto, "sam-artifacts"))
                sam_warm.append(sam_once(sam, template.parent, moto, "sam-artifacts"))
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)

    def show(label: str, values: list[float]) -> None:
        print(f"{label:<58} {statistics.median(values):7.3f} s  (runs: {len(values)})")

    print(f"packaging {FUNCTIONS} functions ({WITH_REQUIREMENTS} with requirements.txt), medians:")
    show("pytest-cloudstack, cold (empty cache, empty emulator)", cold)
    show("pytest-cloudstack, unchanged re-run (0 uploads)", warm)
    if sam_cold:
        show("sam build --cached && sam package, cold", sam_cold)
        show("sam build --cached && sam package, unchanged re-run", sam_warm)
    elif not arguments.no_sam:
        print("aws-sam-cli could not be installed: no comparison")
    if statistics.median(warm) > UNCHANGED_BUDGET:
        failures.append(f"unchanged re-run median above {UNCHANGED_BUDGET} s")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
