"""Hook specifications of pytest-cloudstack, registered through ``pytest_addhooks``.

Implement them in a ``conftest.py`` or a plugin, like any pytest hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import boto3

    from pytest_cloudstack.stack import Stack


@pytest.hookspec(firstresult=True)
def pytest_cloudstack_template(config: pytest.Config) -> Path | dict[str, Any] | None:
    """Return the template to deploy (a path, or the template as a dict), overriding the setting."""


def pytest_cloudstack_parameters(config: pytest.Config, parameters: dict[str, str]) -> None:
    """Edit the template parameters in place; values from the command line are applied after."""


def pytest_cloudstack_tags(config: pytest.Config, tags: dict[str, str]) -> None:
    """Edit the extra stack tags in place (the plugin's own ``cloudstack:*`` tags are added after)."""


def pytest_cloudstack_boto_session(session: boto3.session.Session) -> None:
    """Called for every boto3 Session the plugin creates: register botocore event handlers here."""


def pytest_cloudstack_before_upgrade(stack: Stack, ref: str) -> None:
    """``--cloud-stack-upgrade-from``: the stack runs REF's template; seed the data that the
    tests should still find after the update to the working tree."""


def pytest_cloudstack_deployed(stack: Stack) -> None:
    """The stack is deployed and about to be used by tests: seed data here."""


def pytest_cloudstack_teardown(stack: Stack, keep: bool) -> None:
    """The session is over; the stack is deleted next unless ``keep`` is true."""
