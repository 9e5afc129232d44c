"""What users see: live event lines, -q and -v, the failure summary (terminal and file), JUnit
properties, the GitHub step summary. Real sessions against moto_server; AWS's slow and failing
operations replayed by tests/faults.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import MotoServer
from faults import FaultPlan, SlowStack, Story, conftest_source

NAME = "proj-rep"
USES_STACK = "def test_a(cloud_stack):\n    pass\n"


def _run(
    project: pytest.Pytester, moto: MotoServer, *args: str, plan: FaultPlan | None = None
) -> pytest.RunResult:
    if plan is not None:
        project.makeconftest(conftest_source(plan))
    project.makepyfile(USES_STACK)
    return project.runpytest(f"--cloud-stack={moto.url}", f"--cloud-stack-name={NAME}", *args)


def test_event_lines_are_the_servers_events_once_each_oldest_first(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    result = _run(project, moto)
    result.assert_outcomes(passed=1)
    printed = [line.split()[2] for line in result.outlines if "AWS::CloudFormation::Stack" in line]
    (summary,) = moto.client("cloudformation").list_stacks()["StackSummaries"]
    events = moto.client("cloudformation").describe_stack_events(StackName=summary["StackId"])
    on_server = [e["ResourceStatus"] for e in reversed(events["StackEvents"])]
    assert printed == on_server, (printed, on_server, events)
    assert printed[0] == "CREATE_IN_PROGRESS" and printed[-1] == "DELETE_COMPLETE"


def test_quiet_shows_only_start_and_end_lines(project: pytest.Pytester, moto: MotoServer) -> None:
    result = _run(project, moto, "-q")
    result.assert_outcomes(passed=1)
    assert not [line for line in result.outlines if "AWS::CloudFormation::Stack" in line]
    result.stdout.fnmatch_lines(
        [f"cloudstack: creating stack {NAME}", f"*stack {NAME} created in*"]
    )


def test_verbose_adds_physical_ids(project: pytest.Pytester, moto: MotoServer) -> None:
    result = _run(project, moto, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["cloudstack:*CREATE_COMPLETE*AWS::CloudFormation::Stack*[[]arn:aws:cloudformation:*"]
    )


def test_a_slow_operation_gets_a_heartbeat(project: pytest.Pytester, moto: MotoServer) -> None:
    plan = FaultPlan(slow=[SlowStack(NAME, 1.6, ["CreateStack"])])
    project.makeconftest(
        conftest_source(plan) + "\nimport pytest_cloudstack.progress\n"
        "pytest_cloudstack.progress.HEARTBEAT = 0.5  # 15 s in real life\n"
    )
    result = _run(project, moto)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cloudstack:   ... still CREATE_IN_PROGRESS after 0m0?s"])


def test_a_failed_deploy_summary_puts_root_causes_first_then_events_and_a_file(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    plan = FaultPlan(stories=[Story(NAME, "create_failure", resource="Bucket", step_calls=2)])
    junit = project.path / "reports" / "junit.xml"
    result = _run(project, moto, f"--junitxml={junit}", plan=plan)
    result.assert_outcomes(errors=1)
    summary = result.outlines[
        result.outlines.index(
            next(line for line in result.outlines if "cloud stack" in line and line.startswith("="))
        ) :
    ]
    text = "\n".join(summary)
    assert text.index("- Bucket (AWS::S3::Bucket) CREATE_FAILED") < text.index("last stack events:")
    failure = project.path / "reports" / f"cloudstack-deploy-failure-{NAME}.txt"
    assert f"failure summary: {failure}" in text
    content = failure.read_text()
    assert content.startswith(f"deploying stack {NAME} failed: the stack is ROLLBACK_IN_PROGRESS")
    assert content.index("Root causes:") < content.index("Last stack events:")
    assert "Bucket (AWS::S3::Bucket) CREATE_FAILED: Resource handler returned message" in content


def test_junit_xml_carries_the_stack_as_testsuite_properties(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    junit = project.path / "junit.xml"
    _run(project, moto, f"--junitxml={junit}").assert_outcomes(passed=1)
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["cloudstack_stack"] == NAME
    assert properties["cloudstack_target"] == moto.url
    assert properties["cloudstack_region"] == "us-east-1"
    assert properties["cloudstack_deploy_action"] == "created"
    assert float(properties["cloudstack_deploy_seconds"]) >= 0


def test_github_step_summary_gets_a_markdown_section(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _run(project, moto).assert_outcomes(passed=1)
    text = summary.read_text()
    assert text.startswith("earlier step\n### pytest-cloudstack\n")
    assert f"- target {moto.url}, region us-east-1, stack {NAME}" in text
    assert f"- stack {NAME} deleted in" in text
