"""Python handlers run for real on the local target: results, errors, logs, isolation, warm reuse.

Each test writes its handler, creates the function on an emulator running in this process
(``LocalEmulator``, as ``--cloud-stack=local`` starts it), invokes it with plain boto3 and checks
what really happened: the answer, the function's CloudWatch Logs, the worker processes.
The helpers at the top are shared with ``test_local_flows.py``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest

from pytest_cloudstack.local.emulator import LocalEmulator

T = TypeVar("T")
REGION = "us-east-1"


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def poll(fetch: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Call ``fetch`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        value = fetch()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s (last: {value!r})")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, waiting for a reaper, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class Aws:
    """Clients to one emulator, and the few steps every test repeats."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[str, Any] = {}
        self._role: str | None = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(
                service,
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    @property
    def role(self) -> str:
        if self._role is None:
            self._role = self.client("iam").create_role(
                RoleName=f"role-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}"
            )["Role"]["Arn"]
        return self._role

    def function(
        self,
        code: str | dict[str, str],
        handler: str = "app.handler",
        runtime: str = "python3.12",
        timeout: int = 3,
        env: dict[str, str] | None = None,
        **extra: Any,
    ) -> str:
        """Create a function from source (``app.py``, or several files); return its name."""
        name = f"fn-{uuid.uuid4().hex[:10]}"
        files = {"app.py": code} if isinstance(code, str) else code
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=self.role,
            Handler=handler,
            Code={"ZipFile": zipped(files)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
            **extra,
        )
        return name

    def invoke(self, name: str, event: Any = None, **extra: Any) -> Invocation:
        answer = self.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail", **extra
        )
        return Invocation(answer)

    def log_messages(self, name: str) -> list[str]:
        events = self.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")
        return [event["message"] for event in events["events"]]

    def logged(self, name: str, needle: str, count: int = 1, timeout: float = 15) -> list[str]:
        """Wait until the function's log has ``count`` events containing ``needle``."""

        def found() -> list[str]:
            try:
                hits = [m for m in self.log_messages(name) if needle in m]
            except self.client("logs").exceptions.ResourceNotFoundException:
                return []
            return hits if len(hits) >= count else []

        return poll(found, timeout, f"{count} log event(s) with {needle!r} in {name}")

    def queue(self, name: str, **attributes: str) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}", Attributes=attributes)[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn


class Invocation:
    """A synchronous invoke's answer, decoded."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.status = answer["StatusCode"]
        self.function_error = answer.get("FunctionError")
        self.raw = answer["Payload"].read()
        self.payload = json.loads(self.raw) if self.raw else None
        self.log = base64.b64decode(answer.get("LogResult", "")).decode()
        self.version = answer.get("ExecutedVersion")


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalEmulator]:
    with LocalEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def aws(emulator: LocalEmulator) -> Aws:
    return Aws(emulator.url)


# -- results, context, environment -------------------------------------------------------------

CONTEXT = """
import os

def handler(event, context):
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items()},
    }
"""


def test_a_handler_gets_the_event_lambdas_context_and_environment(
    aws: Aws, emulator: LocalEmulator
) -> None:
    name = aws.function(
        CONTEXT, timeout=7, env={"STAGE": "test", "AWS_REGION": "ignored"}, MemorySize=256
    )
    answer = aws.invoke(name, {"order": 1})

    assert answer.status == 200 and answer.function_error is None
    result = answer.payload
    assert result["event"] == {"order": 1}
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    assert (
        result["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    )
    assert result["memory_limit_in_mb"] == "256"  # a string, as on Lambda
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert "/[$LATEST]" in result["log_stream_name"]
    assert 0 < result["remaining"] <= 7000
    assert answer.version == "$LATEST"
    env = result["env"]
    assert env["STAGE"] == "test"
    # Reserved variables are Lambda's: the function's own value does not replace them.
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == result["log_stream_name"]
    assert env["LAMBDA_TASK_ROOT"] == result["cwd"]
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    # boto3 inside the handler goes to the emulator, never to the developer's AWS config
    assert env["AWS_ENDPOINT_URL"] == emulator.url
    assert not os.path.exists(env["AWS_CONFIG_FILE"])
    assert "AWS_PROFILE" not in env


def test_boto3_in_the_handler_reaches_the_same_emulator(aws: Aws) -> None:
    table = f"seen-{uuid.uuid4().hex[:8]}"
    aws.client("dynamodb").create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    name = aws.function(
        """
import os, boto3
table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

def handler(event, context):
    table.put_item(Item={"id": event["id"], "by": context.function_name})
    return table.get_item(Key={"id": event["id"]})["Item"]
""",
        env={"TABLE": table},
    )
    answer = aws.invoke(name, {"id": "a-1"})
    assert answer.payload == {"id": "a-1", "by": name}
    item = aws.client("dynamodb").get_item(TableName=table, Key={"id": {"S": "a-1"}})["Item"]
    assert item["by"] == {"S": name}


def test_values_are_marshalled_like_the_runtime_does(aws: Aws) -> None:
    name = aws.function(
        """
from decimal import Decimal

def handler(event, context):
    return {"price": Decimal("10.50"), "count": Decimal(3), "text": "café", "none": None}
"""
    )
    answer = aws.invoke(name)
    # python3.12's marshaller writes non-ASCII text as it is
    assert answer.raw.decode() == '{"price": 10.50, "count": 3, "text": "café", "none": null}'


# -- errors and logs ---------------------------------------------------------------------------

FAILING = """
import logging

logger = logging.getLogger()

def handler(event, context):
    print("about to fail for", event["who"])
    logger.warning("first line\\nsecond line")
    return lookup(event)

def lookup(event):
    return event["missing"]
"""


def test_an_exception_is_an_unhandled_error_in_lambdas_shape(aws: Aws) -> None:
    name = aws.function(FAILING)
    answer = aws.invoke(name, {"who": "alice"})

    assert answer.status == 200
    assert answer.function_error == "Unhandled"
    error = answer.payload
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "KeyError"
    assert error["errorMessage"] == "'missing'"
    assert [frame.split(", in ")[-1].split("\n")[0] for frame in error["stackTrace"]] == [
        "handler",
        "lookup",
    ]
    assert 'return event["missing"]' in error["stackTrace"][-1]

    # The LogResult tail and CloudWatch Logs tell the same story as on AWS.
    request_id = error["requestId"]
    tail = answer.log
    assert f"START RequestId: {request_id} Version: $LATEST" in tail
    assert "about to fail for alice" in tail
    assert f"END RequestId: {request_id}" in tail
    assert f"REPORT RequestId: {request_id}\tDuration: " in tail
    messages = aws.logged(name, f"REPORT RequestId: {request_id}")
    messages = aws.log_messages(name)
    [report] = [m for m in messages if m.startswith("[ERROR] KeyError: 'missing'")]
    assert "Traceback (most recent call last):" in report and "in lookup" in report
    [warning] = [m for m in messages if m.startswith("[WARNING]")]
    # the runtime's format, and one event per record even over several lines
    level, stamp, logged_id, text = warning.split("\t")
    assert (level, logged_id, text) == ("[WARNING]", request_id, "first line\nsecond line\n")
    assert stamp.endswith("Z")
    assert "about to fail for alice\n" in messages


def test_output_reaches_the_tail_and_cloudwatch_in_order(aws: Aws) -> None:
    name = aws.function(
        """
import logging, sys
print("init says hello")
logging.getLogger().setLevel(logging.INFO)

def handler(event, context):
    print("one")
    sys.stderr.write("two\\n")
    logging.info("three")
    print("four", end="")
    return "done"
"""
    )
    answer = aws.invoke(name)
    assert answer.payload == "done"
    lines = [
        line.split("\t")[-1] if line.startswith("[INFO]") else line
        for line in answer.log.splitlines()
    ]
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId:"))
    assert lines.index("init says hello") < start, "init output comes before START, on a cold start"
    assert lines[start + 1 : start + 5] == ["one", "two", "three", "four"]
    assert lines[start + 5].startswith("END RequestId:")
    assert lines[start + 6].startswith("REPORT RequestId:") and "Init Duration:" in lines[start + 6]
    warm = aws.invoke(name)
    assert "init says hello" not in warm.log and "Init Duration" not in warm.log
    aws.logged(name, "four")


# -- bad input ---------------------------------------------------------------------------------

MISBEHAVING = """
import os, time

def handler(event, context):
    what = event.get("do")
    if what == "exit":
        os._exit(3)
    if what == "loop":
        while True:
            pass
    if what == "unserialisable":
        return {"when": object()}
    return {"pid": os.getpid()}
"""


@pytest.mark.parametrize(
    ("event", "error_type", "message"),
    [
        pytest.param(
            {"do": "unserialisable"},
            "Runtime.MarshalError",
            "Unable to marshal response: Object of type object is not JSON serializable",
            id="not-json",
        ),
        pytest.param(
            {"do": "exit"},
            "Runtime.ExitError",
            "Error: Runtime exited with error: exit status 3",
            id="os-exit",
        ),
        pytest.param(
            {"do": "loop"}, "Sandbox.Timedout", "Error: Task timed out after 1.", id="timeout"
        ),
    ],
)
def test_a_misbehaving_invocation_gets_lambdas_error_and_the_next_one_works(
    aws: Aws, event: dict[str, str], error_type: str, message: str
) -> None:
    name = aws.function(MISBEHAVING, timeout=1)
    first = aws.invoke(name)
    assert first.function_error is None
    started = time.monotonic()
    answer = aws.invoke(name, event)
    assert time.monotonic() - started < 5, "the timeout is enforced"
    assert answer.function_error == "Unhandled"
    assert answer.payload["errorType"] == error_type
    assert message in answer.payload["errorMessage"]
    assert "REPORT RequestId: " in answer.log
    after = aws.invoke(name)
    assert after.function_error is None
    if error_type != "Runtime.MarshalError":
        # the environment died with the invocation: the next one is a cold start
        assert after.payload["pid"] != first.payload["pid"]
        assert not alive(first.payload["pid"])
    else:
        assert after.payload["pid"] == first.payload["pid"]


def test_a_timeout_is_logged_as_lambda_logs_it(aws: Aws) -> None:
    name = aws.function(MISBEHAVING, timeout=1)
    answer = aws.invoke(name, {"do": "loop"})
    request_id = answer.payload["errorMessage"].split()[1]
    assert answer.payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": answer.payload["errorMessage"],
    }
    [line] = aws.logged(name, f"{request_id} Task timed out after 1.")
    assert line.endswith(" seconds\n")
    [report] = aws.logged(name, f"REPORT RequestId: {request_id}")
    assert "Status: timeout" in report


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        pytest.param(
            {"app.py": "def other(e, c):\n    pass\n"},
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
            id="no-such-function",
        ),
        pytest.param(
            {"app.py": "x = 1\n"},
            "service.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'service': No module named 'service'",
            id="no-such-module",
        ),
        pytest.param(
            {"app.py": "x = 1\n"},
            "handler",
            "Runtime.MalformedHandlerName",
            "Bad handler 'handler': not enough values to unpack (expected 2, got 1)",
            id="malformed",
        ),
        pytest.param(
            {"app.py": "def handler(event, context)\n    return 1\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': ",
            id="syntax-error",
        ),
        pytest.param(
            {"app.py": "import os\nTABLE = os.environ['TABLE']\n"},
            "app.handler",
            "KeyError",
            "'TABLE'",
            id="module-raises",
        ),
    ],
)
def test_a_handler_that_cannot_load_gets_the_runtimes_init_error(
    aws: Aws, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    name = aws.function(files, handler=handler)
    for _ in range(2):  # every invoke starts over, as Lambda re-runs a failed init
        answer = aws.invoke(name)
        assert answer.function_error == "Unhandled"
        assert answer.payload["errorType"] == error_type
        assert answer.payload["errorMessage"].startswith(message)
        assert answer.payload["requestId"] == ""  # init errors carry none, as on Lambda
    assert f"[ERROR] {error_type}: " in "\n".join(aws.log_messages(name))
    # Fixed code: the next invoke works.
    aws.client("lambda").update_function_code(
        FunctionName=name, ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'fixed'\n"})
    )
    aws.client("lambda").update_function_configuration(FunctionName=name, Handler="app.handler")
    assert aws.invoke(name).payload == "fixed"


def test_a_process_that_dies_during_init_is_a_runtime_exit_error(aws: Aws) -> None:
    name = aws.function("import os\nprint('going')\nos._exit(7)\n")
    answer = aws.invoke(name)
    assert answer.function_error == "Unhandled"
    assert answer.payload["errorType"] == "Runtime.ExitError"
    assert answer.payload["errorMessage"].endswith(
        "Error: Runtime exited with error: exit status 7"
    )
    assert "going" in answer.log
    aws.logged(name, "Runtime.ExitError")
    aws.client("lambda").update_function_code(
        FunctionName=name, ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'fixed'\n"})
    )
    assert aws.invoke(name).payload == "fixed"


def test_a_non_python_runtime_is_refused_with_a_reason(aws: Aws) -> None:
    name = aws.function(
        {"index.js": "exports.handler = async () => 1;"},
        handler="index.handler",
        runtime="nodejs20.x",
    )
    answer = aws.invoke(name)
    assert answer.function_error == "Unhandled"
    assert answer.payload["errorType"] == "CloudStack.LocalRunnerError"
    assert "runs python3.x handlers only" in answer.payload["errorMessage"]
    assert "nodejs20.x" in answer.payload["errorMessage"]


# -- isolation ---------------------------------------------------------------------------------


def test_a_handler_sees_its_package_and_boto3_but_not_the_hosts_packages(aws: Aws) -> None:
    # requests and pytest are installed here, but the Lambda runtime does not ship them.
    probe = """
import importlib

def handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            module = importlib.import_module(name)
            found[name] = getattr(module, "ORIGIN", "host")
        except ImportError as error:
            found[name] = str(error)
    return found
"""
    name = aws.function({"app.py": probe, "jmespath.py": "ORIGIN = 'package'\n"})
    answer = aws.invoke(
        name,
        {
            "modules": [
                "boto3",
                "botocore",
                "requests",
                "pytest",
                "pytest_cloudstack",
                "jmespath",
                "json",
            ]
        },
    )
    assert answer.payload == {
        "boto3": "host",
        "botocore": "host",
        "requests": "No module named 'requests'",
        "pytest": "No module named 'pytest'",
        "pytest_cloudstack": "No module named 'pytest_cloudstack'",
        "jmespath": "package",  # the package's own copy wins, as on Lambda
        "json": "host",
    }


def test_a_missing_library_fails_the_import_as_on_aws(aws: Aws) -> None:
    name = aws.function("import requests\n\ndef handler(event, context):\n    return 1\n")
    answer = aws.invoke(name)
    assert answer.payload["errorType"] == "Runtime.ImportModuleError"
    assert (
        answer.payload["errorMessage"]
        == "Unable to import module 'app': No module named 'requests'"
    )


# -- warm environments -------------------------------------------------------------------------

PID = """
import os

STARTED = os.getpid()

def handler(event, context):
    return {"pid": os.getpid(), "started": STARTED, "stage": os.environ.get("STAGE")}
"""


def test_an_environment_stays_warm_until_code_or_configuration_changes(aws: Aws) -> None:
    name = aws.function(PID, env={"STAGE": "one"})
    pids = {aws.invoke(name).payload["pid"] for _ in range(3)}
    assert len(pids) == 1
    [warm] = pids

    aws.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"STAGE": "two"}}
    )
    reconfigured = aws.invoke(name).payload
    assert reconfigured["stage"] == "two" and reconfigured["pid"] != warm
    assert not alive(warm), "the old environment is stopped"

    aws.client("lambda").update_function_code(
        FunctionName=name, ZipFile=zipped({"app.py": PID.replace('"stage"', '"new"')})
    )
    recoded = aws.invoke(name).payload
    assert recoded["new"] == "two" and recoded["pid"] != reconfigured["pid"]


def test_a_published_version_keeps_its_code_and_its_environment(aws: Aws) -> None:
    name = aws.function(PID, env={"STAGE": "v1"}, Publish=True)
    aws.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"STAGE": "latest"}}
    )
    # moto ignores Invoke's Qualifier parameter; a qualified name reaches the version.
    published = aws.invoke(f"{name}:1")
    latest = aws.invoke(name)
    assert (published.version, published.payload["stage"]) == ("1", "v1")
    assert (latest.version, latest.payload["stage"]) == ("$LATEST", "latest")
    assert published.payload["pid"] != latest.payload["pid"]
    assert aws.invoke(f"{name}:1").payload["pid"] == published.payload["pid"]


def test_concurrent_invokes_get_their_own_environments(aws: Aws) -> None:
    name = aws.function(
        "import os, time\n\ndef handler(event, context):\n"
        "    time.sleep(0.3)\n    return {'id': event['id'], 'pid': os.getpid(),"
        " 'request': context.aws_request_id}\n"
    )
    aws.invoke(name, {"id": -1})  # warm one environment first
    results: dict[int, Any] = {}

    def call(number: int) -> None:
        results[number] = aws.invoke(name, {"id": number})

    threads = [threading.Thread(target=call, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    payloads = [results[n].payload for n in range(3)]
    assert [p["id"] for p in payloads] == [0, 1, 2]
    assert len({p["pid"] for p in payloads}) == 3
    assert len({p["request"] for p in payloads}) == 3
    # each invocation's log holds its own output only
    for n in range(3):
        assert payloads[n]["request"] in results[n].log
        assert all(payloads[m]["request"] not in results[n].log for m in range(3) if m != n)
