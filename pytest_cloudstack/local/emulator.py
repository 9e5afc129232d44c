"""The embedded emulator: moto's server in a thread of this process, on 127.0.0.1, random port.

The session points the process environment at it (see ``environment.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.request
from typing import Any

from pytest_cloudstack.errors import ConfigurationError


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
