"""The cfn-lint template gate: mistakes CloudFormation would refuse stop the run before any call.

Each probe template is a mistake that moto answers with an HTML 500 page and AWS with a rollback
minutes in; the gate must name cfn-lint's rule and the line, and leave the server empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MotoServer

NEEDS_STACK = """\
import pytest

@pytest.mark.cloud_stack
def test_needs_stack(cloud_stack):
    assert cloud_stack.name
"""

QUEUE = """\
  Queue:
    Type: AWS::SQS::Queue
"""

PROBES = {
    "key-schema": (
        """\
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
""",
        "template.yaml:5:5 E3039",
    ),
    "circular": (
        """\
  A:
    Type: AWS::SQS::Queue
    DependsOn: B
  B:
    Type: AWS::SQS::Queue
    DependsOn: A
""",
        "template.yaml:3:3 E3004 Circular Dependencies for resource A",
    ),
    "unknown-type": (
        """\
  Thing:
    Type: AWS::Foo::Bar
""",
        "template.yaml:4:5 E3006 Resource type 'AWS::Foo::Bar' does not exist",
    ),
    "long-bucket-name": (
        f"""\
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {"b" * 70}
""",
        "template.yaml:6:7 E3033",
    ),
}


def _template(resources: str, parameters: str = "") -> str:
    return f'AWSTemplateFormatVersion: "2010-09-09"\n{parameters}Resources:\n{resources}'


def _project(pytester: pytest.Pytester, template: str, ini: str = "") -> None:
    pytester.makefile(".yaml", template=template)
    pytester.makeini(f"[pytest]\ncloud_stack_prefix = gate\n{ini}")
    pytester.makepyfile(test_gate=NEEDS_STACK)


def _nothing_created(moto: MotoServer) -> None:
    assert moto.live_stacks() == {}
    assert moto.client("s3").list_buckets()["Buckets"] == []


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_template_mistake_stops_before_anything_is_created(
    pytester: pytest.Pytester, moto: MotoServer, probe: str
) -> None:
    resources, expected = PROBES[probe]
    _project(pytester, _template(resources))
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*cfn-lint found * problem(s) in template.yaml; nothing was deployed:",
            f"*{expected}*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    _nothing_created(moto)


def test_warnings_are_shown_and_the_run_goes_on(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    unused = "Parameters:\n  Unused:\n    Type: String\n    Default: x\n"
    _project(pytester, _template(QUEUE, unused))
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*cfn-lint warning: template.yaml:3:3 W2001 Parameter Unused*"])


def test_lint_warnings_mode_stops_on_warnings(pytester: pytest.Pytester, moto: MotoServer) -> None:
    unused = "Parameters:\n  Unused:\n    Type: String\n    Default: x\n"
    _project(pytester, _template(QUEUE, unused), "cloud_stack_lint = warnings\n")
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*template.yaml:3:3 W2001*", "*cloud_stack_lint = warnings*"])
    _nothing_created(moto)


def test_lint_off_sends_the_template_unchecked(pytester: pytest.Pytester, moto: MotoServer) -> None:
    resources, _ = PROBES["unknown-type"]
    _project(pytester, _template(QUEUE + resources), "cloud_stack_lint = off\n")
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.stdout.no_fnmatch_line("*cfn-lint*")
    # moto accepts the unknown type silently: without the gate the run is green.
    result.assert_outcomes(passed=1)


def test_an_invalid_lint_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _project(pytester, _template(QUEUE), "cloud_stack_lint = sometimes\n")
    result = pytester.runpytest_subprocess("--cloud-stack=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid value 'sometimes' for ini cloud_stack_lint: use one of errors, warnings, off*"]
    )


def test_cfnlintrc_is_respected(pytester: pytest.Pytester, moto: MotoServer) -> None:
    unused = "Parameters:\n  Unused:\n    Type: String\n    Default: x\n"
    _project(pytester, _template(QUEUE, unused), "cloud_stack_lint = warnings\n")
    pytester.path.joinpath(".cfnlintrc").write_text("ignore_checks:\n  - W2001\n")
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*W2001*")


def test_template_metadata_is_respected(pytester: pytest.Pytester, moto: MotoServer) -> None:
    resources, _ = PROBES["circular"]
    metadata = "Metadata:\n  cfn-lint:\n    config:\n      ignore_checks: [E3004]\n"
    _project(pytester, _template(resources, metadata))
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.stdout.no_fnmatch_line("*E3004*")
    result.stdout.no_fnmatch_line("*cfn-lint found*")


def test_a_sam_template_is_linted_with_its_own_lines(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    sam = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(event, context): return 1"
      MemorySize: 1
"""
    _project(pytester, sam)
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*template.yaml:9:7 E3034 1 is less than the minimum of 128*"])
    _nothing_created(moto)


def test_an_unchanged_template_is_judged_from_the_cache(
    pytester: pytest.Pytester, moto: MotoServer, tmp_path: Path
) -> None:
    _project(pytester, _template(QUEUE))
    first = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    first.assert_outcomes(passed=1)
    verdicts = list((tmp_path / "cache" / "pytest-cloudstack" / "lint").glob("*.json"))
    assert len(verdicts) == 1
    assert json.loads(verdicts[0].read_text()) == []
    # A planted finding in the cached verdict proves the second run reads it instead of linting.
    planted = {"rule": "E9999", "level": "Error", "line": 1, "column": 1, "message": "planted"}
    verdicts[0].write_text(json.dumps([planted]))
    second = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    second.assert_outcomes(errors=1)
    second.stdout.fnmatch_lines(["*template.yaml:1:1 E9999 planted*"])
    # A changed template is linted again (the planted verdict is not its verdict).
    pytester.makefile(".yaml", template=_template(QUEUE + "  Other:\n    Type: AWS::SQS::Queue\n"))
    pytester.runpytest_subprocess(f"--cloud-stack={moto.url}").assert_outcomes(passed=1)


def test_without_cfn_lint_the_gate_is_off_and_says_so(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _project(pytester, _template(QUEUE))
    # The plugin looks cfn-lint up when it configures: a plugin loaded before it hides it.
    pytester.makepyfile(hide_cfnlint="import sys\nsys.modules['cfnlint'] = None\n")
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}", "-p", "hide_cfnlint")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*cfn-lint is not installed (pip install 'pytest-cloudstack*lint*'), so the template gate is off"
        ]
    )


def test_a_template_from_the_hook_is_linted_too(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _project(pytester, _template(QUEUE))
    pytester.makeconftest(
        """
def pytest_cloudstack_template(config):
    return {"Resources": {"Thing": {"Type": "AWS::Foo::Bar"}}}
"""
    )
    result = pytester.runpytest_subprocess(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*(template from the hook):*E3006*AWS::Foo::Bar*"])
    _nothing_created(moto)
