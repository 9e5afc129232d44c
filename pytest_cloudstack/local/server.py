"""The emulator's own process: ``python -m pytest_cloudstack.local.server --fd N``.

It serves moto (with the Lambda runner) on the listening socket its parent made, until its
standard input closes: when the pytest session ends, or when pytest dies, so it never outlives
the session. A warm start (``zygote.py``) runs the same ``serve`` in a forked child.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from pytest_cloudstack.errors import ConfigurationError


def cache_region_lookups() -> None:
    """Answer boto3's region and partition lookups from a cache kept on disk.

    moto's EC2 module (imported with the CloudFormation parser, which every stack needs) calls
    ``get_available_regions`` three times at import, each time on a new Session that parses
    botocore's endpoint data again: about 0.4 s of every emulator start. Every backend moto
    creates (the first request to a service, in every session) calls
    ``get_available_partitions``, which parses the same 1 MB file: about 0.18 s, on the first
    CreateStack's path. The answers only change with botocore, whose version keys the cache file.
    """
    import boto3.session
    import botocore

    from pytest_cloudstack.paths import cache_home, read_cached_json, write_cached_json

    session_class = boto3.session.Session
    if getattr(session_class.get_available_regions, "cloudstack_cached", False):
        return
    path = cache_home() / "regions" / f"botocore-{botocore.__version__}.json"
    found = read_cached_json(path)
    answers: dict[str, list[str]] = found if isinstance(found, dict) else {}

    def remember(key: str, look_up: Callable[[], list[str]]) -> list[str]:
        if not isinstance(answers.get(key), list):
            answers[key] = look_up()
            write_cached_json(path, answers)  # not written: the next start looks up again
        return list(answers[key])

    regions = session_class.get_available_regions
    partitions = session_class.get_available_partitions

    @functools.wraps(regions)
    def cached_regions(
        self: boto3.session.Session,
        service_name: str,
        partition_name: str = "aws",
        allow_non_regional: bool = False,
    ) -> list[str]:
        return remember(
            f"{service_name}|{partition_name}|{allow_non_regional}",
            lambda: regions(self, service_name, partition_name, allow_non_regional),
        )

    @functools.wraps(partitions)
    def cached_partitions(self: boto3.session.Session) -> list[str]:
        return remember("partitions", lambda: partitions(self))

    cached_regions.cloudstack_cached = True  # type: ignore[attr-defined]
    session_class.get_available_regions = cached_regions  # type: ignore[method-assign]
    session_class.get_available_partitions = cached_partitions  # type: ignore[method-assign]


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
