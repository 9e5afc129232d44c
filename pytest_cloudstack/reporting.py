"""Reports outside the terminal: a deploy-failure file, JUnit properties, a GitHub step summary."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pytest_cloudstack.errors import DeployError


def failure_file(config: pytest.Config, error: DeployError) -> Path | None:
    """Write the deploy failure (root causes first, then the last events) where CI can upload it:
    beside ``--junitxml`` when given, else in pytest's cache folder. Returns the path."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        folder = Path(xmlpath).resolve().parent
    elif getattr(config, "cache", None) is not None:
        folder = config.cache.mkdir("cloudstack")
    else:
        return None
    lines = [f"deploying stack {error.stack_name} failed: {error.summary}", ""]
    if error.failures:
        lines.append("Root causes:")
        lines += [f"  {failure.describe()}" for failure in error.failures]
        lines.append("")
    if error.events:
        lines.append("Last stack events:")
        lines += [event.rstrip() for event in error.events]
    safe_name = re.sub(r"[^A-Za-z0-9-]", "-", error.stack_name)
    path = folder / f"cloudstack-deploy-failure-{safe_name}.txt"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def junit_properties(config: pytest.Config, properties: Mapping[str, str]) -> None:
    """Add testsuite properties to the JUnit XML report, if one is being written.

    pytest's ``record_testsuite_property`` fixture does the same from a test; outside a test the
    report object is reached as the registered plugin that offers ``add_global_property``.
    """
    for plugin in config.pluginmanager.get_plugins():
        add = getattr(plugin, "add_global_property", None)
        if callable(add):
            for name, value in properties.items():
                add(name, value)


def github_step_summary(lines: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """Append a markdown section to ``$GITHUB_STEP_SUMMARY`` when running on GitHub Actions."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    body = "\n".join(f"- {line}" if not line.startswith("  ") else f"  {line}" for line in lines)
    with open(target, "a", encoding="utf-8") as summary:
        summary.write(f"### pytest-cloudstack\n\n{body}\n\n")
