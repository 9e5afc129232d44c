"""Runs Python Lambda handlers for the embedded emulator, the way Lambda runs them.

moto hands every invocation to ``LambdaRunner.handle`` (see ``seam.py``). The runner keeps warm
execution environments: worker processes (``worker.py``) per function version and configuration,
started on the first invoke (a cold start), reused while code and configuration stay the same,
replaced when they change, one per concurrent invocation. Each invocation gets Lambda's answer:
the payload, or ``FunctionError: Unhandled`` with Lambda's error document; its output goes to the
function's CloudWatch Logs group (``/aws/lambda/<name>``) and to the ``LogResult`` tail.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cloudstack.connection import DUMMY_CREDENTIALS
from pytest_cloudstack.local import packages, seam
from pytest_cloudstack.local.sources import EventSourcePollers

WORKER = Path(__file__).with_name("worker.py")

#: Lambda's limit on the init phase of an on-demand environment, before the function's timeout.
INIT_TIMEOUT = 10.0
#: the ``LogResult`` tail is the last 4 KB of the invocation's log
TAIL_BYTES = 4096
#: execution environments one function may run at once before invokes wait for a free one
MAX_CONCURRENCY = 16
#: retries of a failed asynchronous invocation when the function has no EventInvokeConfig
DEFAULT_ASYNC_RETRIES = 2
#: errorType of the answers that only the local target gives (never seen on AWS)
LOCAL_ERROR = "CloudStack.LocalRunnerError"

_END = "\x00cloudstack-end:"

# Go's names for the signals that end a runtime (Lambda's init is written in Go).
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
}


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that defines one execution environment of one function version."""

    account_id: str
    region: str
    name: str
    arn: str
    version: str
    runtime: str
    handler: str
    timeout: float
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    code_sha: str
    layers: tuple[str, ...]
    package_type: str
    log_group: str

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.name, self.version)

    @property
    def python_version(self) -> tuple[int, int] | None:
        prefix = "python"
        if self.package_type != "Zip" or not self.runtime.startswith(prefix):
            return None
        major, _, minor = self.runtime[len(prefix) :].partition(".")
        if not (major.isdigit() and minor.isdigit()):
            return None
        return int(major), int(minor)


@dataclass
class InvokeResult:
    """Lambda's answer to one invocation."""

    request_id: str
    payload: bytes
    function_error: bool
    log_lines: list[str]  # the CloudWatch events' messages, each ending with a newline
    version: str

    @property
    def log_tail(self) -> str:
        """Base64 of the last 4 KB of the invocation's log, as ``LogResult`` carries it."""
        text = "".join(self.log_lines).encode()
        return base64.b64encode(text[-TAIL_BYTES:]).decode()


@dataclass
class _Outcome:
    kind: str  # "ok", "error" (function error from the runtime), "timeout", "exited"
    payload: bytes = b""
    lines: list[tuple[int, str]] = field(default_factory=list)
    max_rss_mb: int = 0
    detail: str = ""


class _WorkerGone(Exception):
    pass


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Worker:
    """One execution environment: a ``worker.py`` process and the pipes to it."""

    def __init__(self, spec: FunctionSpec, log_stream: str) -> None:
        self.spec = spec
        self.log_stream = log_stream
        self.process: subprocess.Popen[bytes] | None = None
        self.init_ms = 0.0
        self.init_lines: list[tuple[int, str]] = []
        self.cold = True
        self._frames = b""
        self._partial = b""
        self._lines: list[tuple[int, str]] = []
        self._selector: selectors.BaseSelector | None = None
        self._log_open = True
        self._sink: Callable[[list[tuple[int, str]]], None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(
        self, command: list[str], env: dict[str, str], cwd: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """Start the process and wait for its init; returns the ``ready`` frame."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            # Ctrl-C in the terminal is pytest's to handle; the workers go when their pipe closes.
            start_new_session=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ, "frames")
        self._selector.register(self.process.stderr, selectors.EVENT_READ, "logs")
        self._write(json.dumps(config).encode() + b"\n")
        header, payload, lines = self._wait("init", started + INIT_TIMEOUT + self.spec.timeout)
        self.init_ms = header.get("ms", 0.0)
        self.init_lines = lines
        if not header.get("ready"):
            header["payload"] = payload
        return header

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """End the environment: close its stdin (it exits on EOF), kill it if it lingers."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._close_pipes()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def _close_pipes(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                with contextlib.suppress(OSError):
                    if pipe is not None:
                        pipe.close()

    # -- one invocation -----------------------------------------------------------------------

    def invoke(
        self,
        request: dict[str, Any],
        body: bytes,
        deadline: float,
        sink: Callable[[list[tuple[int, str]]], None],
    ) -> _Outcome:
        """Run one request; ``sink`` gets the output lines as they arrive."""
        self._sink = sink
        try:
            self._write(json.dumps({**request, "len": len(body)}).encode() + b"\n" + body)
            header, payload, lines = self._wait(request["id"], deadline)
        except TimeoutError:
            self.kill()
            return _Outcome("timeout", lines=self._drain())
        except _WorkerGone:
            return _Outcome("exited", lines=self._drain(), detail=self._exit_reason())
        finally:
            self._sink = None
        return _Outcome(
            "error" if header.get("error") else "ok",
            payload=payload,
            lines=lines,
            max_rss_mb=int(header.get("max_rss_mb", 0)),
        )

    def _exit_reason(self) -> str:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code == 0:
            return "Runtime exited without providing a reason"
        if code < 0:
            try:
                name = _SIGNAL_NAMES.get(signal.Signals(-code), signal.Signals(-code).name)
            except ValueError:
                name = str(-code)
            return f"Runtime exited with error: signal: {name}"
        return f"Runtime exited with error: exit status {code}"

    def _write(self, data: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _WorkerGone from None

    def _wait(
        self, marker: str, deadline: float
    ) -> tuple[dict[str, Any], bytes, list[tuple[int, str]]]:
        """Read both pipes until the frame for ``marker`` and its end-of-output marker arrived.

        The worker writes the marker on the log pipe before the frame, so once both are in,
        every line before the marker is this frame's output.
        """
        end_line = _END + marker + "\x00"
        frame: tuple[dict[str, Any], bytes] | None = None
        while True:
            if frame is None:
                frame = self._parse_frame()
            texts = [text for _, text in self._lines]
            if frame is not None and end_line in texts:
                index = texts.index(end_line)
                lines, self._lines = self._lines[:index], self._lines[index + 1 :]
                return frame[0], frame[1], lines
            if frame is not None and not self._log_open:
                lines, self._lines = self._lines, []  # output pipe closed before the marker
                return frame[0], frame[1], lines
            self._read(deadline, need_frame=frame is None)

    def _read(self, deadline: float, need_frame: bool) -> None:
        """One round of reading whatever is available on the pipes, until ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        assert self._selector is not None
        if not self._selector.get_map():
            raise _WorkerGone
        for key, _ in self._selector.select(timeout=remaining):
            data = os.read(key.fd, 65536)
            if key.data == "frames":
                if not data:
                    self._selector.unregister(key.fileobj)
                    if need_frame:
                        raise _WorkerGone
                self._frames += data
            elif data:
                self._feed_logs(data)
            else:
                self._selector.unregister(key.fileobj)
                self._log_open = False

    def _feed_logs(self, data: bytes) -> None:
        now = _now_ms()
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        fresh = []
        for raw in complete:
            text = raw.decode("utf-8", "replace").replace("\r", "\n")
            self._lines.append((now, text))
            if not text.startswith(_END):
                fresh.append((now, text))
        if fresh and self._sink is not None:
            self._sink(fresh)

    def _parse_frame(self) -> tuple[dict[str, Any], bytes] | None:
        newline = self._frames.find(b"\n")
        if newline < 0:
            return None
        header = json.loads(self._frames[:newline])
        end = newline + 1 + int(header["len"])
        if len(self._frames) < end:
            return None
        payload = self._frames[newline + 1 : end]
        self._frames = self._frames[end:]
        return header, payload

    def _drain(self) -> list[tuple[int, str]]:
        """After a kill or an exit: whatever the process wrote before it went."""
        deadline = time.monotonic() + 2
        with contextlib.suppress(TimeoutError, _WorkerGone, OSError, ValueError):
            while self._selector is not None and self._selector.get_map():
                self._read(deadline, need_frame=False)
        if self._partial:
            self._feed_logs(b"\n")
        lines, self._lines = self._lines, []
        if self.process is not None:
            try:
                self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipes()
        return [line for line in lines if not line[1].startswith(_END)]


class _Pool:
    """The warm environments of one function version, all with the same configuration."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.idle: list[_Worker] = []
        self.live = 0
        self.retired = False
        self.changed = threading.Condition()


class LambdaRunner:
    """Runs the handlers of the emulator's functions; one per emulator, as a context manager.

    Entering installs the seam into moto (``seam.py``); leaving stops the pollers, every
    execution environment and the event queue, and removes the extracted packages.
    """

    def __init__(self, endpoint_url: str, host_packages: tuple[str, ...] = ()) -> None:
        self.endpoint_url = endpoint_url
        self.host = packages.resolve(host_packages)
        self.sources = EventSourcePollers(endpoint_url, self)
        self.root = Path(tempfile.mkdtemp(prefix="cloudstack-lambda-"))
        self._pools: dict[tuple[str, str, str, str], _Pool] = {}
        self._lock = threading.Lock()
        self._extract_lock = threading.Lock()
        self._logs_lock = threading.Lock()
        self._mode = threading.local()
        self._events = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cloudstack-event")
        self._closed = False
        self._live: set[_Worker] = set()
        self.workers_started = 0

    def __enter__(self) -> LambdaRunner:
        try:
            seam.install(self)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- entry points -------------------------------------------------------------------------

    def handle(
        self, function: Any, body: Any, request_headers: Any, response_headers: Any
    ) -> bytes:
        """moto's ``LambdaFunction.invoke``: answer one invocation as Lambda would."""
        invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        data = body.encode() if isinstance(body, str) else bytes(body or b"")
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            self.invoke_event(function, data)
            return b""
        if getattr(self._mode, "event", False):
            # An event source that AWS invokes asynchronously (S3, SNS, EventBridge), already
            # moved off the caller's thread by ``in_background``.
            self._attempts(function, data, str(uuid.uuid4()))
            return b""
        client_context = _header(request_headers, "X-Amz-Client-Context")
        result = self.invoke(function, data, client_context=client_context)
        if result.function_error:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = result.log_tail
        response_headers["x-amz-executed-version"] = result.version
        return result.payload

    def invoke_event(self, function: Any, body: bytes) -> None:
        """An asynchronous (``Event``) invocation: queued, run later, retried on failure."""
        if not self._closed:
            self._events.submit(self._attempts, function, body, str(uuid.uuid4()))

    def invoke_arn(self, account_id: str, region: str, arn: str, body: bytes) -> tuple[bool, Any]:
        """Synchronous invoke by ARN (event source mappings): (function error?, decoded payload)."""
        from moto.awslambda.utils import get_backend

        try:
            function = get_backend(account_id, region).get_function(arn)
        except Exception:  # deleted under its mapping: the batch fails, as on AWS
            return True, None
        result = self.invoke(function, body)
        try:
            return result.function_error, json.loads(result.payload or b"null")
        except ValueError:
            return result.function_error, None

    def invoke_event_arn(self, account_id: str, region: str, arn: str, body: bytes) -> None:
        """Asynchronous invoke by ARN (SNS, EventBridge); an unknown function is dropped."""
        from moto.awslambda.utils import get_backend

        try:
            function = get_backend(account_id, region).get_function(arn)
        except Exception:  # AWS reports a failed delivery to nobody but its metrics
            return
        self.invoke_event(function, body)

    def in_background(self, call: Callable[[], object]) -> None:
        """Run moto's delivery code off the caller's thread, as an asynchronous invocation."""
        if not self._closed:
            self._events.submit(self._as_event, call)

    def _as_event(self, call: Callable[[], object]) -> None:
        self._mode.event = True
        try:
            call()
        except Exception:
            pass  # moto swallows delivery errors too: AWS never tells the sender
        finally:
            self._mode.event = False

    def _attempts(self, function: Any, body: bytes, request_id: str) -> None:
        # Lambda retries a failed asynchronous invocation (twice by default, with the same
        # request ID) after a minute, then two; locally the retries follow at once.
        for _ in range(1 + _async_retries(function)):
            if self._closed:
                return
            if not self.invoke(function, body, request_id=request_id).function_error:
                return

    def invoke(
        self,
        function: Any,
        body: bytes,
        *,
        client_context: str | None = None,
        request_id: str | None = None,
    ) -> InvokeResult:
        """Run one synchronous invocation of moto's ``function`` and return Lambda's answer."""
        spec = function_spec(function)
        request_id = request_id or str(uuid.uuid4())
        if self._closed:
            return self._local_error(spec, request_id, "the emulator is stopping")
        if spec.python_version is None:
            what = (
                "container images"
                if spec.package_type != "Zip"
                else f"runtime {spec.runtime or '(none)'}"
            )
            return self._local_error(
                spec,
                request_id,
                f"pytest-cloudstack's local target runs python3.x handlers only; function "
                f"{spec.name!r} uses {what}. Test it with --cloud-stack=aws, or an endpoint "
                "that runs it",
            )
        pool = self._pool(spec)
        worker = self._acquire(pool, function, spec)
        if isinstance(worker, InvokeResult):
            return worker  # the environment could not start: its init error is the answer
        healthy = False
        try:
            result, healthy = self._run(worker, spec, function, body, request_id, client_context)
        finally:
            self._release(pool, worker, healthy)
        return result

    def close(self) -> None:
        """Stop the pollers, the event queue and every environment; remove the packages."""
        if self._closed:
            return
        self._closed = True
        self.sources.stop()
        seam.uninstall(self)
        self._events.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            live, self._live = self._live, set()
        idle: list[_Worker] = []
        for pool in pools:
            with pool.changed:
                pool.retired = True
                idle.extend(pool.idle)
                pool.idle = []
                pool.changed.notify_all()
        for worker in idle:
            worker.stop()
        # A busy environment is killed, and the thread that invoked it finishes it: it reads
        # the end of the pipes, reaps the process and answers with Runtime.ExitError.
        for worker in live.difference(idle):
            worker.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- pools --------------------------------------------------------------------------------

    def _pool(self, spec: FunctionSpec) -> _Pool:
        with self._lock:
            pool = self._pools.get(spec.identity)
            if pool is not None and pool.spec == spec:
                return pool
            # New code or configuration: Lambda starts new environments; the old ones go.
            self._pools[spec.identity] = fresh = _Pool(spec)
        if pool is not None:
            with pool.changed:
                pool.retired = True
                idle, pool.idle = pool.idle, []
            for worker in idle:
                self._forget(worker)
        return fresh

    def _acquire(self, pool: _Pool, function: Any, spec: FunctionSpec) -> _Worker | InvokeResult:
        deadline = time.monotonic() + spec.timeout
        with pool.changed:
            while True:
                while pool.idle:
                    worker = pool.idle.pop()
                    if worker.alive:
                        return worker
                    pool.live -= 1
                    self._forget(worker)
                if pool.live < MAX_CONCURRENCY:
                    pool.live += 1
                    break
                if not pool.changed.wait(timeout=max(0.0, deadline - time.monotonic())):
                    return self._local_error(
                        spec,
                        str(uuid.uuid4()),
                        f"function {spec.name!r} already runs {MAX_CONCURRENCY} invocations "
                        "at once on the local target (a recursive invoke?)",
                    )
        started: _Worker | InvokeResult | None = None
        try:
            started = self._start_worker(spec, function)
            return started
        finally:
            if not isinstance(started, _Worker):  # failed to start, or its init failed
                with pool.changed:
                    pool.live -= 1
                    pool.changed.notify()

    def _release(self, pool: _Pool, worker: _Worker | InvokeResult, healthy: bool) -> None:
        if not isinstance(worker, _Worker):
            return
        with pool.changed:
            if healthy and not pool.retired and not self._closed and worker.alive:
                pool.idle.append(worker)
                pool.changed.notify()
                return
            pool.live -= 1
            pool.changed.notify()
        self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.stop()

    # -- starting an environment ----------------------------------------------------------------

    def _start_worker(self, spec: FunctionSpec, function: Any) -> _Worker | InvokeResult:
        assert spec.python_version is not None
        code_key = hashlib.sha256(spec.code_sha.encode()).hexdigest()[:32]  # base64 has "/"
        try:
            task = self._extract(f"code-{code_key}", lambda: _code_bytes(function))
            opt, missing_layers = self._layers(function, spec)
        except zipfile.BadZipFile as error:
            # Lambda refuses such a package at CreateFunction; moto takes it.
            return self._local_error(
                spec, str(uuid.uuid4()), f"the deployment package or a layer is not a zip: {error}"
            )
        now = time.gmtime()
        stream = (
            f"{now.tm_year}/{now.tm_mon:02d}/{now.tm_mday:02d}/[{spec.version}]{uuid.uuid4().hex}"
        )
        worker = _Worker(spec, stream)
        self._ensure_stream(function, spec, stream)
        with self._lock:
            if self._closed:
                return self._local_error(spec, str(uuid.uuid4()), "the emulator is stopping")
            self._live.add(worker)
        major, minor = spec.python_version
        config = {
            "handler": spec.handler,
            "path": [
                str(task),
                str(opt / "python" / "lib" / f"python{major}.{minor}" / "site-packages"),
                str(opt / "python"),
            ],
            "host_modules": self.host.modules,
            "host_distributions": self.host.distributions,
            # the python3.12 runtime's marshaller writes non-ASCII characters as they are
            "ensure_ascii": (major, minor) < (3, 12),
        }
        command = [sys.executable, "-I", "-S", str(WORKER)]
        started = time.monotonic()
        try:
            ready = worker.start(
                command, self._environment(spec, stream, task, opt), str(task), config
            )
        except (TimeoutError, _WorkerGone) as failure:
            # The init never finished: it hung, or the process died (os._exit, a crash).
            if isinstance(failure, TimeoutError):
                worker.kill()
            outcome = _Outcome(
                "timeout" if isinstance(failure, TimeoutError) else "exited",
                lines=worker._drain(),
            )
            if outcome.kind == "exited":
                outcome.detail = worker._exit_reason()
            self._forget(worker)
            return self._failed(
                function, spec, worker, outcome, str(uuid.uuid4()), started, [], None
            )
        self.workers_started += 1
        for arn in missing_layers:
            worker.init_lines.insert(
                0,
                (
                    _now_ms(),
                    f"[WARNING] pytest-cloudstack: layer {arn} is not in the emulator, so it is "
                    "not under /opt; let its packages in with ini cloud_stack_local_packages",
                ),
            )
        self._put_logs(function, spec, stream, worker.init_lines)
        if ready.get("ready"):
            return worker
        # Init failed: Lambda answers the invoke with the init error, and the next invoke
        # starts a new environment (and runs the init again).
        request_id = str(uuid.uuid4())
        error_type = json.loads(ready["payload"]).get("errorType", "")
        start = (_now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
        self._put_logs(function, spec, stream, [start])
        end = self._end_log(
            function,
            spec,
            worker,
            request_id,
            [],
            worker.init_ms,
            int(ready.get("max_rss_mb", 0)),
            None,
            f"\tStatus: error\tError Type: {error_type}",
        )
        lines = _texts([*worker.init_lines, start, *end])
        self._forget(worker)
        return InvokeResult(request_id, ready["payload"], True, lines, spec.version)

    def _environment(
        self, spec: FunctionSpec, stream: str, task: Path, opt: Path
    ) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LD_LIBRARY_PATH": f"{task}/lib:{opt}/lib",
            # Inside the handler, boto3 reaches this emulator, like the code under test.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # Lambda has no ~/.aws: nothing from the developer's config may leak in.
            "AWS_CONFIG_FILE": str(self.root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.root / "no-aws-credentials"),
        }
        env.update(spec.environment)
        # Reserved variables: Lambda sets them, and the function's own values cannot replace them.
        env.update(
            {
                "_HANDLER": spec.handler,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": "testing",
                "LAMBDA_TASK_ROOT": str(task),
                "LAMBDA_RUNTIME_DIR": str(WORKER.parent),
            }
        )
        return env

    def _extract(self, key: str, content: Callable[[], bytes]) -> Path:
        target = self.root / key
        with self._extract_lock:
            if target.is_dir():
                return target
            partial = self.root / f".{key}.{secrets.token_hex(4)}"
            partial.mkdir(parents=True)
            data = content()
            if data:
                _unzip(data, partial)
            partial.rename(target)
        return target

    def _layers(self, function: Any, spec: FunctionSpec) -> tuple[Path, list[str]]:
        if not spec.layers:
            return self.root / "no-layers", []
        from moto.awslambda.utils import get_backend

        backend = get_backend(spec.account_id, spec.region)
        found: list[tuple[str, Any]] = []
        missing: list[tuple[str, Any]] = []
        for arn in spec.layers:
            layer = backend.layers_versions_by_arn(arn)
            (found if layer is not None else missing).append((arn, layer))
        key = (
            "opt-"
            + hashlib.sha256(
                "|".join(f"{arn}:{layer.code_sha_256}" for arn, layer in found).encode()
            ).hexdigest()[:24]
        )

        def merged() -> bytes:
            # Layers are unpacked into /opt in order, a later one overwriting an earlier one.
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as out:
                names: dict[str, tuple[zipfile.ZipInfo, bytes]] = {}
                for _, layer in found:
                    with zipfile.ZipFile(io.BytesIO(layer.code_bytes)) as archive:
                        for info in archive.infolist():
                            names[info.filename] = (info, archive.read(info))
                for info, data in names.values():
                    out.writestr(info, data)
            return buffer.getvalue()

        return self._extract(key, merged), [arn for arn, _ in missing]

    # -- running ----------------------------------------------------------------------------------

    def _run(
        self,
        worker: _Worker,
        spec: FunctionSpec,
        function: Any,
        body: bytes,
        request_id: str,
        client_context: str | None,
    ) -> tuple[InvokeResult, bool]:
        started = time.monotonic()
        request: dict[str, Any] = {
            "id": request_id,
            "deadline_ms": _now_ms() + int(spec.timeout * 1000),
            "arn": spec.arn,
            "trace": _trace_id(),
            "client_context": _decode_client_context(client_context),
        }
        cold = worker.cold
        worker.cold = False
        start = (_now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
        self._put_logs(function, spec, worker.log_stream, [start])

        def stream(lines: list[tuple[int, str]]) -> None:
            # As on AWS, output reaches CloudWatch while the handler runs, not only at its end.
            self._put_logs(function, spec, worker.log_stream, lines)

        outcome = worker.invoke(request, body, started + spec.timeout, stream)
        duration_ms = (time.monotonic() - started) * 1000
        tail = [*(worker.init_lines if cold else []), start, *outcome.lines]
        init_ms = worker.init_ms if cold else None
        if outcome.kind in ("ok", "error"):
            log = tail + self._end_log(
                function, spec, worker, request_id, [], duration_ms, outcome.max_rss_mb, init_ms
            )
            result = InvokeResult(
                request_id, outcome.payload, outcome.kind == "error", _texts(log), spec.version
            )
            return result, True
        return self._failed(
            function, spec, worker, outcome, request_id, started, tail, init_ms
        ), False

    def _failed(
        self,
        function: Any,
        spec: FunctionSpec,
        worker: _Worker,
        outcome: _Outcome,
        request_id: str,
        started: float,
        tail: list[tuple[int, str]],
        init_ms: float | None,
    ) -> InvokeResult:
        """Lambda's answer to an environment that timed out or exited under an invocation."""
        if not tail:  # died in its init: its output and START are not written yet
            start = (_now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
            tail = [*outcome.lines, start]
            self._put_logs(function, spec, worker.log_stream, tail)
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.kind == "timeout":
            elapsed = f"{duration_ms / 1000:.2f}"
            extra = [
                (_now_ms(), f"{_iso_now()} {request_id} Task timed out after {elapsed} seconds")
            ]
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {elapsed} seconds",
            }
            status = "\tStatus: timeout"
        else:
            extra = [
                (_now_ms(), f"RequestId: {request_id} Error: {outcome.detail}\nRuntime.ExitError")
            ]
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: {outcome.detail}",
            }
            status = "\tStatus: error\tError Type: Runtime.ExitError"
        log = tail + self._end_log(
            function,
            spec,
            worker,
            request_id,
            extra,
            duration_ms,
            outcome.max_rss_mb,
            init_ms,
            status,
        )
        return InvokeResult(request_id, json.dumps(error).encode(), True, _texts(log), spec.version)

    def _local_error(self, spec: FunctionSpec, request_id: str, message: str) -> InvokeResult:
        error = {"errorType": LOCAL_ERROR, "errorMessage": message}
        return InvokeResult(request_id, json.dumps(error).encode(), True, [], spec.version)

    # -- CloudWatch Logs ----------------------------------------------------------------------------

    def _ensure_stream(self, function: Any, spec: FunctionSpec, stream: str) -> None:
        with self._logs_lock:
            logs = function.logs_backend
            logs.ensure_log_group(spec.log_group)
            logs.create_log_stream(spec.log_group, stream)

    def _end_log(
        self,
        function: Any,
        spec: FunctionSpec,
        worker: _Worker,
        request_id: str,
        extra: list[tuple[int, str]],
        duration_ms: float,
        max_rss_mb: int,
        init_ms: float | None,
        status: str = "",
    ) -> list[tuple[int, str]]:
        """The runtime's closing lines (END, REPORT), after ``extra``; written and returned."""
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\t"
            f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {max_rss_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        now = _now_ms()
        lines = [*extra, (now, f"END RequestId: {request_id}"), (now, report + status)]
        self._put_logs(function, spec, worker.log_stream, lines)
        return lines

    def _put_logs(
        self, function: Any, spec: FunctionSpec, stream: str, lines: list[tuple[int, str]]
    ) -> None:
        if not lines:
            return
        events = [{"timestamp": stamp, "message": text} for stamp, text in _events(lines)]
        with self._logs_lock:
            logs = function.logs_backend
            with contextlib.suppress(Exception):  # the group may be gone (a reset, a delete)
                logs.ensure_log_group(spec.log_group)
                with contextlib.suppress(Exception):
                    logs.create_log_stream(spec.log_group, stream)
                logs.put_log_events(spec.log_group, stream, events)


def _events(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    # Lambda's log events end with a newline: a print's own, or the runtime's formats'.
    return [(stamp, text if text.endswith("\n") else text + "\n") for stamp, text in lines]


def _texts(lines: list[tuple[int, str]]) -> list[str]:
    return [text for _, text in _events(lines)]


# -- reading moto's function -----------------------------------------------------------------------


def function_spec(function: Any) -> FunctionSpec:
    """The parts of moto's ``LambdaFunction`` that define an execution environment."""
    layers = [layer["Arn"] for layer in (function.layers or [])]
    for layer in getattr(function, "_cloudstack_layers", None) or ():
        arn = getattr(layer, "arn", layer)  # a !Ref to a LayerVersion is the model in moto
        if isinstance(arn, str) and arn not in layers:
            layers.append(arn)
    return FunctionSpec(
        account_id=function.account_id,
        region=function.region,
        name=function.function_name,
        arn=function.function_arn,
        version=str(function.version),
        runtime=function.run_time or "",
        handler=function.handler or "",
        timeout=float(function.timeout or 3),
        memory_mb=int(function.memory_size or 128),
        environment=tuple(
            sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())
        ),
        code_sha=str(getattr(function, "code_sha_256", "") or "none"),
        layers=tuple(layers),
        package_type=function.package_type or "Zip",
        log_group=function.logs_group_name,
    )


def _code_bytes(function: Any) -> bytes:
    return bytes(getattr(function, "code_bytes", b"") or b"")


def _async_retries(function: Any) -> int:
    for config in getattr(function, "event_invoke_config", None) or ():
        value = getattr(config, "config", {}).get("MaximumRetryAttempts")
        if value is not None:
            return int(value)
    return DEFAULT_ASYNC_RETRIES


def _unzip(data: bytes, target: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if mode & 0o111 and not info.is_dir():
                path = target / info.filename
                with contextlib.suppress(OSError):
                    path.chmod(path.stat().st_mode | 0o111)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return None if value is None else str(value)


def _decode_client_context(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(base64.b64decode(value))
    except ValueError:
        return None


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def iter_workers(runner: LambdaRunner) -> Iterator[int]:
    """PIDs of the idle environments (for tests and diagnostics)."""
    with runner._lock:
        pools = list(runner._pools.values())
    for pool in pools:
        with pool.changed:
            for worker in pool.idle:
                if worker.process is not None:
                    yield worker.process.pid
