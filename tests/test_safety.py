"""Never touch what isn't ours, never leak secrets, say what is left behind on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MotoServer

SECRET = "s3cr3t-Value-9731"
NOECHO_TEMPLATE = """\
Parameters:
  ApiKey: {Type: String, NoEcho: true, AllowedPattern: "s3cr3t-.*"}
Resources:
  Queue: {Type: AWS::SQS::Queue}
Outputs:
  QueueUrl: {Value: !Ref Queue}
"""


@pytest.mark.parametrize(
    ("secret", "test_body", "extra"),
    [
        (SECRET, "pass", ["-v", "--cloud-stack-keep=always"]),
        (SECRET, "assert False, 'boom'", ["-vv", "-rA"]),
        ("not-matching-" + SECRET, "pass", ["-v"]),  # refused by AllowedPattern, locally
    ],
    ids=["passing", "failing", "refused"],
)
def test_noecho_values_never_appear_in_any_output(
    project: pytest.Pytester, moto: MotoServer, secret: str, test_body: str, extra: list[str]
) -> None:
    project.makefile(".yaml", template=NOECHO_TEMPLATE)
    project.makepyfile(f"def test_a(cloud_stack):\n    {test_body}\n")
    junit = project.path / "junit.xml"
    result = project.runpytest_subprocess(
        f"--cloud-stack={moto.url}",
        "--cloud-stack-param",
        f"ApiKey={secret}",
        f"--junitxml={junit}",
        *extra,
    )
    everything = result.stdout.str() + result.stderr.str() + junit.read_text()
    assert "cloudstack:" in everything, "the plugin did speak"
    assert secret not in everything
    if secret.startswith("not-matching"):
        result.stdout.fnmatch_lines(["*<hidden: NoEcho>*"])


def test_termination_protection_blocks_the_delete(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    moto.client("cloudformation").create_stack(
        StackName="proj-protected",
        TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}),
        EnableTerminationProtection=True,
        Tags=[{"Key": "cloudstack:managed", "Value": "true"}],
    )
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest(
        f"--cloud-stack={moto.url}", "--cloud-stack-name=proj-protected", "--cloud-stack-reuse"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*deleting stack 'proj-protected' failed: termination protection is on*"]
    )
    assert list(moto.live_stacks()) == ["proj-protected"]


def test_retained_resources_are_listed_as_left_on_purpose(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    project.makefile(
        ".yaml",
        template="Resources:\n"
        "  Archive: {Type: AWS::S3::Bucket, DeletionPolicy: Retain}\n"
        "  Queue: {Type: AWS::SQS::Queue}\n",
    )
    project.makepyfile(
        "import pathlib\n"
        "def test_a(cloud_stack):\n"
        "    pathlib.Path('bucket').write_text(cloud_stack.resources['Archive'].physical_id)\n"
    )
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1)
    bucket = Path(project.path / "bucket").read_text()
    result.stdout.fnmatch_lines(
        [f"left behind on purpose (DeletionPolicy Retain): Archive (AWS::S3::Bucket {bucket})"]
    )
    assert moto.live_stacks() == {}
    buckets = [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
    assert bucket in buckets, "the emulator kept it, as AWS would"
