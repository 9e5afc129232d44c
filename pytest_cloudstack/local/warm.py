"""The session's side of a warm start: find (or start) the warm parent and have it fork an emulator.

A warm parent (``zygote.py``) has moto imported already, so the emulator a session gets from it
serves in milliseconds instead of the ~2 s a cold child spends importing. Everything here fails
soft: no usable folder, no parent, a parent that does not answer, and the session starts its
emulator cold, as it always did, without a word of alarm.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from pytest_cloudstack.local.zygote import REQUEST_FDS

ENV_IDLE = "CLOUD_STACK_WARM_IDLE"
DEFAULT_IDLE = 900.0
#: how long a session waits for a parent it just started to serve fork requests
SPAWN_WAIT = 60.0
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux


def warm_folder() -> Path | None:
    """The folder only this user can open (0700) that holds the parents' sockets, or None."""
    # SO_PEERCRED (who asks for a fork) is Linux's: elsewhere, cold starts.
    needed = (os, "fork"), (os, "getuid"), (socket, "AF_UNIX"), (socket, "SO_PEERCRED")
    if not all(hasattr(module, name) for module, name in needed):
        return None
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"pytest-cloudstack-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    # Someone else's folder, a link, or one others can enter: never trust it.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def installation_key() -> str:
    """This interpreter and this copy of the plugin: parents of other virtualenvs (another
    project, tox's other envs) are theirs, never stopped from here."""
    where = f"{sys.executable}|{Path(__file__).resolve().parent.parent}"
    return hashlib.sha256(where.encode()).hexdigest()[:8]


def version_key() -> str:
    """Changes with the plugin's code, moto, botocore and the interpreter."""
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}|{sys.version}".encode())
    for name in ("moto", "botocore", "boto3", "werkzeug", "pytest-cloudstack"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{name}={importlib.metadata.version(name)}".encode())
    package = Path(__file__).resolve().parent.parent
    for source in sorted(package.rglob("*.py")):
        info = source.stat()
        digest.update(f"{source}|{info.st_size}|{info.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class ForkedEmulator:
    """What the session holds of a forked emulator: the subset of ``Popen`` it uses."""

    def __init__(self, pid: int, control: IO[str], errors: IO[str], parent: int) -> None:
        self.pid = pid
        self.parent_pid = parent
        self.stdin: IO[str] | None = control
        self.stdout: IO[str] | None = None
        self.stderr: IO[str] | None = errors
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = -1  # not our child: its exit status is not ours to read
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"emulator pid {self.pid}", timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def fork_emulator(
    listener: socket.socket, packages: tuple[str, ...], environ: dict[str, str]
) -> ForkedEmulator | None:
    """An emulator forked by the warm parent, serving on ``listener``; None: start cold."""
    folder = warm_folder()
    if folder is None:
        return None
    key = version_key()
    path = folder / f"zygote-{installation_key()}-{key}.sock"
    if len(str(path)) > _SOCKET_PATH_MAX:
        return None
    connection = _connect(path)
    if connection is None:
        if not _start_parent(folder, path):
            return None
        connection = _connect(path, wait=SPAWN_WAIT)
        if connection is None:
            return None
    with connection:
        return _request_fork(connection, listener, packages, environ, _parent_pid(path))


def _connect(path: Path, wait: float = 0.0) -> socket.socket | None:
    deadline = time.monotonic() + wait
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(str(path))
            return connection
        except OSError:
            connection.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)


def _start_parent(folder: Path, path: Path) -> bool:
    """Start the warm parent of this key, and stop this installation's older ones; False: it
    could not.

    The parent's first process pre-imports, then detaches and exits 0 (its detached half binds
    the socket at once); any other exit means no parent. Under the lock, so that sessions that
    start together don't each pre-import a parent.
    """
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(folder / "start.lock"), timeout=SPAWN_WAIT):
            if _connect(path) is not None:
                return True  # another session started it meanwhile
            for stale in folder.glob(f"zygote-{installation_key()}-*.sock"):
                _stop_parent(stale)
            idle = str(_idle_seconds())
            command = [sys.executable, "-m", "pytest_cloudstack.local.zygote"]
            started = subprocess.run(
                [*command, "--socket", str(path), "--idle", idle],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=folder,
                env=_parent_environment(),
                timeout=SPAWN_WAIT,
                check=False,
            )
    except (OSError, Timeout, subprocess.SubprocessError):
        return False
    return started.returncode == 0


def _idle_seconds() -> float:
    """``CLOUD_STACK_WARM_IDLE``, when it is a positive number; else the default. A value the
    parent could not parse would leave this session waiting for a parent that never serves."""
    try:
        seconds = float(os.environ.get(ENV_IDLE) or DEFAULT_IDLE)
    except ValueError:
        return DEFAULT_IDLE
    return seconds if 0 < seconds < float("inf") else DEFAULT_IDLE


def _stop_parent(path: Path) -> None:
    """Stop a warm parent (an older version's, or a dead one's leftovers) and remove its files."""
    pid = _parent_pid(path)
    if pid is not None and _is_warm_parent(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    for leftover in (path, path.with_suffix(".pid")):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _request_fork(
    connection: socket.socket,
    listener: socket.socket,
    packages: tuple[str, ...],
    environ: dict[str, str],
    parent: int | None,
) -> ForkedEmulator | None:
    control_read, control_write = os.pipe()
    errors_read, errors_write = os.pipe()
    request = json.dumps({"environ": environ, "packages": list(packages), "cwd": os.getcwd()})
    fds = [listener.fileno(), control_read, errors_write]
    assert len(fds) == REQUEST_FDS
    try:
        connection.settimeout(10)
        socket.send_fds(connection, [request.encode()], fds)
        answer = connection.makefile("rb").readline()
        pid = json.loads(answer)["pid"]
        if not isinstance(pid, int) or pid <= 0:
            raise ValueError(answer)
    except (OSError, ValueError, KeyError, TypeError):
        for fd in (control_read, control_write, errors_read, errors_write):
            os.close(fd)
        return None
    os.close(control_read)  # the emulator holds them now; ours would keep its pipes open
    os.close(errors_write)
    control = os.fdopen(control_write, "w")
    errors = os.fdopen(errors_read, "r")
    return ForkedEmulator(pid, control, errors, parent or 0)


def _parent_pid(path: Path) -> int | None:
    try:
        return int(path.with_suffix(".pid").read_text())
    except (OSError, ValueError):
        return None


def _is_warm_parent(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pytest_cloudstack.local.zygote" in command


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited emulator whose warm parent died first is a zombie until its new parent (init, in
    # a container perhaps none) reaps it: exited is what matters here.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _parent_environment() -> dict[str, str]:
    # The parent imports only; each forked emulator gets its session's environment.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "CLOUD_STACK_", "PYTEST_"))
    }
