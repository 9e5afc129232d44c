"""Settings seen from the outside: pytester runs of the plugin with CLI options, ini keys, env."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from pytest_cloudstack import naming

if TYPE_CHECKING:
    from conftest import MotoServer

HEADER = re.compile(
    r"cloudstack: target (?P<target>.+), region (?P<region>\S+), stack (?P<stack>\S+), "
    r"template (?P<template>.+), keep (?P<keep>\S+), reuse (?P<reuse>\S+)$"
)

NEEDS_STACK = """\
import pytest


@pytest.fixture
def queue_url(cloud_stack):
    return cloud_stack.outputs["QueueUrl"]


def test_fixture(cloud_stack):
    pass


def test_indirect(queue_url):
    pass


@pytest.mark.cloud_stack
def test_marker():
    pass


def test_plain():
    pass
"""

NO_STACK = """\
def test_plain():
    pass
"""


def ini(pytester: pytest.Pytester, *lines: str) -> None:
    """The project's ini (prefix proj) plus ``lines``."""
    pytester.makeini("\n".join(["[pytest]", "cloud_stack_prefix = proj", *lines]) + "\n")


def header(result: pytest.RunResult) -> dict[str, str]:
    """The fields of the one ``cloudstack:`` report header line."""
    matches = [m for line in result.outlines if (m := HEADER.match(line))]
    assert len(matches) == 1, result.outlines
    return matches[0].groupdict()


def default_name(prefix: str = "proj", branch: str = "main") -> str:
    """The per-branch name outside CI (the conftest sets CLOUD_STACK_BRANCH=main, no CI)."""
    return naming.stack_name(prefix, branch, naming.current_user())


# --- without --cloud-stack ---------------------------------------------------------------------


def test_skipped_without_flag(project: pytest.Pytester) -> None:
    """Tests needing the stack (fixture, via a fixture, marker) skip with a reason; others run."""
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest("-rs", "-v", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*::test_fixture SKIPPED*",
            "*::test_indirect SKIPPED*",
            "*::test_marker SKIPPED*",
            "*::test_plain PASSED*",
        ]
    )
    # Reported at the tests' own file (pytest folds skip marks per file), not at the plugin's.
    skips = [line for line in result.outlines if line.startswith("SKIPPED [")]
    assert skips and all(
        " test_skipped_without_flag.py" in line and line.endswith(": needs --cloud-stack")
        for line in skips
    ), skips
    assert "plugin.py" not in result.stdout.str()
    assert not any(line.startswith("cloudstack:") for line in result.outlines)


def test_required_errors_without_flag(project: pytest.Pytester) -> None:
    """ini cloud_stack_required = true: tests needing the stack error instead of skipping."""
    ini(project, "cloud_stack_required = true")
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*needs --cloud-stack (ini cloud_stack_required = true)*"] * 3)


def test_no_boto3_import_without_flag(project: pytest.Pytester) -> None:
    """A run without --cloud-stack never imports boto3 or botocore (checked in a fresh process)."""
    project.makepyfile(
        """
        import sys

        def test_no_boto():
            assert "pytest_cloudstack.plugin" in sys.modules
            assert "boto3" not in sys.modules
            assert "botocore" not in sys.modules
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1)


# --- help --------------------------------------------------------------------------------------

FLAGS = (
    "--cloud-stack",
    "--cloud-stack-template",
    "--cloud-stack-name",
    "--cloud-stack-param",
    "--cloud-stack-region",
    "--cloud-stack-profile",
    "--cloud-stack-keep",
    "--cloud-stack-reuse",
    "--cloud-stack-timeout",
    "--cloud-stack-env",
    "--cloud-stack-sweep",
    "--cloud-stack-plan",
    "--cloud-stack-upgrade-from",
    "--cloud-stack-share",
)
INI_KEYS = (
    "cloud_stack_target",
    "cloud_stack_template",
    "cloud_stack_name",
    "cloud_stack_prefix",
    "cloud_stack_parameters",
    "cloud_stack_tags",
    "cloud_stack_region",
    "cloud_stack_profile",
    "cloud_stack_keep",
    "cloud_stack_reuse",
    "cloud_stack_timeout",
    "cloud_stack_env",
    "cloud_stack_autouse",
    "cloud_stack_stacks",
    "cloud_stack_allowed_accounts",
    "cloud_stack_required",
    "cloud_stack_auto_fixtures",
    "cloud_stack_artifact_bucket",
    "cloud_stack_sam_transform",
    "cloud_stack_local_packages",
    "cloud_stack_force_delete",
    "cloud_stack_lint",
    "cloud_stack_upgrade_from",
    "cloud_stack_stateful_types",
    "cloud_stack_allow_destroy",
    "cloud_stack_local_warm_start",
    "cloud_stack_share",
)


def test_help_lists_options_in_one_group(pytester: pytest.Pytester) -> None:
    """`pytest --help` shows every flag in the one cloud stack group, and every ini key."""
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    lines = result.outlines
    titles = [i for i, line in enumerate(lines) if line.startswith("cloud stack")]
    assert len(titles) == 1, [lines[i] for i in titles]
    start = titles[0] + 1
    end = lines.index("", start)
    flag = re.compile(r"\s+(--cloud-stack[-a-z]*)")
    listed = [m.group(1) for line in lines[start:end] if (m := flag.match(line))]
    assert sorted(listed) == sorted(FLAGS)
    elsewhere = [line for line in lines[:start] + lines[end:] if flag.match(line)]
    assert elsewhere == []
    for key in INI_KEYS:
        assert any(re.match(rf"\s+{key} \(", line) for line in lines), key


# --- invalid values ----------------------------------------------------------------------------

# (id, command-line arguments after the target, extra ini lines, expected message fragments)
INVALID: list[tuple[str, list[str], list[str], list[str]]] = [
    (
        "cli-target",
        ["--cloud-stack=nonsense"],
        [],
        ["'nonsense'", "--cloud-stack", "use aws, local, or an endpoint URL"],
    ),
    (
        "ini-target",
        ["--cloud-stack"],
        ["cloud_stack_target = ftp://x"],
        ["'ftp://x'", "ini cloud_stack_target", "use aws, local, or an endpoint URL"],
    ),
    (
        "cli-keep",
        ["--cloud-stack-keep=sometimes"],
        [],
        ["'sometimes'", "use one of never, failed, always"],
    ),
    ("ini-keep", [], ["cloud_stack_keep = maybe"], ["'maybe'", "use one of never, failed, always"]),
    (
        "ini-sam-transform",
        [],
        ["cloud_stack_sam_transform = cloud"],
        ["'cloud'", "cloud_stack_sam_transform", "use one of auto, client, service"],
    ),
    ("cli-sweep-age", ["--cloud-stack-sweep=soon"], [], ["'soon'", "e.g. 90m, 12h or 2d"]),
    (
        "cli-param",
        ["--cloud-stack-param", "NoEquals"],
        [],
        ["'NoEquals'", "--cloud-stack-param", "expected KEY=VALUE"],
    ),
    (
        "ini-param",
        [],
        ["cloud_stack_parameters =", "    =nokey"],
        ["'=nokey'", "ini cloud_stack_parameters", "expected KEY=VALUE"],
    ),
    (
        "cli-timeout-negative",
        ["--cloud-stack-timeout=-5"],
        [],
        ["'-5'", "use a positive number of seconds"],
    ),
    (
        "cli-timeout-text",
        ["--cloud-stack-timeout=abc"],
        [],
        ["'abc'", "use a positive number of seconds"],
    ),
    ("ini-timeout", [], ["cloud_stack_timeout = 0"], ["'0'", "use a positive number of seconds"]),
    (
        "ini-warm-start",
        [],
        ["cloud_stack_local_warm_start = sometimes"],
        ["'sometimes'", "ini cloud_stack_local_warm_start", "use auto, true or false"],
    ),
    (
        "cli-env",
        ["--cloud-stack-env", "1BAD"],
        [],
        ["'1BAD'", "use letters, digits and underscores"],
    ),
    (
        "ini-env",
        [],
        ["cloud_stack_env =", "    MY-VAR"],
        ["'MY-VAR'", "use letters, digits and underscores"],
    ),
    *(
        (
            f"ini-bool-{key}",
            [],
            [f"{key} = maybe"],
            [f"ini {key}: invalid truth value 'maybe'", "use true or false"],
        )
        for key in (
            "cloud_stack_reuse",
            "cloud_stack_required",
            "cloud_stack_auto_fixtures",
            "cloud_stack_force_delete",
        )
    ),
    *(
        (
            f"cli-env-needed-{name}",
            ["--cloud-stack-env", name],
            [],
            [f"cloud_stack_env {name}: the session itself needs that variable", "STACK_NAME"],
        )
        for name in ("PATH", "HOME", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "PYTHONPATH")
    ),
    (
        "ini-env-needed",
        [],
        ["cloud_stack_env =", "    AWS_REGION"],
        ["cloud_stack_env AWS_REGION: the session itself needs that variable"],
    ),
    (
        "ini-accounts",
        [],
        ["cloud_stack_allowed_accounts = 12345"],
        ["'12345'", "use 12-digit AWS account IDs"],
    ),
    (
        "cli-name",
        ["--cloud-stack-name", "9bad_name"],
        [],
        ["'9bad_name'", "letters, digits and '-', starting with a letter"],
    ),
    (
        "cli-profile",
        ["--cloud-stack-profile=nosuch"],
        [],
        ["'nosuch'", "--cloud-stack-profile / ini cloud_stack_profile"],
    ),
    (
        "ini-name",
        [],
        ["cloud_stack_name = has space"],
        ["'has space'", "letters, digits and '-', starting with a letter"],
    ),
]


@pytest.mark.parametrize(
    ("args", "ini_lines", "fragments"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_value_is_usage_error(
    project: pytest.Pytester,
    moto: MotoServer,
    args: list[str],
    ini_lines: list[str],
    fragments: list[str],
) -> None:
    """An invalid setting stops the run at configure time, naming the valid values."""
    ini(project, *ini_lines)
    project.makepyfile(NEEDS_STACK)
    target = (
        []
        if any(a.startswith("--cloud-stack=") or a == "--cloud-stack" for a in args)
        else [f"--cloud-stack={moto.url}"]
    )
    result = project.runpytest(*target, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = "\n".join(result.errlines)
    for fragment in fragments:
        assert fragment in error
    assert moto.live_stacks() == {}


@pytest.mark.parametrize(
    ("variable", "value", "pattern"),
    [
        pytest.param(
            "CLOUD_STACK_BRANCH",
            "",
            "*CLOUD_STACK_BRANCH is set but empty*--cloud-stack-name*",
            id="branch-empty",
        ),
        pytest.param(
            "CLOUD_STACK_NAME",
            "under_score",
            "*'under_score'*CLOUD_STACK_NAME*starting with a letter*",
            id="name",
        ),
        pytest.param(
            "CLOUD_STACK_TARGET",
            "gopher://x",
            "*'gopher://x'*$CLOUD_STACK_TARGET*use aws, local, or an endpoint URL*",
            id="target",
        ),
    ],
)
def test_invalid_environment_is_usage_error(
    project: pytest.Pytester,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    pattern: str,
) -> None:
    """Invalid $CLOUD_STACK_* values stop the run at configure time, before anything is made."""
    monkeypatch.setenv(variable, value)
    project.makepyfile(NEEDS_STACK)
    target = "--cloud-stack" if variable == "CLOUD_STACK_TARGET" else f"--cloud-stack={moto.url}"
    result = project.runpytest(target)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([pattern])
    assert moto.live_stacks() == {}


def test_aws_target_needs_a_region(project: pytest.Pytester) -> None:
    """--cloud-stack=aws with no region anywhere is a usage error saying where to set one."""
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest("--cloud-stack=aws")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no AWS region*--cloud-stack-region*cloud_stack_region*"])


def test_aws_tag_fails_at_deploy(project: pytest.Pytester, moto: MotoServer) -> None:
    """An aws: tag key in ini cloud_stack_tags errors the tests needing the stack; nothing made."""
    ini(project, "cloud_stack_tags =", "    team=core", "    aws:x=1")
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        ["*cloud stack not available: invalid stack tag key 'aws:x'*may not start with 'aws:'*"]
    )
    assert moto.live_stacks() == {}


# --- the report header -------------------------------------------------------------------------


def run_header(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    """Collect only (nothing deploys) and return the header's fields."""
    pytester.makepyfile(NO_STACK)
    result = pytester.runpytest("--collect-only", *args)
    assert result.ret == pytest.ExitCode.OK, result.outlines + result.errlines
    return header(result)


def test_header_defaults(project: pytest.Pytester, moto: MotoServer) -> None:
    """Endpoint target, emulator region, per-branch name with prefix and user, default modes."""
    fields = run_header(project, f"--cloud-stack={moto.url}")
    assert fields == {
        "target": moto.url,
        "region": "us-east-1",
        "stack": default_name(),
        "template": "template.yaml (default, at rootdir)",
        "keep": "never",
        "reuse": "off",
    }


def test_header_names_the_default_template_really_used(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """template.json when that is the file at rootdir, not a template.yaml that isn't there."""
    (project.path / "template.yaml").rename(project.path / "template.json")
    fields = run_header(project, f"--cloud-stack={moto.url}")
    assert fields["template"] == "template.json (default, at rootdir)"


OTHER_URL = "http://127.0.0.1:1"
INI_URL = "https://ini.example:4566"


@pytest.mark.parametrize(
    ("args", "env", "ini_value", "expected"),
    [
        pytest.param(["--cloud-stack=CLI"], OTHER_URL, INI_URL, "CLI", id="cli-wins"),
        pytest.param(["--cloud-stack"], OTHER_URL, INI_URL, OTHER_URL, id="env-over-ini"),
        pytest.param(["--cloud-stack"], None, INI_URL, INI_URL, id="ini"),
        pytest.param(
            ["--cloud-stack", "--cloud-stack-region=eu-west-1"], None, None, "aws", id="default"
        ),
    ],
)
def test_header_target_precedence(
    project: pytest.Pytester,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    ini_value: str | None,
    expected: str,
) -> None:
    """Target: --cloud-stack=TARGET, then $CLOUD_STACK_TARGET, then ini, then aws."""
    if env is not None:
        monkeypatch.setenv("CLOUD_STACK_TARGET", env)
    if ini_value is not None:
        ini(project, f"cloud_stack_target = {ini_value}")
    args = [arg.replace("CLI", moto.url) for arg in args]
    assert run_header(project, *args)["target"] == expected.replace("CLI", moto.url)


def test_ini_target_alone_does_not_enable(project: pytest.Pytester) -> None:
    """ini cloud_stack_target chooses the target; it does not enable (the ini is committed)."""
    ini(project, f"cloud_stack_target = {INI_URL}")
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest()
    result.assert_outcomes(passed=1, skipped=3)
    assert not any(line.startswith("cloudstack:") for line in result.outlines)


def test_environment_target_alone_enables(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CLOUD_STACK_TARGET set is enough for CI: the tests that need the stack run."""
    monkeypatch.setenv("CLOUD_STACK_TARGET", moto.url)
    ini(project, f"cloud_stack_target = {INI_URL}")
    project.makepyfile(NEEDS_STACK)
    result = project.runpytest()
    result.assert_outcomes(passed=4)
    assert header(result)["target"] == moto.url
    assert moto.live_stacks() == {}, "and it is deleted at the end, as with the flag"


def test_empty_environment_target_does_not_enable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUD_STACK_TARGET", "")
    project.makepyfile(NEEDS_STACK)
    project.runpytest().assert_outcomes(passed=1, skipped=3)


@pytest.mark.parametrize(
    ("args", "env", "ini_value", "expected"),
    [
        pytest.param(["--cloud-stack-name=cli-name"], "env-name", "ini-name", "cli-name", id="cli"),
        pytest.param([], "env-name", "ini-name", "env-name", id="env-over-ini"),
        pytest.param([], None, "ini-name", "ini-name", id="ini"),
    ],
)
def test_header_name_precedence(
    project: pytest.Pytester,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    ini_value: str,
    expected: str,
) -> None:
    """Stack name: --cloud-stack-name, then $CLOUD_STACK_NAME, then ini cloud_stack_name."""
    if env is not None:
        monkeypatch.setenv("CLOUD_STACK_NAME", env)
    ini(project, f"cloud_stack_name = {ini_value}")
    assert run_header(project, f"--cloud-stack={moto.url}", *args)["stack"] == expected


def test_explicit_name_needs_no_branch(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit name skips branch naming: no branch anywhere is fine."""
    monkeypatch.delenv("CLOUD_STACK_BRANCH")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(project.path.parent))
    fields = run_header(project, f"--cloud-stack={moto.url}", "--cloud-stack-name=explicit")
    assert fields["stack"] == "explicit"


def test_header_prefix_from_ini(project: pytest.Pytester, moto: MotoServer) -> None:
    """ini cloud_stack_prefix starts the per-branch name."""
    project.makeini("[pytest]\ncloud_stack_prefix = shop\n")
    assert run_header(project, f"--cloud-stack={moto.url}")["stack"] == default_name("shop")


def test_header_prefix_defaults_to_rootdir(pytester: pytest.Pytester, moto: MotoServer) -> None:
    """Without ini cloud_stack_prefix the rootdir's name is the prefix."""
    pytester.makeini("[pytest]\n")
    fields = run_header(pytester, f"--cloud-stack={moto.url}")
    assert fields["stack"] == default_name(pytester.path.name)
    assert fields["stack"].startswith("test-header-prefix-defaults-to-rootdir")


def test_header_branch_from_env(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CLOUD_STACK_BRANCH reaches the per-branch name."""
    monkeypatch.setenv("CLOUD_STACK_BRANCH", "feature/x")
    fields = run_header(project, f"--cloud-stack={moto.url}")
    assert fields["stack"] == default_name(branch="feature/x")


@pytest.mark.parametrize(
    ("args", "ini_lines", "field", "expected"),
    [
        pytest.param(
            ["--cloud-stack-region=eu-west-2"], [], "region", "eu-west-2", id="region-cli"
        ),
        pytest.param(
            [], ["cloud_stack_region = ap-south-1"], "region", "ap-south-1", id="region-ini"
        ),
        pytest.param(
            ["--cloud-stack-region=eu-west-2"],
            ["cloud_stack_region = ap-south-1"],
            "region",
            "eu-west-2",
            id="region-cli-wins",
        ),
        pytest.param(["--cloud-stack-keep"], [], "keep", "always", id="keep-bare"),
        pytest.param(["--cloud-stack-keep=failed"], [], "keep", "failed", id="keep-cli"),
        pytest.param([], ["cloud_stack_keep = failed"], "keep", "failed", id="keep-ini"),
        pytest.param(
            ["--cloud-stack-keep=never"],
            ["cloud_stack_keep = always"],
            "keep",
            "never",
            id="keep-cli-wins",
        ),
        pytest.param(["--cloud-stack-reuse"], [], "reuse", "on", id="reuse-cli"),
        pytest.param([], ["cloud_stack_reuse = true"], "reuse", "on", id="reuse-ini"),
        pytest.param([], ["cloud_stack_reuse = false"], "reuse", "off", id="reuse-ini-false"),
    ],
)
def test_header_modes(
    project: pytest.Pytester,
    moto: MotoServer,
    args: list[str],
    ini_lines: list[str],
    field: str,
    expected: str,
) -> None:
    """Region, keep and reuse reach the header from the CLI and from ini (the CLI wins)."""
    ini(project, *ini_lines)
    assert run_header(project, f"--cloud-stack={moto.url}", *args)[field] == expected


def test_keep_bare_flag_before_target(project: pytest.Pytester, moto: MotoServer) -> None:
    """A bare --cloud-stack-keep followed by another option still means always."""
    fields = run_header(project, "--cloud-stack-keep", f"--cloud-stack={moto.url}")
    assert fields["keep"] == "always"


def test_region_from_boto3_chain(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an endpoint the boto3 chain's region is used; --cloud-stack-region wins over it."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    assert run_header(project, f"--cloud-stack={moto.url}")["region"] == "eu-north-1"
    fields = run_header(project, f"--cloud-stack={moto.url}", "--cloud-stack-region=sa-east-1")
    assert fields["region"] == "sa-east-1"


# --- template path -----------------------------------------------------------------------------


def test_cli_template_relative_to_invocation_dir(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --cloud-stack-template is relative to where pytest runs, not the rootdir."""
    sub = project.mkdir("sub")
    (sub / "stack.yaml").write_text("Resources: {}\n")
    monkeypatch.chdir(sub)
    fields = run_header(
        project,
        f"--cloud-stack={moto.url}",
        "--cloud-stack-template=stack.yaml",
        "--rootdir",
        str(project.path),
        str(project.path),
    )
    assert fields["template"] == "sub/stack.yaml"


def test_ini_template_relative_to_ini_file(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ini cloud_stack_template is relative to the ini file's directory (not rootdir, not cwd)."""
    conf = project.mkdir("conf")
    (conf / "stack.yaml").write_text("Resources: {}\n")
    (conf / "pytest.ini").write_text(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_template = stack.yaml\n"
    )
    monkeypatch.chdir(project.mkdir("elsewhere"))
    fields = run_header(
        project,
        f"--cloud-stack={moto.url}",
        "-c",
        str(conf / "pytest.ini"),
        "--rootdir",
        str(project.path),
        str(project.path),
    )
    assert fields["template"] == "conf/stack.yaml"


def test_template_outside_rootdir_shown_absolute(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    """A template outside the rootdir is shown by its absolute path."""
    outside = project.path.parent / f"{project.path.name}-outside.yaml"
    outside.write_text("Resources: {}\n")
    fields = run_header(project, f"--cloud-stack={moto.url}", f"--cloud-stack-template={outside}")
    assert fields["template"] == str(outside)


# --- template parameters (these deploy to moto_server) -----------------------------------------

HOOK_CONFTEST = """\
def pytest_cloudstack_parameters(config, parameters):
    # sees the ini value (if any), and overrides or adds it
    parameters["Stage"] = parameters.get("Stage", "none") + "-hook"
"""
INI_PARAMETERS = ("cloud_stack_parameters =", "    Stage=first", "    Stage = ini")


@pytest.mark.parametrize(
    ("ini_lines", "args", "hook", "expected"),
    [
        pytest.param(INI_PARAMETERS, [], False, "ini", id="ini-last-line-wins"),
        pytest.param(
            INI_PARAMETERS,
            ["--cloud-stack-param", "Stage=x", "--cloud-stack-param", "Stage=cli"],
            False,
            "cli",
            id="cli-over-ini",
        ),
        pytest.param((), [], True, "none-hook", id="hook-adds"),
        pytest.param(INI_PARAMETERS, [], True, "ini-hook", id="hook-over-ini"),
        pytest.param(
            INI_PARAMETERS, ["--cloud-stack-param=Stage=a=b"], True, "a=b", id="cli-over-hook"
        ),
    ],
)
def test_parameters_reach_the_stack(
    project: pytest.Pytester,
    moto: MotoServer,
    ini_lines: tuple[str, ...],
    args: list[str],
    hook: bool,
    expected: str,
) -> None:
    """ini cloud_stack_parameters < the parameters hook < --cloud-stack-param, in the stack."""
    ini(project, *ini_lines)
    if hook:
        project.makeconftest(HOOK_CONFTEST)
    project.makepyfile(
        f"""
        def test_stage(cloud_stack):
            assert cloud_stack.outputs["Stage"] == {expected!r}
        """
    )
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep", *args)
    result.assert_outcomes(passed=1)
    parameters = moto.live_stacks()[default_name()]["Parameters"]
    assert parameters == [{"ParameterKey": "Stage", "ParameterValue": expected}]


# --- exported stack name -----------------------------------------------------------------------


def test_env_names_exported_and_restored(
    project: pytest.Pytester, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--cloud-stack-env and ini cloud_stack_env hold the name at import time, restored after."""
    monkeypatch.setenv("FROM_INI", "before")
    ini(project, "cloud_stack_env =", "    FROM_INI")
    project.makepyfile(
        """
        import os

        AT_IMPORT = (os.environ.get("FROM_CLI"), os.environ.get("FROM_INI"))

        def test_names():
            assert AT_IMPORT == ("exported", "exported")
        """
    )
    result = project.runpytest(
        f"--cloud-stack={moto.url}", "--cloud-stack-name=exported", "--cloud-stack-env", "FROM_CLI"
    )
    result.assert_outcomes(passed=1)
    assert "FROM_CLI" not in os.environ
    assert os.environ["FROM_INI"] == "before"


def test_a_path_swallowed_by_the_optional_target_gets_a_hint(pytester: pytest.Pytester) -> None:
    """`pytest --cloud-stack tests/` reads tests/ as the target: the error says what happened."""
    pytester.mkdir("tests")
    result = pytester.runpytest("--cloud-stack", "tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*invalid cloud stack target 'tests'*('tests' is a path: write --cloud-stack=TARGET, "
            "or put the paths first)*"
        ]
    )
