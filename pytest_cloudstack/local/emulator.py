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
    """moto's server in a thread, as a context manager; ``url`` is valid inside the block."""

    def __init__(self) -> None:
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._warmup: threading.Thread | None = None
        self._log_level: int | None = None

    def __enter__(self) -> LocalEmulator:
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                create_backend_app,
            )
            from werkzeug.serving import make_server
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
        # What moto's ThreadedMotoServer does, with a short poll interval: its default (0.5 s)
        # is paid in full by every shutdown, at the end of every session.
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="cloudstack-emulator",
            daemon=True,
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
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
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._warmup is not None:
            self._warmup.join(timeout=30)
        if self._log_level is not None:
            logging.getLogger("werkzeug").setLevel(self._log_level)


def _import_cloudformation() -> None:
    with contextlib.suppress(Exception):
        import moto.cloudformation.parsing  # noqa: F401
