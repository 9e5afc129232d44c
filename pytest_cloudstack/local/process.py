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
from typing import TYPE_CHECKING

from pytest_cloudstack.errors import CloudStackError, ConfigurationError
from pytest_cloudstack.local.emulator import READY_PATH

if TYPE_CHECKING:
    from pytest_cloudstack.local.warm import ForkedEmulator

READY_TIMEOUT = 120.0
STDERR_LINES = 8  # the emulator's last error lines kept, to say why it died


class EmulatorDied(CloudStackError):
    """The ``local`` emulator's process ended while the session still needed it."""


class EmulatorProcess:
    """The child process as a context manager; ``url`` is valid as soon as the block starts."""

    def __init__(self, local_packages: tuple[str, ...] = (), warm: bool = False) -> None:
        self.local_packages = local_packages
        #: ask the warm parent (``warm.py``) for a pre-imported emulator before starting one cold
        self.warm = warm
        self.url = ""
        self.process: subprocess.Popen[str] | ForkedEmulator | None = None
        #: how this session's emulator started, for the summary
        self.start_kind = ""
        self._ready = False
        self._handover: threading.Thread | None = None
        self._handover_error: BaseException | None = None
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
        except BaseException:
            listener.close()
            raise
        if self.warm:
            # Finding (or starting) the warm parent may take a moment: not on configure's path.
            self._handover = threading.Thread(
                target=self._hand_over, args=(listener,), name="cloudstack-emulator-start"
            )
            self._handover.start()
        else:
            self._hand_over(listener)
        return self

    def _hand_over(self, listener: socket.socket) -> None:
        """Give the listening socket to a warm-started emulator, or to a cold child."""
        try:
            if self.warm:
                from pytest_cloudstack.local.warm import fork_emulator

                try:
                    forked = fork_emulator(listener, self.local_packages, _child_environment())
                except Exception:  # a warm start is an optimisation: anything odd, start cold
                    forked = None
                if forked is not None:
                    self.process = forked
                    self.start_kind = f"warm start (forked by pid {forked.parent_pid})"
                    self._start_reader()
                    return
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
            self.start_kind = "cold start"
            self._start_reader()
        except BaseException as error:
            self._handover_error = error
            if self._handover is None:
                raise
        finally:
            listener.close()  # the child holds it now: if the child dies, clients are refused

    def _start_reader(self) -> None:
        self._reader = threading.Thread(
            target=self._read_stderr, name="cloudstack-emulator-stderr", daemon=True
        )
        self._reader.start()

    def _join_handover(self) -> None:
        if self._handover is not None:
            self._handover.join()
            self._handover = None
        if self._handover_error is not None:
            error, self._handover_error = self._handover_error, None
            raise ConfigurationError(f"the local emulator could not be started: {error}")

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
        if getattr(process, "parent_pid", None) is not None:
            how = "it exited; a warm-started emulator's exit status is its warm parent's to read"
        elif code is not None and code < 0:
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
        self._join_handover()
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
                urllib.request.urlopen(f"{self.url}{READY_PATH}", timeout=5).close()
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
        with contextlib.suppress(ConfigurationError):
            self._join_handover()
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
