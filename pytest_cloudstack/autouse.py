"""Suites that read the stack by name: deploy before their modules are imported.

A suite written for ``sam deploy`` reads ``AWS_SAM_STACK_NAME`` and calls ``describe_stacks``,
often at import time or in ``setUpClass``; it never asks for the ``cloud_stack`` fixture, so the
lazy deploy would never happen. With ini ``cloud_stack_autouse`` (on by default when
``cloud_stack_env`` is set) this plugin object deploys at the start of collection, and the
plugin treats every test as needing the stack: a failed deploy errors each test with its reason
(before ``setUpClass`` runs), and a failing test gets the "Captured Lambda logs" section.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cloudstack.errors import CloudStackError

if TYPE_CHECKING:
    from pytest_cloudstack.stack import Stack


class EagerDeploy:
    """Registered when ``--cloud-stack`` is given and the settings ask for autouse."""

    def __init__(self, ensure_deployed: Callable[[], Stack], env_names: Sequence[str]) -> None:
        self.ensure_deployed = ensure_deployed
        self.env_names = tuple(env_names)

    def pytest_report_header(self) -> str:
        why = (
            f"the suite reads it as {', '.join(self.env_names)}"
            if self.env_names
            else "ini cloud_stack_autouse"
        )
        return f"cloudstack: deploying before collection, every test needs the stack ({why})"

    def deploy_error(self) -> CloudStackError | None:
        """Deploy now if not done yet; the deploy's error, if it failed."""
        try:
            self.ensure_deployed()
        except CloudStackError as error:
            return error
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        # Before any test module is imported. Under xdist the controller has already deployed
        # (when it configured the workers) and the workers only read its answer. A failure is
        # kept and reported by every test, not raised here.
        self.deploy_error()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.CollectReport = outcome.get_result()
        if not report.failed or not isinstance(collector, pytest.Module):
            return
        error = self.deploy_error()
        if error is None:
            return
        # A module that reads the stack at import time fails with "Stack ... does not exist":
        # the cause is the deploy, so say that first and keep the import error as a footnote.
        cause = str(report.longrepr).strip().splitlines()
        report.longrepr = (
            f"cloud stack not available: {error}\n"
            f"(importing {collector.nodeid} failed as a consequence: "
            f"{cause[-1] if cause else 'no detail'})"
        )
