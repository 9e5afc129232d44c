"""pytest plugin used by the benchmarks: counts the AWS calls the plugin's own sessions make."""

from __future__ import annotations

import os
from typing import Any

import pytest

_calls = 0


def _count(**_: Any) -> None:
    global _calls
    _calls += 1


@pytest.hookimpl(optionalhook=True)
def pytest_cloudstack_boto_session(session: Any) -> None:
    session.events.register("before-call", _count, unique_id="bench-call-count")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("BENCH_CALL_COUNT_FILE")
    if path:
        with open(path, "w") as handle:
            handle.write(f"{_calls}\n")
