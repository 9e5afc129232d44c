"""The ``local`` target's emulator in a child process, started at configure time.

moto takes about 1.6 s of CPU to import and leaves ~400,000 objects behind. In a child process
that work runs on another core while pytest collects, the session's own process stays small
(and exits quickly), and a test's own ``moto.mock_aws`` can't reset the emulator's state.

The parent binds the listening socket on 127.0.0.1 itself and hands it to the child, so the URL
is known (and exported to code under test) at once; a request made before the child serves
waits in the socket's backlog instead of being refused.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from types import TracebackType

from pytest_cloudstack.errors import CloudStackError, ConfigurationError

READY_TIMEOUT = 120.0
STDERR_LINES = 8  # the emulator's last error lines kept, to say why it died


class EmulatorDied(CloudStackError):
    """The ``local`` emulator's process ended while the session still needed it."""


class EmulatorProcess:
    """The child process as a context manager; ``url`` is valid as soon as the block starts."""

    def __init__(self, local_packages: tuple[str, ...] = ()) -> None:
        self.local_packages = local_packages
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._ready = False
        #: its last lines of error output; read all along, so that the pipe never fills up
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._reader: threading.Thread | None = None

    def __enter__(self) -> EmulatorProcess:
        if importlib.util.find_spec("moto") is None:
            raise ConfigurationError(
                "--cloud-stack=local needs the 'local' extra: pip install 'pytest-cloudstack[local]'"
            )
        from pytest_cloudstack.local.packages import resolve

        resolve(self.local_packages)  # an unknown name is a usage error now, not in the child
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            packages = [arg for name in self.local_packages for arg in ("--package", name)]
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest_cloudstack.local.server",
                    "--fd",
                    str(listener.fileno()),
                    *packages,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                pass_fds=(listener.fileno(),),
                env=_child_environment(),
            )
        finally:
            listener.close()  # the child holds it now: if the child dies, clients are refused
        self._reader = threading.Thread(
            target=self._read_stderr, name="cloudstack-emulator-stderr", daemon=True
        )
        self._reader.start()
        return self

    def _read_stderr(self) -> None:
        stream = self.process.stderr if self.process is not None else None
        if stream is None:
            return
        try:
            for line in stream:
                self._stderr.append(line.rstrip("\n"))
        except (OSError, ValueError):  # closed at exit
            return

    def _error_output(self) -> str:
        if self._reader is not None:
            self._reader.join(timeout=2)  # the child has exited: its last lines are on the way
        return "\n".join(self._stderr).strip()

    def death(self) -> str | None:
        """None while the emulator runs; once it has exited, what happened to it, in words."""
        process = self.process
        if process is None or process.poll() is None:
            return None
        code = process.returncode
        how = f"exit code {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
        output = self._error_output()
        last = f"its last error output:\n{output}" if output else "it wrote no error output"
        return (
            f"the local emulator (pid {process.pid}, {self.url}) died during the session "
            f"({how}); {last}"
        )

    def check_alive(self) -> None:
        """Raise ``EmulatorDied`` saying what happened, once the emulator has exited."""
        death = self.death()
        if death is not None:
            raise EmulatorDied(death)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until the emulator answers; a child that died says why (its error output)."""
        if self._ready:
            return
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                error = self._error_output()
                raise ConfigurationError(
                    "the local emulator stopped before it could serve: "
                    + (error[-2000:] if error else f"exit code {self.process.returncode}")
                )
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=5).close()
                self._ready = True
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"the local emulator did not answer within {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the child's signal to stop its workers and exit
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _child_environment() -> dict[str, str]:
    # The child serves; it must not itself be pointed at an endpoint or read a developer's
    # profile. Its handlers get their environment from the runner.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"))
    }
