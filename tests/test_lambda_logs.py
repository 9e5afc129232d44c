"""Failing tests get what the stack's Lambda functions logged meanwhile; passing tests don't.
On the local target, where the handlers really run and log to the emulator's CloudWatch Logs."""

from __future__ import annotations

import pytest
from templates import ROLE, python_function

GREETER = python_function(
    "Greeter",
    """
    def handler(event, context):
        print(f"greeting {event.get('name') or event['Records'][0]['body']}")
        return {"ok": True}
    """,
)

TEMPLATE = f"""\
Resources:
{ROLE}
  Queue:
    Type: AWS::SQS::Queue
{GREETER}
  Events:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {{EventSourceArn: !GetAtt Queue.Arn, FunctionName: !Ref Greeter, BatchSize: 1}}
"""


@pytest.fixture
def lambda_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = logs\ncloud_stack_target = local\n")
    return pytester


def test_a_failing_test_shows_its_invocations_logs(lambda_project: pytest.Pytester) -> None:
    lambda_project.makepyfile(
        """
        def test_direct(greeter):
            greeter.invoke({"name": "direct-caller"})
            assert False, "the result was wrong"

        def test_async(cloud_stack, queue):
            queue.send("async-sender")
            from pytest_cloudstack import eventually
            eventually(lambda: False, timeout=1.5)

        def test_passing(greeter):
            greeter.invoke({"name": "quiet-caller"})
        """
    )
    result = lambda_project.runpytest("--cloud-stack")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("Captured Lambda logs") == 2
    result.stdout.fnmatch_lines(
        [
            "*_ test_direct _*",
            "*Captured Lambda logs*",
            "[[]logs-main-*-Greeter-*] greeting direct-caller",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_async _*",
            "*Captured Lambda logs*",
            "[[]logs-main-*-Greeter-*] greeting async-sender",
        ]
    )
    assert "greeting quiet-caller" not in output, "passing tests get no section"


WORKER = python_function(
    "Worker",
    """
    import time

    def handler(event, context):
        if event.get("sleep"):
            print(f"sleeping before {event['name']}", flush=True)
            time.sleep(event["sleep"])
        print(f"handling {event['name']}")
        if event.get("fail"):
            raise KeyError(event["name"])
        return {"ok": True}
    """,
)

FAILING_TEMPLATE = f"""\
Resources:
{ROLE}
{WORKER}
"""


def _section(output: str, test: str) -> list[str]:
    """The "Captured Lambda logs" lines of one failing test's report."""
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if f"_ {test} _" in line)
    at = next(i for i in range(at, len(lines)) if "Captured Lambda logs" in lines[i])
    section = []
    for line in lines[at + 1 :]:
        if line.startswith(("---", "___", "===")) or not line:
            break
        section.append(line)
    return section


def test_logs_are_in_written_order_one_block_per_request(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=FAILING_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = order\ncloud_stack_target = local\n")
    pytester.makepyfile(
        """
        import time
        from pytest_cloudstack import eventually

        def test_earlier(worker):
            # Started here and still running when the next test starts: its last lines land in
            # the next test's time window, but they are not that test's.
            worker.invoke_async({"name": "earlier", "sleep": 0.8})
            eventually(lambda: any("sleeping" in e.message for e in worker.logs()), timeout=10)

        def test_failing(worker):
            for name in ("first", "second"):
                try:
                    worker.invoke({"name": name, "fail": True})
                except Exception:
                    pass
            time.sleep(1.2)
            assert False
        """
    )
    result = pytester.runpytest("--cloud-stack")
    result.assert_outcomes(passed=1, failed=1)
    section = _section(result.stdout.str(), "test_failing")
    function = section[0].split("]")[0] + "]"
    assert function.startswith("[order-main-") and "-Worker-" in function
    assert all(line.startswith(function + " ") for line in section), section
    texts = [line[len(function) + 1 :] for line in section]
    assert not [t for t in texts if "earlier" in t], texts
    starts = [i for i, t in enumerate(texts) if t.startswith("START RequestId:")]
    assert len(starts) == 2, texts
    assert starts[0] == 0, "nothing of an earlier request before the first START"
    for number, (begin, name) in enumerate(zip(starts, ("first", "second"), strict=True)):
        stop = starts[number + 1] if number == 0 else len(texts)
        block = texts[begin:stop]
        request_id = block[0].split()[2]
        kinds = [t.split(" ")[0] for t in block]
        assert block[1] == f"handling {name}", block
        assert block[2] == f"[ERROR] KeyError: '{name}'", block
        assert block[3] == "Traceback (most recent call last):", block
        assert kinds[-2:] == ["END", "REPORT"], block
        assert request_id in block[-1] and request_id in block[-2], block
        assert any('raise KeyError(event["name"])' in t for t in block[4:-2]), block
