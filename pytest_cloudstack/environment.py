"""The process environment during a session: where boto3 goes, and the exported stack name.

For emulator targets the environment points plain boto3 at the endpoint (``AWS_ENDPOINT_URL``,
dummy credentials, region), so code under test and module-level ``boto3.client(...)`` calls reach
it without any change. Everything is restored when the session ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from pytest_cloudstack.connection import DUMMY_CREDENTIALS

# Variables that would send boto3 somewhere else, or fail before the first call
# (a profile that only exists on the developer's machine, an SSO session, a stale token).
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def emulator_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What a process needs in its environment so that plain boto3 reaches the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


@contextlib.contextmanager
def pointed_at(endpoint_url: str, region: str) -> Iterator[None]:
    """Point this process's boto3 at an emulator for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in _CLEARED or name.startswith("AWS_ENDPOINT_URL_"):
                patch.delenv(name)
        for name, value in emulator_environment(endpoint_url, region).items():
            patch.setenv(name, value)
        yield


@contextlib.contextmanager
def export_stack_name(name: str, env_names: tuple[str, ...]) -> Iterator[None]:
    """Export the stack name under the user's variables (``--cloud-stack-env``) for the session."""
    with pytest.MonkeyPatch.context() as patch:
        for env_name in env_names:
            patch.setenv(env_name, name)
        yield
