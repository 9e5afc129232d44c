"""The fault harness produces what a real boto3 client sees, against a real moto server."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from faults import (
    ENV_VAR,
    FaultInjector,
    FaultPlan,
    SlowStack,
    Story,
    Throttle,
    conftest_source,
    read_record,
)
from moto.server import ThreadedMotoServer

TEMPLATE = json.dumps(
    {
        "Resources": {
            "ReceiptsBucket": {"Type": "AWS::S3::Bucket"},
            "Queue": {"Type": "AWS::SQS::Queue"},
        },
        "Outputs": {"BucketName": {"Value": {"Ref": "ReceiptsBucket"}}},
    }
)
# A different template, so that UpdateStack has something to do on moto.
TEMPLATE_V2 = TEMPLATE.replace('"Queue"', '"Jobs"')


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # no request log lines in the test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto imports its CloudFormation parser lazily (~2 s): pay that before timing-sensitive tests.
    warm = client(session(), url)
    warm.create_stack(StackName="warm-up", TemplateBody=TEMPLATE)
    warm.delete_stack(StackName="warm-up")
    yield url
    server.stop()
    werkzeug.setLevel(level)


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def client(sess: boto3.session.Session, url: str, attempts: int = 1) -> Any:
    retries: Any = {"mode": "standard", "total_max_attempts": attempts}
    return sess.client("cloudformation", endpoint_url=url, config=Config(retries=retries))


def instrumented(url: str, plan: FaultPlan, attempts: int = 1) -> tuple[FaultInjector, Any]:
    sess = session()
    injector = FaultInjector(plan).install(sess)  # before the client: clients copy the emitter
    return injector, client(sess, url, attempts)


@pytest.fixture
def name() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def moto(endpoint: str) -> Any:
    """A client without faults: what moto really holds."""
    return client(session(), endpoint)


def status(cf: Any, stack: str) -> str:
    return str(cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def events(cf: Any, stack: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason) of the stack's events, oldest first."""
    found = cf.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in reversed(found)
    ]


def statuses_until(cf: Any, stack: str, done: Callable[[str], bool]) -> list[str]:
    """Poll DescribeStacks every 20 ms until ``done``; the distinct statuses seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = status(cf, stack)
        if not seen or seen[-1] != current:
            seen.append(current)
        if done(current):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"still {seen} after 5 s")


def test_throttling_surfaces_when_retries_are_off(endpoint: str) -> None:
    injector, cf = instrumented(endpoint, FaultPlan(throttles=[Throttle(["DescribeStacks"])]))
    with pytest.raises(ClientError) as caught:
        cf.describe_stacks()
    error = caught.value.response
    assert error["Error"] == {"Type": "Sender", "Code": "Throttling", "Message": "Rate exceeded"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RequestId"]
    assert injector.injected == {"DescribeStacks:Throttling": 1}
    assert injector.attempts["DescribeStacks"] == 1
    cf.list_stacks()  # other operations are left alone


@pytest.mark.parametrize(("code", "http"), [("Throttling", 400), ("InternalFailure", 500)])
def test_standard_retries_recover_from_injected_errors(endpoint: str, code: str, http: int) -> None:
    plan = FaultPlan(throttles=[Throttle(["*"], code=code, limit=1)])
    injector, cf = instrumented(endpoint, plan, attempts=3)
    answer = cf.describe_stacks()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried our answer
    assert injector.attempts["DescribeStacks"] == 2
    assert injector.injected == {f"DescribeStacks:{code}": 1}
    _, once = instrumented(endpoint, plan)
    with pytest.raises(ClientError) as caught:
        once.describe_stacks()
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == http


def test_throttling_selection_is_deterministic(endpoint: str) -> None:
    def pattern(throttle: Throttle) -> list[bool]:
        _, cf = instrumented(endpoint, FaultPlan(throttles=[throttle]))
        hits = []
        for _ in range(12):
            try:
                cf.list_stacks()
                hits.append(False)
            except ClientError:
                hits.append(True)
        return hits

    assert pattern(Throttle(every=3)) == [False, False, True] * 4
    seeded = pattern(Throttle(rate=0.5, seed=7))
    assert seeded == pattern(Throttle(rate=0.5, seed=7))
    assert 0 < sum(seeded) < 12


@pytest.mark.parametrize(
    ("op", "working", "done"),
    [
        ("CreateStack", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"),
        ("UpdateStack", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"),
    ],
)
def test_slow_create_and_update(
    endpoint: str, moto: Any, name: str, op: str, working: str, done: str
) -> None:
    _, cf = instrumented(endpoint, FaultPlan(slow=[SlowStack(name, 0.3, [op])]))
    cf.create_stack(StackName=name, TemplateBody=TEMPLATE)
    if op == "UpdateStack":
        cf.update_stack(StackName=name, TemplateBody=TEMPLATE_V2)
    begun = time.monotonic()
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == working
    assert status(moto, name) == done  # the operation really happened on moto
    if op == "CreateStack":
        assert "Outputs" not in stack  # AWS has none before the create completes
        assert events(cf, name) == [(name, working, "User Initiated")]
    assert statuses_until(cf, name, lambda s: s == done) == [working, done]
    assert time.monotonic() - begun >= 0.25
    assert cf.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]


def test_slow_delete_describes_the_stack_until_it_is_gone(
    endpoint: str, moto: Any, name: str
) -> None:
    _, cf = instrumented(endpoint, FaultPlan(slow=[SlowStack(name, 0.3, ["DeleteStack"])]))
    stack_id = cf.create_stack(StackName=name, TemplateBody=TEMPLATE)["StackId"]
    cf.delete_stack(StackName=name)
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert (stack["StackStatus"], stack["StackId"]) == ("DELETE_IN_PROGRESS", stack_id)
    assert "DeletionTime" in stack
    with pytest.raises(ClientError, match="does not exist"):
        moto.describe_stacks(StackName=name)  # really deleted already
    assert events(cf, name)[-1] == (name, "DELETE_IN_PROGRESS", "User Initiated")
    assert status(cf, stack_id) == "DELETE_IN_PROGRESS"  # by ARN too
    time.sleep(0.3)
    assert status(cf, stack_id) == "DELETE_COMPLETE"  # as AWS answers for a deleted stack's ARN
    with pytest.raises(ClientError, match=f"Stack with id {name} does not exist"):
        cf.describe_stacks(StackName=name)


def test_create_failure_story(endpoint: str, moto: Any, name: str) -> None:
    story = Story(name, "create_failure", step_calls=1)  # one phase per DescribeStacks call
    _, cf = instrumented(endpoint, FaultPlan(stories=[story]))
    stack_id = cf.create_stack(StackName=name, TemplateBody=TEMPLATE)["StackId"]
    seen = [status(cf, name), status(cf, stack_id), status(cf, name), status(cf, name)]
    assert seen == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", *["ROLLBACK_COMPLETE"] * 2]
    found = events(cf, name)
    assert found[0] == (name, "CREATE_IN_PROGRESS", "User Initiated")
    failed = [e for e in found if e[1] == "CREATE_FAILED"]
    assert failed[0][0] == "ReceiptsBucket"
    assert failed[0][2].startswith('Resource handler returned message: "Invalid request provided')
    assert failed[0][2].endswith("HandlerErrorCode: InvalidRequest)")
    assert failed[1:] == [("Queue", "CREATE_FAILED", "Resource creation cancelled")]
    why = "The following resource(s) failed to create: [ReceiptsBucket, Queue]. "
    assert (name, "ROLLBACK_IN_PROGRESS", why + "Rollback requested by user.") in found
    assert found[-1] == (name, "ROLLBACK_COMPLETE", "")
    raw = cf.describe_stack_events(StackName=stack_id)["StackEvents"]
    assert len({e["EventId"] for e in raw}) == len(raw)
    assert {e["StackId"] for e in raw} == {stack_id}
    assert [e["EventId"] for e in raw] == [
        e["EventId"] for e in cf.describe_stack_events(StackName=name)["StackEvents"]
    ]  # stable: pollers deduplicate by EventId
    with pytest.raises(ClientError, match="is in ROLLBACK_COMPLETE state and can not be updated"):
        cf.update_stack(StackName=name, TemplateBody=TEMPLATE_V2)
    assert status(moto, name) == "CREATE_COMPLETE"
    cf.delete_stack(StackName=name)  # ROLLBACK_COMPLETE stacks can be deleted: really done
    with pytest.raises(ClientError, match="does not exist"):
        cf.describe_stacks(StackName=name)


def test_delete_failure_story(endpoint: str, moto: Any, name: str) -> None:
    _, cf = instrumented(endpoint, FaultPlan(stories=[Story(name, "delete_failure", times=1)]))
    cf.create_stack(StackName=name, TemplateBody=TEMPLATE)
    bucket = moto.describe_stack_resource(StackName=name, LogicalResourceId="ReceiptsBucket")
    assert cf.delete_stack(StackName=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert statuses_until(cf, name, lambda s: s.endswith("FAILED")) == [
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
    ]
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    reason = "The following resource(s) failed to delete: [ReceiptsBucket]. "
    assert stack["StackStatusReason"] == reason
    raw = cf.describe_stack_events(StackName=name)["StackEvents"]
    assert raw[0]["ResourceStatus"] == "DELETE_FAILED"
    assert raw[0]["LogicalResourceId"] == raw[0]["StackName"] == name
    assert raw[1]["ResourceStatus"] == "DELETE_FAILED"
    assert raw[1]["LogicalResourceId"] == "ReceiptsBucket"
    assert raw[1]["PhysicalResourceId"] == bucket["StackResourceDetail"]["PhysicalResourceId"]
    assert (
        "The bucket you tried to delete is not empty (Service: S3, Status Code: 409"
        in (raw[1]["ResourceStatusReason"])
    )
    assert ("Queue", "DELETE_COMPLETE", "") in events(cf, name)
    assert status(moto, name) == "CREATE_COMPLETE"  # not deleted for real
    cf.delete_stack(StackName=name)  # times=1: the second delete goes through
    with pytest.raises(ClientError, match="does not exist"):
        cf.describe_stacks(StackName=name)


def test_update_rollback_story(endpoint: str, moto: Any, name: str) -> None:
    story = Story(name, "update_rollback", "Queue", "AWS::SQS::Queue", step_seconds=0.1)
    _, cf = instrumented(endpoint, FaultPlan(stories=[story]))
    cf.create_stack(StackName=name, TemplateBody=TEMPLATE)
    cf.update_stack(StackName=name, TemplateBody=TEMPLATE_V2)
    assert statuses_until(cf, name, lambda s: s == "UPDATE_ROLLBACK_COMPLETE") == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    found = events(cf, name)
    assert [e[1] for e in found if e[0] == name][-4:] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert [e[0] for e in found if e[1] == "UPDATE_FAILED"] == ["Queue"]
    # Rolled back: moto still holds the old template, as AWS would.
    assert "Jobs" not in json.dumps(moto.get_template(StackName=name)["TemplateBody"])
    cf.update_stack(StackName=name, TemplateBody=TEMPLATE_V2)  # times=1: now for real
    assert status(cf, name) == "UPDATE_COMPLETE"


def test_existing_stack_in_a_given_state(endpoint: str, moto: Any, name: str) -> None:
    moto.create_stack(StackName=name, TemplateBody=TEMPLATE)
    _, cf = instrumented(endpoint, FaultPlan(stories=[Story(name, "existing")]))
    assert status(cf, name) == "ROLLBACK_COMPLETE"
    listed = {s["StackName"]: s["StackStatus"] for s in cf.describe_stacks()["Stacks"]}
    assert listed[name] == "ROLLBACK_COMPLETE"
    found = events(cf, name)
    assert ("ReceiptsBucket", "CREATE_FAILED") in [e[:2] for e in found]
    assert found[-1][:2] == (name, "ROLLBACK_COMPLETE")
    cf.delete_stack(StackName=name)
    with pytest.raises(ClientError, match="does not exist"):
        cf.describe_stacks(StackName=name)


def test_call_record(endpoint: str, name: str, tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    plan = FaultPlan(throttles=[Throttle(["DescribeStacks"], limit=1)], record=str(record))
    injector, cf = instrumented(endpoint, plan, attempts=2)
    cf.create_stack(StackName=name, TemplateBody=TEMPLATE)
    cf.describe_stacks(StackName=name)
    cf.delete_stack(StackName=name)
    assert (
        [c["operation"] for c in read_record(record)]
        == injector.operations
        == [
            "CreateStack",
            "DescribeStacks",  # once: the throttled attempt was retried, not called again
            "DeleteStack",
        ]
    )
    assert read_record(record)[0]["params"] == {"StackName": name, "TemplateBody": TEMPLATE}
    injected = read_record(record, "inject")
    assert [(e["operation"], e["code"]) for e in injected] == [("DescribeStacks", "Throttling")]


def test_plan_round_trips_through_json() -> None:
    plan = FaultPlan(
        throttles=[Throttle(["CreateStack"], code="InternalFailure", rate=0.25, seed=3)],
        slow=[SlowStack("a", 1.5)],
        stories=[Story("b", "delete_failure", others={"Queue": "AWS::SQS::Queue"}, times=-1)],
        record="/tmp/x.jsonl",
    )
    assert FaultPlan.from_json(plan.to_json()) == plan
    with pytest.raises(ValueError, match="unknown story kind"):
        FaultPlan.from_json('{"stories": [{"stack": "a", "kind": "explode"}]}')
    with pytest.raises(ValueError, match="unsupported throttle"):
        Throttle(code="Teapot")


def plugin_args() -> list[str]:
    # While the plugin module is missing, its entry point would break every pytester run.
    return [] if importlib.util.find_spec("pytest_cloudstack.plugin") else ["-p", "no:cloudstack"]


RUN_TEST = """
import os

import boto3
import pytest
from botocore.config import Config


def test_run(pytestconfig):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    pytestconfig.hook.pytest_cloudstack_boto_session(session=session)
    cf = session.client(
        "cloudformation",
        endpoint_url=os.environ["FAULTS_ENDPOINT"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    with pytest.raises(Exception, match="Throttling"):
        cf.list_stacks()
    cf.create_stack(StackName=os.environ["FAULTS_STACK"], TemplateBody="{TEMPLATE}")
    stack = cf.describe_stacks(StackName=os.environ["FAULTS_STACK"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
"""


@pytest.mark.parametrize("how", ["env-subprocess", "embedded-inprocess"])
def test_conftest_source_installs_the_plan_in_pytester_runs(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    moto: Any,
    name: str,
    tmp_path: Path,
    how: str,
) -> None:
    record = tmp_path / "record.jsonl"
    plan = FaultPlan(
        throttles=[Throttle(["ListStacks"], limit=1)],
        slow=[SlowStack(name, 30)],
        record=str(record),
    )
    monkeypatch.setenv("FAULTS_ENDPOINT", endpoint)
    monkeypatch.setenv("FAULTS_STACK", name)
    if how == "env-subprocess":
        monkeypatch.setenv(ENV_VAR, plan.to_json())
        pytester.makeconftest(conftest_source())
    else:
        monkeypatch.delenv(ENV_VAR, raising=False)
        pytester.makeconftest(conftest_source(plan))
    pytester.makepyfile(RUN_TEST.replace("{TEMPLATE}", TEMPLATE.replace('"', '\\"')))
    run = pytester.runpytest_subprocess if how == "env-subprocess" else pytester.runpytest
    run(*plugin_args()).assert_outcomes(passed=1)
    assert [c["operation"] for c in read_record(record)] == [
        "ListStacks",
        "CreateStack",
        "DescribeStacks",
    ]
    assert len(read_record(record, "inject")) == 1
    assert status(moto, name) == "CREATE_COMPLETE"
