"""The emulator's own process: ``python -m pytest_cloudstack.local.server --fd N``.

It serves moto (with the Lambda runner) on the listening socket its parent made, until its
standard input closes: when the pytest session ends, or when pytest dies, so it never outlives
the session. A warm start (``zygote.py``) runs the same ``serve`` in a forked child.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from pytest_cloudstack.errors import ConfigurationError


def cache_region_lookups() -> None:
    """Answer ``boto3.Session.get_available_regions`` from a cache kept on disk.

    moto's EC2 module (imported with the CloudFormation parser, which every stack needs) calls
    it three times at import, each time on a new Session that parses botocore's endpoint data
    again: about 0.4 s of every emulator start. The answers only change with botocore, whose
    version keys the cache file.
    """
    import functools
    import json

    import boto3.session
    import botocore

    from pytest_cloudstack.paths import cache_home

    lookup = boto3.session.Session.get_available_regions
    if getattr(lookup, "cloudstack_cached", False):
        return
    path = cache_home() / "regions" / f"botocore-{botocore.__version__}.json"
    try:
        answers: dict[str, list[str]] = json.loads(path.read_text())
    except (OSError, ValueError):
        answers = {}

    @functools.wraps(lookup)
    def cached(
        self: boto3.session.Session,
        service_name: str,
        partition_name: str = "aws",
        allow_non_regional: bool = False,
    ) -> list[str]:
        key = f"{service_name}|{partition_name}|{allow_non_regional}"
        if not isinstance(answers.get(key), list):
            answers[key] = lookup(self, service_name, partition_name, allow_non_regional)
            with contextlib.suppress(OSError):  # no cache: the next start looks up again
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_text(json.dumps(answers))
                temporary.replace(path)
        return list(answers[key])

    cached.cloudstack_cached = True  # type: ignore[attr-defined]
    boto3.session.Session.get_available_regions = cached  # type: ignore[method-assign]


def serve(fd: int, packages: tuple[str, ...]) -> int:
    """Serve on the listening socket ``fd`` until standard input closes; the exit code."""
    cache_region_lookups()
    from pytest_cloudstack.local.emulator import LocalEmulator

    try:
        with LocalEmulator(packages, fd=fd) as emulator:
            print(f"ready {emulator.url}", flush=True)
            sys.stdin.read()  # until the parent closes it, or dies
    except ConfigurationError as error:
        print(error, file=sys.stderr, flush=True)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest_cloudstack.local.server")
    parser.add_argument("--fd", type=int, required=True, help="listening socket to serve on")
    parser.add_argument("--package", action="append", default=[], help="allowed host package")
    args = parser.parse_args(argv)
    return serve(args.fd, tuple(args.package))


if __name__ == "__main__":
    sys.exit(main())
