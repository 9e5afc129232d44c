"""One warm Lambda execution environment: the child process that imports and runs a Python handler.

Started by ``workers.py`` (for ``runner.py``) as ``python -I -S worker.py`` with the function's
environment, in the extracted deployment package. ``-I -S`` gives the child the standard library
and nothing else; the worker then builds ``sys.path`` the way the Lambda Python runtime does (the
package, then the layers under ``/opt``), and lets in boto3 and its dependencies (the runtime ships
them) plus the host packages the user allowed, through a finder that only answers for those names.
A handler that imports anything else fails with ``Runtime.ImportModuleError``, as it would on AWS.

This file runs on its own in the child: standard library only, no import from the plugin.

Protocol (all framing is ``header JSON line`` + ``len`` raw bytes):

* parent -> child on stdin: one config line, then requests. EOF on stdin means the parent is
  gone: the child exits at once, whatever the handler is doing.
* child -> parent on the original stdout (``responses``): a ``ready`` frame after init, then one
  response frame per request.
* everything the handler prints or logs goes to stdout/stderr, which both point at the parent's
  log pipe. Before each frame the child writes an end marker on that pipe, so that the parent
  knows which output belongs to which invocation.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any

# The runtime's error types (awslambdaric's FaultException), reproduced for the same answers.
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"

# Output of one logging record or one error report is one CloudWatch event on Lambda (the runtime
# frames it). Over a plain pipe the parent splits on "\n", so newlines inside one record travel
# as "\r" and are turned back by the parent (awslambdaric's StandardLogSink does the same).
RECORD_NEWLINE = "\r"
END_MARKER = "\x00cloudstack-end:{}\x00\n"

_request_id = ""
# Whether the last output ended mid-line: the end marker must start on a line of its own.
_line_open = False


class Fault(Exception):
    """A runtime-level failure (bad handler, import error, marshalling): Lambda's error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


class HostPackages:
    """Meta path finder that lets a few host packages in, by top-level name, and nothing else.

    Appended after the normal path finder, so a package bundled in the deployment package or a
    layer wins over the host's copy, as the runtime's own boto3 loses to a bundled one on AWS.
    """

    def __init__(self, modules: dict[str, list[str]], distributions: dict[str, str]) -> None:
        self.modules = modules
        self.distributions = distributions

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None:  # submodules resolve through their package's __path__
            return None
        directories = self.modules.get(fullname)
        if not directories:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, directories)

    def find_distributions(self, context: Any = None) -> Any:
        # importlib.metadata asks every meta path finder; answer for the allowed packages only.
        from importlib.metadata import DistributionFinder, MetadataPathFinder

        name = getattr(context, "name", None)
        wanted = None if name is None else _normalise(name)
        for distribution_name, directory in self.distributions.items():
            if wanted is not None and wanted != distribution_name:
                continue
            found = MetadataPathFinder.find_distributions(
                DistributionFinder.Context(name=distribution_name, path=[directory])
            )
            yield from found


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


class LambdaContext:
    """The ``context`` argument, as awslambdaric builds it."""

    def __init__(
        self,
        invoke_id: str,
        client_context: Any,
        cognito_identity: Any,
        epoch_deadline_time_in_ms: int,
        invoked_function_arn: str | None = None,
    ) -> None:
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as on Lambda: the runtime reads it from the environment.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = _object(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _object(Client, self.client_context.client)
        self.identity = _object(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout ends this invocation."""
        delta = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta if delta > 0 else 0

    def log(self, msg: Any) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity}])"
        )


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")


class Client:
    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )


class ClientContext:
    __slots__ = ("client", "custom", "env")


def _object(cls: Any, values: Any) -> Any:
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field))
    return obj


class _Unbuffered:
    """The runtime flushes stdout/stderr on every write, so output is never lost to a kill."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def write(self, text: str) -> int:
        global _line_open
        written = self.stream.write(text)
        self.stream.flush()
        if text:
            _line_open = not text.endswith("\n")
        return int(written)

    def writelines(self, lines: Any) -> None:
        self.stream.writelines(lines)
        self.stream.flush()


class _RecordHandler(logging.Handler):
    """The runtime's root handler: one line per record, in Lambda's text format."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            sys.stdout.write(text.rstrip("\n").replace("\n", RECORD_NEWLINE) + "\n")
        except Exception:
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def _setup_logging() -> None:
    logging.Formatter.converter = time.gmtime
    handler = _RecordHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    # The runtime leaves the root logger at WARNING unless the function configures a log level.
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"):
        root.setLevel({"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))
    root.addHandler(handler)


def load_handler(handler: str) -> Any:
    """Resolve ``module.function`` exactly as awslambdaric's ``_get_handler`` does."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise Fault(MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {error}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                BUILT_IN_MODULE_CONFLICT,
                f"Cannot use built-in module {module_name} as a handler module",
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise Fault(
            IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {error}"
        ) from None
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise Fault(
            USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_name}': {error}", trace
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise Fault(
            HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


def make_error(
    message: str, error_type: str, trace: list[str] | None, request_id: str | None
) -> dict[str, Any]:
    """Lambda's error document (awslambdaric's ``make_error``)."""
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace or [],
    }


def exception_error(error: BaseException, request_id: str | None) -> dict[str, Any]:
    if isinstance(error, Fault):
        return make_error(error.message, error.error_type, error.trace, request_id)
    frames = traceback.extract_tb(error.__traceback__)
    # Like the runtime, which drops its own bootstrap frames: the user sees their code first.
    here = os.path.abspath(__file__)
    while frames and os.path.abspath(frames[0].filename) == here:
        frames = traceback.StackSummary.from_list(list(frames)[1:])
    return make_error(str(error), type(error).__name__, traceback.format_list(frames), request_id)


def log_error(error: dict[str, Any]) -> None:
    """The ``[ERROR]`` report the runtime writes to the function's log (one CloudWatch event)."""
    description = "[ERROR]"
    if error.get("errorType"):
        description += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error.get("stackTrace") or []:
        lines.extend(element.splitlines() if element else [""])
    sys.stdout.write(RECORD_NEWLINE.join(lines) + "\n")


def to_json(value: Any, ensure_ascii: bool) -> str:
    """JSON like the runtime's marshaller, which also writes ``Decimal`` as a plain number."""
    import decimal

    placeholders: dict[str, str] = {}

    def default(obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return float("nan")
            token = f"\x00decimal{len(placeholders)}:{id(placeholders)}\x00"
            placeholders[json.dumps(token, ensure_ascii=ensure_ascii)] = str(obj)
            return token
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    text = json.dumps(value, default=default, ensure_ascii=ensure_ascii)
    for quoted, number in placeholders.items():
        text = text.replace(quoted, number)
    return text


class Worker:
    """The warm loop: init once, then one request at a time, until stdin closes."""

    def __init__(self, responses: Any, config: dict[str, Any]) -> None:
        self.responses = responses
        self.config = config
        self.requests: queue.Queue[tuple[dict[str, Any], bytes]] = queue.Queue()

    def send(self, marker: str, header: dict[str, Any], payload: bytes = b"") -> None:
        # Output first, then the marker behind it, then the frame: the parent reads the log pipe
        # up to the marker and knows that everything before it belongs to this frame.
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(2, (("\n" if _line_open else "") + END_MARKER.format(marker)).encode())
        header["len"] = len(payload)
        self.responses.write(json.dumps(header).encode() + b"\n" + payload)
        self.responses.flush()

    def read_requests(self, stdin: Any) -> None:
        try:
            while True:
                line = stdin.readline()
                if not line:
                    break
                header = json.loads(line)
                body = stdin.read(header["len"]) if header["len"] else b""
                self.requests.put((header, body))
        finally:
            # The parent closed the pipe or died: an execution environment never outlives it.
            os._exit(0)

    def run(self) -> None:
        started = time.perf_counter()
        try:
            handler = load_handler(self.config["handler"])
        except Exception as error:
            report = exception_error(error, None)
            logging.warning(
                "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in "
                "the function code."
            )
            log_error(report)
            self.send("init", {"ready": False, **self._usage(started)}, json.dumps(report).encode())
            return
        self.send("init", {"ready": True, **self._usage(started)})
        while True:
            header, body = self.requests.get()
            self.invoke(handler, header, body)

    def _usage(self, started: float) -> dict[str, Any]:
        usage: dict[str, Any] = {"ms": (time.perf_counter() - started) * 1000}
        try:
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # kilobytes on Linux, bytes on macOS
            usage["max_rss_mb"] = rss // (1024 * 1024) if sys.platform == "darwin" else rss // 1024
        except ImportError:  # pragma: no cover - Windows
            usage["max_rss_mb"] = 0
        return usage

    def invoke(self, handler: Any, header: dict[str, Any], body: bytes) -> None:
        global _request_id
        request_id = header["id"]
        _request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = header["trace"]
        started = time.perf_counter()
        error = None
        payload = b""
        try:
            context = LambdaContext(
                request_id,
                header.get("client_context"),
                header.get("identity"),
                header["deadline_ms"],
                header["arn"],
            )
            try:
                event = json.loads(body) if body else {}
            except ValueError as parse_error:
                raise Fault(UNMARSHAL_ERROR, f"Unable to unmarshal input: {parse_error}") from None
            result = handler(event, context)
            if isinstance(result, bytes):
                payload = result
            else:
                try:
                    payload = to_json(result, self.config["ensure_ascii"]).encode()
                except Exception as marshal_error:
                    raise Fault(
                        MARSHAL_ERROR, f"Unable to marshal response: {marshal_error}"
                    ) from None
        except Exception as raised:
            error = exception_error(raised, request_id)
            log_error(error)
        response: dict[str, Any] = {"id": request_id, **self._usage(started)}
        if error is not None:
            response["error"] = True
            payload = json.dumps(error).encode()
        self.send(request_id, response, payload)


def main() -> None:
    stdin = sys.stdin.buffer
    config = json.loads(stdin.readline())
    # Frames go to the original stdout; from here on fd 1 is the log pipe, like fd 2.
    responses = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    sys.path[:0] = config["path"]
    sys.meta_path.append(HostPackages(config["host_modules"], config["host_distributions"]))
    _setup_logging()
    worker = Worker(responses, config)
    threading.Thread(target=worker.read_requests, args=(stdin,), daemon=True).start()
    worker.run()
    # Only reached after an init failure: this environment is done, the next invoke starts anew.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
