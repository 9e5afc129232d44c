"""A hook that returns the wrong type, and a cache folder that cannot be used: clear words,
never an INTERNALERROR."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MotoServer

USES_STACK = "def test_uses_stack(cloud_stack):\n    assert cloud_stack.name\n"


@pytest.mark.parametrize("returned", ["42", "['template.yaml']", "b'template.yaml'"])
def test_a_template_hook_returning_the_wrong_type_is_named(
    project: pytest.Pytester, returned: str
) -> None:
    project.makeconftest(f"def pytest_cloudstack_template(config):\n    return {returned}\n")
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=http://127.0.0.1:9")  # refused before any call
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(
        [
            "*cloud stack not available: the pytest_cloudstack_template hook (*conftest.py) "
            f"returned {returned.replace('[', '[[]')} (*): it must return a template path (str or pathlib.Path), a "
            "template as a dict, or None to use the configured template"
        ]
    )
    plan = project.runpytest("--cloud-stack=http://127.0.0.1:9", "--cloud-stack-plan")
    assert plan.ret == pytest.ExitCode.TESTS_FAILED
    plan.stdout.fnmatch_lines(["cloudstack: the pytest_cloudstack_template hook (*) returned *"])


FUNCTION = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
  Handler:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: src
"""


def test_a_cache_folder_that_is_a_file_is_worked_around_with_a_warning(
    moto: MotoServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = pytester.path / "cache-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    pytester.makefile(".yaml", template=FUNCTION)
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    (pytester.path / "src").mkdir()
    (pytester.path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    pytester.makepyfile(USES_STACK + "\ndef test_queue(queue):\n    assert queue.url\n")
    warning = (
        f"cloudstack: cache folder unusable ({not_a_folder}/pytest-cloudstack: Not a directory); "
        "using * instead: set XDG_CACHE_HOME to a writable folder"
    )
    plain = pytester.runpytest()  # the generated fixtures' cache
    plain.assert_outcomes(skipped=2)
    plain.stdout.fnmatch_lines([warning])
    # the session lock, the packaged code's zip
    result = pytester.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.stdout.fnmatch_lines([warning, "cloudstack: stack proj-main-* deleted in *"])
    assert moto.live_stacks() == {}


def test_a_plain_run_without_a_template_leaves_no_cache_folder(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing needed the cache: the report header must not create it to look at it."""
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (cache / "pytest-cloudstack").exists()
