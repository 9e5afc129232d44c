"""The commands that run instead of the tests: ``--cloud-stack-sweep`` and ``--cloud-stack-plan``.

They run from ``pytest_cmdline_main``, before pytest configures a session, so they print plainly
(there is no terminal reporter yet, as for pytest's own ``--version``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_cloudstack import settings as settings_module
from pytest_cloudstack.errors import (
    CloudStackError,
    ConfigurationError,
    DeployError,
    OwnershipError,
    ServiceError,
    TemplateError,
)


def write(line: str) -> None:
    print(f"cloudstack: {line}", flush=True)


def run_command(config: pytest.Config) -> int:
    """Run the requested command; its exit code. Bad settings are a usage error."""
    try:
        settings = settings_module.resolve(config)
        if settings.sweep_age is not None:
            from pytest_cloudstack.sweep import run_sweep

            return run_sweep(
                settings,
                lambda session: config.hook.pytest_cloudstack_boto_session(session=session),
                write,
            )
        if not settings.enabled:
            raise ConfigurationError(
                "--cloud-stack-plan needs --cloud-stack[=TARGET] (or $CLOUD_STACK_TARGET)"
            )
        return plan(config, settings, write)
    except CloudStackError as error:
        raise pytest.UsageError(str(error)) from None


def plan(
    config: pytest.Config, settings: settings_module.Settings, write: Callable[[str], None]
) -> int:
    """``--cloud-stack-plan``: the change set preview, with the stack left untouched."""
    from pytest_cloudstack.stacks import StackSet

    run = StackSet(config, settings, write)
    try:
        run.start()
        run.plan()
    except (DeployError, OwnershipError, TemplateError, ServiceError) as error:
        write(str(error))
        return int(pytest.ExitCode.TESTS_FAILED)
    finally:
        run.finish()
    return int(pytest.ExitCode.OK)
