"""One stack per branch: find the branch, turn it into a valid stack name, build the stack's tags.

Stack names follow CloudFormation's rule ``[a-zA-Z][-a-zA-Z0-9]*``, at most 128 characters. Where
sanitising or truncating changed the branch text, a short hash of the raw branch is appended so
that ``feature/a_b`` and ``feature-a-b`` never share a stack.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket
import subprocess
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pytest_cloudstack.errors import ConfigurationError

MAX_NAME = 128
MAX_PREFIX = 64
MAX_USER = 32
ENV_BRANCH = "CLOUD_STACK_BRANCH"
TAG_PREFIX = "cloudstack:"
OWNERSHIP_TAG = "cloudstack:managed"
HASH_TAG = "cloudstack:template-hash"
COMMIT_TAG = "cloudstack:commit"
RUN_ID_TAG = "cloudstack:run-id"
CREATED_AT_TAG = "cloudstack:created-at"
EXPIRES_AT_TAG = "cloudstack:expires-at"
#: the project (ini cloud_stack_prefix) that made the stack: sweeps compare it for equality, as a
#: name prefix can't tell project ``app`` from project ``app-api``
PROJECT_TAG = "cloudstack:project"
DEFAULT_LIFETIME = timedelta(hours=24)
MAX_TAGS = 50

# (provider, variables that hold the branch, in order of preference, variables that hold the commit).
# Pull-request builds name the source branch in a separate variable: it comes first.
_CI_PROVIDERS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("GitHub Actions", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"), ("GITHUB_SHA",)),
    (
        "GitLab CI",
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"),
        ("CI_COMMIT_SHA",),
    ),
    ("CircleCI", ("CIRCLE_BRANCH",), ("CIRCLE_SHA1",)),
    ("Bitbucket Pipelines", ("BITBUCKET_BRANCH",), ("BITBUCKET_COMMIT",)),
    ("Buildkite", ("BUILDKITE_BRANCH",), ("BUILDKITE_COMMIT",)),
    ("Jenkins", ("CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH"), ("GIT_COMMIT",)),
    (
        "Azure Pipelines",
        ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCH"),
        ("BUILD_SOURCEVERSION",),
    ),
    ("AWS CodeBuild", ("CODEBUILD_WEBHOOK_HEAD_REF",), ("CODEBUILD_RESOLVED_SOURCE_VERSION",)),
    ("Travis CI", ("TRAVIS_PULL_REQUEST_BRANCH", "TRAVIS_BRANCH"), ("TRAVIS_COMMIT",)),
)
_CI_MARKERS = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "BITBUCKET_BUILD_NUMBER",
    "BUILDKITE",
    "JENKINS_URL",
    "TF_BUILD",
    "CODEBUILD_BUILD_ID",
    "TRAVIS",
)


@dataclass(frozen=True)
class BranchInfo:
    """Where the branch came from, and whether this run is a CI job."""

    branch: str
    source: str
    commit: str | None
    in_ci: bool


def detect_branch(environ: Mapping[str, str], cwd: Path, fallback: str | None = None) -> BranchInfo:
    """``$CLOUD_STACK_BRANCH``, then the CI provider's variables, then ``git`` (detached: short SHA).

    ``fallback`` names the branch where none can be found (the private emulator needs no real one).
    """
    in_ci = any(
        environ.get(name, "").strip().lower() not in ("", "false", "0") for name in _CI_MARKERS
    )
    commit = _ci_commit(environ)
    if ENV_BRANCH in environ:
        branch = environ[ENV_BRANCH].strip()
        if not branch:
            raise ConfigurationError(
                f"${ENV_BRANCH} is set but empty: unset it, set it to a branch name, "
                "or pass --cloud-stack-name"
            )
        return BranchInfo(branch, f"${ENV_BRANCH}", commit or _git_commit(cwd), in_ci)
    for provider, branch_vars, _ in _CI_PROVIDERS:
        for var in branch_vars:
            value = _strip_ref(environ.get(var, "").strip())
            if value:
                return BranchInfo(value, f"{provider} ${var}", commit, True)
    git_branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if git_branch == "HEAD":  # detached HEAD: the commit is the only name it has
        git_branch = _git(cwd, "rev-parse", "--short", "HEAD")
    if not git_branch and fallback:
        return BranchInfo(fallback, "fallback", commit, in_ci)
    if not git_branch:
        raise ConfigurationError(
            f"cannot tell which branch this is: {cwd} is not a git checkout with commits and no CI "
            f"branch variable is set. Set ${ENV_BRANCH}, or name the stack with --cloud-stack-name"
        )
    return BranchInfo(git_branch, "git", commit or _git_commit(cwd), in_ci)


def stack_name(prefix: str, branch: str, user: str | None = None) -> str:
    """``{prefix}-{branch}[-{user}]`` made valid for CloudFormation, stable for the same input."""
    # Prefix and user get bounded shares of the 128 characters so that the branch (or at least
    # its hash) always survives: two branches must never map to one stack.
    prefix_part = (_sanitise(prefix) or "stack")[:MAX_PREFIX].rstrip("-")
    if not prefix_part[0].isalpha():
        prefix_part = f"stack-{prefix_part}"[:MAX_PREFIX].rstrip("-")
    branch_part = _sanitise(branch)
    changed = branch_part != branch
    user_text = _sanitise(user or "")[:MAX_USER].rstrip("-")
    user_part = f"-{user_text}" if user_text else ""
    suffix = f"-{_short_hash(branch)}" if changed or not branch_part else ""
    fixed = len(prefix_part) + 1 + len(user_part)
    room = MAX_NAME - fixed - len(suffix)
    if len(branch_part) > room:
        suffix = f"-{_short_hash(branch)}"
        room = MAX_NAME - fixed - len(suffix)
        branch_part = branch_part[: max(room, 0)].rstrip("-")
    name = "-".join(part for part in (prefix_part, branch_part) if part) + suffix + user_part
    return name[:MAX_NAME].rstrip("-")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return "unknown"


def stack_tags(
    user_tags: Sequence[tuple[str, str]],
    branch: BranchInfo | None,
    template_hash: str,
    run_id: str = "",
    created_at: datetime | None = None,
    project: str | None = None,
) -> dict[str, str]:
    """The user's tags plus the plugin's ownership and metadata tags, validated against AWS limits."""
    tags: dict[str, str] = {}
    for key, value in user_tags:
        if key.startswith(TAG_PREFIX):
            raise ConfigurationError(
                f"stack tag {key!r}: the prefix {TAG_PREFIX!r} is reserved for pytest-cloudstack"
            )
        tags[key] = value
    now = created_at or datetime.now(timezone.utc)
    tags.update(
        {
            OWNERSHIP_TAG: "true",
            "cloudstack:branch": _tag_value(branch.branch if branch else "n/a"),
            COMMIT_TAG: _tag_value((branch.commit if branch else None) or "unknown"),
            "cloudstack:created-by": _tag_value(f"{current_user()}@{socket.gethostname()}"),
            CREATED_AT_TAG: _timestamp(now),
            EXPIRES_AT_TAG: _timestamp(now + DEFAULT_LIFETIME),
            HASH_TAG: template_hash,
        }
    )
    if run_id:
        tags[RUN_ID_TAG] = run_id
    if project is not None:
        tags[PROJECT_TAG] = project_tag_value(project)
    validate_tags(tags)
    return tags


def project_tag_value(prefix: str) -> str:
    """The ``cloudstack:project`` tag value of a project prefix (what sweeps compare)."""
    return _tag_value(prefix)


def validate_tags(tags: Mapping[str, str]) -> None:
    """CloudFormation's limits: <= 50 tags, keys <= 128, values 1..256, no ``aws:`` prefix."""
    if len(tags) > MAX_TAGS:
        raise ConfigurationError(
            f"{len(tags)} stack tags: CloudFormation allows at most {MAX_TAGS}, and "
            "pytest-cloudstack uses 9 of them; remove some from ini cloud_stack_tags"
        )
    for key, value in tags.items():
        if not key or len(key) > 128 or key.lower().startswith("aws:"):
            raise ConfigurationError(
                f"invalid stack tag key {key!r}: keys are 1 to 128 characters and may not start "
                "with 'aws:'"
            )
        if not value or len(value) > 256:
            raise ConfigurationError(
                f"invalid value for stack tag {key!r}: values are 1 to 256 characters"
            )


def _sanitise(text: str) -> str:
    # Fold accents to ASCII first so that "café" becomes "cafe" rather than "caf".
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:7]


def _tag_value(text: str) -> str:
    # Tag values allow letters, digits, spaces and _ . : / = + - @; anything else becomes "_".
    cleaned = re.sub(r"[^\w .:/=+\-@]", "_", text, flags=re.ASCII)[:256]
    return cleaned or "unknown"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_ref(value: str) -> str:
    for prefix in ("refs/heads/", "origin/"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _ci_commit(environ: Mapping[str, str]) -> str | None:
    for _, _, commit_vars in _CI_PROVIDERS:
        for var in commit_vars:
            if environ.get(var, "").strip():
                return environ[var].strip()
    return None


def _git_commit(cwd: Path) -> str | None:
    return _git(cwd, "rev-parse", "HEAD")


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = result.stdout.strip()
    return output if result.returncode == 0 and output else None
