"""What AWS refuses but an emulator accepts is said before the deploy: 500 resources, a 1 MB
template, 250 MB of unzipped function code. Real runs against moto_server (which accepts them
all); each test checks that the session went on and left nothing behind."""

from __future__ import annotations

import json
import zipfile

import pytest
from conftest import MotoServer
from templates import ROLE, python_function

PASS = "def test_a(cloud_stack):\n    pass\n"


def test_more_than_500_resources_is_warned_about_before_the_deploy(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    resources = {f"H{n}": {"Type": "AWS::CloudFormation::WaitConditionHandle"} for n in range(501)}
    (project.path / "template.yaml").unlink()
    project.makefile(".json", template=json.dumps({"Resources": resources}))
    project.makepyfile(PASS)
    # cfn-lint's gate refuses this template itself (tests/test_lint_gate.py): these warnings are
    # for sessions without the gate (cfn-lint not installed, or ini cloud_stack_lint = off).
    result = project.runpytest(
        f"--cloud-stack={moto.url}", "--cloud-stack-name=proj-many", "-o", "cloud_stack_lint=off"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: warning: the template has 501 resources: CloudFormation refuses more "
            "than 500 in one stack; move some into nested stacks",
            "cloudstack: creating stack proj-many",
        ]
    )
    assert moto.live_stacks() == {}


def test_a_template_over_1_mb_is_warned_about_before_the_deploy(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    body = {
        "Metadata": {"Notes": "x" * 1_100_000},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    }
    (project.path / "template.yaml").unlink()
    project.makefile(".json", template=json.dumps(body))
    project.makepyfile(PASS)
    result = project.runpytest(
        f"--cloud-stack={moto.url}", "--cloud-stack-name=proj-big", "-o", "cloud_stack_lint=off"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: warning: the template is 1,1*,* bytes as deployed: CloudFormation "
            "refuses more than 1,048,576 (1 MB); *",
            "cloudstack: creating stack proj-big",
        ]
    )
    assert moto.live_stacks() == {}


def test_code_over_250_mb_unzipped_is_warned_about_before_the_deploy(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    # 260 MB of zeros, deflated to a few hundred KB: only the size inside the archive counts.
    with zipfile.ZipFile(project.path / "code.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("app.py", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(260):
                member.write(chunk)
    project.makefile(
        ".yaml",
        template=f"""\
Resources:
{ROLE}
{python_function("Handler", package="code.zip", handler="app.handler")}
""",
    )
    project.makepyfile(PASS)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-name=proj-code")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cloudstack: warning: resource Handler (AWS::Lambda::Function), property Code: the "
            "code is 260.0 MB unzipped (code.zip): Lambda refuses more than 250 MB unzipped *",
            "cloudstack: creating stack proj-code",
        ]
    )
    assert moto.live_stacks() == {}
