"""The embedded emulator: moto's server in a thread of this process, on 127.0.0.1, random port.

While it runs, the process environment points boto3 at it (``AWS_ENDPOINT_URL``, dummy
credentials, region), so code under test and module-level ``boto3.client(...)`` calls reach it
without any change; the previous environment is restored when it stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_cloudstack.connection import DUMMY_CREDENTIALS
from pytest_cloudstack.errors import ConfigurationError

# Variables that would send boto3 somewhere else, or fail before the first call
# (a profile that only exists on the developer's machine, an SSO session, a stale token).
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def emulator_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What a process needs in its environment so that plain boto3 reaches the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


@contextlib.contextmanager
def pointed_at(endpoint_url: str, region: str) -> Iterator[None]:
    """Point this process's boto3 at an emulator for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in _CLEARED or name.startswith("AWS_ENDPOINT_URL_"):
                patch.delenv(name)
        for name, value in emulator_environment(endpoint_url, region).items():
            patch.setenv(name, value)
        yield


class LocalEmulator:
    """moto's ``ThreadedMotoServer`` as a context manager; ``url`` is valid inside the block."""

    def __init__(self) -> None:
        self.url = ""
        self._server: Any = None
        self._warmup: threading.Thread | None = None
        self._log_level: int | None = None

    def __enter__(self) -> LocalEmulator:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as error:
            raise ConfigurationError(
                "--cloud-stack=local needs the 'local' extra: "
                "pip install 'pytest-cloudstack[local]' "
                f"({error})"
            ) from None
        # werkzeug logs every request at INFO; a test run is no place for an access log.
        werkzeug_logger = logging.getLogger("werkzeug")
        self._log_level = werkzeug_logger.level
        werkzeug_logger.setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto imports its CloudFormation parser (about 2 s) on the first stack call; doing it now,
        # in the background, overlaps it with test collection.
        self._warmup = threading.Thread(target=_import_cloudformation, daemon=True)
        self._warmup.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is None:
            return
        # moto's backends are process-global: reset them so that the next session in this
        # process (pytester runs, an IDE's test runner) starts from an empty emulator.
        with contextlib.suppress(OSError):
            request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
        self._server.stop()
        self._server = None
        if self._warmup is not None:
            self._warmup.join(timeout=30)
        if self._log_level is not None:
            logging.getLogger("werkzeug").setLevel(self._log_level)


def _import_cloudformation() -> None:
    with contextlib.suppress(Exception):
        import moto.cloudformation.parsing  # noqa: F401
