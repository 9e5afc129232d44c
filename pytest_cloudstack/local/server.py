"""The emulator's own process: ``python -m pytest_cloudstack.local.server --fd N``.

It serves moto (with the Lambda runner) on the listening socket its parent made, until its
standard input closes: when the pytest session ends, or when pytest dies, so it never outlives
the session.
"""

from __future__ import annotations

import argparse
import sys

from pytest_cloudstack.errors import ConfigurationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest_cloudstack.local.server")
    parser.add_argument("--fd", type=int, required=True, help="listening socket to serve on")
    parser.add_argument("--package", action="append", default=[], help="allowed host package")
    args = parser.parse_args(argv)
    from pytest_cloudstack.local.emulator import LocalEmulator

    try:
        with LocalEmulator(tuple(args.package), fd=args.fd) as emulator:
            print(f"ready {emulator.url}", flush=True)
            sys.stdin.read()  # until the parent closes it, or dies
    except ConfigurationError as error:
        print(error, file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
