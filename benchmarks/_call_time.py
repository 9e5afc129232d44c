"""pytest plugin used by the benchmarks: writes the summed duration of test *calls* to a file."""

from __future__ import annotations

import os

import pytest

_total = 0.0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _total
    if report.when == "call":
        _total += report.duration


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("BENCH_CALL_TIME_FILE")
    if path:
        with open(path, "w") as handle:
            handle.write(f"{_total}\n")
