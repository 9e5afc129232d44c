"""Runs Python Lambda handlers for the embedded emulator, the way Lambda runs them.

moto hands every invocation to ``LambdaRunner.handle`` (see ``seam.py``). The runner keeps warm
execution environments: worker processes (``worker.py``) per function version and configuration,
started on the first invoke (a cold start), reused while code and configuration stay the same,
replaced when they change, one per concurrent invocation. Each invocation gets Lambda's answer:
the payload, or ``FunctionError: Unhandled`` with Lambda's error document; its output goes to the
function's CloudWatch Logs group (``/aws/lambda/<name>``) and to the ``LogResult`` tail.

What an environment is made of comes from ``functions.py``; the processes and their pipes are
``workers.py``'s. This module decides when environments start, are reused and go, and turns
their outcomes into Lambda's answers and logs.
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
import shutil
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cloudstack.connection import DUMMY_CREDENTIALS
from pytest_cloudstack.local import packages, seam
from pytest_cloudstack.local.functions import FunctionSpec, async_retries, code_bytes, function_spec
from pytest_cloudstack.local.interpreter import interpreter_for
from pytest_cloudstack.local.sources import EventSourcePollers
from pytest_cloudstack.local.workers import Outcome, Worker, WorkerGone, WorkerPool, now_ms
from pytest_cloudstack.paths import cache_home

WORKER = Path(__file__).with_name("worker.py")

#: the ``LogResult`` tail is the last 4 KB of the invocation's log
TAIL_BYTES = 4096
#: execution environments one function may run at once before invokes wait for a free one
MAX_CONCURRENCY = 16
#: errorType of the answers that only the local target gives (never seen on AWS)
LOCAL_ERROR = "CloudStack.LocalRunnerError"


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


class LambdaRunner:
    """Runs the handlers of the emulator's functions; one per emulator, as a context manager.

    Entering installs the seam into moto (``seam.py``); leaving stops the pollers, every
    execution environment and the event queue, and removes the extracted packages.
    """

    def __init__(self, endpoint_url: str, host_packages: tuple[str, ...] = ()) -> None:
        self.endpoint_url = endpoint_url
        self.host = packages.resolve(host_packages)
        self.host_packages = host_packages
        self.sources = EventSourcePollers(endpoint_url, self)
        self.root = Path(tempfile.mkdtemp(prefix="cloudstack-lambda-"))
        self._pools: dict[tuple[str, str, str, str], WorkerPool] = {}
        self._lock = threading.Lock()
        self._extract_lock = threading.Lock()
        self._logs_lock = threading.Lock()
        self._mode = threading.local()
        self._events = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cloudstack-event")
        self._closed = False
        self._live: set[Worker] = set()
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
        for _ in range(1 + async_retries(function)):
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
        idle: list[Worker] = []
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

    def _pool(self, spec: FunctionSpec) -> WorkerPool:
        with self._lock:
            pool = self._pools.get(spec.identity)
            if pool is not None and pool.spec == spec:
                return pool
            # New code or configuration: Lambda starts new environments; the old ones go.
            self._pools[spec.identity] = fresh = WorkerPool(spec)
        if pool is not None:
            with pool.changed:
                pool.retired = True
                idle, pool.idle = pool.idle, []
            for worker in idle:
                self._forget(worker)
        return fresh

    def _acquire(
        self, pool: WorkerPool, function: Any, spec: FunctionSpec
    ) -> Worker | InvokeResult:
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
        started: Worker | InvokeResult | None = None
        try:
            started = self._start_worker(spec, function)
            return started
        finally:
            if not isinstance(started, Worker):  # failed to start, or its init failed
                with pool.changed:
                    pool.live -= 1
                    pool.changed.notify()

    def _release(self, pool: WorkerPool, worker: Worker | InvokeResult, healthy: bool) -> None:
        if not isinstance(worker, Worker):
            return
        with pool.changed:
            if healthy and not pool.retired and not self._closed and worker.alive:
                pool.idle.append(worker)
                pool.changed.notify()
                return
            pool.live -= 1
            pool.changed.notify()
        self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.stop()

    # -- starting an environment ----------------------------------------------------------------

    def _start_worker(self, spec: FunctionSpec, function: Any) -> Worker | InvokeResult:
        assert spec.python_version is not None
        code_key = hashlib.sha256(spec.code_sha.encode()).hexdigest()[:32]  # base64 has "/"
        try:
            task = self._extract(f"code-{code_key}", lambda: code_bytes(function))
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
        worker = Worker(spec, stream)
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
        interpreter = interpreter_for(spec.python_version, self.host_packages)
        flags = ["-I", "-S"]
        if interpreter != sys.executable:
            # Its byte code of boto3 goes to our cache, not into the host's site-packages; without
            # any, every cold start would compile boto3 again (0.45 s instead of 0.2 s).
            flags += ["-X", f"pycache_prefix={cache_home() / 'pycache'}"]
        command = [interpreter, *flags, str(WORKER)]
        started = time.monotonic()
        try:
            ready = worker.start(
                command, self._environment(spec, stream, task, opt), str(task), config
            )
        except (TimeoutError, WorkerGone) as failure:
            # The init never finished: it hung, or the process died (os._exit, a crash).
            if isinstance(failure, TimeoutError):
                worker.kill()
            outcome = Outcome(
                "timeout" if isinstance(failure, TimeoutError) else "exited",
                lines=worker.drain(),
            )
            if outcome.kind == "exited":
                outcome.detail = worker.exit_reason()
            self._forget(worker)
            return self._failed(
                function, spec, worker, outcome, str(uuid.uuid4()), started, [], None
            )
        self.workers_started += 1
        for arn in missing_layers:
            worker.init_lines.insert(
                0,
                (
                    now_ms(),
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
        start = (now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
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
        worker: Worker,
        spec: FunctionSpec,
        function: Any,
        body: bytes,
        request_id: str,
        client_context: str | None,
    ) -> tuple[InvokeResult, bool]:
        started = time.monotonic()
        request: dict[str, Any] = {
            "id": request_id,
            "deadline_ms": now_ms() + int(spec.timeout * 1000),
            "arn": spec.arn,
            "trace": _trace_id(),
            "client_context": _decode_client_context(client_context),
        }
        cold = worker.cold
        worker.cold = False
        start = (now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
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
        worker: Worker,
        outcome: Outcome,
        request_id: str,
        started: float,
        tail: list[tuple[int, str]],
        init_ms: float | None,
    ) -> InvokeResult:
        """Lambda's answer to an environment that timed out or exited under an invocation."""
        if not tail:  # died in its init: its output and START are not written yet
            start = (now_ms(), f"START RequestId: {request_id} Version: {spec.version}")
            tail = [*outcome.lines, start]
            self._put_logs(function, spec, worker.log_stream, tail)
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.kind == "timeout":
            elapsed = f"{duration_ms / 1000:.2f}"
            extra = [
                (now_ms(), f"{_iso_now()} {request_id} Task timed out after {elapsed} seconds")
            ]
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {elapsed} seconds",
            }
            status = "\tStatus: timeout"
        else:
            extra = [
                (now_ms(), f"RequestId: {request_id} Error: {outcome.detail}\nRuntime.ExitError")
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
        worker: Worker,
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
        now = now_ms()
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
