"""Unit tests of pytest_cloudstack.naming: branch detection, stack names, stack tags."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_cloudstack import naming
from pytest_cloudstack.errors import ConfigurationError
from pytest_cloudstack.naming import BranchInfo, detect_branch, stack_name, stack_tags

# CloudFormation's rule for stack names.
VALID_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
HASH_SUFFIX = re.compile(r"-[0-9a-f]{7}$")


def assert_valid(name: str) -> None:
    assert VALID_NAME.fullmatch(name), name
    assert len(name) <= naming.MAX_NAME, (len(name), name)


# --- detect_branch: explicit variable ----------------------------------------------------------


def test_cloud_stack_branch_wins_over_ci_and_git(tmp_path: Path) -> None:
    """$CLOUD_STACK_BRANCH beats every CI variable; the CI commit is still reported."""
    environ = {
        "CLOUD_STACK_BRANCH": "  release/2.0 ",
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF_NAME": "main",
        "GITHUB_SHA": "abc123",
    }
    info = detect_branch(environ, tmp_path)
    assert info.branch == "release/2.0"
    assert info.source == "$CLOUD_STACK_BRANCH"
    assert info.commit == "abc123"
    assert info.in_ci is True


def test_cloud_stack_branch_outside_ci(tmp_path: Path) -> None:
    """Without CI markers the run is not a CI run."""
    info = detect_branch({"CLOUD_STACK_BRANCH": "mine"}, tmp_path)
    assert (info.branch, info.in_ci) == ("mine", False)


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_cloud_stack_branch_is_an_error(tmp_path: Path, value: str) -> None:
    """A set-but-empty $CLOUD_STACK_BRANCH is refused (not silently ignored), with a way out."""
    with pytest.raises(ConfigurationError, match=r"CLOUD_STACK_BRANCH is set but empty") as info:
        detect_branch({"CLOUD_STACK_BRANCH": value, "GITHUB_REF_NAME": "main"}, tmp_path)
    assert "--cloud-stack-name" in str(info.value)


# --- detect_branch: CI providers ---------------------------------------------------------------

# (provider, environment, expected branch, expected commit)
CI_CASES: list[tuple[str, dict[str, str], str, str | None]] = [
    ("GitHub Actions", {"GITHUB_REF_NAME": "main", "GITHUB_SHA": "g1"}, "main", "g1"),
    (
        "GitHub Actions",
        {"GITHUB_HEAD_REF": "feature/pr", "GITHUB_REF_NAME": "42/merge", "GITHUB_SHA": "g2"},
        "feature/pr",
        "g2",
    ),
    # push builds set GITHUB_HEAD_REF to the empty string
    ("GitHub Actions", {"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"}, "main", None),
    ("GitLab CI", {"CI_COMMIT_REF_NAME": "develop", "CI_COMMIT_SHA": "l1"}, "develop", "l1"),
    (
        "GitLab CI",
        {"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feat/mr", "CI_COMMIT_REF_NAME": "refs/merge"},
        "feat/mr",
        None,
    ),
    ("CircleCI", {"CIRCLE_BRANCH": "circle", "CIRCLE_SHA1": "c1"}, "circle", "c1"),
    ("Bitbucket Pipelines", {"BITBUCKET_BRANCH": "bb", "BITBUCKET_COMMIT": "b1"}, "bb", "b1"),
    ("Buildkite", {"BUILDKITE_BRANCH": "bk", "BUILDKITE_COMMIT": "k1"}, "bk", "k1"),
    (
        "Jenkins",
        {"CHANGE_BRANCH": "pr-src", "BRANCH_NAME": "PR-7", "GIT_COMMIT": "j1"},
        "pr-src",
        "j1",
    ),
    ("Jenkins", {"BRANCH_NAME": "multi"}, "multi", None),
    ("Jenkins", {"GIT_BRANCH": "origin/feature/x"}, "feature/x", None),
    (
        "Azure Pipelines",
        {"BUILD_SOURCEBRANCH": "refs/heads/topic/y", "BUILD_SOURCEVERSION": "a1"},
        "topic/y",
        "a1",
    ),
    (
        "Azure Pipelines",
        {
            "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/pr/z",
            "BUILD_SOURCEBRANCH": "refs/pull/3/merge",
        },
        "pr/z",
        None,
    ),
    (
        "AWS CodeBuild",
        {"CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/cb", "CODEBUILD_RESOLVED_SOURCE_VERSION": "w1"},
        "cb",
        "w1",
    ),
    (
        "Travis CI",
        {"TRAVIS_PULL_REQUEST_BRANCH": "tpr", "TRAVIS_BRANCH": "main", "TRAVIS_COMMIT": "t1"},
        "tpr",
        "t1",
    ),
    ("Travis CI", {"TRAVIS_PULL_REQUEST_BRANCH": "", "TRAVIS_BRANCH": "main"}, "main", None),
]


def test_every_ci_provider_has_a_case() -> None:
    """The parametrized cases below cover every provider naming knows about."""
    providers = {provider for provider, _, _ in naming._CI_PROVIDERS}
    assert providers == {provider for provider, _, _, _ in CI_CASES}


@pytest.mark.parametrize(
    ("provider", "environ", "branch", "commit"),
    CI_CASES,
    ids=[f"{case[0]}-{'-'.join(case[1])}" for case in CI_CASES],
)
def test_ci_provider_branch(
    tmp_path: Path, provider: str, environ: dict[str, str], branch: str, commit: str | None
) -> None:
    """Each provider's variables give the branch (PR source first, ref prefixes stripped)."""
    info = detect_branch(environ, tmp_path)
    assert info.branch == branch
    assert info.source.startswith(provider)
    assert info.commit == commit
    assert info.in_ci is True


@pytest.mark.parametrize("marker", ["CI", "GITLAB_CI", "TF_BUILD", "CODEBUILD_BUILD_ID"])
def test_ci_markers_set_in_ci(tmp_path: Path, marker: str) -> None:
    """A CI marker variable makes the run a CI run even when the branch comes from elsewhere."""
    info = detect_branch({"CLOUD_STACK_BRANCH": "x", marker: "true"}, tmp_path)
    assert info.in_ci is True


@pytest.mark.parametrize("value", ["", "false", "0", "False"])
def test_falsy_ci_marker_is_not_ci(tmp_path: Path, value: str) -> None:
    """CI=false / CI=0 / CI= do not count as CI."""
    assert detect_branch({"CLOUD_STACK_BRANCH": "x", "CI": value}, tmp_path).in_ci is False


# --- detect_branch: git fallback ---------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=Test", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory git will not search above (so a checkout around the tmp dir cannot leak in)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def repo(outside_git: Path) -> Path:
    """A real git repository with one commit, on branch feature/login."""
    git(outside_git, "init", "-q")
    git(outside_git, "commit", "-q", "--allow-empty", "-m", "initial")
    git(outside_git, "checkout", "-q", "-b", "feature/login")
    return outside_git


def test_git_branch(repo: Path) -> None:
    """Outside CI the branch and commit come from git."""
    info = detect_branch({}, repo)
    assert info.branch == "feature/login"
    assert info.source == "git"
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert info.in_ci is False


def test_git_detached_head_uses_short_sha(repo: Path) -> None:
    """A detached HEAD has no branch: its short SHA names the stack."""
    git(repo, "checkout", "-q", "--detach")
    info = detect_branch({}, repo)
    short = git(repo, "rev-parse", "--short", "HEAD")
    assert info.branch == short
    assert info.branch != "HEAD"


def test_git_commit_fills_in_for_cloud_stack_branch(repo: Path) -> None:
    """With $CLOUD_STACK_BRANCH and no CI commit, the commit comes from git."""
    info = detect_branch({"CLOUD_STACK_BRANCH": "other"}, repo)
    assert info.branch == "other"
    assert info.commit == git(repo, "rev-parse", "HEAD")


def test_ci_commit_wins_over_git(repo: Path) -> None:
    """A CI commit variable is preferred to asking git."""
    assert detect_branch({"CLOUD_STACK_BRANCH": "x", "GIT_COMMIT": "c0ffee"}, repo).commit == (
        "c0ffee"
    )


def test_not_a_repository_is_an_error(outside_git: Path) -> None:
    """No CI variable and no git checkout: a usage error saying how to name the stack."""
    with pytest.raises(ConfigurationError) as info:
        detect_branch({}, outside_git)
    message = str(info.value)
    assert "CLOUD_STACK_BRANCH" in message
    assert "--cloud-stack-name" in message
    assert str(outside_git) in message


def test_repository_without_commits_is_an_error(outside_git: Path) -> None:
    """A fresh `git init` has no HEAD commit: same error, not the literal name 'HEAD'."""
    git(outside_git, "init", "-q")
    with pytest.raises(ConfigurationError, match="CLOUD_STACK_BRANCH"):
        detect_branch({}, outside_git)


def test_fallback_used_when_no_branch(outside_git: Path) -> None:
    """`fallback=` names the branch where none can be found."""
    info = detect_branch({}, outside_git, fallback="local")
    assert (info.branch, info.source, info.commit) == ("local", "fallback", None)


def test_fallback_not_used_when_git_knows(repo: Path) -> None:
    """The fallback is only a fallback: git's branch wins."""
    assert detect_branch({}, repo, fallback="local").branch == "feature/login"


# --- stack_name --------------------------------------------------------------------------------


def test_plain_branch() -> None:
    """A branch that is already valid is used as is, without a hash."""
    assert stack_name("orders", "main") == "orders-main"


def test_user_part_appended() -> None:
    """The user's name is the last part (sanitised too)."""
    assert stack_name("orders", "main", "alice") == "orders-main-alice"
    assert stack_name("orders", "main", "j.doe@corp") == "orders-main-j-doe-corp"


def test_empty_user_ignored() -> None:
    """No user, or a user with nothing usable, adds nothing."""
    assert stack_name("orders", "main", None) == "orders-main"
    assert stack_name("orders", "main", "___") == "orders-main"


def test_sanitised_branches_do_not_collide() -> None:
    """`feature/a_b` and `feature-a-b` differ: the changed one carries a hash of the raw name."""
    changed = stack_name("orders", "feature/a_b")
    unchanged = stack_name("orders", "feature-a-b")
    assert unchanged == "orders-feature-a-b"
    assert changed.startswith("orders-feature-a-b-")
    assert HASH_SUFFIX.search(changed)
    assert changed != unchanged
    assert_valid(changed)


def test_all_symbol_branch() -> None:
    """A branch with no usable character still gives a valid, branch-specific name."""
    first = stack_name("orders", "/_/.@!")
    second = stack_name("orders", "###")
    assert_valid(first)
    assert_valid(second)
    assert first != second
    assert HASH_SUFFIX.search(first)


def test_long_branch_truncated_with_hash() -> None:
    """A 300-character branch gives at most 128 valid characters, ending in a hash, stably."""
    branch = "feature-" + "x" * 292
    name = stack_name("orders", branch)
    assert len(branch) == 300
    assert len(name) <= 128
    assert_valid(name)
    assert HASH_SUFFIX.search(name)
    assert name == stack_name("orders", branch)
    # a different long branch with the same first 128 characters gets a different name
    assert stack_name("orders", branch[:-1] + "y") != name


def test_long_branch_with_user_keeps_user() -> None:
    """Truncation shortens the branch, not the user part."""
    name = stack_name("orders", "b" * 300, "alice")
    assert len(name) <= 128
    assert name.endswith("-alice")
    assert_valid(name)
    assert HASH_SUFFIX.search(name.removesuffix("-alice"))


def test_unicode_branches() -> None:
    """Accents fold to ASCII; emoji and CJK still give valid and distinct names."""
    names = [stack_name("orders", b) for b in ("café", "cafe", "🚀", "🔥", "機能", "特性")]
    for name in names:
        assert_valid(name)
    assert len(set(names)) == len(names)
    assert names[0].startswith("orders-cafe-")


def test_prefix_starting_with_digit() -> None:
    """A prefix that starts with a digit is made valid."""
    name = stack_name("9lives", "main")
    assert_valid(name)
    assert "9lives" in name
    assert name.endswith("-main")


def test_empty_prefix() -> None:
    """A prefix with nothing usable still gives a valid name."""
    assert_valid(stack_name("___", "main"))


NASTY: list[tuple[str, str, str | None]] = [
    ("orders", "", None),
    ("orders", "-", None),
    ("orders", "--leading-and-trailing--", None),
    ("orders", "a" * 127, None),
    ("orders", "a" * 128, "u"),
    ("orders", "a" * 121, None),
    ("orders", "-" * 300, None),
    ("orders", "a-" * 150, "someone"),
    ("orders", "\x00\n\t", None),
    ("orders", "ü" * 200, None),
    ("orders", "\ufb01x/\uff46\uff55\uff4c\uff4c", None),  # ligature, fullwidth
    ("orders", "feature/" + "🚀" * 100, "x" * 200),
    ("", "", ""),
    ("1", "2", "3"),
    ("-", "-", "-"),
    ("p" * 200, "main", None),
    ("p" * 100, "q" * 100, "r" * 100),
    ("Ünïcödé", "ブランチ", "ユーザー"),
    ("orders", "refs/heads/main", "root"),
    ("orders", "a" * 114, "user"),
]


@pytest.mark.parametrize(("prefix", "branch", "user"), NASTY)
def test_name_always_valid(prefix: str, branch: str, user: str | None) -> None:
    """Whatever the input, the name satisfies CloudFormation's rule and is deterministic."""
    name = stack_name(prefix, branch, user)
    assert_valid(name)
    assert name == stack_name(prefix, branch, user)


def test_names_around_the_length_limit_stay_distinct() -> None:
    """Branches that only differ past the cut still get different names."""
    names = {stack_name("orders", "a" * n) for n in range(110, 140)}
    assert len(names) == 30
    for name in names:
        assert_valid(name)


def test_long_prefix_keeps_branches_apart() -> None:
    """Even with a very long prefix and user, two branches never share a stack."""
    assert stack_name("p" * 130, "main") != stack_name("p" * 130, "feature")
    assert stack_name("p" * 130, "main", "u" * 200) != stack_name("p" * 130, "feature", "u" * 200)
    assert len(stack_name("p" * 130, "b" * 300, "u" * 200)) <= 128


# --- stack_tags --------------------------------------------------------------------------------

CREATED = datetime(2024, 2, 28, 23, 30, 5, tzinfo=timezone.utc)


@pytest.fixture
def who(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(naming, "current_user", lambda: "alice")
    monkeypatch.setattr(naming.socket, "gethostname", lambda: "build-7")


def test_plugin_tags(who: None) -> None:
    """Ownership, branch, commit, creator, created/expiry (24 h later) and template hash."""
    branch = BranchInfo("feature/x", "git", "abc123", False)
    tags = stack_tags([("team", "core")], branch, "deadbeef", created_at=CREATED)
    assert tags == {
        "team": "core",
        "cloudstack:managed": "true",
        "cloudstack:branch": "feature/x",
        "cloudstack:commit": "abc123",
        "cloudstack:created-by": "alice@build-7",
        "cloudstack:created-at": "2024-02-28T23:30:05Z",
        "cloudstack:expires-at": "2024-02-29T23:30:05Z",
        "cloudstack:template-hash": "deadbeef",
    }


def test_tags_without_branch_info(who: None) -> None:
    """An explicit stack name has no branch: placeholders, not empty (invalid) values."""
    tags = stack_tags([], None, "h")
    assert tags["cloudstack:branch"] == "n/a"
    assert tags["cloudstack:commit"] == "unknown"
    assert tags["cloudstack:created-at"].endswith("Z")


def test_created_at_converted_to_utc(who: None) -> None:
    """A timestamp in another zone is written in UTC."""
    plus_two = timezone(timedelta(hours=2))
    tags = stack_tags([], None, "h", created_at=datetime(2024, 1, 1, 1, 0, tzinfo=plus_two))
    assert tags["cloudstack:created-at"] == "2023-12-31T23:00:00Z"
    assert tags["cloudstack:expires-at"] == "2024-01-01T23:00:00Z"


def test_reserved_prefix_refused() -> None:
    """Users cannot set (or spoof) the plugin's own tags."""
    with pytest.raises(ConfigurationError, match=r"'cloudstack:managed'.*reserved"):
        stack_tags([("cloudstack:managed", "true")], None, "h")


@pytest.mark.parametrize("key", ["aws:x", "AWS:cloudformation:stack-name"])
def test_aws_prefix_refused(key: str) -> None:
    """Keys starting with aws: (any case) are AWS's."""
    with pytest.raises(ConfigurationError, match="may not start with 'aws:'"):
        stack_tags([(key, "1")], None, "h")


def test_too_many_tags_refused() -> None:
    """43 user tags + 7 plugin tags = 50 is fine; one more is refused."""
    many = [(f"k{i}", "v") for i in range(44)]
    assert len(stack_tags(many[:43], None, "h")) == 50
    with pytest.raises(ConfigurationError, match="at most 50"):
        stack_tags(many, None, "h")


def test_empty_value_refused() -> None:
    """CloudFormation tag values are 1 to 256 characters."""
    with pytest.raises(ConfigurationError, match=r"'team'.*1 to 256"):
        stack_tags([("team", "")], None, "h")


def test_too_long_key_or_value_refused() -> None:
    """Keys over 128 and values over 256 characters are refused."""
    with pytest.raises(ConfigurationError):
        stack_tags([("k" * 129, "v")], None, "h")
    with pytest.raises(ConfigurationError):
        stack_tags([("k", "v" * 257)], None, "h")


def test_branch_tag_value_cleaned(who: None) -> None:
    """Characters CloudFormation refuses in tag values become '_'; allowed ones stay."""
    branch = BranchInfo("feat/#12 (wip)!é+a=b@c:d.e_f-g", "git", None, False)
    tags = stack_tags([], branch, "h")
    assert tags["cloudstack:branch"] == "feat/_12 _wip___+a=b@c:d.e_f-g"
    assert re.fullmatch(r"[\w .:/=+\-@]+", tags["cloudstack:branch"], flags=re.ASCII)


def test_long_branch_tag_value_truncated(who: None) -> None:
    """A branch longer than 256 characters is cut to fit the tag value limit."""
    tags = stack_tags([], BranchInfo("b" * 300, "git", None, False), "h")
    assert tags["cloudstack:branch"] == "b" * 256


def test_project_tag_names_the_project_exactly(who: None) -> None:
    """``cloudstack:project`` carries the whole prefix: ``app`` and ``app-api`` differ."""
    assert stack_tags([], None, "h", project="app-api")["cloudstack:project"] == "app-api"
    assert "cloudstack:project" not in stack_tags([], None, "h")
