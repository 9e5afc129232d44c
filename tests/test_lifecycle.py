"""The stack's lifecycle against a real moto_server (endpoint target), checked on the server."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MotoServer, background_pytest

USES_STACK = """
def test_uses_stack(cloud_stack):
    assert cloud_stack.outputs["QueueUrl"].endswith(cloud_stack.resources["Queue"].physical_id.rsplit("/", 1)[-1])
    sqs = cloud_stack.client("sqs")
    sqs.send_message(QueueUrl=cloud_stack.outputs["QueueUrl"], MessageBody="hello")
"""


def _stacks_named(moto: MotoServer, name_prefix: str) -> list[dict[str, Any]]:
    """Every stack the server has seen with this prefix, deleted ones included."""
    summaries = moto.client("cloudformation").list_stacks()["StackSummaries"]
    return [s for s in summaries if s["StackName"].startswith(name_prefix)]


def _tags(moto: MotoServer, name: str) -> dict[str, str]:
    stack = moto.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return {t["Key"]: t["Value"] for t in stack["Tags"]}


def test_deploys_once_exposes_and_deletes(project: pytest.Pytester, moto: MotoServer) -> None:
    project.makepyfile(test_a=USES_STACK, test_b=USES_STACK.replace("test_uses", "test_again"))
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=2)
    assert moto.live_stacks() == {}
    created = _stacks_named(moto, "proj-main")
    assert [s["StackStatus"] for s in created] == ["DELETE_COMPLETE"], "exactly one stack, deleted"
    result.stdout.fnmatch_lines(
        [
            "cloudstack: target http://127.0.0.1:*, region us-east-1, stack proj-main-*, *",
            "*cloud stack*",
            "*created in *s; 3 resources",
            "*stack proj-main-* deleted in *s",
        ]
    )


def test_stack_carries_ownership_and_metadata_tags(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always").assert_outcomes(
        passed=1
    )
    (name,) = moto.live_stacks()
    tags = _tags(moto, name)
    assert tags["cloudstack:managed"] == "true"
    assert tags["cloudstack:branch"] == "main"
    assert len(tags["cloudstack:template-hash"]) == 64
    assert tags["cloudstack:created-at"] < tags["cloudstack:expires-at"]
    assert "@" in tags["cloudstack:created-by"]


def test_keep_always_keeps_and_prints_the_delete_command(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep")
    result.assert_outcomes(passed=1)
    (name,) = moto.live_stacks()
    result.stdout.fnmatch_lines(
        [
            f"*stack {name} kept; delete it with: aws cloudformation delete-stack "
            f"--stack-name {name} --region us-east-1 --endpoint-url {moto.url}"
        ]
    )


@pytest.mark.parametrize(("test_passes", "kept"), [(True, False), (False, True)])
def test_keep_failed_keeps_only_after_a_failure(
    project: pytest.Pytester, moto: MotoServer, test_passes: bool, kept: bool
) -> None:
    project.makepyfile(f"def test_x(cloud_stack):\n    assert {test_passes}\n")
    project.makeini("[pytest]\ncloud_stack_prefix = proj\ncloud_stack_keep = failed\n")
    project.runpytest(f"--cloud-stack={moto.url}")
    assert bool(moto.live_stacks()) is kept


def test_existing_stack_is_refused_without_reuse(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(USES_STACK)
    project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    (name,) = moto.live_stacks()
    before = moto.live_stacks()[name]["StackId"]
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the stack already exists*Pass --cloud-stack-reuse*delete-stack*"]
    )
    assert moto.live_stacks()[name]["StackId"] == before, "the existing stack was left alone"


def test_reuse_skips_unchanged_and_updates_changed(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makepyfile(
        "def test_stage(cloud_stack, request):\n"
        "    assert cloud_stack.outputs['Stage'] == request.config.getoption('expected')\n"
    )
    project.makeconftest("def pytest_addoption(parser):\n    parser.addoption('--expected')\n")
    keep = ("--cloud-stack-keep=always", "--cloud-stack-reuse", f"--cloud-stack={moto.url}")
    project.runpytest(*keep, "--expected=test").assert_outcomes(passed=1)
    (name,) = moto.live_stacks()
    first = moto.live_stacks()[name]

    unchanged = project.runpytest(*keep, "--expected=test")
    unchanged.assert_outcomes(passed=1)
    unchanged.stdout.fnmatch_lines(
        ["*up to date: reused without an update*", "*reused, unchanged*"]
    )
    assert "LastUpdatedTime" not in moto.live_stacks()[name], "no UpdateStack call was made"

    changed = project.runpytest(*keep, "--cloud-stack-param", "Stage=dev", "--expected=dev")
    changed.assert_outcomes(passed=1)
    changed.stdout.fnmatch_lines(["*updated in *"])
    after = moto.live_stacks()[name]
    assert after["StackId"] == first["StackId"], "updated in place, not re-created"
    assert (
        _tags(moto, name)["cloudstack:created-at"]
        == {t["Key"]: t["Value"] for t in first["Tags"]}["cloudstack:created-at"]
    )


def test_foreign_stack_of_the_same_name_is_never_touched(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(
        StackName="proj-theirs",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    project.makepyfile(USES_STACK)
    for reuse in ((), ("--cloud-stack-reuse",)):
        result = project.runpytest(
            f"--cloud-stack={moto.url}", "--cloud-stack-name=proj-theirs", *reuse
        )
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                "*stack 'proj-theirs' already exists and was not created by pytest-cloudstack*"
                "(it has no tag cloudstack:managed=true)*"
            ]
        )
    assert list(moto.live_stacks()) == ["proj-theirs"]
    assert moto.live_stacks()["proj-theirs"]["StackStatus"] == "CREATE_COMPLETE"


FAILING_TEMPLATE = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Broken:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/none
      Code: {S3Bucket: no-such-bucket, S3Key: code.zip}
"""


def test_deploy_failure_errors_every_test_and_deletes_the_half_created_stack(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makefile(".yaml", template=FAILING_TEMPLATE)
    project.makepyfile(
        "import pytest\n"
        "def test_a(cloud_stack): pass\n"
        "@pytest.mark.cloud_stack\n"
        "def test_b(): pass\n"
        "def test_plain(): pass\n"
    )
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: deploying stack 'proj-main-*' failed: CreateStack was "
            "refused: InvalidParameterValueException: *NoSuchBucket*",
        ]
    )
    # Our internals never show up as a traceback.
    assert "deploy.py" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*stack proj-main-* deleted in *"])
    assert moto.live_stacks() == {}


def test_bad_template_fails_before_anything_is_created(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makefile(
        ".yaml",
        template="Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: !Reff X}\n",
    )
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*template.yaml:4: *unknown tag !Reff*"])
    assert _stacks_named(moto, "") == []


def test_hooks_choose_the_template_seed_and_see_teardown(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makeconftest(
        """
        import json, os

        def pytest_cloudstack_template(config):
            return {"Resources": {"Seeded": {"Type": "AWS::SQS::Queue"}},
                    "Outputs": {"SeededUrl": {"Value": {"Ref": "Seeded"}}}}

        def pytest_cloudstack_tags(config, tags):
            tags["team"] = "payments"

        def pytest_cloudstack_deployed(stack):
            stack.client("sqs").send_message(QueueUrl=stack.outputs["SeededUrl"], MessageBody="seed")

        def pytest_cloudstack_teardown(stack, keep):
            with open(os.environ["TEARDOWN_LOG"], "w") as f:
                json.dump({"name": stack.name, "keep": keep}, f)
        """
    )
    project.makepyfile(
        """
        def test_seeded(cloud_stack):
            messages = cloud_stack.client("sqs").receive_message(
                QueueUrl=cloud_stack.outputs["SeededUrl"])["Messages"]
            assert [m["Body"] for m in messages] == ["seed"]
        """
    )
    log = project.path / "teardown.json"
    os.environ["TEARDOWN_LOG"] = str(log)
    try:
        result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    finally:
        del os.environ["TEARDOWN_LOG"]
    result.assert_outcomes(passed=1)
    (name,) = moto.live_stacks()
    assert json.loads(log.read_text()) == {"name": name, "keep": True}
    assert _tags(moto, name)["team"] == "payments"


def test_xdist_creates_once_and_deletes_once(project: pytest.Pytester, moto: MotoServer) -> None:
    for index in range(4):
        project.makepyfile(**{f"test_{index}": USES_STACK})
    result = project.runpytest_subprocess(f"--cloud-stack={moto.url}", "-n", "2")
    result.assert_outcomes(passed=4)
    assert [s["StackStatus"] for s in _stacks_named(moto, "proj-")] == ["DELETE_COMPLETE"]


def test_xdist_workers_see_the_deploy_error(project: pytest.Pytester, moto: MotoServer) -> None:
    project.makefile(".yaml", template=FAILING_TEMPLATE)
    for index in range(3):
        project.makepyfile(**{f"test_{index}": USES_STACK})
    result = project.runpytest_subprocess(f"--cloud-stack={moto.url}", "-n", "2")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*cloud stack not available: deploying stack*NoSuchBucket*"])
    assert len(_stacks_named(moto, "proj-")) == 1, "the controller tried once, for every worker"


def test_second_session_on_the_same_stack_is_refused(
    project: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    started = tmp_path / "started"
    project.makepyfile(
        f"""
        import pathlib, time
        def test_hold(cloud_stack):
            pathlib.Path({str(started)!r}).write_text(cloud_stack.name)
            deadline = time.monotonic() + 60
            while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        """
    )
    first = background_pytest(project, f"--cloud-stack={moto.url}")
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = project.runpytest_subprocess(f"--cloud-stack={moto.url}")
        assert second.ret == pytest.ExitCode.USAGE_ERROR
        second.stderr.fnmatch_lines(
            [
                f"*stack '{started.read_text()}' is in use by another pytest session on this machine "
                f"(pid {first.pid} on *, since *)*--cloud-stack-name*"
            ]
        )
        assert list(moto.live_stacks()) == [started.read_text()], "the first run's stack is intact"
    finally:
        release.write_text("go")
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert moto.live_stacks() == {}


def test_missing_template_says_where_it_looked(pytester: pytest.Pytester, moto: MotoServer) -> None:
    pytester.makepyfile(USES_STACK)
    result = pytester.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no template: none of template.yaml, template.yml, template.json is in *"
            "Pass --cloud-stack-template PATH or set ini cloud_stack_template*"
        ]
    )
    assert _stacks_named(moto, "") == []


def test_a_required_parameter_without_value_fails_before_anything_is_created(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makefile(
        ".yaml",
        template="Parameters:\n  ApiKey: {Type: String, NoEcho: true}\n"
        "Resources:\n  Q: {Type: AWS::SQS::Queue}\n",
    )
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*parameter 'ApiKey' has no value: pass --cloud-stack-param*"])
    assert _stacks_named(moto, "") == []


def test_objects_of_the_session_are_still_finalized_at_exit(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """The session skips Python's last garbage collections at exit (gc.freeze): what reference
    counting frees at exit must still be finalized, and atexit handlers still run."""
    marker = project.path / "finalized.txt"
    project.makeconftest(
        f"""
        import atexit

        class Closer:
            def __del__(self, open=open):  # builtins may be gone by then
                with open({str(marker)!r}, "a") as out:
                    out.write("del\\n")

        kept = Closer()
        atexit.register(lambda: open({str(marker)!r}, "a").write("atexit\\n"))
        """
    )
    project.makepyfile(USES_STACK)
    result = project.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    assert sorted(marker.read_text().split()) == ["atexit", "del"]
