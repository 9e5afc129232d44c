"""The warm emulator parent: moto imported once, a fresh emulator forked for every session.

``python -m pytest_cloudstack.local.zygote --socket PATH`` detaches, imports everything an
emulator needs (moto's server, its CloudFormation parser and the backends it pulls in, the
Lambda runner), and then waits on a Unix socket for fork requests. A request carries the
session's listening TCP socket, the read end of its control pipe and the write end of its error
pipe (``SCM_RIGHTS``), plus its working folder, environment and allowed packages; the forked
child serves on that socket exactly as a cold emulator child does (``server.serve``), with fresh,
empty state, and exits when the control pipe closes (the session ended, or pytest died).

Rules that keep it safe: no threads in this process (forking a threaded process is unsound),
so it checks that before serving; the socket lives in a folder only its user can open (0700,
checked by the client) and every request's peer must be that user (``SO_PEERCRED``); it answers
nothing but fork requests; it ends by itself after ``--idle`` seconds without one, and when its
socket file is removed or replaced. Its key (in the socket's name) changes with every version of
the plugin, moto and Python, so a changed installation never meets an old parent.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import socket
import struct
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

#: what serverless stacks use, and the emulator serves on every session: made ready before forking
PRELOADED_SERVICES = (
    "moto_api",
    "cloudformation",
    "lambda",
    "iam",
    "sts",
    "sqs",
    "dynamodb",
    "dynamodbstreams",
    "s3",
    "sns",
    "logs",
    "events",
    "stepfunctions",
    "apigateway",
    "apigatewayv2",
    "ssm",
)
#: fds of a fork request: listening socket, control pipe (read end), error pipe (write end)
REQUEST_FDS = 3
_MAX_REQUEST = 1 << 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest_cloudstack.local.zygote")
    parser.add_argument(
        "--socket", required=True, help="Unix socket path to serve fork requests on"
    )
    parser.add_argument(
        "--idle", type=float, default=900.0, help="exit after this many idle seconds"
    )
    args = parser.parse_args(argv)
    # All the slow work, and all that can fail, before detaching: the session that starts the
    # parent waits for this process's exit code, so a parent that cannot start (a broken moto,
    # a moved seam) costs that session the attempt, not a wait for a socket that never comes.
    preload()
    # Everything imported so far lives as long as every forked emulator: out of the collector's
    # sight, a forked emulator's first full collection does not walk (and copy, page by page)
    # the whole pre-imported heap: ~0.2 s on its first requests.
    gc.freeze()
    if threading.active_count() != 1:
        print("warm emulator: threads after the imports, refusing to fork", file=sys.stderr)
        return 3
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    return serve_forks(Path(args.socket), args.idle)


def serve_forks(path: Path, idle: float) -> int:
    """Fork an emulator per request (everything pre-imported) until idle; the exit code."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked emulators are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    except OSError:
        return 0  # another warm parent of this key won the race: it serves
    pid_file = path.with_suffix(".pid")
    inode = -1
    try:
        os.chmod(path, 0o600)
        inode = path.stat().st_ino
        pid_file.write_text(str(os.getpid()))
        listener.listen(16)
        listener.settimeout(idle)
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                return 0
            with connection:
                _answer(connection, listener)
            if not _still_ours(path, inode):
                return 0
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if _still_ours(path, inode):
                path.unlink()
                pid_file.unlink()


def preload() -> None:
    """Everything a forked emulator would otherwise import on the session's critical path."""
    from pytest_cloudstack.local.server import cache_region_lookups

    cache_region_lookups()
    import moto.cloudformation.parsing  # noqa: F401 - the slow part: most backends come with it
    import werkzeug.serving  # noqa: F401
    from moto.moto_server import werkzeug_app  # noqa: F401

    import pytest_cloudstack.local.runner  # noqa: F401
    from pytest_cloudstack.local import seam
    from pytest_cloudstack.local.emulator import preload_backend_apps
    from pytest_cloudstack.local.sources import client_session

    # The seam check imports every moto module it patches (Step Functions' parser alone takes
    # ~0.45 s): done here, a forked emulator serves as soon as it is forked.
    seam.check()
    # What each session's first requests would otherwise pay, in the emulator's one process (so
    # one request's CPU delays the others): moto's per-service Flask apps, with their
    # default-account backends (empty, as a cold emulator makes them), moto's service models,
    # and the botocore data behind the event source pollers' clients.
    preload_backend_apps(PRELOADED_SERVICES)
    with contextlib.suppress(Exception):  # an optimisation: a moto that moved it only loses it
        from moto.core.utils import get_service_model

        for service in PRELOADED_SERVICES:
            with contextlib.suppress(Exception):
                get_service_model(service)
    session = client_session()
    for service in ("lambda", "sqs", "dynamodbstreams"):
        session.client(
            service,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="preload",
            aws_secret_access_key="preload",
        )


def _still_ours(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _answer(connection: socket.socket, listener: socket.socket) -> None:
    connection.settimeout(10)
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _, uid, _ = struct.unpack("3i", credentials)
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(connection, _MAX_REQUEST, REQUEST_FDS)
        if uid != os.getuid() or len(fds) != REQUEST_FDS:
            return  # only its own user's well-formed requests
        request = _parse(message)
        if request is None:
            return
        pid = os.fork()
        if pid == 0:
            _become_emulator(listener, connection, fds, request)  # never returns
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:
        return
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _parse(message: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(message)
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    environ, packages, cwd = request.get("environ"), request.get("packages"), request.get("cwd")
    if not (
        isinstance(environ, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in environ.items())
        and isinstance(packages, list)
        and all(isinstance(p, str) for p in packages)
        and isinstance(cwd, str)
    ):
        return None
    return request


def _become_emulator(
    listener: socket.socket, connection: socket.socket, fds: list[int], request: dict[str, Any]
) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its own workers
        listener.close()
        connection.close()
        serving, control, errors = fds
        os.dup2(control, 0)
        os.dup2(errors, 2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        for fd in (control, errors, devnull):
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["environ"])
        with contextlib.suppress(OSError):
            os.chdir(request["cwd"])
        from pytest_cloudstack.local.server import serve

        code = serve(serving, tuple(request["packages"]))
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
