"""The embedded emulator: moto's server in a thread of the process that runs it, on 127.0.0.1.

For a session that process is the emulator's own child process (``process.py``, ``server.py``);
tests and benchmarks also run it in their own process.

The session points the process environment at it (see ``environment.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_cloudstack.local.runner import LambdaRunner

#: answered by the emulator itself as soon as it serves: the session's readiness probe (moto's
#: own ``/moto-api/`` renders a dashboard template, ~0.2 s of CPU on the first request)
READY_PATH = "/_cloudstack/ready"

#: moto's per-service Flask apps made ahead of time (by a warm parent, before it forks); each is
#: handed to one emulator only
_PRELOADED_APPS: dict[str, Any] = {}


def preload_backend_apps(services: Iterable[str]) -> None:
    """Make moto's Flask app for each of ``services`` now, for the next emulator started here.

    Making one creates the service's backend for moto's default account, empty (about 0.2 s
    for CloudFormation's, on a session's first request otherwise).
    """
    from moto.moto_server.werkzeug_app import create_backend_app

    for service in services:
        with contextlib.suppress(Exception):  # a service this moto lacks: made on first use
            _PRELOADED_APPS[service] = create_backend_app(service)  # type: ignore[arg-type]


class LocalEmulator:
    """moto's server in a thread, as a context manager; ``url`` is valid inside the block.

    Python Lambda handlers run for real (``runner.py``): ``local_packages`` names the host
    packages they may import besides boto3 (ini ``cloud_stack_local_packages``).
    """

    def __init__(self, local_packages: tuple[str, ...] = (), fd: int | None = None) -> None:
        self.url = ""
        self.local_packages = local_packages
        #: a listening socket handed over by the parent process (``process.py``), or None; an
        #: emulator given one has a process of its own, which ends with it: nothing to reset
        self.fd = fd
        self.runner: LambdaRunner | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._warmup: threading.Thread | None = None
        self._log_level: int | None = None
        self._moto_port: str | None = None

    def __enter__(self) -> LocalEmulator:
        # moto leaves ~400,000 objects in this process. At exit, Python's finalization runs full
        # garbage collections over all of them, several times: about 1.5 s on every local session.
        # Freezing them first, at exit only (never while a process goes on), skips that work.
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
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
        from pytest_cloudstack.local.apigateway.gateway import Gateway, HeaderKeepingHandler

        def backend_app(service: Any) -> Any:
            return _PRELOADED_APPS.pop(service, None) or create_backend_app(service)

        # API Gateway invocations are answered in front of moto, which serves none of them.
        app = _answering_ready(
            Gateway(DomainDispatcherApplication(backend_app), lambda: self.runner)
        )
        self._server = make_server(
            "127.0.0.1",
            0,
            app,
            threaded=True,
            fd=self.fd,
            request_handler=HeaderKeepingHandler,
        )
        self.url = f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"
        try:
            from pytest_cloudstack.local.runner import LambdaRunner

            # Before serving: a moto whose seam moved must not answer a single request.
            self.runner = LambdaRunner(self.url, self.local_packages).__enter__()
        except BaseException:
            self._server.server_close()
            self._server = None
            logging.getLogger("werkzeug").setLevel(self._log_level)
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="cloudstack-emulator",
            daemon=True,
        )
        self._thread.start()
        self._run_state_machines()
        # moto imports its CloudFormation parser (about 2 s) on the first stack call; doing it now,
        # in the background, overlaps it with test collection.
        self._warmup = threading.Thread(target=_import_cloudformation, daemon=True)
        self._warmup.start()
        return self

    def _run_state_machines(self) -> None:
        """Step Functions executions run their state machines, Lambda tasks the real handlers.

        moto runs executions only with its ``execute_state_machine`` setting (set through its
        documented ``/moto-api/config``); its Lambda tasks call ``localhost:$MOTO_PORT``, this
        emulator, where the runner answers them.
        """
        self._moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = self.url.rsplit(":", 1)[1]
        self._moto_config({"stepfunctions": {"execute_state_machine": True}})

    def _moto_config(self, config: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.url}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()

    def __exit__(self, *exc_info: object) -> None:
        if self._server is None:
            return
        if self.fd is None:
            with contextlib.suppress(OSError):
                self._moto_config({"stepfunctions": {"execute_state_machine": False}})
        if self._moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._moto_port
        # Handlers first: pollers and workers must not run against an emulator being reset.
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        # moto's backends are process-global: reset them so that the next session in this
        # process (pytester runs, an IDE's test runner) starts from an empty emulator.
        if self.fd is None:
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


def _answering_ready(app: Any) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """``app``, with ``READY_PATH`` answered in front of it."""

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == READY_PATH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
            return [b"ready"]
        return app(environ, start_response)  # type: ignore[no-any-return]

    return serve


def _import_cloudformation() -> None:
    with contextlib.suppress(Exception):
        import moto.cloudformation.parsing  # noqa: F401
