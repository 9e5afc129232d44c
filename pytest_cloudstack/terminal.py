"""The plugin's lines on pytest's terminal: each on a line of its own, the progress line resumed.

Deploy and teardown lines come in the middle of pytest's progress output (a test's setup starts
the deploy, the session's end deletes the stack). Each line starts on a fresh line, and the
progress line it interrupted is resumed when pytest reports the next result: the file name again
(``test_orders.py ..``) or the test's location under ``-v``, so that later dots and words stay
next to what they belong to instead of standing alone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

PREFIX = "cloudstack: "


class TerminalLines:
    """Writes the plugin's lines; registered as a plugin to resume pytest's progress line."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._interrupted = False
        self._prefix: object = None  # what pytest had written at the start of that line

    def write(self, line: str) -> None:
        """One line, ``cloudstack: `` first, on the terminal now (also from a test's setup)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        # Deploys start inside a test's setup, where output is captured: progress must reach the
        # terminal now, not appear in a failing test's captured stdout.
        disabled = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with disabled:
            writer = self.config.get_terminal_writer()
            if writer.width_of_current_line > 0:
                writer.line()
                if not self._interrupted:
                    self._interrupted = True
                    self._prefix = reporter.currentfspath
            # pytest's own lines now start a line of their own too, without an empty one before.
            reporter.currentfspath = None
            writer.line(PREFIX + line)
            writer.flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self) -> None:
        # Under -v pytest writes the next location on a line of its own anyway: nothing to resume.
        if isinstance(self._prefix, Path):
            self._resume()
        self._interrupted = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Resume only before a result pytest writes something for (not a passed setup/teardown).
        if report.when == "call" or not report.passed:
            self._resume()

    def _resume(self) -> None:
        if not self._interrupted:
            return
        self._interrupted = False
        prefix, self._prefix = self._prefix, None
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not prefix or not isinstance(prefix, Path | str):
            return
        writer = self.config.get_terminal_writer()
        if isinstance(prefix, Path):
            # As pytest writes it at a file's first test: relative to where pytest was started.
            writer.write(os.path.relpath(prefix, reporter.startpath) + " ")
        else:
            writer.write(prefix)
        reporter.currentfspath = prefix
